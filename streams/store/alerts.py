"""Alert episodes in the `partner_alerts` table: written by the evaluation, read by
`partnerpulse alerts`, the API and the evaluation's own cache of open episodes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from streams.formats import aware, naive_utc, parse_as_of
from streams.rules.alerting import Alert, Episodes
from streams.rules.explanation import Transition
from streams.store import outbox
from streams.store.reads import partner_names

ALERT_COLUMNS = [
    "id", "partner_id", "kind", "state", "fired_at", "resolved_at", "reason", "resolved_reason", "metrics",
    "resolved_metrics", "version", "priority",
]  # fmt: skip
_SELECT = (
    "SELECT id, partner_id, kind, state, fired_at, resolved_at, reason, resolved_reason, metrics, resolved_metrics, "
    "priority "
    "FROM partner_alerts FINAL "
)


def _row(a: Alert) -> tuple:
    return (
        a.id, a.partner_id, a.kind, a.state, a.fired_at, a.resolved_at, a.reason, a.resolved_reason,
        orjson.dumps(a.metrics).decode(),
        orjson.dumps(a.resolved_metrics).decode() if a.resolved_metrics is not None else "",
        1 if a.state == "firing" else 2,  # the resolved version replaces the firing one
        a.priority,
    )  # fmt: skip


def write_alerts(client: Client, alerts: list[Alert]) -> None:
    client.insert("partner_alerts", [_row(a) for a in alerts], column_names=ALERT_COLUMNS)


def _alert(row: tuple) -> Alert:
    id_, partner, kind, state, fired_at, resolved_at, reason, resolved_reason, metrics, resolved_metrics, priority = row
    return Alert(id_, partner, kind, state, aware(fired_at), aware(resolved_at) if resolved_at else None, reason,
                 resolved_reason, orjson.loads(metrics), orjson.loads(resolved_metrics) if resolved_metrics else None,
                 priority)  # fmt: skip


def firing_episodes(client: Client) -> Episodes:
    rows = client.query(_SELECT + "WHERE state = 'firing'").result_rows
    return {(a.partner_id, a.kind): a for a in map(_alert, rows)}


def read_alerts(
    client: Client,
    since: str | datetime | None = None,
    state: str | None = None,
    partner: str | None = None,
    kind: str | None = None,
) -> list[dict[str, Any]]:
    """Alert episodes as JSON, newest transition first, each with the metrics that
    triggered it, the partner's name and the state of its deliveries."""
    where, params = [], {}
    if since is not None:
        when = since if isinstance(since, datetime) else parse_as_of(since, option="--since")
        where.append("(fired_at >= {since:DateTime64(3, 'UTC')} OR resolved_at >= {since:DateTime64(3, 'UTC')})")
        params["since"] = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    for name, value in (("state", state), ("partner_id", partner), ("kind", kind)):
        if value:
            where.append(f"{name} = {{{name}:String}}")
            params[name] = value
    result = client.query(
        _SELECT + ("WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY greatest(fired_at, ifNull(resolved_at, fired_at)) DESC, partner_id, kind",
        parameters=params,
    )  # fmt: skip
    alerts = [_alert(row).as_json() for row in result.result_rows]
    if alerts:
        names = partner_names(client)
        sent = outbox.deliveries_by_alert(client, [a["id"] for a in alerts])
        for a in alerts:
            a["name"] = names.get(a["partner_id"])
            a["deliveries"] = sent.get(a["id"], [])
    return alerts


def transitions(client: Client, partner: str, after: datetime, until: datetime) -> list[Transition]:
    """This partner's alerts that fired or resolved in (after, until] (event time)."""
    rows = client.query(
        _SELECT + "WHERE partner_id = {partner:String} AND (fired_at > {after:DateTime64(3, 'UTC')} "
        "AND fired_at <= {until:DateTime64(3, 'UTC')} OR resolved_at > {after:DateTime64(3, 'UTC')} "
        "AND resolved_at <= {until:DateTime64(3, 'UTC')})",
        parameters={"partner": partner, "after": naive_utc(after), "until": naive_utc(until)},
    ).result_rows  # fmt: skip
    out = []
    for a in map(_alert, rows):
        for transition, at in (("fired", a.fired_at), ("resolved", a.resolved_at)):
            if at is not None and after < at <= until:
                out.append(Transition(a.kind, transition, at, a.priority))
    return out

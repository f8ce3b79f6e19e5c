"""`partnerpulse explain` and /api/explain: the §7 answer for one partner, as JSON."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from streams.errors import NotFoundError
from streams.formats import iso, parse_as_of
from streams.reporting.health_rows import as_dict
from streams.rules.explanation import explanation
from streams.rules.fit import load_ideal
from streams.rules.scoring import assess, load_scoring
from streams.store import profiles
from streams.store.alerts import transitions
from streams.store.drivers import window_drivers
from streams.store.metrics import compute_metrics_at
from streams.store.reads import partner_names

DEFAULT_SPAN = timedelta(days=30)


def _known(client: Client, partner: str) -> bool:
    rows = client.query(
        "SELECT 1 FROM engagement_events WHERE partner_id = {p:String} LIMIT 1 "
        "UNION ALL SELECT 1 FROM partners WHERE partner_id = {p:String} LIMIT 1",
        parameters={"p": partner},
    ).result_rows
    return bool(rows)


def _driver(d) -> dict[str, Any]:
    return {**asdict(d), "time": iso(d.time), "quality_minutes": round(d.quality_minutes, 1)}


def _times(as_of: str | None, since: str | None) -> tuple[datetime, datetime]:
    now_t = parse_as_of(as_of)
    then_t = parse_as_of(since, option="--since") if since is not None else now_t - DEFAULT_SPAN
    if then_t >= now_t:
        raise ValueError(f"--since {iso(then_t)} must be before --as-of {iso(now_t)}")
    return then_t, now_t


def explain_many(client: Client, partners: list[str], as_of: str | None = None,
                 since: str | None = None) -> dict[str, dict[str, Any]]:  # fmt: skip
    """`explain` for several partners at once (the report's): one metrics query for all of
    them at both times, one read of their profiles; a partner with no engagement by T is left
    out."""
    then_t, now_t = _times(as_of, since)
    if not partners:  # (the report, when nobody needs attention)
        return {}
    scoring = load_scoring()
    metrics = compute_metrics_at(client, [then_t, now_t], scoring, partners)
    then_h, now_h = ({m.partner_id: assess(m, scoring) for m in metrics[t]} for t in sorted(metrics))
    names = partner_names(client)
    fits = profiles.fit_history(client, now_t, load_ideal(), partners)  # one read serves both times
    fit_then, fit_now = (profiles.as_of(fits, t) for t in (then_t, now_t))
    out = {}
    for partner in partners:
        now, then, name = now_h.get(partner), then_h.get(partner), names.get(partner)
        if now is None:
            continue
        found = explanation(then, now, window_drivers(client, partner, then_t, now_t, scoring),
                            transitions(client, partner, then_t, now_t), then_t, scoring)  # fmt: skip
        out[partner] = {
            "partner_id": partner,
            "name": name,
            "since": iso(then_t),
            "as_of": iso(now_t),
            "summary": found["summary"],
            "then": as_dict(then, name, fit_then.get(partner)) if then is not None else None,
            "now": as_dict(now, name, fit_now.get(partner)),
            "score_delta": found["score_delta"],
            "contributions": found["contributions"],
            "drivers": [_driver(d) for d in found["drivers"]],
            "alerts": [{**asdict(t), "at": iso(t.at)} for t in found["alerts"]],
        }
    return out


def explain(client: Client, partner: str, as_of: str | None = None, since: str | None = None) -> dict[str, Any]:
    """Why `partner`'s score moved between T0 (`since`, default T − 30 days) and T (`as_of`).
    A ValueError says what is wrong with the question (the API answers it with 400; a
    NotFoundError, one, with 404)."""
    answer = explain_many(client, [partner], as_of, since).get(partner)
    if answer is None:  # nothing to explain: 404 through the API, as its spec says
        if not _known(client, partner):
            raise NotFoundError(
                f"no partner {partner!r} is known: check the id (`partnerpulse health` lists every partner)"
            )
        now_t = _times(as_of, since)[1]
        raise NotFoundError(f"partner {partner!r} has no engagement at or before {iso(now_t)}: nothing to explain yet")
    return answer

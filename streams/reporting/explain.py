"""`partnerpulse explain` and /api/explain: the §7 answer for one partner, as JSON."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

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


def explain(client: Client, partner: str, as_of: str | None = None, since: str | None = None) -> dict[str, Any]:
    """Why `partner`'s score moved between T0 (`since`, default T − 30 days) and T (`as_of`).
    A ValueError says what is wrong with the question (the API answers it with 400)."""
    now_t = parse_as_of(as_of)
    then_t = parse_as_of(since, option="--since") if since else now_t - DEFAULT_SPAN
    if then_t >= now_t:
        raise ValueError(f"--since {iso(then_t)} must be before --as-of {iso(now_t)}")
    scoring = load_scoring()
    metrics = compute_metrics_at(client, [then_t, now_t], scoring, partner)
    healths = {t: next((assess(m, scoring) for m in ms), None) for t, ms in metrics.items()}
    then, now = (healths.get(t) for t in sorted(healths))
    if now is None:
        if not _known(client, partner):
            raise ValueError(
                f"no partner {partner!r} is known: check the id (`partnerpulse health` lists every partner)"
            )
        raise ValueError(f"partner {partner!r} has no engagement at or before {iso(now_t)}: nothing to explain yet")
    name = partner_names(client).get(partner)
    fits = profiles.fit_history(client, now_t, load_ideal(), partner)  # one read serves both times
    fit_then, fit_now = (profiles.as_of(fits, t).get(partner) for t in (then_t, now_t))
    found = explanation(then, now, window_drivers(client, partner, then_t, now_t, scoring),
                        transitions(client, partner, then_t, now_t), then_t, scoring)  # fmt: skip
    return {
        "partner_id": partner,
        "name": name,
        "since": iso(then_t),
        "as_of": iso(now_t),
        "summary": found["summary"],
        "then": as_dict(then, name, fit_then) if then is not None else None,
        "now": as_dict(now, name, fit_now),
        "score_delta": found["score_delta"],
        "contributions": found["contributions"],
        "drivers": [_driver(d) for d in found["drivers"]],
        "alerts": [{**asdict(t), "at": iso(t.at)} for t in found["alerts"]],
    }

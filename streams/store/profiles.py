"""Partners' fit profiles (../shared/CONTRACT.md §8): per partner, the fit fields of its
latest profile event (by event time) that carried any. Fit is computed from them and the
ideal partner file when read (`streams.rules.fit`), never stored."""

from __future__ import annotations

import bisect
from datetime import UTC, datetime
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from streams.formats import aware

History = dict[str, tuple[list[datetime], list[dict[str, Any]]]]  # partner -> (times, profiles), by time


def fit_history(client: Client, until: datetime, partner: str | None = None) -> History:
    """Every profile event with fit fields up to `until`, per partner in time order."""
    rows = client.query(
        "SELECT partner_id, updated_at, fit FROM partners "
        "WHERE updated_at <= {until:DateTime64(3, 'UTC')} AND fit NOT IN ('', '{}') "
        + ("AND partner_id = {partner:String} " if partner else "")
        + "ORDER BY partner_id, updated_at, source, id",
        parameters={"until": until.astimezone(UTC).replace(tzinfo=None), "partner": partner or ""},
    ).result_rows  # fmt: skip
    out: History = {}
    for pid, at, fit in rows:
        times, profiles = out.setdefault(pid, ([], []))
        times.append(aware(at))
        profiles.append(orjson.loads(fit))
    return out


def as_of(history: History, t: datetime) -> dict[str, dict[str, Any]]:
    """Each partner's fit profile at `t`: the latest at or before it."""
    out = {}
    for pid, (times, profiles) in history.items():
        i = bisect.bisect_right(times, t)
        if i:
            out[pid] = profiles[i - 1]
    return out


def fit_profiles(client: Client, t: datetime, partner: str | None = None) -> dict[str, dict[str, Any]]:
    return as_of(fit_history(client, t, partner), t)

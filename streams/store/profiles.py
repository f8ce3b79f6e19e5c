"""Partners' fit (../shared/CONTRACT.md §8) from their profiles: per partner, the fit
fields of its latest profile event (by event time) that carried any. Fit is computed
from them and the ideal partner when read (`streams.rules.fit`), never stored."""

from __future__ import annotations

import bisect
from datetime import datetime

import orjson
from clickhouse_connect.driver.client import Client

from streams.formats import aware, naive_utc
from streams.rules.fit import Fit, Ideal, assess_fit

History = dict[str, tuple[list[datetime], list[Fit]]]  # partner -> (times, fit from each profile), by time


def fit_history(client: Client, until: datetime, ideal: Ideal, partner: str | list[str] | None = None,
                since: datetime | None = None) -> History:  # fmt: skip
    """The fit of every profile event with fit fields up to `until`, per partner in time
    order: each profile assessed once, whatever number of times it is then asked about.
    With `since`, of the profiles up to it only each partner's latest (the last in this
    order): enough to answer `as_of` from `since` on (a catch-up asks for each month of
    midnights; a replayed year holds thousands of profiles before most of them)."""
    settled = ""
    if since is not None:
        settled = (
            "AND (updated_at > {since:DateTime64(3, 'UTC')} OR (partner_id, (updated_at, source, id)) IN ("
            "SELECT partner_id, max((updated_at, source, id)) FROM partners "
            "WHERE updated_at <= {since:DateTime64(3, 'UTC')} AND fit NOT IN ('', '{}') GROUP BY partner_id)) "
        )
    rows = client.query(
        "SELECT partner_id, updated_at, fit FROM partners "
        "WHERE updated_at <= {until:DateTime64(3, 'UTC')} AND fit NOT IN ('', '{}') " + settled
        + ("AND partner_id IN {partners:Array(String)} " if partner is not None else "")
        + "ORDER BY partner_id, updated_at, source, id",
        parameters={"until": naive_utc(until), "since": naive_utc(since or until),
                    "partners": [partner] if isinstance(partner, str) else (partner or [])},
    ).result_rows  # fmt: skip
    out: History = {}
    for pid, at, fit in rows:
        times, fits = out.setdefault(pid, ([], []))
        times.append(aware(at))
        fits.append(assess_fit(orjson.loads(fit), ideal))
    return out


def as_of(history: History, t: datetime) -> dict[str, Fit]:
    """Each partner's fit at `t`: from its latest fit profile at or before it."""
    out: dict[str, Fit] = {}
    for pid, (times, fits) in history.items():
        i = bisect.bisect_right(times, t)
        if i:
            out[pid] = fits[i - 1]
    return out


def fits_at(client: Client, t: datetime, ideal: Ideal, partner: str | None = None) -> dict[str, Fit]:
    return as_of(fit_history(client, t, ideal, partner), t)

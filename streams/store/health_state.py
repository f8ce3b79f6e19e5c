"""Health as of T from the state at T's midnight: the fast way for `health` (as of now).

The state (`partner_state`) holds, per partner as of a midnight M, what every metric of
§3 is made of: window sums before any division, engagements per type and solution events
per ecosystem partner in the activity window, the rhythm year's days (how many, the first
and last) and the sorted gaps between them, first and last engagement. Sums and counts
move by addition, so as of T later the same day it is the state plus the events in (M, T]
minus those that left a window, i.e. those in (M − w, T − w] for each window start w: a
few hours of raw rows instead of months of the rollup. Those that left are known at M, and
the state keeps them (`leaving`: the day after each window start), so only the events
since M are read from the raw events: parts filled out of time order each hold a little
of every slice, and reading seven slices from every part cost more than the rest. The
year's days change only at its ends: its first day leaves once its last engagement has
(with the gap after it), T's day joins (with the gap before it). Exact by construction:
the windows of both ways are the same half-open intervals of event time.

The state is used only when it is exactly M's: built with this scoring file, complete
(all its rows visible) and with no event up to M stored since (the count of such events
unchanged). Otherwise — or with no state at M — the caller computes health in full.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from streams.rules.scoring import Metrics, Scoring
from streams.rules.watermark import midnight_at_or_before
from streams.store.windows import EDGES, STARTS, TIME, frames_at, rhythm_quantile, shared_params, sql_time, to_millis

# The state's column of each window, as (start edge, end edge) of a frame (windows.EDGES).
_WINDOWS = {
    "q_month": ("month_ago", "as_of"),
    "q_prev": ("two_months_ago", "month_ago"),
    "q_baseline": ("baseline_from", "month_ago"),
    "n_activity": ("activity_from", "as_of"),
    "n_partner": ("activity_from", "as_of"),
    "n_recent": ("recent_from", "as_of"),
    "n_usual": ("usual_from", "recent_from"),
}
# What a raw row adds to a window's column (else 1: an engagement).
_VALUE = {"q_month": "q", "q_prev": "q", "q_baseline": "q", "n_partner": "toInt64(initiated_by = 'partner')"}


def fingerprint(scoring: Scoring) -> str:
    """The scoring file's settings as one short text: a state built with others is not used."""
    return hashlib.sha256(orjson.dumps(scoring.raw, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _raw_rows(scoring: Scoring) -> str:
    """Raw events with their quality minutes (a WHERE may follow)."""
    return f"""SELECT partner_id, time, type, initiated_by, ecosystem_partners AS eco,
                      duration_minutes * {scoring.weight_sql()} AS q
               FROM engagement_events_by_time"""


# Events up to M without reading them: whole days from the rollup (its totals by day are a
# projection), and those exactly on M.
_EVENTS_UNTIL = f"""(SELECT sum(engagements) FROM partner_daily WHERE day < toDate({{m:{TIME}}}))
                  + (SELECT count() FROM engagement_events_by_time WHERE time = {{m:{TIME}}})"""


def build_state(client: Client, midnight: datetime, scoring: Scoring) -> None:
    """Write every partner's state as of `midnight` (one INSERT … SELECT in the store),
    replacing the state before it."""
    frame = dict(zip(EDGES, frames_at([midnight], scoring)[0], strict=True))
    params: dict[str, Any] = {name: sql_time(t) for name, t in frame.items()}
    params.update({f"{name}_next": sql_time(frame[name] + timedelta(days=1)) for name in STARTS})
    # Raw rows from the month of the earliest window start; before it only first and last
    # engagement count, from `partner_months` (so a build reads about a year, not all history).
    since = min(frame.values()).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    params.update(
        m=sql_time(midnight), scoring=fingerprint(scoring), since=sql_time(since), since_day=since.date().isoformat()
    )

    def within(start: str, end: str = "as_of") -> str:
        return f"time > {{{start}:{TIME}}} AND time <= {{{end}:{TIME}}}"

    sums = ",\n".join(f"sumIf({_VALUE.get(c, '1')}, {within(s, e)}) AS {c}" for c, (s, e) in _WINDOWS.items())
    year = within("rhythm_from")
    # The events each window's start passes in the day after the midnight (T is in that day).
    leaving = " OR ".join(f"({within(e, f'{e}_next')})" for e in STARTS)
    client.command(
        f"""
        INSERT INTO partner_state (midnight, partner_id, scoring, events, partners, {", ".join(_WINDOWS)},
                                   type_counts, eco_counts, days, first_day, last_day, gaps, first_gap,
                                   first_day_events, first_time, last_time, leaving)
        SELECT {{m:{TIME}}}, partner_id, {{scoring:String}}, ({_EVENTS_UNTIL}), toUInt32(count() OVER ()),
               {", ".join(_WINDOWS)}, type_counts, eco_counts, length(year) AS days, year[1], year[-1],
               arraySort(arrayPopFront(arrayDifference(arrayMap(d -> toInt32(d), year)))),
               if(days >= 2, toInt32(year[2]) - toInt32(year[1]), 0), first_day_events, first_time, last_time,
               leaving
        FROM
        (
            SELECT partner_id, {sums},
                   CAST(sumMapIf([toString(type)], [toUInt64(1)], {within("activity_from")}) AS Map(String, UInt64))
                       AS type_counts,
                   CAST(sumMapIf(eco, arrayMap(e -> toUInt64(1), eco), notEmpty(eco) AND {within("activity_from")})
                        AS Map(String, UInt64)) AS eco_counts,
                   arraySort(groupUniqArrayIf(toDate(time), {year})) AS year,
                   countIf({year} AND toDate(time) = toDate({{rhythm_from:{TIME}}})) AS first_day_events,
                   min(time) AS first_time, max(time) AS last_time,
                   groupArrayIf((time, type, initiated_by, eco, q), {leaving}) AS leaving
            FROM
            (
                {_raw_rows(scoring)} WHERE time >= {{since:{TIME}}} AND time <= {{as_of:{TIME}}}
                UNION ALL
                -- Before every window: they change only first and last engagement.
                SELECT partner_id, arrayJoin([first_time, last_time]) AS time, '', '', [], 0.
                FROM partner_months WHERE month < {{since_day:Date}}
            )
            GROUP BY partner_id
        )
        """,
        parameters=params,
    )


def _usable(client: Client, midnight: datetime, scoring: Scoring) -> bool:
    rows, builds, partners, fingerprints, events, now = client.query(
        f"""SELECT count(), uniqExact(built_at), max(partners), groupUniqArray(scoring), max(events), ({_EVENTS_UNTIL})
            FROM partner_state FINAL WHERE midnight = {{m:{TIME}}}""",
        parameters={"m": sql_time(midnight)},
    ).result_rows[0]
    return bool(rows) and builds == 1 and rows == partners and fingerprints == [fingerprint(scoring)] and now == events


def keep_state(client: Client, midnight: datetime, scoring: Scoring) -> None:
    """Build the state at `midnight` unless an exact one is there already (a worker that
    restarted the same day finds its own)."""
    if not _usable(client, midnight, scoring):
        build_state(client, midnight, scoring)


# Per raw row, for each edge: 1 if the edge passed it between M and T, i.e. it lies in
# (edge at M, edge at T]. A window gains what its end passed and loses what its start did.
_PASSED = ", ".join(f"toInt64(time > {{{e}_m:{TIME}}} AND time <= {{{e}_t:{TIME}}}) AS passed_{e}" for e in EDGES)
_IN_ANY = " OR ".join(f"(time > {{{e}_m:{TIME}}} AND time <= {{{e}_t:{TIME}}})" for e in EDGES)
_DELTAS = ", ".join(f"sum({_VALUE.get(c, '1')} * (passed_{e} - passed_{s})) AS {c}" for c, (s, e) in _WINDOWS.items())
_CHANGE = "passed_as_of - passed_activity_from"  # in and out of the activity window


# The year's gaps as of T are the state's (sorted), less the first day's gap x once that
# day has left, plus T's day's gap y once an engagement arrived today. Building that array
# (a copy, a push and a sort of ~340 gaps for each of 10k partners) took ~60 of ~150 ms as
# of T + 14 h with the day's events; the quantile needs two of its ranks, read in place:
# - kept rank r (x removed) is the state's r-th gap, or its (r+1)-th from x's first place
#   on (where the r-th is x or longer);
# - with y inserted after the kept gaps not longer, rank r is the middle one of
#   (kept r − 1, y, kept r), a kept gap 0 standing before the first and none past the last.
# Scalars and array lookups only: ClickHouse's `if` over the arrays would copy them.
def _kept_gap(r: str) -> str:
    return f"gaps[{r} + toUInt32(removed AND gaps[{r}] >= first_gap)]"


def _nth_gap(k: str) -> str:
    past_last = f"toInt32(({k}) > kept_count) * joining"
    return f"greatest({_kept_gap(f'({k}) - 1')}, least(joining, {_kept_gap(k)} + {past_last}))"


# The quantile one level out, over the helpers as columns: in the same SELECT, ClickHouse
# expanded an alias into each of the quantile's uses (106 → 95 ms at 10k partners).
_FROM_STATE_SQL = f"""
SELECT * EXCEPT (gaps, gap_at, removed, first_gap, kept_count, joining, gap_count)
FROM
(
SELECT * EXCEPT (left, joined, added), {rhythm_quantile("gap_count", _nth_gap)}
FROM
(
    SELECT partner_id,  -- (T is the caller's: not sent back 10k times)
           s.q_month + d.q_month AS quality_minutes_30d, s.q_prev + d.q_prev AS quality_minutes_prev_30d,
           (s.q_baseline + d.q_baseline) / {{baseline_months:Float64}} AS baseline_minutes_30d,
           s.n_activity + d.n_activity AS engagements_90d, s.n_partner + d.n_partner AS partner_initiated_90d,
           arrayCount(v -> v > 0, mapValues(mapAdd(CAST(s.type_counts AS Map(String, Int64)), d.type_change)))
               AS distinct_types_90d,
           arrayCount(v -> v > 0, mapValues(mapAdd(CAST(s.eco_counts AS Map(String, Int64)), d.eco_change)))
               AS ecosystem_partners_90d,
           if(s.stated, s.first_time, d.first_new) AS first_engagement_at,
           if(d.arrived > 0, d.last_new, s.last_time) AS last_engagement_at,
           s.n_recent + d.n_recent AS engagements_60d,
           (s.n_usual + d.n_usual) / {{usual_windows:Float64}} AS usual_engagements_60d,
           -- The year's first day leaves once its last engagement has (with the gap after
           -- it); T's day joins (with the gap before it).
           s.days > 0 AND s.first_day = {{year_day:Date}} AND s.first_day_events <= d.left_first_day AS left,
           s.gaps AS gaps,
           left AND s.days >= 2 AS removed,
           s.first_gap AS first_gap,
           length(s.gaps) - removed AS kept_count,
           toInt32(toDate({{m:{TIME}}})) - toInt32(s.last_day) AS joined,
           d.arrived > 0 AND s.days > toUInt32(left) AND joined > 0 AS added,
           if(added, joined, 2147483647) AS joining,  -- none joined: longer than any, reached by no rank
           kept_count + added AS gap_count
    FROM (SELECT * EXCEPT (leaving), 1 AS stated FROM partner_state FINAL WHERE midnight = {{m:{TIME}}})
        AS s
    FULL OUTER JOIN
    (
        SELECT partner_id, {_DELTAS},
               CAST(sumMapIf([toString(type)], [{_CHANGE}], {_CHANGE} != 0) AS Map(String, Int64)) AS type_change,
               CAST(sumMapIf(eco, arrayMap(e -> {_CHANGE}, eco), notEmpty(eco) AND {_CHANGE} != 0)
                    AS Map(String, Int64)) AS eco_change,
               sum(passed_as_of) AS arrived, sum(passed_rhythm_from) AS left_first_day,
               minIf(time, passed_as_of = 1) AS first_new, maxIf(time, passed_as_of = 1) AS last_new
        FROM
        (
            SELECT *, {_PASSED}
            FROM
            (
                -- Those that passed a window's start, from the state; those since the midnight.
                SELECT partner_id, l.time AS time, l.type AS type, l.initiated_by AS initiated_by, l.eco AS eco,
                       l.q AS q
                FROM partner_state FINAL ARRAY JOIN leaving AS l
                WHERE midnight = {{m:{TIME}}} AND ({_IN_ANY})
                UNION ALL
                {{raw_rows}} WHERE time > {{as_of_m:{TIME}}} AND time <= {{as_of_t:{TIME}}}
            )
        )
        GROUP BY partner_id
    ) AS d USING partner_id
))
"""


def metrics_from_state(client: Client, as_of: datetime, scoring: Scoring) -> list[Metrics] | None:
    """Every partner's metrics as of `as_of` from the state at its midnight, in no order
    (sorted in the query, ClickHouse computed every column after the sort, on one thread:
    +6–14 ms); None when that state is missing or not exactly the midnight's. (A few
    partners are faster from their raw rows: `compute_metrics` with them.)"""
    t = to_millis(as_of)
    midnight = midnight_at_or_before(t)
    frame_m, frame_t = frames_at([midnight, t], scoring)
    # Windows of whole days (as by default) start on midnights too: the year's first day is
    # then the only one its start passes by T; and of a day or more, so that what a start
    # passes by T was stored by the midnight (the state's `leaving`). Others: in full.
    starts = frame_m[1:]  # EDGES is (as_of, *STARTS)
    whole_days = all(e == midnight_at_or_before(e) and e <= midnight - timedelta(days=1) for e in starts)
    if not whole_days or not _usable(client, midnight, scoring):
        return None
    params: dict[str, Any] = {f"{name}_m": sql_time(e) for name, e in zip(EDGES, frame_m, strict=True)}
    params.update({f"{name}_t": sql_time(e) for name, e in zip(EDGES, frame_t, strict=True)})
    params.update(
        m=sql_time(midnight),
        year_day=frame_m[EDGES.index("rhythm_from")].date().isoformat(),
        **shared_params(scoring),
    )
    sql = _FROM_STATE_SQL.replace("{raw_rows}", _raw_rows(scoring)).replace(
        "{gap_quantile}", repr(float(scoring.rhythm("quantile")))
    )
    return [
        Metrics(partner_id, t, *sums, first, last, recent_n, usual_n, gap)
        for partner_id, *sums, first, last, recent_n, usual_n, gap in client.query(
            sql, parameters=params, tz_mode="aware"
        ).result_rows
    ]

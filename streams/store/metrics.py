"""Health of every partner as of a time T (event time), computed by ClickHouse.

Whole days inside a window come from the `partner_daily` rollup (and, for the rhythm's
year and the decline counts, `partner_day_counts`); the days that hold a window edge
(the days of T, T−30d, T−60d, …) come from raw rows, so every window is exact to the
millisecond — unless the edge is a midnight with no event exactly on it, whose day lies
wholly on one side of it. The partners asked for by name (a few) come from their own raw
rows alone, every window by time: the same numbers, without planning the parts above.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from streams.formats import aware
from streams.rules.scoring import Metrics, Scoring
from streams.rules.validation import engagement_types
from streams.store.windows import EDGES, RHYTHM_QUANTILE, STARTS, TIME, frames_at, shared_params, sql_time, to_millis

# Health as of several times T in one query (a catch-up evaluates a month of midnights
# at once). Each T comes as a frame computed once in Python: its window starts, their
# days, and which of those days are read raw: an edge's day is, unless the edge is a
# midnight with no event stored exactly on it (then the day lies wholly on one side of
# the edge, and the daily evaluation's frames are nearly always whole days). Five parts,
# each aggregated per (T, partner) before they are combined:
# - whole days of the short windows (up to the baseline's): rollup rows of the days not
#   read raw, compared as dates;
# - whole days of the decline counts: each partner's days and counts from
#   `partner_day_counts`, a row per month: whole months at once, edge months day by day;
# - whole days of the rhythm's year: each partner's days, gathered once, filtered per T;
# - the days read raw: events, compared to the millisecond;
# - days before the earliest window start: only first/last engagement (and to list
#   partners long silent), the same for every T of the batch: whole months from
#   `partner_months` (the windows' first month whole when it ends before the first T's day:
#   min and max may see a day twice), else the rest of that month from the rollup.
# A frame: T and each window start (as times), the same as days, and the same as days read
# raw (T's day where an edge's day is not: no row of it counts, as none is before T).
_FRAME = f"Array(Tuple({', '.join([TIME] * len(EDGES) + ['Date'] * 2 * len(EDGES))}))"
_FRAME_NAMES = ", ".join(
    [f"frame.{i + 1} AS {name}" for i, name in enumerate(EDGES)]
    + [f"frame.{len(EDGES) + i + 1} AS {name}_day" for i, name in enumerate(EDGES)]
    + [f"frame.{2 * len(EDGES) + i + 1} AS {name}_raw" for i, name in enumerate(EDGES)]
)
_AS_OF_DAY = f"frame.{len(EDGES) + 1}"
# The short windows' starts (up to the baseline's): their rows come from the rollup.
_SHORT = ("month_ago", "two_months_ago", "baseline_from", "activity_from")
# Written out, not has([...], day): in the join's lambda that is an order of magnitude slower.
_NOT_RAW_DAY = " AND ".join(f"day != frame.{2 * len(EDGES) + i + 1}" for i in range(1, len(EDGES)))
# A month of day counts serves a frame's decline counts when it overlaps their windows
# (from the usual windows' start up to T's day; the rhythm's year reads its own way).
_DECLINE_MONTHS = (
    f"month <= frame.{len(EDGES) + 1} AND addMonths(month, 1) > frame.{len(EDGES) + 1 + EDGES.index('usual_from')}"
)
_RAW_DAY = "(" + " OR ".join(f"day = frame.{2 * len(EDGES) + i + 1}" for i in range(len(EDGES))) + ")"
# Which engagement type a row is, as one bit: distinct types are a bitwise or.
_TYPE_BIT = "bitShiftLeft(toUInt64(1), transform(type, {types:Array(String)}, {type_bits:Array(UInt8)}, 63))"


def _windowed(at: str) -> str:
    """The per-(T, partner) sums of one part; `at(start, end)` says a row is in (start, end]."""
    month, prev, baseline, activity = (
        at("month_ago", "as_of"),
        at("two_months_ago", "month_ago"),
        at("baseline_from", "month_ago"),
        at("activity_from", "as_of"),
    )
    return f"""
        sumIf(q, {month}) AS q_month, sumIf(q, {prev}) AS q_prev, sumIf(q, {baseline}) AS q_baseline,
        sumIf(n, {activity}) AS n_activity, sumIf(np, {activity}) AS n_partner,
        groupBitOrIf(type_bit, {activity}) AS types, groupUniqArrayArrayIf(eco, notEmpty(eco) AND {activity}) AS eco_set,
        min(first_t) AS first_t, max(last_t) AS last_t"""


def _long_windows(at: str, edges_only: bool = True) -> str:
    """The decline counts and the rhythm's days on raw rows; `at` as for `_windowed`. Of
    the rhythm's days, with `edges_only`, only its own two edges (the days of T−365d and
    of T): every day between lies wholly inside its window, and the series gives those."""
    recent, usual, rhythm = at("recent_from", "as_of"), at("usual_from", "recent_from"), at("rhythm_from", "as_of")
    ends = " AND (day = rhythm_from_day OR day = as_of_day)" if edges_only else ""
    return (
        f"sumIf(n, {recent}) AS n_recent, sumIf(n, {usual}) AS n_usual, groupUniqArrayIf(day, {rhythm}{ends}) AS days"
    )


def _in_days(start: str, end: str) -> str:
    """A lambda's condition on a day `d` of a partner's series: in the window, not read raw."""
    others = " AND ".join(f"d != {name}_raw" for name in STARTS)
    return f"d >= {start}_day AND d < {end}_day AND {others}"


_NEXT_MONTH = "addMonths(month, 1)"


def _whole_month(start: str, end: str) -> str:
    """A month row lies wholly inside the window and holds no day read raw: every day of
    it counts, no lambda needed (most of a year's months, at every T)."""
    no_raw = " AND ".join(f"NOT ({name}_raw >= month AND {name}_raw < {_NEXT_MONTH})" for name in STARTS)
    return f"month >= {start}_day AND {_NEXT_MONTH} <= {end}_day AND {no_raw}"


def _month_count(start: str, end: str) -> str:
    """The engagements of a month row in the window: none, all, or day by day."""
    outside = f"{_NEXT_MONTH} <= {start}_day OR month >= {end}_day"
    by_day = f"arraySum(arrayMap((d, c) -> if({_in_days(start, end)}, c, 0), days.1, days.2))"
    return f"multiIf({outside}, toUInt64(0), {_whole_month(start, end)}, total, {by_day})"


# No engagement: neutral for min(first_t) and max(last_t).
_NO_FIRST = "toDateTime64('2299-12-31 00:00:00', 3, 'UTC')"
_NO_LAST = "toDateTime64('1900-01-01 00:00:00', 3, 'UTC')"


def _by_day(start: str, end: str) -> str:
    """(start, end] on rollup rows (never a day read raw): the days from start's to end's."""
    return f"(day >= {start}_day AND day < {end}_day)"


def _by_time(start: str, end: str) -> str:
    return f"(t > {start} AND t <= {end})"


# Which rows count for a T (in terms of its frame): rollup rows of days before T's and
# not read raw; raw rows of the days read raw, up to T.
_ROLLUP_ROWS = f"day < {_AS_OF_DAY} AND {_NOT_RAW_DAY}"
_RAW_ROWS = f"{_RAW_DAY} AND t <= frame.1"

# The metrics from the parts' per-(T, partner) sums (the columns of `_windowed` and
# `_long_windows`, in that order).
_METRICS_OF_PARTS = f"""
SELECT * EXCEPT (gaps, gap_at)  -- the gaps stay in ClickHouse: only their quantile is needed
FROM
(
SELECT
    as_of,
    partner_id,
    sum(q_month) AS quality_minutes_30d,
    sum(q_prev) AS quality_minutes_prev_30d,
    sum(q_baseline) / {{baseline_months:Float64}} AS baseline_minutes_30d,
    sum(n_activity) AS engagements_90d,
    sum(n_partner) AS partner_initiated_90d,
    bitCount(groupBitOr(types)) AS distinct_types_90d,
    length(groupUniqArrayArray(eco_set)) AS ecosystem_partners_90d,
    min(first_t) AS first_engagement_at,
    max(last_t) AS last_engagement_at,
    sum(n_recent) AS engagements_60d,
    sum(n_usual) / {{usual_windows:Float64}} AS usual_engagements_60d,
    -- The partner's rhythm: a quantile (linear interpolation at q·(n−1)) of the gaps
    -- between consecutive engagement days (the day counts give the days between, the raw
    -- rows the two edge days). A day given twice (by parts not merged yet) makes a gap of
    -- 0, dropped: cheaper than making each partner's days distinct first.
    arraySort(arrayFilter(g -> g > 0, arrayDifference(arrayMap(d -> toInt32(d), arraySort(groupArrayArray(days)))))) AS gaps,
    {RHYTHM_QUANTILE}
FROM
(
{{parts}}
)
GROUP BY as_of, partner_id
-- Only partners with an engagement at or before T (the series lists every partner).
HAVING first_engagement_at <= as_of
)
ORDER BY as_of, partner_id
"""

# What a raw row gives every part's columns.
_RAW_COLUMNS = f"""partner_id, toDate(time) AS day, time AS t, toUInt64(1) AS n,
                   toUInt64(initiated_by = 'partner') AS np,
                   duration_minutes * {{weight}} AS q, {_TYPE_BIT} AS type_bit, ecosystem_partners AS eco,
                   time AS first_t, time AS last_t"""

_PARTS_SQL = f"""
    SELECT as_of, partner_id, {_windowed(_by_day)},
           toUInt64(0) AS n_recent, toUInt64(0) AS n_usual, CAST([], 'Array(Date)') AS days
    FROM
    (
        SELECT *, {{frame_const}}{_FRAME_NAMES}
        FROM
        (
            -- Rollup rows as stored (parts not merged yet are fine: every metric adds up).
            SELECT partner_id, day, {{rollup_columns}}
            FROM partner_daily
            WHERE day >= {{from_day:Date}} AND day <= {{to_day:Date}}
            {{rollup_group}}
        )
        {{rollup_join}}
        WHERE {_ROLLUP_ROWS}
    )
    GROUP BY as_of, partner_id
    UNION ALL
    SELECT as_of, partner_id, {_windowed(_by_time)}, {_long_windows(_by_time)}
    FROM
    (
        SELECT *, {{frame_const}}{_FRAME_NAMES}
        FROM
        (
            SELECT {_RAW_COLUMNS}
            FROM engagement_events_by_time
            WHERE toDate(time) IN {{edge_days:Array(Date)}} AND time <= {{to_t:{TIME}}}
        )
        {{raw_join}}
        WHERE {_RAW_ROWS}
    )
    GROUP BY as_of, partner_id
    UNION ALL
    -- The decline counts over full days: a row per partner and month of
    -- `partner_day_counts` (days and their counts), joined to the frames whose decline
    -- windows it overlaps and filtered per T (parts not merged yet may hold the same day
    -- twice: the counts add up).
    SELECT as_of, partner_id, 0., 0., 0., toUInt64(0), toUInt64(0), toUInt64(0), CAST([], 'Array(String)'),
           {_NO_FIRST}, {_NO_LAST},
           {_month_count("recent_from", "as_of")}, {_month_count("usual_from", "recent_from")}, CAST([], 'Array(Date)')
    FROM
    (
        SELECT *, arraySum(days.2) AS total, {_FRAME_NAMES}
        FROM partner_day_counts
        ARRAY JOIN arrayFilter(frame -> {_DECLINE_MONTHS}, {{frames:{_FRAME}}}) AS frame
        WHERE month >= toStartOfMonth({{long_from_day:Date}}) AND month <= {{to_day:Date}}
    )
    UNION ALL
    -- The rhythm's year over full days: each partner's engagement days, gathered once (not
    -- once per T: a batch has up to 31), then those of each T's year but its edge days read
    -- raw (the raw part gives those).
    SELECT as_of, partner_id, 0., 0., 0., toUInt64(0), toUInt64(0), toUInt64(0), CAST([], 'Array(String)'),
           {_NO_FIRST}, {_NO_LAST}, toUInt64(0), toUInt64(0),
           arrayFilter(d -> d >= rhythm_from_day AND d != rhythm_from_raw AND d < as_of_day, all_days)
    FROM
    (
        SELECT *, {_FRAME_NAMES}
        FROM
        (
            SELECT partner_id, groupArrayArray(days.1) AS all_days
            FROM partner_day_counts
            WHERE month >= toStartOfMonth({{long_from_day:Date}}) AND month <= {{to_day:Date}}
            GROUP BY partner_id
        )
        ARRAY JOIN {{frames:{_FRAME}}} AS frame
    )
    UNION ALL
    SELECT as_of, partner_id, 0., 0., 0., toUInt64(0), toUInt64(0), toUInt64(0), CAST([], 'Array(String)'),
           first_t, last_t, toUInt64(0), toUInt64(0), CAST([], 'Array(Date)')
    FROM
    (
        SELECT *, {{frame_const}}frame.1 AS as_of
        FROM
        (
            SELECT partner_id, min(first_time) AS first_t, max(last_time) AS last_t
            FROM
            (
                -- Whole months, the windows' first month too when it ends by the first T's
                -- day (as by default): its later days are in the windows as well, which
                -- min and max do not mind. Else that month's days before the windows.
                SELECT partner_id, first_time, last_time
                FROM partner_months
                WHERE month <= toStartOfMonth({{from_day:Date}}) AND addMonths(month, 1) <= {{first_day:Date}}
                UNION ALL
                SELECT partner_id, first_time, last_time
                FROM partner_daily
                WHERE day >= toStartOfMonth({{from_day:Date}}) AND day < {{from_day:Date}}
                  AND addMonths(toStartOfMonth({{from_day:Date}}), 1) > {{first_day:Date}}
            )
            GROUP BY partner_id
        )
        {{before_join}}
    )
"""

# The partners asked for (`explain`, the report's, one partner's health): all their raw
# rows up to the last T, every window by time. For one partner ~40 ms where the query for
# every partner, planning its five parts, takes ~120 (1,000 partners: 0.5 s against 0.6).
_PARTNER_PARTS_SQL = f"""
    SELECT as_of, partner_id, {_windowed(_by_time)}, {_long_windows(_by_time, edges_only=False)}
    FROM
    (
        SELECT *, {_FRAME_NAMES}
        FROM
        (
            SELECT {_RAW_COLUMNS}
            FROM engagement_events
            WHERE partner_id IN {{partners:Array(String)}} AND time <= {{to_t:{TIME}}}
        )
        ARRAY JOIN arrayFilter(frame -> t <= frame.1, {{frames:{_FRAME}}}) AS frame
    )
    GROUP BY as_of, partner_id
"""


def _metrics_sql(scoring: Scoring, batched: bool) -> str:
    """The metrics query for every partner, as of one T (`batched` False) or several."""
    # One T is a constant. Several are joined to the rows, each row only to the frames it
    # counts for (a join copies the row; the WHERE then holds already).
    frames_param = f"{{frames:{_FRAME}}}"

    def join(condition: str) -> str:
        return f"ARRAY JOIN arrayFilter(frame -> {condition}, {frames_param}) AS frame" if batched else ""

    rollup = {"n": "engagements", "np": "if(initiated_by = 'partner', engagements, 0)", "q": "duration_minutes * {weight}",
              "type_bit": _TYPE_BIT, "eco": "ecosystem_partners", "first_t": "first_time", "last_t": "last_time"}  # fmt: skip
    if batched:  # rows per partner and day first: fewer rows to copy
        merge = {"n": "sum", "np": "sum", "q": "sum", "type_bit": "groupBitOr", "eco": "groupUniqArrayArray",
                 "first_t": "min", "last_t": "max"}  # fmt: skip
        rollup = {name: f"{merge[name]}({expr})" for name, expr in rollup.items()}
    parts = (
        _PARTS_SQL.replace("{rollup_columns}", ", ".join(f"{expr} AS {name}" for name, expr in rollup.items()))
        .replace("{rollup_group}", "GROUP BY partner_id, day" if batched else "")
        .replace("{frame_const}", "" if batched else f"{frames_param}[1] AS frame, ")
        .replace("{rollup_join}", join(_ROLLUP_ROWS))
        .replace("{raw_join}", join(_RAW_ROWS))
        .replace("{before_join}", join("1"))
    )
    return _with_scoring(parts, scoring)


def _with_scoring(parts: str, scoring: Scoring) -> str:
    """The metrics query over these parts, with the scoring file's weights and quantile."""
    return (
        _METRICS_OF_PARTS.replace("{parts}", parts)
        .replace("{weight}", scoring.weight_sql())
        .replace("{gap_quantile}", repr(float(scoring.rhythm("quantile"))))
    )


Partners = str | list[str] | None  # one partner, some, or (None) every partner


def compute_metrics(client: Client, as_of: datetime, scoring: Scoring, partner: Partners = None) -> list[Metrics]:
    return next(iter(compute_metrics_at(client, [as_of], scoring, partner).values()))


def compute_metrics_at(
    client: Client, times: list[datetime], scoring: Scoring, partner: Partners = None
) -> dict[datetime, list[Metrics]]:
    """Every partner's (or those asked for: from their raw rows) metrics as of each of
    `times` (one query), by time then partner."""
    times = sorted({to_millis(t) for t in times})
    frames = frames_at(times, scoring)
    types = engagement_types()
    params: dict[str, Any] = dict(
        to_t=sql_time(times[-1]), types=types, type_bits=list(range(len(types))), **shared_params(scoring)
    )
    if partner is None:
        sql, raw = _metrics_sql(scoring, batched=len(times) > 1), _read_raw(client, frames)
        params.update(
            # The short windows read the rollup row by row from the earliest T's earliest start.
            from_day=min(frames[0][EDGES.index(name)] for name in _SHORT).date().isoformat(),
            long_from_day=min(e for frame in frames for e in frame).date().isoformat(),
            first_day=times[0].date().isoformat(),
            to_day=times[-1].date().isoformat(),
            edge_days=sorted({day.isoformat() for days in raw for day in days if day}),
        )
    else:  # every row of theirs read raw: no edge's day to mark (the frames' raw days go unused)
        sql, raw = _with_scoring(_PARTNER_PARTS_SQL, scoring), [(None,) * len(EDGES)] * len(frames)
        params["partners"] = [partner] if isinstance(partner, str) else partner
    # A day not read raw is T's in the frame: no row of it counts (none is before T).
    params["frames"] = [(*map(sql_time, f), *(e.date().isoformat() for e in f), *((d or f[0].date()).isoformat() for d in days))
                        for f, days in zip(frames, raw, strict=True)]  # fmt: skip
    out: dict[datetime, list[Metrics]] = {t: [] for t in times}
    as_ofs: dict[datetime, datetime] = {}  # one object per T (a catch-up makes 10k × 31)
    # Times come back aware (tz_mode): converting them in Python cost ~1 µs each.
    for as_of, partner_id, *sums, first, last, recent_n, usual_n, gap in client.query(
        sql, parameters=params, tz_mode="aware"
    ).result_rows:
        t = as_ofs.setdefault(as_of, as_of)
        out[t].append(Metrics(partner_id, t, *sums, first, last, recent_n, usual_n, gap))
    return out


def _read_raw(client: Client, frames: list[tuple[datetime, ...]]) -> list[tuple[date | None, ...]]:
    """Per frame, per edge: its day if it is read raw, else None. A midnight with no event
    stored exactly on it needs no raw row: its day lies wholly after it (the daily
    evaluation's edges are such midnights, unless an event sits on one)."""
    midnights = sorted(
        {e for frame in frames for e in frame if e == e.replace(hour=0, minute=0, second=0, microsecond=0)}
    )
    taken = set()
    if midnights:
        taken = {aware(t) for (t,) in client.query(
            f"SELECT DISTINCT time FROM engagement_events_by_time WHERE time IN {{instants:Array({TIME})}}",
            parameters={"instants": [sql_time(e) for e in midnights]},
        ).result_rows}  # fmt: skip
    whole = set(midnights) - taken
    return [tuple(None if e in whole else e.date() for e in frame) for frame in frames]

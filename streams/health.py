"""Health of every partner as of a time T (event time), computed by ClickHouse.

Full days inside a window come from the `partner_daily` rollup; the days that hold a
window edge (the days of T, T−30d, T−60d, T−90d, T−120d) come from raw rows, so every
window is exact to the millisecond. A rollup row stands for its day at the day's
first event time: a day without an edge lies wholly inside or outside each window.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from streams.formats import aware, iso
from streams.scoring import COMPONENTS, Health, Metrics, Scoring, assess, load_scoring
from streams.validation import parse_time

METRIC_FIELDS = [
    "quality_minutes_30d",
    "quality_minutes_prev_30d",
    "baseline_minutes_30d",
    "engagements_90d",
    "last_engagement_at",
    "days_since_last",
    "partner_initiated_share",
    "distinct_types_90d",
    "ecosystem_partners_90d",
    "first_engagement_at",
    "trend",
]

_WEIGHT = (
    "transform(concat(toString(type), '/', toString(role)), {role_keys:Array(String)}, {role_weights:Array(Float64)}, "
    "transform(toString(type), {type_keys:Array(String)}, {type_weights:Array(Float64)}, 0.))"
)

# Health as of several times T in one pass (a catch-up evaluates a month of midnights
# at once). For each T, its window edges are the day of T and the days where the 30-,
# 60-, 90-day and baseline windows start; rows of those days come from raw events, all
# other days from the rollup. Days before the earliest window start only matter for
# first/last engagement (and to list partners long silent), so they are read once.
_BOUNDS = """
    as_of - toIntervalSecond({month_s:Int64}) AS month_ago,
    as_of - toIntervalSecond(2 * {month_s:Int64}) AS two_months_ago,
    as_of - toIntervalSecond({baseline_s:Int64}) AS baseline_from,
    as_of - toIntervalSecond({activity_s:Int64}) AS activity_from,
    [toDate(as_of), toDate(month_ago), toDate(two_months_ago), toDate(baseline_from), toDate(activity_from)]
        AS edge_days"""

_METRICS_SQL = f"""
SELECT
    as_of,
    partner_id,
    sumIf(q, t > month_ago AND t <= as_of) AS quality_minutes_30d,
    sumIf(q, t > two_months_ago AND t <= month_ago) AS quality_minutes_prev_30d,
    sumIf(q, t > baseline_from AND t <= month_ago) / {{baseline_months:Float64}} AS baseline_minutes_30d,
    sumIf(n, t > activity_from AND t <= as_of) AS engagements_90d,
    sumIf(n, t > activity_from AND t <= as_of AND initiated_by = 'partner') AS partner_initiated_90d,
    uniqExactIf(type, t > activity_from AND t <= as_of) AS distinct_types_90d,
    length(groupUniqArrayArrayIf(eco, t > activity_from AND t <= as_of)) AS ecosystem_partners_90d,
    min(first_t) AS first_engagement_at,
    max(last_t) AS last_engagement_at
FROM
(
    SELECT as_of, partner_id, type, initiated_by, t, first_t, last_t, n, q, eco, {_BOUNDS}
    FROM
    (
        SELECT partner_id, day, 0 AS raw, toString(type) AS type, toString(initiated_by) AS initiated_by,
               min(first_time) AS t, t AS first_t, max(last_time) AS last_t,
               sum(engagements) AS n, sum(duration_minutes) * {_WEIGHT} AS q,
               groupUniqArrayArray(ecosystem_partners) AS eco
        FROM partner_daily
        WHERE day >= {{from_day:Date}} AND day <= {{to_day:Date}} {{partner_filter:Identifier}}
        GROUP BY partner_id, day, type, role, initiated_by
        UNION ALL
        SELECT partner_id, toDate(time), 1, toString(type), toString(initiated_by), time, time, time,
               toUInt64(1), duration_minutes * {_WEIGHT}, ecosystem_partners
        FROM engagement_events
        WHERE toDate(time) IN {{edge_days:Array(Date)}} AND time <= {{to_t:DateTime64(3, 'UTC')}}
              {{partner_filter:Identifier}}
    )
    ARRAY JOIN {{ts:Array(DateTime64(3, 'UTC'))}} AS as_of
    WHERE day <= toDate(as_of) AND t <= as_of AND raw = has(edge_days, day)
    UNION ALL
    -- Before the earliest window start: the same for every T of this batch.
    SELECT as_of, partner_id, '', '', toDateTime64(0, 3, 'UTC'), first_t, last_t, 0, 0., [], {_BOUNDS}
    FROM
    (
        SELECT partner_id, min(first_time) AS first_t, max(last_time) AS last_t
        FROM partner_daily
        WHERE day < {{from_day:Date}} {{partner_filter:Identifier}}
        GROUP BY partner_id
    )
    ARRAY JOIN {{ts:Array(DateTime64(3, 'UTC'))}} AS as_of
)
GROUP BY as_of, partner_id
ORDER BY as_of, partner_id
"""


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def parse_as_of(text: str | None, now: datetime | None = None) -> datetime:
    """`--as-of`: RFC 3339 time, or a date meaning that day's 00:00Z; default now."""
    if not text:
        return now or datetime.now(UTC)
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    except ValueError:
        pass
    parsed = parse_time(text)
    if parsed is None:
        raise ValueError(f"--as-of {text!r} is neither a date (2026-11-20) nor an RFC 3339 time (2026-11-20T15:00:00Z)")
    return parsed


def compute_metrics(client: Client, as_of: datetime, scoring: Scoring, partner: str | None = None) -> list[Metrics]:
    return next(iter(compute_metrics_at(client, [as_of], scoring, partner).values()))


def compute_metrics_at(
    client: Client, times: list[datetime], scoring: Scoring, partner: str | None = None
) -> dict[datetime, list[Metrics]]:
    """Every partner's metrics as of each of `times` (one query), by time then partner."""
    # Milliseconds, as DateTime64(3) holds them (and as the answer's as_of comes back).
    times = sorted({aware(t).replace(microsecond=aware(t).microsecond // 1000 * 1000) for t in times})
    month = scoring.window("month")
    baseline_months = int(scoring.raw["windows_days"]["baseline_months"])
    windows = {"month_s": month, "baseline_s": month * (1 + baseline_months), "activity_s": scoring.window("activity")}
    edge_days = sorted({(t - w).date() for t in times for w in (timedelta(0), month, 2 * month, *windows.values())})
    role_keys, role_weights, type_keys, type_weights = scoring.weight_table()
    sql = _METRICS_SQL.replace(
        "{partner_filter:Identifier}", "AND partner_id = {partner:String}" if partner is not None else ""
    )
    params: dict[str, Any] = {name: int(w.total_seconds()) for name, w in windows.items()}
    params.update(
        ts=[_ts(t) for t in times],
        from_day=edge_days[0].isoformat(),
        to_day=times[-1].date().isoformat(),
        to_t=_ts(times[-1]),
        edge_days=[d.isoformat() for d in edge_days],
        baseline_months=float(baseline_months),
        # A harmless extra key keeps each array non-empty (ClickHouse cannot type []).
        role_keys=[*role_keys, ""],
        role_weights=[*role_weights, 0.0],
        type_keys=[*type_keys, ""],
        type_weights=[*type_weights, 0.0],
        partner=partner or "",
    )
    out: dict[datetime, list[Metrics]] = {t: [] for t in times}
    for row in client.query(sql, parameters=params).named_results():
        as_of = aware(row["as_of"])
        out[as_of].append(
            Metrics(
                partner_id=row["partner_id"],
                as_of=as_of,
                quality_minutes_30d=row["quality_minutes_30d"],
                quality_minutes_prev_30d=row["quality_minutes_prev_30d"],
                baseline_minutes_30d=row["baseline_minutes_30d"],
                engagements_90d=int(row["engagements_90d"]),
                partner_initiated_90d=int(row["partner_initiated_90d"]),
                distinct_types_90d=int(row["distinct_types_90d"]),
                ecosystem_partners_90d=int(row["ecosystem_partners_90d"]),
                first_engagement_at=aware(row["first_engagement_at"]),
                last_engagement_at=aware(row["last_engagement_at"]),
            )
        )
    return out


def assess_all(client: Client, as_of: datetime, scoring: Scoring, partner: str | None = None) -> list[Health]:
    return [assess(m, scoring) for m in compute_metrics(client, as_of, scoring, partner)]


def partner_names(client: Client) -> dict[str, str]:
    return {
        pid: name for pid, name in client.query("SELECT partner_id, name FROM partner_profiles").result_rows if name
    }


def as_dict(h: Health, name: str | None) -> dict[str, Any]:
    """The JSON shape of ../shared/CONTRACT.md §6: every §3 metric, components, score, status."""
    m = h.metrics
    return {
        "partner_id": m.partner_id,
        "name": name,
        "as_of": iso(m.as_of),
        "quality_minutes_30d": m.quality_minutes_30d,
        "quality_minutes_prev_30d": m.quality_minutes_prev_30d,
        "baseline_minutes_30d": m.baseline_minutes_30d,
        "engagements_90d": m.engagements_90d,
        "last_engagement_at": iso(m.last_engagement_at),
        "days_since_last": m.days_since_last,
        "partner_initiated_share": m.partner_initiated_share,
        "distinct_types_90d": m.distinct_types_90d,
        "ecosystem_partners_90d": m.ecosystem_partners_90d,
        "first_engagement_at": iso(m.first_engagement_at),
        "trend": h.trend,
        "components": {name: h.components[name] for name in COMPONENTS},
        "score": h.score,
        "status": h.status,
    }


STATUS_ORDER = {"disengaged": 0, "at_risk": 1, "new": 2, "healthy": 3}


def health(
    client: Client, as_of: str | None = None, status: str | None = None, partner: str | None = None
) -> list[dict[str, Any]]:
    """One row per partner with an engagement at or before T, worst first."""
    when = parse_as_of(as_of)
    scoring = load_scoring()
    names = partner_names(client)
    rows = [as_dict(h, names.get(h.metrics.partner_id)) for h in assess_all(client, when, scoring, partner)]
    if status:
        rows = [r for r in rows if r["status"] == status]
    rows.sort(key=lambda r: (r["score"], STATUS_ORDER[r["status"]], r["partner_id"]))
    return rows

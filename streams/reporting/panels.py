"""The dashboards' panels and their SQL: one source for Grafana and the HTML report.

Queries use the Grafana ClickHouse plugin's macros ($__timeFilter, $__dateFilter, …)
and template variables (${partner:sqlstring}); `expand` replaces them the way the
plugin and Grafana do, so the report and the tests run exactly what Grafana runs.
Weights come from the scoring config, as in `partnerpulse health`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from streams.rules.scoring import Scoring, sql_string

DATASOURCE_UID = "partnerpulse-clickhouse"
DATASOURCE_TYPE = "grafana-clickhouse-datasource"


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    kind: str  # Grafana panel type
    sql: str
    columns: tuple[str, ...]  # what the panel expects, in order
    grid: tuple[int, int, int, int]  # x, y, w, h on the 24-column grid
    time_series: bool = False
    description: str = ""
    unit: str = ""


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    variables: tuple[dict, ...] = field(default_factory=tuple)
    time_from: str = "now-180d"


LATEST_DAY = "(SELECT max(day) FROM partner_health WHERE day <= toDate($__toTime))"
_WORST_FIRST_COLUMNS = (
    "partner_id", "name", "score", "status", "days_since_last", "silence_limit_days", "usual_gap_days", "trend",
    "quality_minutes_30d", "partner_share", "ecosystem_partners", "quality", "recency", "reciprocity", "breadth",
    "momentum",
)  # fmt: skip
_PARTNER_PICKER = {"name": "partner", "label": "Partner",
                   "query": "SELECT DISTINCT partner_id FROM partner_daily ORDER BY partner_id"}  # fmt: skip


def dashboards(scoring: Scoring) -> list[Dashboard]:
    """Every dashboard, its panels and their SQL (weights as literals from `scoring`)."""
    w = scoring.weight_sql()
    return [_overview(w), _partner_detail(w), _pipeline()]


def _overview(w: str) -> Dashboard:
    """Partner health across the channel: who needs attention, quiet, alerts, trends."""
    return Dashboard(
        uid="partnerpulse-overview",
        title="PartnerPulse · Partner health overview",
        description="Which channel partners are we losing? Latest daily snapshot up to the end of the time range.",
        panels=(
            *_overview_counts(),
            *_overview_partners(),
            *_overview_trends(w),
        ),
    )


def _overview_counts() -> tuple[Panel, ...]:
    """How many partners stand where, and the open alerts."""
    return (
        Panel(
            "status_counts",
            "Partners by status",
            "piechart",
            f"SELECT status, count() AS partners FROM partner_health FINAL WHERE day = {LATEST_DAY} "
            "GROUP BY status ORDER BY status",
            ("status", "partners"),
            (0, 0, 6, 8),
        ),
        Panel(
            "score_distribution",
            "Score distribution",
            "barchart",
            "SELECT concat(toString(bucket), '–', toString(bucket + 10)) AS score_range, partners FROM "
            f"(SELECT least(90, intDiv(toUInt32(score), 10) * 10) AS bucket, count() AS partners "
            f"FROM partner_health FINAL WHERE day = {LATEST_DAY} GROUP BY bucket) "
            "ORDER BY bucket",
            ("score_range", "partners"),
            (6, 0, 8, 8),
        ),
        Panel(
            "open_alerts",
            "Open alerts",
            "table",
            "SELECT a.partner_id AS partner_id, ifNull(p.name, '') AS name, a.kind AS kind, "
            "a.fired_at AS fired_at, a.reason AS reason FROM partner_alerts AS a FINAL "
            "LEFT JOIN partner_profiles AS p ON p.partner_id = a.partner_id "
            "WHERE a.state = 'firing' AND a.fired_at <= $__toTime_ms ORDER BY a.fired_at DESC LIMIT 200",
            ("partner_id", "name", "kind", "fired_at", "reason"),
            (14, 0, 10, 8),
        ),
    )


def _overview_partners() -> tuple[Panel, ...]:
    """The partners needing attention, worst first, and the quiet ones."""
    return (
        Panel(
            "worst_first",
            "Partners needing attention (worst first)",
            "table",
            "SELECT h.partner_id AS partner_id, ifNull(p.name, '') AS name, h.score AS score, "
            "h.status AS status, round(h.days_since_last, 1) AS days_since_last, h.silence_limit_days AS silence_limit_days, "
            "round(h.usual_gap_days, 1) AS usual_gap_days, round(h.trend, 2) AS trend, "
            "round(h.quality_minutes_30d) AS quality_minutes_30d, h.partner_initiated_share AS partner_share, "
            "h.ecosystem_partners_90d AS ecosystem_partners, round(h.quality, 2) AS quality, "
            "round(h.recency, 2) AS recency, round(h.reciprocity, 2) AS reciprocity, "
            "round(h.breadth, 2) AS breadth, round(h.momentum, 2) AS momentum FROM partner_health AS h FINAL "
            "LEFT JOIN partner_profiles AS p ON p.partner_id = h.partner_id "
            f"WHERE h.day = {LATEST_DAY} ORDER BY h.score ASC, h.partner_id LIMIT 500",
            _WORST_FIRST_COLUMNS,
            (0, 8, 24, 10),
        ),
        Panel(
            "quiet_now",
            "Quiet now: silent for twice their usual gap — reach out",
            "table",
            "SELECT a.partner_id AS partner_id, ifNull(p.name, '') AS name, a.fired_at AS quiet_since, "
            "round(h.days_since_last, 1) AS days_silent, round(h.usual_gap_days, 1) AS usually_every_days, "
            "h.silence_limit_days AS disengaged_after_days, a.reason AS reason "
            "FROM partner_alerts AS a FINAL "
            "LEFT JOIN partner_profiles AS p ON p.partner_id = a.partner_id "
            f"LEFT JOIN (SELECT * FROM partner_health FINAL WHERE day = {LATEST_DAY}) AS h "
            "ON h.partner_id = a.partner_id "
            "WHERE a.kind = 'quiet' AND a.fired_at <= $__toTime_ms "
            "AND (a.resolved_at IS NULL OR a.resolved_at > $__toTime_ms) "
            "ORDER BY h.days_since_last / h.silence_limit_days DESC, a.partner_id LIMIT 200",
            (
                "partner_id",
                "name",
                "quiet_since",
                "days_silent",
                "usually_every_days",
                "disengaged_after_days",
                "reason",
            ),
            (0, 18, 24, 8),
        ),
    )


def _overview_trends(w: str) -> tuple[Panel, ...]:
    """Quality time, reciprocity, ecosystem and alerts over the time range."""
    return (
        Panel(
            "quality_by_type",
            "Quality minutes per week by engagement type",
            "timeseries",
            f"SELECT toDateTime(toStartOfWeek(day, 1)) AS time, toString(type) AS type, "
            f"sum(duration_minutes * {w}) AS quality_minutes FROM partner_daily "
            "WHERE $__dateFilter(day) GROUP BY time, type ORDER BY time, type",
            ("time", "type", "quality_minutes"),
            (0, 26, 12, 9),
            time_series=True,
            unit="m",
        ),
        Panel(
            "reciprocity",
            "Who starts the engagements (per week)",
            "timeseries",
            "SELECT toDateTime(toStartOfWeek(day, 1)) AS time, toString(initiated_by) AS initiated_by, "
            "sum(engagements) AS engagements FROM partner_daily WHERE $__dateFilter(day) "
            "GROUP BY time, initiated_by ORDER BY time, initiated_by",
            ("time", "initiated_by", "engagements"),
            (12, 26, 12, 9),
            time_series=True,
        ),
        Panel(
            "ecosystem",
            "Ecosystem breadth: app/tech partners on co-built solutions (per month)",
            "timeseries",
            "SELECT toDateTime(toStartOfMonth(day)) AS time, length(groupUniqArrayArray(ecosystem_partners)) "
            "AS ecosystem_partners, uniqExact(partner_id) AS co_building_partners FROM partner_daily "
            "WHERE $__dateFilter(day) AND type = 'partner.solution' GROUP BY time ORDER BY time",
            ("time", "ecosystem_partners", "co_building_partners"),
            (0, 35, 24, 8),
            time_series=True,
        ),
        Panel(
            "alert_timeline",
            "Alert episodes in the time range",
            "table",
            "SELECT a.partner_id AS partner_id, ifNull(p.name, '') AS name, a.kind AS kind, a.state AS state, "
            "a.fired_at AS fired_at, a.resolved_at AS resolved_at FROM partner_alerts AS a FINAL "
            "LEFT JOIN partner_profiles AS p ON p.partner_id = a.partner_id "
            "WHERE a.fired_at <= $__toTime_ms AND (a.resolved_at IS NULL OR a.resolved_at >= $__fromTime_ms) "
            "ORDER BY a.fired_at, a.partner_id, a.kind",
            ("partner_id", "name", "kind", "state", "fired_at", "resolved_at"),
            (0, 43, 24, 9),
        ),
    )


def _partner_detail(w: str) -> Dashboard:
    """One partner: score, components, engagements, episodes, silence."""
    return Dashboard(
        uid="partnerpulse-partner",
        title="PartnerPulse · Partner detail",
        description="One partner: score history, components, engagements and alert episodes.",
        variables=(_PARTNER_PICKER,),
        panels=_partner_panels(w),
    )


def _partner_panels(w: str) -> tuple[Panel, ...]:
    """The partner in view (`$partner`): its score, components, engagements, episodes, silence."""
    partner = "${partner:sqlstring}"
    return (
        Panel(
            "score_history",
            "Score history (daily snapshots)",
            "timeseries",
            "SELECT toDateTime(day) AS time, score FROM partner_health FINAL "
            f"WHERE partner_id = {partner} AND $__dateFilter(day) ORDER BY time",
            ("time", "score"),
            (0, 0, 16, 8),
            time_series=True,
        ),
        Panel(
            "components",
            "Components (latest snapshot)",
            "bargauge",
            "SELECT quality, recency, reciprocity, breadth, momentum FROM partner_health FINAL "
            f"WHERE partner_id = {partner} AND day <= toDate($__toTime) ORDER BY day DESC LIMIT 1",
            ("quality", "recency", "reciprocity", "breadth", "momentum"),
            (16, 0, 8, 8),
        ),
        Panel(
            "engagements",
            "Engagements",
            "table",
            "SELECT time, toString(type) AS type, toString(role) AS role, duration_minutes, "
            f"round(duration_minutes * {w}, 1) AS quality_minutes, toString(initiated_by) AS initiated_by, "
            f"source FROM engagement_events WHERE partner_id = {partner} AND $__timeFilter_ms(time) "
            "ORDER BY time DESC LIMIT 1000",
            ("time", "type", "role", "duration_minutes", "quality_minutes", "initiated_by", "source"),
            (0, 8, 14, 10),
        ),
        Panel(
            "episodes",
            "Alert episodes",
            "table",
            "SELECT kind, state, fired_at, resolved_at, reason, resolved_reason FROM partner_alerts FINAL "
            f"WHERE partner_id = {partner} ORDER BY fired_at DESC",
            ("kind", "state", "fired_at", "resolved_at", "reason", "resolved_reason"),
            (14, 8, 10, 10),
        ),
        Panel(
            "silence",
            "Days silent against this partner's own limit",
            "timeseries",
            "SELECT toDateTime(day) AS time, days_since_last AS days_silent, "
            "silence_limit_days AS disengaged_after, usual_gap_days AS usual_gap FROM partner_health FINAL "
            f"WHERE partner_id = {partner} AND $__dateFilter(day) ORDER BY time",
            ("time", "days_silent", "disengaged_after", "usual_gap"),
            (0, 18, 24, 8),
            time_series=True,
            unit="d",
        ),
    )


def _pipeline() -> Dashboard:
    """Ingest in wall-clock time."""
    return Dashboard(
        uid="partnerpulse-pipeline",
        title="PartnerPulse · Pipeline",
        description="Ingest in wall-clock time: events stored, dead letters by reason, event-time lag.",
        time_from="now-24h",
        panels=(
            Panel(
                "events_in",
                "Events stored",
                "timeseries",
                "SELECT $__timeInterval(ingested_at) AS time, count() AS events FROM engagement_events "
                "WHERE $__timeFilter(ingested_at) GROUP BY time ORDER BY time",
                ("time", "events"),
                (0, 0, 12, 8),
                time_series=True,
            ),
            Panel(
                "dead_letters",
                "Dead letters by reason",
                "barchart",
                "SELECT toString(code) AS reason, count() AS dead_letters FROM dead_letters "
                "WHERE $__timeFilter(received_at) GROUP BY reason ORDER BY dead_letters DESC",
                ("reason", "dead_letters"),
                (12, 0, 12, 8),
            ),
            Panel(
                "lag",
                "Event time behind wall time (median, p95)",
                "timeseries",
                "SELECT $__timeInterval(ingested_at) AS time, "
                "quantile(0.5)(dateDiff('second', time, ingested_at)) AS median_lag_s, "
                "quantile(0.95)(dateDiff('second', time, ingested_at)) AS p95_lag_s FROM engagement_events "
                "WHERE $__timeFilter(ingested_at) GROUP BY time ORDER BY time",
                ("time", "median_lag_s", "p95_lag_s"),
                (0, 8, 24, 8),
                time_series=True,
                unit="s",
            ),
        ),
    )


_MACRO = re.compile(r"\$__(\w+)(?:\(([^()]*)\))?")


def expand(sql: str, time_from: datetime, time_to: datetime, interval_s: int = 86400,
           variables: dict[str, str] | None = None) -> str:  # fmt: skip
    """Interpolate template variables (as Grafana does), then the plugin's macros."""
    for name, value in (variables or {}).items():
        sql = sql.replace(f"${{{name}:sqlstring}}", sql_string(value))
    f, t = time_from.astimezone(UTC), time_to.astimezone(UTC)

    def dt(v: datetime) -> str:
        return f"toDateTime({int(v.timestamp())})"

    def dt64(v: datetime) -> str:
        return f"fromUnixTimestamp64Milli({int(v.timestamp() * 1000)})"

    def date(v: datetime) -> str:
        return f"toDate('{v.strftime('%Y-%m-%d')}')"

    def one(match: re.Match) -> str:
        name, arg = match.group(1), (match.group(2) or "").strip()
        simple = {"fromTime": dt(f), "toTime": dt(t), "fromTime_ms": dt64(f), "toTime_ms": dt64(t),
                  "interval_s": str(max(1, interval_s))}  # fmt: skip
        if name in simple:
            return simple[name]
        filters = {"timeFilter": (dt(f), dt(t)), "timeFilter_ms": (dt64(f), dt64(t)), "dateFilter": (date(f), date(t))}
        if name in filters:
            lo, hi = filters[name]
            return f"{arg} >= {lo} AND {arg} <= {hi}"
        if name == "timeInterval":
            return f"toStartOfInterval(toDateTime({arg}), INTERVAL {max(1, interval_s)} second)"
        raise ValueError(f"unknown macro $__{name}")

    return _MACRO.sub(one, sql)

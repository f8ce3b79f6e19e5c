"""The dashboards' panels and their SQL: one source for Grafana and the HTML report.

Queries use the Grafana ClickHouse plugin's macros ($__timeFilter, $__dateFilter, …)
and template variables (${partner:sqlstring}); `expand` replaces them the way the
plugin and Grafana do, so the report and the tests run exactly what Grafana runs.
Weights come from the scoring config, as in `partnerpulse health`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from streams.reporting.panel_types import LATEST_DAY, Dashboard, Panel, Variable, dashboard_uid, fit_join
from streams.reporting.partner_panels import partner_detail
from streams.rules.fit import GOOD_SCORE, HIGH_FIT, QUADRANTS, Ideal, fit_sql, gaps_sql, load_ideal, quadrant_sql
from streams.rules.scoring import Scoring, sql_string

_WORST_FIRST_COLUMNS = (
    "partner_id", "name", "score", "status", "fit", "quadrant", "days_since_last", "silence_limit_days", "usual_gap_days", "trend",
    "quality_minutes_30d", "partner_share", "ecosystem_partners", "quality", "recency", "reciprocity", "breadth",
    "momentum",
)  # fmt: skip


def dashboards(scoring: Scoring, ideal: Ideal | None = None) -> list[Dashboard]:
    """Every dashboard, its panels and their SQL (weights as literals from `scoring`, the
    fit rule from the ideal partner file: rebuild them when either changes)."""
    w = scoring.weight_sql()
    ideal = ideal or load_ideal()
    return [_overview(w, ideal), partner_detail(w, scoring.raw["score_weights"], ideal), _pipeline()]


def _profile_variable(column: str, label: str) -> Variable:
    return Variable(column, label, f"Only partners whose latest profile has this {label.lower()}.",
                    query=f"SELECT DISTINCT {column} FROM partner_profiles WHERE {column} IS NOT NULL "
                          f"AND {column} != '' ORDER BY {column}", multi=True)  # fmt: skip


FILTERS = (
    _profile_variable("region", "Region"),
    _profile_variable("tier", "Tier"),
    _profile_variable("account_manager", "Account manager"),
    Variable("quadrant", "Quadrant", "Fit × engagement: core, invest (right partner, drifting), review, "
             "deprioritise; partners without a fit profile are in none.", values=QUADRANTS, multi=True),
)  # fmt: skip


def _latest(ideal: Ideal, where: str) -> str:
    """The latest snapshot, one row per partner with its profile, fit and quadrant."""
    fit = fit_sql(ideal, "f.fit_profile")
    return (
        "(SELECT h.partner_id AS partner_id, ifNull(p.name, '') AS name, h.score AS score, h.status AS status, "
        "h.days_since_last AS days_since_last, h.silence_limit_days AS silence_limit_days, "
        "h.usual_gap_days AS usual_gap_days, h.trend AS trend, h.quality_minutes_30d AS quality_minutes_30d, "
        "h.partner_initiated_share AS partner_share, h.ecosystem_partners_90d AS ecosystem_partners, "
        "h.quality AS quality, h.recency AS recency, h.reciprocity AS reciprocity, h.breadth AS breadth, "
        f"h.momentum AS momentum, f.fit_profile AS fit_profile, {fit} AS fit, "
        f"{quadrant_sql('fit', 'h.score')} AS quadrant, ifNull(p.region, '') AS region, "
        "ifNull(p.tier, '') AS tier, ifNull(p.account_manager, '') AS account_manager "
        "FROM partner_health AS h FINAL LEFT JOIN partner_profiles AS p ON p.partner_id = h.partner_id "
        f"{fit_join('h')} WHERE h.day = {LATEST_DAY} AND {where})"
    )


def _in(column: str) -> str:
    return f"{column} IN (${{{column}:singlequote}})"


def _selected(ideal: Ideal) -> str:
    """The latest snapshot of the partners the overview's filters select
    (`$__conditionalAll` drops a filter set to All)."""
    return _latest(ideal, " AND ".join(f"$__conditionalAll({_in(v.name)}, ${v.name})" for v in FILTERS))


def _chosen(ideal: Ideal, column: str) -> str:
    """A condition on `column` (a partner id) for the panels that do not read the latest
    snapshot: one subquery per filter set, none when all are All (they cost nothing then)."""
    conditions = [f"$__conditionalAll({column} IN (SELECT partner_id FROM partner_profiles WHERE {_in(v.name)}), "
                  f"${v.name})" for v in FILTERS if v.name != "quadrant"]  # fmt: skip
    conditions.append(f"$__conditionalAll({column} IN (SELECT partner_id FROM {_latest(ideal, '1=1')} "
                      f"WHERE {_in('quadrant')}), $quadrant)")  # fmt: skip
    return " AND ".join(conditions)


def _overview(w: str, ideal: Ideal) -> Dashboard:
    """Partner health across the channel: who needs attention, quiet, alerts, trends."""
    selected, chosen_alerts = _selected(ideal), _chosen(ideal, "a.partner_id")
    return Dashboard(
        uid=dashboard_uid("overview"),
        title="PartnerPulse · Partner health overview",
        description="Which channel partners are we losing? Latest daily snapshot up to the end of the time range; "
        "the filters (region, tier, account manager, quadrant) apply to every panel.",
        variables=FILTERS,
        panels=(
            *_overview_counts(selected, chosen_alerts),
            *_overview_partners(selected),
            _fit_quadrants(selected, ideal),
            *_overview_trends(w, _chosen(ideal, "partner_id"), chosen_alerts),
        ),
    )


def _overview_counts(selected: str, chosen_alerts: str) -> tuple[Panel, ...]:
    """How many partners stand where, and the open alerts."""
    return (
        Panel(
            "status_counts",
            "Partners by status",
            "piechart",
            f"SELECT status, count() AS partners FROM {selected} GROUP BY status ORDER BY status",
            ("status", "partners"),
            (0, 0, 6, 8),
            "How many of the selected partners are healthy, at risk, new or disengaged in the latest daily "
            "snapshot (colours as in the status column everywhere).",
        ),
        Panel(
            "score_distribution",
            "Score distribution",
            "barchart",
            "SELECT concat(toString(bucket), '–', toString(bucket + 10)) AS score_range, partners FROM "
            f"(SELECT least(90, intDiv(toUInt32(score), 10) * 10) AS bucket, count() AS partners "
            f"FROM {selected} GROUP BY bucket) ORDER BY bucket",
            ("score_range", "partners"),
            (6, 0, 8, 8),
            "Selected partners per band of 10 score points in the latest snapshot.",
        ),
        Panel(
            "open_alerts",
            "Open alerts",
            "table",
            "SELECT a.partner_id AS partner_id, ifNull(p.name, '') AS name, a.kind AS kind, "
            "a.fired_at AS fired_at, a.reason AS reason FROM partner_alerts AS a FINAL "
            "LEFT JOIN partner_profiles AS p ON p.partner_id = a.partner_id "
            "WHERE a.state = 'firing' AND a.fired_at <= $__toTime_ms "
            f"AND {chosen_alerts} ORDER BY a.fired_at DESC LIMIT 200",
            ("partner_id", "name", "kind", "fired_at", "reason"),
            (14, 0, 10, 8),
            "Alerts firing at the end of the range for the selected partners, newest first. Click a partner to "
            "open its dashboard.",
        ),
    )


def _overview_partners(selected: str) -> tuple[Panel, ...]:
    """The partners needing attention (high fit first) and the quiet ones."""
    return (
        Panel(
            "worst_first",
            "Partners needing attention (right partners first, then worst score)",
            "table",
            "SELECT partner_id, name, score, status, fit, quadrant, round(days_since_last, 1) AS days_since_last, "
            "silence_limit_days, round(usual_gap_days, 1) AS usual_gap_days, round(trend, 2) AS trend, "
            "round(quality_minutes_30d) AS quality_minutes_30d, partner_share, ecosystem_partners, "
            "round(quality, 2) AS quality, round(recency, 2) AS recency, round(reciprocity, 2) AS reciprocity, "
            f"round(breadth, 2) AS breadth, round(momentum, 2) AS momentum FROM {selected} "
            f"ORDER BY status IN ('disengaged', 'at_risk') DESC, ifNull(fit, 0) >= {HIGH_FIT!r} DESC, score ASC, "
            "partner_id LIMIT 500",
            _WORST_FIRST_COLUMNS,
            (0, 8, 24, 10),
            "Disengaged and at-risk partners first, and among them the right partners (fit ≥ 60) "
            "first: high fit, low engagement is where to act. Click a partner to open its dashboard.",
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
            f"INNER JOIN {selected} AS h ON h.partner_id = a.partner_id "
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
            (0, 28, 24, 8),
            "The early nudge: partners silent for twice their own usual gap, closest to their limit first. "
            "Past the limit they count as disengaged.",
        ),
    )


def _fit_quadrants(selected: str, ideal: Ideal) -> Panel:
    """Fit × score: the right partners drifting away stand out (§8)."""
    return Panel(
        "fit_quadrants",
        "Fit × engagement: core, invest (right partner, drifting), review, deprioritise",
        "xychart",
        f"SELECT partner_id, name, fit, score, quadrant, {gaps_sql(ideal, 'fit_profile')} AS fit_gaps "
        f"FROM {selected} WHERE fit IS NOT NULL ORDER BY partner_id",
        ("partner_id", "name", "fit", "score", "quadrant", "fit_gaps"),
        (0, 18, 24, 10),
        f"Each partner by fit against the ideal partner (x) and score (y); the lines at fit "
        f"{HIGH_FIT:g} and score {GOOD_SCORE:g} make the quadrants. Hover: the fit gaps; click a point to open "
        "the partner's dashboard.",
    )


def _overview_trends(w: str, chosen: str, chosen_alerts: str) -> tuple[Panel, ...]:
    """Quality time, reciprocity, ecosystem and alerts over the time range, for the partners
    the filters select (`chosen`, `chosen_alerts`: the conditions on their ids)."""
    return (
        Panel(
            "quality_by_type",
            "Quality minutes per week by engagement type",
            "timeseries",
            # Minutes per type and role first, weighted after: partner_daily's day_totals
            # projection answers the inner query (with the filters on All).
            f"SELECT time, toString(type) AS type, sum(minutes * {w}) AS quality_minutes FROM "
            "(SELECT toDateTime(toStartOfWeek(day, 1)) AS time, type, role, sum(duration_minutes) AS minutes "
            f"FROM partner_daily WHERE $__dateFilter(day) AND {chosen} GROUP BY time, type, role) "
            "GROUP BY time, type ORDER BY time, type",
            ("time", "type", "quality_minutes"),
            (0, 36, 12, 9),
            "Time spent together, weighted by how much each kind of engagement says (scoring weights), "
            "per week from Monday.",
            time_series=True,
            unit="m",
        ),
        Panel(
            "reciprocity",
            "Who starts the engagements (per week)",
            "timeseries",
            "SELECT toDateTime(toStartOfWeek(day, 1)) AS time, toString(initiated_by) AS initiated_by, "
            f"sum(engagements) AS engagements FROM partner_daily WHERE $__dateFilter(day) AND {chosen} "
            "GROUP BY time, initiated_by ORDER BY time, initiated_by",
            ("time", "initiated_by", "engagements"),
            (12, 36, 12, 9),
            "Engagements started by the partner against those started by us: listening as much as talking.",
            time_series=True,
        ),
        Panel(
            "ecosystem",
            "Ecosystem breadth: app/tech partners on co-built solutions (per month)",
            "timeseries",
            "SELECT toDateTime(toStartOfMonth(day)) AS time, length(groupUniqArrayArray(ecosystem_partners)) "
            "AS ecosystem_partners, uniqExact(partner_id) AS co_building_partners FROM partner_daily "
            f"WHERE $__dateFilter(day) AND type = 'partner.solution' AND {chosen} GROUP BY time ORDER BY time",
            ("time", "ecosystem_partners", "co_building_partners"),
            (0, 45, 24, 8),
            "Distinct app and technology partners named on co-built solutions, and how many of our partners "
            "co-build, per month.",
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
            f"AND {chosen_alerts} ORDER BY a.fired_at, a.partner_id, a.kind",
            ("partner_id", "name", "kind", "state", "fired_at", "resolved_at"),
            (0, 53, 24, 9),
            "Every alert episode open at some time in the range, oldest first. Click a partner to open its dashboard.",
        ),
    )


def _pipeline() -> Dashboard:
    """Ingest in wall-clock time."""
    return Dashboard(
        uid=dashboard_uid("pipeline"),
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
                "Events written to ClickHouse per interval, by when they were stored (not when they happened).",
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
                "Records refused in the range, by reason code: `partnerpulse dlq list` shows them, "
                "`dlq replay` sends them again once fixed.",
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
                "How long after it happened an event was stored: large values mean late sources or a backlog.",
                time_series=True,
                unit="s",
            ),
        ),
    )


_MACRO = re.compile(r"\$__(\w+)(?:\(([^()]*)\))?")
_VARIABLE = re.compile(r"\$\{(\w+):(sqlstring|singlequote)\}")
_CONDITIONAL_ALL = "$__conditionalAll("

Values = str | list[str] | None  # None: All


def _conditional_all(sql: str, variables: dict[str, Values]) -> str:
    """`$__conditionalAll(condition, $var)` → the condition, or 1=1 when $var is All (the
    plugin does this before Grafana interpolates; the condition may hold parentheses)."""
    while (start := sql.find(_CONDITIONAL_ALL)) >= 0:
        depth, i = 1, start + len(_CONDITIONAL_ALL)
        while depth:
            depth += {"(": 1, ")": -1}.get(sql[i], 0)
            i += 1
        condition, _, variable = sql[start + len(_CONDITIONAL_ALL) : i - 1].rpartition(",")
        name = variable.strip().strip("${}")
        sql = sql[:start] + ("1=1" if variables.get(name) is None else condition.strip()) + sql[i:]
    return sql


def _interpolate(sql: str, variables: dict[str, Values]) -> str:
    """Template variables in the formats the panels use: a quoted value, or a list of them."""

    def one(match: re.Match) -> str:
        value = variables.get(match.group(1))
        if value is None:
            raise ValueError(f"no value for ${{{match.group(1)}}}")
        return ", ".join(sql_string(v) for v in ([value] if isinstance(value, str) else value))

    return _VARIABLE.sub(one, _conditional_all(sql, variables))


def expand(sql: str, time_from: datetime, time_to: datetime, interval_s: int = 86400,
           variables: dict[str, Values] | None = None) -> str:  # fmt: skip
    """Interpolate template variables (as the plugin and Grafana do; a variable not given is
    All), then the plugin's macros."""
    sql = _interpolate(sql, variables or {})
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

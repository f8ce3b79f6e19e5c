"""The partner dashboard: one partner's score, components, why it moved (§7),
engagements, episodes and silence. Part of the one source of panel SQL
(`streams.reporting.panels`)."""

from __future__ import annotations

from streams.reporting.panel_types import PARTNER_DASHBOARD, Dashboard, Panel, Variable, fit_join
from streams.rules.fit import Ideal, fit_sql, gaps_sql, quadrant_sql

# Names from the profiles; the few hundred rows of partner_months instead of a scan of the
# events, and only when the dashboard loads.
_PARTNER_PICKER = Variable(
    "partner", "Partner", "The partner in view: its name and id.",
    query="SELECT m.partner_id AS partner_id, if(ifNull(p.name, '') = '', m.partner_id, "
          "concat(p.name, ' (', m.partner_id, ')')) AS label FROM (SELECT DISTINCT partner_id FROM partner_months) "
          "AS m LEFT JOIN partner_profiles AS p ON p.partner_id = m.partner_id ORDER BY label",
)  # fmt: skip
PARTNER = "${partner:sqlstring}"
# The partner's latest snapshot at the range's end.
_NOW = f"FROM partner_health FINAL WHERE partner_id = {PARTNER} AND day <= toDate($__toTime) ORDER BY day DESC LIMIT 1"
HEADER_ROWS = 9  # the header's height: the panels below start there


def partner_detail(w: str, weights: dict[str, float], ideal: Ideal) -> Dashboard:
    """One partner: where it stands now, its profile and fit, why its score moved, its history."""
    return Dashboard(
        uid=PARTNER_DASHBOARD,
        title="PartnerPulse · Partner detail",
        description="One partner: its health now, profile and fit, why its score moved over the range, "
        "score history, engagements and alert episodes.",
        variables=(_PARTNER_PICKER,),
        panels=(*_header(ideal), *_partner_panels(w), *_explain_panels(w, weights)),
    )


def _header(ideal: Ideal) -> tuple[Panel, ...]:
    """Where the partner stands at the range's end: score, status, silence against its own
    limit, the score's move over the range; its profile and fit."""
    fit = fit_sql(ideal, "f.fit_profile")
    return (
        Panel("score_now", "Score", "stat", f"SELECT score {_NOW}", ("score",), (0, 0, 4, 5),
              "The health score (0–100) in the latest daily snapshot up to the range's end, coloured by the "
              "scoring config's bands."),
        Panel("status_now", "Status", "stat", f"SELECT status {_NOW}", ("status",), (4, 0, 4, 5),
              "Disengaged (silent past its own limit), new, at risk (score or trend low) or healthy."),
        Panel("silence_now", "Silent against its own limit", "stat",
              "SELECT round(days_since_last, 1) AS days_silent, round(usual_gap_days, 1) AS usual_gap, "
              "silence_limit_days AS disengaged_after, round(days_since_last / silence_limit_days, 2) "
              f"AS share_of_limit {_NOW}",
              ("days_silent", "usual_gap", "disengaged_after", "share_of_limit"), (8, 0, 8, 5),
              "Days since the last engagement, the partner's usual gap and the silence after which it counts "
              "as disengaged; the share turns orange at half the limit, red at the limit."),
        Panel("score_move", "Score over the range", "stat",
              "SELECT argMin(score, day) AS score_then, argMax(score, day) AS score_now, "
              "round(argMax(score, day) - argMin(score, day), 1) AS score_change FROM partner_health FINAL "
              f"WHERE partner_id = {PARTNER} AND $__dateFilter(day)",
              ("score_then", "score_now", "score_change"), (16, 0, 8, 5),
              "The score at the first and last snapshot in the range and the change: the panels below say why "
              "(as partnerpulse explain --since FROM --as-of TO)."),
        Panel("profile", "Profile and fit", "table",
              "SELECT ifNull(p.name, '') AS name, ifNull(p.tier, '') AS tier, ifNull(p.region, '') AS region, "
              "ifNull(p.account_manager, '') AS account_manager, "
              f"{fit} AS fit, {quadrant_sql('fit', 'h.score')} AS quadrant, {gaps_sql(ideal, 'f.fit_profile')} "
              f"AS fit_gaps FROM (SELECT partner_id, score {_NOW}) AS h "
              f"LEFT JOIN partner_profiles AS p ON p.partner_id = h.partner_id {fit_join('h', PARTNER)}",
              ("name", "tier", "region", "account_manager", "fit", "quadrant", "fit_gaps"), (0, 5, 24, 4),
              "The latest profile; fit against the ideal partner (0–100), the quadrant it puts the partner in with "
              "the score, and the gaps to the ideal (must-haves first)."),
    )  # fmt: skip


def _partner_panels(w: str) -> tuple[Panel, ...]:
    """The partner in view (`$partner`): its score, components, engagements, episodes, silence."""
    partner, top = PARTNER, HEADER_ROWS
    return (
        Panel("score_history", "Score history (daily snapshots)", "timeseries",
              "SELECT toDateTime(day) AS time, score FROM partner_health FINAL "
              f"WHERE partner_id = {partner} AND $__dateFilter(day) ORDER BY time",
              ("time", "score"), (0, top, 16, 8),
              "The score at each midnight in the range; the background bands are the scoring config's.",
              time_series=True),
        Panel("components", "Components (latest snapshot)", "bargauge",
              f"SELECT quality, recency, reciprocity, breadth, momentum {_NOW}",
              ("quality", "recency", "reciprocity", "breadth", "momentum"), (16, top, 8, 8),
              "Each component of the score, 0–100 %, before weighting: quality time, recency, reciprocity, "
              "breadth, momentum (../shared/CONTRACT.md §3)."),
        Panel("engagements", "Engagements", "table",
              "SELECT time, toString(type) AS type, toString(role) AS role, duration_minutes, "
              f"round(duration_minutes * {w}, 1) AS quality_minutes, toString(initiated_by) AS initiated_by, "
              f"source FROM engagement_events WHERE partner_id = {partner} AND $__timeFilter_ms(time) "
              "ORDER BY time DESC LIMIT 1000",
              ("time", "type", "role", "duration_minutes", "quality_minutes", "initiated_by", "source"),
              (0, top + 24, 14, 10),
              "Every engagement in the range, newest first, with its weighted quality minutes."),
        Panel("episodes", "Alert episodes", "table",
              "SELECT kind, state, fired_at, resolved_at, reason, resolved_reason FROM partner_alerts FINAL "
              f"WHERE partner_id = {partner} ORDER BY fired_at DESC",
              ("kind", "state", "fired_at", "resolved_at", "reason", "resolved_reason"), (14, top + 24, 10, 10),
              "Every alert this partner has had, newest first, with why it fired and why it resolved."),
        Panel("silence", "Days silent against this partner's own limit", "timeseries",
              "SELECT toDateTime(day) AS time, days_since_last AS days_silent, "
              "silence_limit_days AS disengaged_after, usual_gap_days AS usual_gap FROM partner_health FINAL "
              f"WHERE partner_id = {partner} AND $__dateFilter(day) ORDER BY time",
              ("time", "days_silent", "disengaged_after", "usual_gap"), (0, top + 34, 24, 8),
              "Days since the last engagement at each midnight against the partner's usual gap and its limit "
              "(silence_factor × usual gap, bounded): crossing the limit makes it disengaged.",
              time_series=True, unit="d"),
    )  # fmt: skip


def _explain_panels(w: str, weights: dict[str, float]) -> tuple[Panel, ...]:
    """Why the score moved (../shared/CONTRACT.md §7) over the time range in view: the
    score as the sum of its weighted components per day, and the engagements that entered
    the 30-day window at the range's end or left it since its start."""
    partner, to, since, top = PARTNER, "$__toTime", "$__fromTime", HEADER_ROWS
    points = ", ".join(f"round({float(weight)!r} * {c}, 2) AS {c}_points" for c, weight in weights.items())
    window = "(time > {end} - INTERVAL 30 DAY AND time <= {end})"
    return (
        Panel("score_components", "Score by component (points; stacked they are the score)", "timeseries",
              f"SELECT toDateTime(day) AS time, {points} FROM partner_health FINAL "
              f"WHERE partner_id = {partner} AND $__dateFilter(day) ORDER BY time",
              ("time", *(f"{c}_points" for c in weights)), (0, top + 8, 24, 8),
              "Each component's weight × value per daily snapshot: the bands that shrink are what "
              "moved the score (partnerpulse explain gives the same split for two times).", time_series=True),
        Panel("drivers", "What entered or left the 30-day window over the range", "table",
              f"SELECT time, toString(type) AS type, source, id, round(duration_minutes * {w}, 1) AS quality_minutes, "
              f"if({window.format(end=to)}, 'entered', 'left') AS effect FROM engagement_events "
              f"WHERE partner_id = {partner} AND time > least({since}, {to}) - INTERVAL 30 DAY "
              f"AND {window.format(end=to)} != {window.format(end=since)} "
              "ORDER BY quality_minutes DESC, time DESC LIMIT 20",
              ("time", "type", "source", "id", "quality_minutes", "effect"), (0, top + 16, 24, 8),
              "The engagements behind the change of quality time between the range's start and end, "
              "largest first (as partnerpulse explain --since FROM --as-of TO)."),
    )  # fmt: skip

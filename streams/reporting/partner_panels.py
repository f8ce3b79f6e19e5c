"""The partner dashboard: one partner's score, components, why it moved (§7),
engagements, episodes and silence. Part of the one source of panel SQL
(`streams.reporting.panels`)."""

from __future__ import annotations

from streams.reporting.panel_types import Dashboard, Panel

_PARTNER_PICKER = {"name": "partner", "label": "Partner",
                   "query": "SELECT DISTINCT partner_id FROM partner_daily ORDER BY partner_id"}  # fmt: skip


def partner_detail(w: str, weights: dict[str, float]) -> Dashboard:
    """One partner: score, components, why it moved, engagements, episodes, silence."""
    return Dashboard(
        uid="partnerpulse-partner",
        title="PartnerPulse · Partner detail",
        description="One partner: score history, components, engagements and alert episodes.",
        variables=(_PARTNER_PICKER,),
        panels=(*_partner_panels(w), *_explain_panels(w, weights)),
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


def _explain_panels(w: str, weights: dict[str, float]) -> tuple[Panel, ...]:
    """Why the score moved (../shared/CONTRACT.md §7) over the time range in view: the
    score as the sum of its weighted components per day, and the engagements that entered
    the 30-day window at the range's end or left it since its start."""
    partner, to, since = "${partner:sqlstring}", "$__toTime", "$__fromTime"
    points = ", ".join(f"round({float(weight)!r} * {c}, 2) AS {c}" for c, weight in weights.items())
    window = "(time > {end} - INTERVAL 30 DAY AND time <= {end})"
    return (
        Panel("score_components", "Score by component (points; stacked they are the score)", "timeseries",
              f"SELECT toDateTime(day) AS time, {points} FROM partner_health FINAL "
              f"WHERE partner_id = {partner} AND $__dateFilter(day) ORDER BY time",
              ("time", *weights), (0, 26, 24, 8), time_series=True,
              description="Each component's weight × value per daily snapshot: the bands that shrink are what "
                          "moved the score (partnerpulse explain gives the same split for two times)."),
        Panel("drivers", "What entered or left the 30-day window over the range", "table",
              f"SELECT time, toString(type) AS type, source, id, round(duration_minutes * {w}, 1) AS quality_minutes, "
              f"if({window.format(end=to)}, 'entered', 'left') AS effect FROM engagement_events "
              f"WHERE partner_id = {partner} AND time > least({since}, {to}) - INTERVAL 30 DAY "
              f"AND {window.format(end=to)} != {window.format(end=since)} "
              "ORDER BY quality_minutes DESC, time DESC LIMIT 20",
              ("time", "type", "source", "id", "quality_minutes", "effect"), (0, 34, 24, 8),
              description="The engagements behind the change of quality time between the range's start and end, "
                          "largest first (as partnerpulse explain --since FROM --as-of TO)."),
    )  # fmt: skip

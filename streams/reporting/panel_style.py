"""How the panels' values look: colours, units, bands and links, as data, one source for
Grafana's field configs (`streams.reporting.grafana`) and the HTML report.

A column is styled by its name wherever it appears, so `score` is coloured by the same
bands in every table, stat and chart. The score bands come from the scoring config: below
the score at which a `disengaged` alert may resolve is red, below `at_risk_below` orange.
"""

from __future__ import annotations

from typing import Any

from streams.reporting.panel_types import PARTNER_DASHBOARD
from streams.rules.fit import HIGH_FIT
from streams.rules.scoring import Scoring

STATUS_COLOURS = {"disengaged": "#d62728", "at_risk": "#ff7f0e", "new": "#1f77b4", "healthy": "#2ca02c"}
QUADRANT_COLOURS = {"core": "#2ca02c", "invest": "#d62728", "review": "#1f77b4", "deprioritise": "#999999"}
ALERT_COLOURS = {"quiet": "#bcbd22", "disengaged": "#d62728", "declining": "#ff7f0e", "one_sided": "#9467bd"}
STATE_COLOURS = {"firing": "#d62728", "resolved": "#2ca02c"}
EFFECT_COLOURS = {"entered": "#2ca02c", "left": "#d62728"}  # an engagement entering or leaving the window

PARTNER_LINK = {
    "title": "Open this partner's dashboard",
    "url": f"/d/{PARTNER_DASHBOARD}?var-partner=${{__data.fields.partner_id:percentencode}}&${{__url_time_range}}",
}
LINKED_COLUMNS = ("partner_id", "name")  # a click on either opens the partner dashboard

# Units by column name (Grafana's unit ids); a column not named here takes the panel's unit.
UNITS = {
    "score": "none", "fit": "none", "score_then": "none", "score_now": "none", "score_change": "none",
    "quality": "percentunit", "recency": "percentunit", "reciprocity": "percentunit", "breadth": "percentunit",
    "momentum": "percentunit", "partner_share": "percentunit", "share_of_limit": "percentunit",
    "days_since_last": "d", "silence_limit_days": "d", "usual_gap_days": "d", "days_silent": "d",
    "usually_every_days": "d", "disengaged_after_days": "d", "disengaged_after": "d", "usual_gap": "d",
    "quality_minutes_30d": "m", "quality_minutes": "m", "duration_minutes": "m",
    "trend": "percentunit", "partners": "short", "engagements": "short", "events": "short",
    "dead_letters": "short", "ecosystem_partners": "short", "co_building_partners": "short",
    "median_lag_s": "s", "p95_lag_s": "s",
}  # fmt: skip


def score_bands(scoring: Scoring) -> list[tuple[float | None, str]]:
    """(from, colour) steps for a score: red, then orange from the score a disengaged alert
    resolves at, then green from the at-risk line."""
    raw = scoring.raw
    resolve = float(raw["alerts"]["disengaged"]["resolve_score_at_least"])
    at_risk = float(raw["status"]["at_risk_below"])
    return [
        (None, STATUS_COLOURS["disengaged"]),
        (resolve, STATUS_COLOURS["at_risk"]),
        (at_risk, STATUS_COLOURS["healthy"]),
    ]


def band_colour(steps: list[tuple[float | None, str]], value: float) -> str:
    """The colour of the last step at or below `value` (as Grafana picks a threshold)."""
    return [colour for start, colour in steps if start is None or value >= start][-1]


def _thresholds(steps: list[tuple[float | None, str]]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": colour, "value": value} for value, colour in steps]}


def _mapping(colours: dict[str, str]) -> list[dict[str, Any]]:
    return [{"type": "value", "options": {name: {"color": colour, "index": i, "text": name.replace("_", " ")}
                                          for i, (name, colour) in enumerate(colours.items())}}]  # fmt: skip


def column_styles(scoring: Scoring) -> dict[str, dict[str, Any]]:
    """Field config properties by column name, beyond its unit."""
    score = {"min": 0, "max": 100, "decimals": 1, "color": {"mode": "thresholds"},
             "thresholds": _thresholds(score_bands(scoring))}  # fmt: skip
    fit = {"min": 0, "max": 100, "decimals": 0, "color": {"mode": "thresholds"},
           "thresholds": _thresholds([(None, QUADRANT_COLOURS["deprioritise"]), (HIGH_FIT, QUADRANT_COLOURS["core"])])}  # fmt: skip
    limit = {"min": 0, "max": 1.5, "color": {"mode": "thresholds"},
             "thresholds": _thresholds([(None, STATUS_COLOURS["healthy"]), (0.5, STATUS_COLOURS["at_risk"]),
                                        (1.0, STATUS_COLOURS["disengaged"])])}  # fmt: skip
    styles: dict[str, dict[str, Any]] = {
        "score": score, "score_then": score, "score_now": score, "fit": fit, "share_of_limit": limit,
        "status": {"mappings": _mapping(STATUS_COLOURS), "color": {"mode": "fixed", "fixedColor": "text"}},
        "quadrant": {"mappings": _mapping(QUADRANT_COLOURS)},
        "kind": {"mappings": _mapping(ALERT_COLOURS)},
        "state": {"mappings": _mapping(STATE_COLOURS)},
        "effect": {"mappings": _mapping(EFFECT_COLOURS)},
    }  # fmt: skip
    for component in scoring.raw["score_weights"]:
        styles[component] = {"min": 0, "max": 1, "decimals": 0}
    for column in LINKED_COLUMNS:
        styles[column] = {"links": [PARTNER_LINK]}
    return styles

"""Health as users read it: one JSON object per partner (../shared/CONTRACT.md §6), and
its flat CSV row. Both follow `streams.rules.scoring.METRICS`."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from clickhouse_connect.driver.client import Client

from streams import collector
from streams.formats import iso, parse_as_of
from streams.rules.fit import Fit, load_ideal
from streams.rules.fit import quadrant as quadrant_of
from streams.rules.scoring import COMPONENTS, METRICS, Health, assess, load_scoring
from streams.store.health_state import metrics_from_state
from streams.store.metrics import compute_metrics
from streams.store.profiles import fits_at
from streams.store.reads import partner_names

STATUS_ORDER = {"disengaged": 0, "at_risk": 1, "new": 2, "healthy": 3}
HEALTH_CSV_COLUMNS = ["partner_id", "name", "status", "score", "fit", "quadrant", "fit_gaps", *METRICS,
                      *(f"components.{c}" for c in COMPONENTS)]  # fmt: skip


# Every partner's row has the same T: its text made once (`health` shows thousands).
_iso_of_t = lru_cache(maxsize=16)(iso)


def as_dict(h: Health, name: str | None, fit: Fit | None = None) -> dict[str, Any]:
    """Every §3 metric, components, score, status; fit, its gaps and the quadrant (§8)."""
    # Filled in place, in the order shown: `health` makes one for each of thousands of partners.
    m = h.metrics
    row = {"partner_id": m.partner_id, "name": name, "as_of": _iso_of_t(m.as_of)}
    row.update(zip(METRICS, h.metric_row(), strict=True))
    row["last_engagement_at"] = iso(m.last_engagement_at)
    row["first_engagement_at"] = iso(m.first_engagement_at)
    value = fit.fit if fit else None
    row["components"] = dict(h.components)  # `assess` makes them in COMPONENTS' order
    row["score"] = h.score
    row["status"] = h.status
    row["fit"] = value
    row["fit_gaps"] = fit.fit_gaps if fit else []
    row["quadrant"] = quadrant_of(value, h.score)
    return row


def flat_health_row(row: dict[str, Any]) -> dict[str, Any]:
    """A health object as one CSV row (components as components.<name>, gaps joined by "; ")."""
    return {
        **row,
        "fit_gaps": "; ".join(row["fit_gaps"]),
        **{f"components.{k}": v for k, v in row["components"].items()},
    }


@collector.paused()
def health(
    client: Client,
    as_of: str | None = None,
    status: str | None = None,
    partner: str | None = None,
    quadrant: str | None = None,
) -> list[dict[str, Any]]:
    """One row per partner with an engagement at or before T, worst first."""
    when = parse_as_of(as_of)
    scoring = load_scoring()
    names = partner_names(client)
    fits = fits_at(client, when, load_ideal(), partner)
    # Everyone's from the state at T's midnight when it is exactly that midnight's, else
    # in full; one partner's from its raw rows.
    metrics = metrics_from_state(client, when, scoring) if partner is None else None
    if metrics is None:
        metrics = compute_metrics(client, when, scoring, partner)
    rows = [as_dict(h, names.get(h.metrics.partner_id), fits.get(h.metrics.partner_id))
            for h in (assess(m, scoring) for m in metrics)]  # fmt: skip
    if status:
        rows = [r for r in rows if r["status"] == status]
    if quadrant:
        rows = [r for r in rows if r["quadrant"] == quadrant]
    rows.sort(key=lambda r: (r["score"], STATUS_ORDER[r["status"]], r["partner_id"]))
    return rows

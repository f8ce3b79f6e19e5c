"""One partner's health as users read it (CONTRACT.md §6): the JSON object and its CSV row."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta

import pytest

from streams import collector
from streams.reporting.health_rows import HEALTH_CSV_COLUMNS, as_dict, flat_health_row
from streams.rules.fit import Fit
from streams.rules.scoring import COMPONENTS, METRICS, Metrics, assess, load_scoring

T = datetime(2026, 11, 20, 14, tzinfo=UTC)


def assessed(last: datetime):
    m = Metrics("acme", T, 300.0, 250.0, 200.0, 10, 5, 3, 1, T - timedelta(days=300), last, 8, 8.0, 6.5)
    return assess(m, load_scoring())


def test_the_row_holds_every_field_in_the_contracts_order_with_times_as_utc_text():
    h = assessed(last=datetime(2026, 11, 18, 9, 30, 5, 250_000, tzinfo=UTC))
    row = as_dict(h, "Acme", Fit(82.5, ["region"]))
    assert list(row) == ["partner_id", "name", "as_of", *METRICS, "components", "score", "status", "fit",
                         "fit_gaps", "quadrant"]  # fmt: skip
    assert list(row["components"]) == list(COMPONENTS)
    assert row["components"] == h.components and row["components"] is not h.components
    assert (row["as_of"], row["last_engagement_at"], row["first_engagement_at"]) == (
        "2026-11-20T14:00:00Z", "2026-11-18T09:30:05.250000Z", "2026-01-24T14:00:00Z")  # fmt: skip
    for metric in METRICS:
        if not metric.endswith("_at"):
            assert row[metric] == h.metric(metric), metric
    assert (row["name"], row["fit"], row["fit_gaps"], row["quadrant"]) == ("Acme", 82.5, ["region"], "core")
    flat = flat_health_row(row)
    assert set(HEALTH_CSV_COLUMNS) <= set(flat) and flat["fit_gaps"] == "region"
    assert flat["components.quality"] == h.components["quality"]


def test_without_a_profile_there_is_no_fit_and_no_quadrant():
    row = as_dict(assessed(last=T - timedelta(days=2)), None)
    assert (row["name"], row["fit"], row["fit_gaps"], row["quadrant"]) == (None, None, [], None)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_paused_while_building_and_left_as_it_was(enabled):
    (gc.enable if enabled else gc.disable)()
    try:
        with pytest.raises(RuntimeError), collector.paused():
            assert not gc.isenabled()
            raise RuntimeError("a failed build")
        assert gc.isenabled() is enabled
    finally:
        gc.enable()

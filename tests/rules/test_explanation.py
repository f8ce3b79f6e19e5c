"""The pure §7 rules: contributions, the drivers' order, the sentences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streams.rules.explanation import MAX_DRIVERS, Driver, Transition, contributions, explanation, ranked
from streams.rules.scoring import COMPONENTS, Metrics, assess, load_scoring

S = load_scoring()
T = datetime(2026, 11, 20, tzinfo=UTC)
T0 = T - timedelta(days=30)


def assessed(at, q30=300.0, base=300.0, n90=10, led=5, types=3, eco=1, silent=2.0, gap=None):
    m = Metrics("acme", at, q30, base, base, n90, led, types, eco, at - timedelta(days=300), at - timedelta(days=silent),
                8, 8.0, gap)  # fmt: skip
    return assess(m, S)


def driver(i: int, minutes: float, effect: str, type_: str = "partner.webinar") -> Driver:
    return Driver(f"e{i}", "crm", type_, T - timedelta(days=i % 29, hours=i), minutes, effect)


def test_contributions_are_weight_times_the_change_and_add_up_to_the_delta():
    then, now = assessed(T0, q30=600, led=5, silent=1), assessed(T, q30=90, led=1, types=1, silent=22, gap=6)
    parts = contributions(then, now, S)
    weights = S.raw["score_weights"]
    assert list(parts) == list(COMPONENTS)
    for c in COMPONENTS:
        assert parts[c] == pytest.approx(weights[c] * (now.components[c] - then.components[c]), abs=0.005)
    assert sum(parts.values()) == pytest.approx(now.score - then.score, abs=0.2)


def test_a_partner_new_since_t0_counts_from_zero():
    now = assessed(T, silent=3)
    found = explanation(None, now, [driver(1, 60, "entered")], [], T0, S)
    assert found["score_delta"] == now.score
    assert sum(found["contributions"].values()) == pytest.approx(now.score, abs=0.2)
    status = now.status.replace("_", " ")
    assert found["summary"] == f"New since 21 Oct: no engagement before then; score now {now.score:.1f} ({status})."


def test_drivers_largest_first_at_most_twenty():
    drivers = [driver(i, float(i % 7) * 10, "entered" if i % 2 else "left") for i in range(30)]
    shown = ranked(drivers)
    assert len(shown) == MAX_DRIVERS
    assert [d.quality_minutes for d in shown] == sorted((d.quality_minutes for d in drivers), reverse=True)[:20]
    cut = min(d.quality_minutes for d in shown)
    assert all(d.quality_minutes <= cut for d in drivers if d not in shown)


def test_the_summary_names_the_two_largest_causes_with_their_reasons():
    then = assessed(T0, q30=600, silent=1, gap=6)
    now = assessed(T, q30=0, silent=22, gap=6)
    left = [driver(i, 200, "left") for i in range(3)]
    found = explanation(then, now, left, [], T0, S)
    q, r = found["contributions"]["quality"], found["contributions"]["recency"]
    assert found["summary"] == (
        f"Score {then.score:.1f} → {now.score:.1f} since 21 Oct: quality time −{abs(q):.1f} "
        f"(three webinars left the window, nothing new), recency −{abs(r):.1f} (silent 22 days, usually every 6)."
    )


def test_the_summary_mentions_alerts_and_mixed_drivers():
    then, now = assessed(T0, q30=100), assessed(T, q30=500)
    drivers = [driver(1, 300, "entered", "partner.meeting"), driver(2, 100, "entered", "partner.webinar"),
               driver(3, 40, "left", "partner.training")]  # fmt: skip
    moves = [Transition("declining", "resolved", T - timedelta(days=3), "normal"),
             Transition("one_sided", "fired", T - timedelta(days=20), "normal")]  # fmt: skip
    found = explanation(then, now, drivers, moves, T0, S)
    assert "quality time +" in found["summary"]
    assert "(two new engagements, one training left the window)" in found["summary"]
    assert found["summary"].endswith("Alerts: one-sided fired 31 Oct; declining resolved 17 Nov.")
    assert [t.kind for t in found["alerts"]] == ["one_sided", "declining"]  # in time order


def test_nothing_moved():
    then, now = assessed(T0), assessed(T)
    found = explanation(then, now, [], [], T0, S)
    assert found["score_delta"] == 0.0
    assert found["summary"].endswith("no component moved it by 0.05 points or more.")


def test_a_year_boundary_is_written_out():
    then = assessed(datetime(2025, 12, 1, tzinfo=UTC), q30=600)
    now = assessed(datetime(2026, 1, 10, tzinfo=UTC), q30=100)
    found = explanation(then, now, [], [], datetime(2025, 12, 1, tzinfo=UTC), S)
    assert " since 1 Dec 2025: " in found["summary"]

"""The simulator's archetypes do what they are meant to (checked with the oracle)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from streams.demo import simulator
from streams.rules.validation import Rejected, validate
from tests import oracle

END = datetime(2026, 11, 26, 12, tzinfo=UTC)
SIM = simulator.simulate(partners=40, days=180, seed=7, end=END)
EVENTS = [e for e in simulator.events_of(SIM) if e["type"] != "partner.profile"]
HEALTH = oracle.health(EVENTS, END)


def statuses(archetype: str) -> Counter:
    return Counter(HEALTH[p]["status"] for p in SIM.by_archetype[archetype])


def test_same_seed_same_population_and_different_seed_differs():
    again = simulator.simulate(partners=40, days=180, seed=7, end=END)
    assert again.records == SIM.records
    assert simulator.simulate(partners=40, days=180, seed=8, end=END).records != SIM.records


def test_archetypes_end_where_they_should():
    assert statuses("fader") == Counter(disengaged=5)
    assert statuses("newcomer") == Counter(new=5)
    assert statuses("builder") == Counter(healthy=5)
    assert statuses("comeback")["healthy"] >= 4
    assert statuses("steady")["healthy"] >= 3
    assert all(HEALTH[p]["ecosystem_partners_90d"] >= 3 for p in SIM.by_archetype["builder"])
    assert all(HEALTH[p]["partner_initiated_share"] == 0.0 for p in SIM.by_archetype["listener"])


def test_archetypes_raise_the_alerts_they_should():
    first = (SIM.start - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    last = (max(oracle.parse(e["time"]) for e in EVENTS) - timedelta(hours=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    episodes = oracle.episodes(EVENTS, first, last)
    open_ = {(p, k) for p, k, _, resolved in episodes if resolved is None}
    assert all((p, "one_sided") in open_ for p in SIM.by_archetype["listener"])
    assert all((p, "disengaged") in open_ for p in SIM.by_archetype["fader"])
    came_back = [(p, k) for p, k, _, resolved in episodes if p in SIM.by_archetype["comeback"] and resolved]
    assert any(k == "disengaged" for _, k in came_back)  # silent, flagged, back, resolved
    assert any(k == "declining" for p, k, _, _ in episodes if p in SIM.by_archetype["decliner"])


def test_lapses_are_nudged_quiet_before_they_count_as_disengaged():
    first = (SIM.start - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    last = (max(oracle.parse(e["time"]) for e in EVENTS) - timedelta(hours=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    episodes = oracle.episodes(EVENTS, first, last)
    for p in SIM.partners:
        if p.archetype != "fader":
            continue
        last_engagement = max(oracle.parse(e["time"]) for e in EVENTS if e["subject"] == p.partner_id)
        assert last_engagement < p.lapsed_at  # the ground truth holds
        quiet = min(f for q, k, f, _ in episodes if q == p.partner_id and k == "quiet" and f > last_engagement)
        disengaged = min(f for q, k, f, _ in episodes if q == p.partner_id and k == "disengaged")
        # Earlier than the 30 silent days after which the first rules called it disengaged.
        assert quiet < disengaged and (quiet - last_engagement).days < 30


def test_rhythms_and_fades_are_what_the_ground_truth_says():
    by_partner = Counter(e["subject"] for e in EVENTS)
    for p in SIM.partners:
        if p.archetype in ("steady", "builder", "listener"):
            expected = 180 / p.rhythm_days
            assert 0.6 * expected <= by_partner[p.partner_id] <= 1.3 * expected, (p, by_partner[p.partner_id])
        if p.archetype == "decliner":
            times = [oracle.parse(e["time"]) for e in EVENTS if e["subject"] == p.partner_id]
            before = sum(t < p.faded_at for t in times) / (p.faded_at - SIM.start).days
            after = sum(t >= p.faded_at for t in times) / (END - p.faded_at).days
            assert after < before * 0.7, (p, before, after)  # a third of the rate, give or take chance


def test_noise_is_there_and_accounted_for():
    assert SIM.duplicates > 0 and SIM.late > 0 and SIM.malformed > 0
    rejected = [raw for _, raw in SIM.records if isinstance(validate(raw), Rejected)]
    assert len(rejected) == SIM.malformed
    profiles = [e for e in simulator.events_of(SIM) if e["type"] == "partner.profile"]
    assert len(profiles) == 40 and len(EVENTS) == SIM.engagements
    # Late events really are late: sent after events more than an hour newer.
    seen_max = None
    late = 0
    for _, raw in SIM.records:
        result = validate(raw)
        if isinstance(result, Rejected) or result.kind == "profile":
            continue
        if seen_max and result.time < seen_max - timedelta(hours=1):
            late += 1
        seen_max = max(seen_max or result.time, result.time)
    assert late >= SIM.late - SIM.duplicates

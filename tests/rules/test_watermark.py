"""The watermark over partitions, and the midnights it crosses (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams.rules.watermark import PartitionProgress, midnights_between, watermark

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
H = timedelta(hours=1)
IDLE = timedelta(seconds=30)


def p(n, latest, idle_for=0, owner_silent_for=0):
    """Active `idle_for` seconds ago; its owner's last heartbeat `owner_silent_for` ago."""
    return PartitionProgress(n, latest, NOW - timedelta(seconds=idle_for), NOW - timedelta(seconds=owner_silent_for))


def test_slowest_busy_partition_sets_it_minus_lateness():
    t = datetime(2026, 3, 1, tzinfo=UTC)
    assert watermark([p(0, t), p(1, t + 5 * H), p(2, t + 2 * H)], NOW, H, IDLE) == t - H


def test_idle_partitions_stop_holding_it_back():
    t = datetime(2026, 3, 1, tzinfo=UTC)
    assert watermark([p(0, t, idle_for=31), p(1, t + 5 * H)], NOW, H, IDLE) == t + 4 * H
    assert watermark([p(0, t, idle_for=30), p(1, t + 5 * H)], NOW, H, IDLE) == t + 4 * H  # exactly the idle time
    assert watermark([p(0, t, idle_for=29), p(1, t + 5 * H)], NOW, H, IDLE) == t - H


def test_all_idle_the_furthest_sets_it():
    t = datetime(2026, 3, 1, tzinfo=UTC)
    assert watermark([p(0, t, 100), p(1, t + 5 * H, 100)], NOW, H, IDLE) == t + 4 * H


def test_a_busy_partition_without_event_time_holds_everything():
    t = datetime(2026, 3, 1, tzinfo=UTC)
    assert watermark([p(0, None), p(1, t)], NOW, H, IDLE) is None
    assert watermark([p(0, None, idle_for=60), p(1, t)], NOW, H, IDLE) == t - H  # assigned, silent: released
    assert watermark([], NOW, H, IDLE) is None
    assert watermark([p(0, None, idle_for=60)], NOW, H, IDLE) is None


def test_midnights_between_is_half_open_and_ordered():
    a = datetime(2026, 3, 1, 5, tzinfo=UTC)
    assert midnights_between(a, datetime(2026, 3, 3, 0, tzinfo=UTC)) == [
        datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)]  # fmt: skip
    assert midnights_between(datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 2, 23, tzinfo=UTC)) == []


def test_a_partition_whose_worker_died_holds_it_until_taken_over():
    t = datetime(2026, 3, 1, tzinfo=UTC)
    orphan = p(0, t, idle_for=60, owner_silent_for=11)
    assert watermark([orphan, p(1, t + 5 * H)], NOW, H, IDLE) == t - H
    # Died right after its last record: silent since, but never seen idle while alive.
    just_died = p(0, t, idle_for=35, owner_silent_for=35)
    assert watermark([just_died, p(1, t + 5 * H)], NOW, H, IDLE) == t - H
    dying = p(0, t, idle_for=35, owner_silent_for=6)  # heartbeats stopped 29 s into the idle time
    assert watermark([dying, p(1, t + 5 * H)], NOW, H, IDLE) == t - H
    adopted = p(0, t, idle_for=60, owner_silent_for=1)
    assert watermark([adopted, p(1, t + 5 * H)], NOW, H, IDLE) == t + 4 * H

"""Health from the state at T's midnight against health computed in full, on a real store
(chDB): the same metrics at any T of that day — window edges passing events exactly,
events exactly on midnights, partners new that day — and no answer at all when the state
is not exactly the midnight's (an event up to it stored since, another scoring file)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from streams.reporting.health_rows import health
from streams.rules.scoring import load_scoring
from streams.store import connection as store
from streams.store.health_state import _EVENTS_UNTIL, _usable, build_state, fingerprint, metrics_from_state
from streams.store.metrics import compute_metrics
from tests import oracle
from tests.store.test_fit_store import load

EVENTS = [e for e in oracle.generate() if e["type"] != "partner.profile"]
START = oracle.parse(EVENTS[0]["time"]).replace(hour=0, minute=0, second=0, microsecond=0)
SCORING = load_scoring()
MS = timedelta(milliseconds=1)
# Window starts as offsets from T (windows.frames_at): an event this far before T sits on an edge.
EDGES = (30, 60, 120, 90, 240, 365)


def times_of_the_day(midnight: datetime) -> list[datetime]:
    """T = the midnight, just after, midday, just before the next; and each T that day at
    which some window's edge passes an event exactly (T − edge = the event's time)."""
    day = [midnight, midnight + MS, midnight + timedelta(hours=13, minutes=7), midnight + timedelta(days=1) - MS]
    times = [oracle.parse(e["time"]) for e in EVENTS]
    on_edges = [t + timedelta(days=d) for t in times for d in (0, *EDGES)]
    return day + sorted({t for t in on_edges if midnight < t < midnight + timedelta(days=1)})[:12]


def assert_same(fast, full) -> None:
    assert fast is not None
    fast = sorted(fast, key=lambda m: m.partner_id)  # (health sorts them its own way)
    assert [m.partner_id for m in fast] == [m.partner_id for m in full]
    for a, b in zip(fast, full, strict=True):
        for name in a.__dataclass_fields__:
            x, y = getattr(a, name), getattr(b, name)
            assert x == (pytest.approx(y, rel=1e-12, abs=1e-9) if isinstance(y, float) else y), (
                a.as_of,
                a.partner_id,
                name,
            )


@pytest.mark.parametrize("day", [20, 61, 95, 130, 171, 199, 230, 400])
def test_health_from_the_state_is_health_in_full_at_every_time_of_the_day(client, day):
    load(client, EVENTS)
    midnight = START + timedelta(days=day)
    build_state(client, midnight, SCORING)
    checked = 0
    for t in times_of_the_day(midnight):
        full = compute_metrics(client, t, SCORING)
        assert_same(metrics_from_state(client, t, SCORING), full)
        checked += len(full)
        some = [full[0].partner_id, full[-1].partner_id] if full else ["nobody"]
        assert_same(compute_metrics(client, t, SCORING, some), [m for m in full if m.partner_id in some])
    assert checked  # partners were compared
    # Another day has no state: health is computed in full.
    assert metrics_from_state(client, midnight + timedelta(days=1, hours=1), SCORING) is None
    assert metrics_from_state(client, midnight - timedelta(hours=1), SCORING) is None


def test_an_event_up_to_the_midnight_stored_since_makes_the_state_stale(client, tmp_path):
    events = [e for e in EVENTS if oracle.parse(e["time"]) <= START + timedelta(days=150)]
    midnight = START + timedelta(days=100)
    load(client, [e for e in events if e["id"] != events[50]["id"]])
    build_state(client, midnight, SCORING)
    later = midnight + timedelta(hours=5)
    assert metrics_from_state(client, later, SCORING) is not None
    load(client, [events[50]])  # late: its time is before the midnight
    assert oracle.parse(events[50]["time"]) <= midnight
    assert metrics_from_state(client, later, SCORING) is None
    # What users read is still exact: computed in full, as the oracle says.
    rows = {r["partner_id"]: r for r in health(client, as_of=oracle._iso(later))}
    want = oracle.health(events, later)
    assert {p: r["engagements_90d"] for p, r in rows.items()} == {p: w["engagements_90d"] for p, w in want.items()}
    # A new build is exact again; events after the midnight never make it stale.
    build_state(client, midnight, SCORING)
    load(client, [{**events[-1], "id": "after-the-midnight", "time": oracle._iso(midnight + timedelta(hours=2))}])
    assert_same(metrics_from_state(client, later, SCORING), compute_metrics(client, later, SCORING))
    # Built with another scoring file: not used with this one.
    path = tmp_path / "scoring.yaml"
    path.write_text("windows_days:\n  month: 28\n")
    other = load_scoring(path)
    assert metrics_from_state(client, later, other) is None
    build_state(client, midnight, other)
    assert metrics_from_state(client, later, SCORING) is None
    assert_same(metrics_from_state(client, later, other), compute_metrics(client, later, other))
    # Windows not of whole days, or shorter than a day: computed in full, whatever was built.
    for setting in ("rhythm:\n  history_days: 365.5\n", "windows_days:\n  month: 0\n"):
        path.write_text(setting)
        odd = load_scoring(path)
        build_state(client, midnight, odd)
        assert metrics_from_state(client, later, odd) is None


def test_health_reads_the_state_when_it_is_exact(client):
    load(client, EVENTS)
    midnight = START + timedelta(days=150)
    t = midnight + timedelta(hours=9)
    in_full = health(client, as_of=oracle._iso(t))
    build_state(client, midnight, SCORING)
    assert health(client, as_of=oracle._iso(t)) == in_full
    # The state is what health reads: one changed by hand shows (never so in use).
    client.command(
        "ALTER TABLE partner_state UPDATE n_activity = n_activity + 1000 WHERE 1 SETTINGS mutations_sync = 1"
    )
    read = {r["partner_id"]: r["engagements_90d"] for r in health(client, as_of=oracle._iso(t))}
    assert read == {r["partner_id"]: r["engagements_90d"] + 1000 for r in in_full}


def test_the_rhythm_s_first_day_leaves_with_its_gap_and_today_joins_with_one(client, tmp_path):
    """A year whose only day is its first: once that day's engagement leaves, a new one
    today makes no gap (one day); before it leaves, the two days make a gap of 365."""
    path = tmp_path / "scoring.yaml"
    path.write_text("rhythm:\n  min_gaps: 1\n")  # a single gap is a rhythm: every gap shows
    scoring = load_scoring(path)
    midnight = datetime(2026, 11, 20, tzinfo=UTC)
    first = midnight - timedelta(days=365) + timedelta(hours=10)
    load(client, [{**EVENTS[0], "id": "first", "subject": "solo", "time": oracle._iso(first)},
                  {**EVENTS[0], "id": "today", "subject": "solo", "time": oracle._iso(midnight + timedelta(hours=2))}])  # fmt: skip
    build_state(client, midnight, scoring)
    for hours, gap in ((8, 365.0), (12, None)):
        t = midnight + timedelta(hours=hours)
        (fast,) = metrics_from_state(client, t, scoring)
        assert fast.usual_gap_days == gap == compute_metrics(client, t, scoring)[0].usual_gap_days


@pytest.mark.parametrize("quantile", [0.5, 0.9])
def test_the_rhythm_as_of_any_time_of_the_day_is_the_quantile_of_the_gaps_in_full(client, tmp_path, quantile):
    """Gaps taken by rank from the state (the first day's removed, today's inserted) give
    the usual gap in full: years starting on the first day (one or two events on it) or
    not, gaps repeated (the removed one among equal ones, today's equal to some), today's
    the shortest, the longest or none, as its first day's events leave and today's arrive."""
    path = tmp_path / "scoring.yaml"
    path.write_text(f"rhythm:\n  quantile: {quantile}\n  min_gaps: 1\n")
    scoring = load_scoring(path)
    midnight = datetime(2026, 11, 20, tzinfo=UTC)
    first_day = midnight - timedelta(days=365)
    rng = random.Random(5)
    events = []
    for p in range(40):
        day, days = (0 if p % 5 else rng.randrange(1, 20)), []
        while day < 365:
            days.append(day)
            day += rng.choice([1, 1, 2, 3, 3, 5, 8, 40, 100])
        hours = [9, 11] if p % 3 == 0 else [10]  # on the first day: the last at 11:00 or 10:00
        times = [first_day + timedelta(days=d, hours=h) for d in days for h in (hours if d == 0 else [12])]
        if p % 4:  # an engagement today, at 02:00
            times.append(midnight + timedelta(hours=2))
        events += [{**EVENTS[0], "id": f"r{p}-{i}", "subject": f"rhythm-{p}", "time": oracle._iso(t)}
                   for i, t in enumerate(times)]  # fmt: skip
    load(client, events)
    build_state(client, midnight, scoring)
    rhythm = {}
    for hours in (1, 3, 9.5, 10.5, 11.5, 23):
        t = midnight + timedelta(hours=hours)
        full = compute_metrics(client, t, scoring)
        assert_same(metrics_from_state(client, t, scoring), full)
        rhythm[hours] = {m.partner_id: m.usual_gap_days for m in full}
    # Both ways were taken: today's gap joined (02:00), first days' left (10:00, 11:00).
    assert rhythm[1] != rhythm[3] and rhythm[9.5] != rhythm[10.5] != rhythm[11.5]


def test_a_state_built_before_migration_16_is_dropped_and_health_stays_exact(store_before):
    """A state without the events passing the windows' starts (built by an earlier version)
    would read none: 0016 drops it, health is computed in full until the next build."""
    client = store_before(16)
    load(client, EVENTS)
    midnight = START + timedelta(days=130)
    t = midnight + timedelta(hours=23)
    client.command(  # a state that version built: complete, current, of this scoring file
        f"INSERT INTO partner_state (midnight, partner_id, scoring, events, partners) "
        f"SELECT {{m:DateTime64(3, 'UTC')}}, 'p', {{s:String}}, ({_EVENTS_UNTIL}), 1",
        parameters={"m": midnight.replace(tzinfo=None), "s": fingerprint(SCORING)},
    )
    assert _usable(client, midnight, SCORING)
    assert store.apply_migrations(client)[0] == 16
    assert client.query("SELECT count() FROM partner_state").result_rows == [(0,)]
    assert metrics_from_state(client, t, SCORING) is None  # so health is computed in full
    build_state(client, midnight, SCORING)
    assert client.query("SELECT sum(length(leaving)) > 0 FROM partner_state").result_rows == [(1,)]
    assert_same(metrics_from_state(client, t, SCORING), compute_metrics(client, t, SCORING))

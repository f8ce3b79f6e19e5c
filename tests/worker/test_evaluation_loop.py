"""The evaluation loop and the broker watch in process: leader hand-over, busy ingest,
a failing store, a broker gone for good."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from streams.rules.scoring import load_scoring
from streams.rules.watermark import watermark
from streams.store.health_state import keep_state
from streams.store.progress import read_progress, record_ownership, record_progress
from streams.worker.broker_watch import BrokerWatch
from streams.worker.evaluation_loop import (
    BUSY_LOOK,
    EVALUATE_AT_ONCE,
    EVALUATE_BUSY,
    EVALUATE_BUSY_PAUSE,
    EvaluationLoop,
)
from tests import oracle
from tests.store.test_fit_store import load
from tests.testing import FakeClock, TestingReader, TestingStore

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


class CountingEvaluator:
    """Evaluates `due` midnights at most `limit` at a time; counts forgets."""

    scoring = load_scoring()

    def __init__(self, due: int, last: datetime | None = None):
        self.due = due
        self.forgets = 0
        self.limits: list[int] = []
        self.last_evaluated = last

    def forget(self) -> None:
        self.forgets += 1

    def advance(self, client, now, limit):
        self.limits.append(limit)
        done, self.due = min(limit, self.due), self.due - min(limit, self.due)
        return [now] * done


def make(client, evaluator, mine=frozenset({0, 1}), busy=False):
    clock = FakeClock()
    reader = TestingReader([], mine=set(mine))
    store = TestingStore(client)
    loop = EvaluationLoop(evaluator, store, reader, "engagement-events", busy=lambda: busy,
                          backlog=reader.backlogged, sleep=clock.sleep, now=lambda: NOW)  # fmt: skip
    return loop, reader, store, clock


def owners(client) -> list[int]:
    rows = client.query("SELECT partition FROM partition_progress WHERE owned_at > toDateTime64(0, 3) ORDER BY 1")
    return [r[0] for r in rows.result_rows]


def test_only_the_leader_evaluates_and_forgets_its_caches_when_it_becomes_leader_again(client):
    async def scenario():
        evaluator = CountingEvaluator(due=0)
        loop, reader, _, _ = make(client, evaluator)
        await loop.step()
        assert evaluator.forgets == 1 and evaluator.limits == [EVALUATE_AT_ONCE]
        await loop.step()
        assert evaluator.forgets == 1  # still leading: caches kept
        reader.mine = {1, 2}  # partition 0 went to another worker
        await loop.step()
        assert evaluator.limits == [EVALUATE_AT_ONCE] * 2  # not evaluated as a follower
        reader.mine = {0}
        await loop.step()
        assert evaluator.forgets == 2  # the other worker may have evaluated meanwhile
        assert owners(client) == [0, 0, 0, 1, 1, 1, 2]  # every round: "I still own these"

    asyncio.run(scenario())


def test_a_catch_up_runs_in_steps_and_yields_to_busy_ingest(client):
    async def scenario():
        evaluator = CountingEvaluator(due=40)
        loop, _, _, clock = make(client, evaluator, busy=True)
        await loop.step()
        assert evaluator.limits == [EVALUATE_BUSY] and sum(clock.sleeps) == EVALUATE_BUSY_PAUSE and loop.more
        loop.busy = lambda: False
        await loop.step()
        assert evaluator.limits[-1] == EVALUATE_AT_ONCE and evaluator.due == 2 and loop.more
        await loop.step()
        assert evaluator.due == 0 and not loop.more

    asyncio.run(scenario())


def test_a_backlog_that_ends_during_the_pause_is_caught_up_at_once(client):
    """Ingest rests 1.1 s into the pause: the step evaluates fully at the next look, not
    7 midnights after the whole pause (a replay's decided alerts waited up to 5 s)."""

    async def scenario():
        evaluator = CountingEvaluator(due=40)
        loop, _, _, clock = make(client, evaluator)
        rests_at = clock.now + 1.1
        loop.busy = lambda: clock.now < rests_at
        await loop.step()
        assert evaluator.limits == [EVALUATE_AT_ONCE]
        assert clock.sleeps == [BUSY_LOOK] * 5  # looked again every BUSY_LOOK until it rested
        assert sum(clock.sleeps) < EVALUATE_BUSY_PAUSE

    asyncio.run(scenario())


def test_a_step_that_catches_up_keeps_the_health_state_of_its_last_midnight(client, caplog):
    """`health` today starts from the state at the last midnight evaluated: built after a
    step that caught up, not after each step of a catch-up; a failed build only warns."""

    def states() -> list:
        return client.query("SELECT DISTINCT midnight FROM partner_state FINAL").result_rows

    async def scenario():
        load(client, oracle.generate(partners=3, days=60))
        evaluator = CountingEvaluator(due=EVALUATE_AT_ONCE + 2)
        loop, _, store, _ = make(client, evaluator)
        await loop.step()
        assert loop.more and states() == []
        store.fail(keep_state, 1)
        assert len(await loop.step()) == 2 and states() == []
        assert "could not keep the health state" in caplog.text
        evaluator.due = 1
        await loop.step()
        assert [m for (m,) in states()] == [NOW.replace(tzinfo=None)]

    asyncio.run(scenario())


def test_a_worker_started_with_nothing_due_keeps_the_last_midnight_s_state_once(client):
    """After a restart (or an upgrade that dropped the state) with every midnight already
    evaluated, the first step builds the last one's state if it is not exact, once."""
    midnight = NOW.replace(hour=0)

    def builds() -> list:
        return client.query("SELECT DISTINCT midnight, built_at FROM partner_state FINAL").result_rows

    async def scenario():
        load(client, oracle.generate(partners=3, days=60))
        loop, _, store, _ = make(client, CountingEvaluator(due=0, last=midnight))
        await loop.step()
        (built,) = builds()
        assert built[0] == midnight.replace(tzinfo=None)
        await loop.step()
        assert store.calls.count("keep_state") == 1  # once after start, not every step
        restarted, _, store, _ = make(client, CountingEvaluator(due=0, last=midnight))
        await restarted.step()
        assert store.calls.count("keep_state") == 1 and builds() == [built]  # exact already: kept

    asyncio.run(scenario())


def test_a_failing_evaluation_is_retried_after_a_second(client):
    async def scenario():
        evaluator = CountingEvaluator(due=3)
        loop, _, store, clock = make(client, evaluator)
        store.fail(evaluator.advance, 1)
        assert await loop.step() == [] and clock.sleeps == [1.0]
        assert len(await loop.step()) == 3

    asyncio.run(scenario())


def test_a_partition_its_owner_still_has_a_backlog_of_is_not_idle_however_long_it_waits(client):
    """Assigned a minute ago; partition 1's records are not all stored yet (behind on the
    broker, or in a batch being stored): it holds the watermark whatever the clock says."""
    idle, lateness, ago = timedelta(seconds=30), timedelta(0), NOW - timedelta(minutes=1)
    early, late = NOW - timedelta(days=3), NOW - timedelta(days=1)

    async def scenario():
        record_progress(client, [("engagement-events", 0, late, ago), ("engagement-events", 1, early, ago)])
        loop, reader, _, _ = make(client, CountingEvaluator(due=0), mine={0, 1})
        reader.behind = {1}
        await loop.step()
        assert watermark(read_progress(client), NOW, lateness, idle) == early
        reader.behind = set()  # stored: idle once `idle` has passed since the last backlog
        await loop.step()
        assert watermark(read_progress(client), NOW, lateness, idle) == early
        loop.now = lambda: NOW + idle
        await loop.step()
        assert watermark(read_progress(client), NOW + idle, lateness, idle) == late

    asyncio.run(scenario())


def test_a_failing_ownership_record_does_not_stop_evaluation(client):
    async def scenario():
        evaluator = CountingEvaluator(due=1)
        loop, _, store, _ = make(client, evaluator)
        store.fail(record_ownership, 1)
        assert len(await loop.step()) == 1

    asyncio.run(scenario())


def test_the_broker_watch_stops_the_worker_only_after_the_timeout():
    async def scenario():
        clock = FakeClock()
        reader = TestingReader([], reachable_answers=[True, False, True] + [False] * 100)
        fatal = []
        watch = BrokerWatch(reader, "kafka:9092", timeout=10, on_fatal=fatal.append, sleep=clock.sleep, clock=clock)
        message = await watch.run()
        # Down once (back in time), then down for good: stopped once 10 s had passed.
        assert fatal == [message] and "cannot reach Kafka at kafka:9092 for 10 s" in message
        assert clock.sleeps == [2.0] * 9

    asyncio.run(scenario())


def test_the_broker_watch_says_what_it_waits_for_and_gives_up_on_a_closed_group():
    async def scenario():
        clock = FakeClock()
        reader = TestingReader([], assigned=False)  # reachable, never admitted to the group
        fatal, said = [], []
        watch = BrokerWatch(reader, "tansu:9092", timeout=30, on_fatal=fatal.append, sleep=clock.sleep,
                            clock=clock, say=said.append, session_timeout_set=False)  # fmt: skip
        message = await watch.run()
        assert fatal == [message]
        assert message.startswith("could not join consumer group 'partnerpulse-events' on tansu:9092 within 30 s "
                                  "(PARTNERPULSE_BROKER_TIMEOUT); stopping")  # fmt: skip
        assert "set PARTNERPULSE_SESSION_TIMEOUT=6" in message  # the self-run Tansu's cure
        assert said == [
            "waiting to join consumer group 'partnerpulse-events' on tansu:9092 (the broker answers): "
            f"{s} s of 30 s before giving up"
            for s in (10, 20, 30)
        ]

    asyncio.run(scenario())


def test_the_broker_watch_tells_when_the_join_succeeded_and_watches_rebalances():
    async def scenario():
        clock = FakeClock()
        reader = TestingReader([], assigned=False, reachable_answers=[True] * 40 + [False] * 100)
        start, said = clock.now, []

        async def sleep(seconds):
            await clock.sleep(seconds)
            elapsed = clock.now - start
            reader.assigned = 12 <= elapsed < 40 or elapsed >= 46  # joined at 12 s; a rebalance at 40-46 s

        watch = BrokerWatch(reader, "kafka:9092", timeout=20, on_fatal=None, sleep=sleep, clock=clock,
                            say=said.append)  # fmt: skip
        message = await watch.run()  # then the broker goes away for good
        assert said[0].startswith("waiting to join consumer group 'partnerpulse-events' on kafka:9092")
        assert said[1] == "joined consumer group 'partnerpulse-events' on kafka:9092 after 12 s"
        assert len(said) == 2  # a 6 s rebalance is not worth a word
        assert message.startswith("cannot reach Kafka at kafka:9092 for 20 s")
        assert "SESSION_TIMEOUT" not in message

    asyncio.run(scenario())

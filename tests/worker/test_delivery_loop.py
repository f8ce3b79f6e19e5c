"""The delivery loop in process: the real outbox in chDB, targets that fail or hang."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from streams.rules.alerting import Alert
from streams.store import outbox
from streams.worker.delivery_loop import MAX_DELIVERIES_IN_FLIGHT, DeliveryLoop
from tests.testing import TestingStore

MIDNIGHT = datetime(2026, 11, 20, tzinfo=UTC)


def alert(n: int) -> Alert:
    return Alert(f"a-{n}", f"p-{n}", "quiet", "firing", MIDNIGHT, None, "silent", "", {"score": 50.0}, None)


def queue(client, alerts: list[Alert], webhooks: list[str] = ()) -> None:
    rows = outbox.outbox_rows(alerts, outbox.targets(list(webhooks)), datetime.now(UTC))
    client.insert("alert_deliveries", rows, column_names=outbox.DELIVERY_COLUMNS)


def states(client) -> dict[tuple[str, str], tuple[str, int, str]]:
    rows = client.query("SELECT alert_id, target, state, attempts, last_error FROM alert_deliveries FINAL").result_rows
    return {(a, t): (s, n, e) for a, t, s, n, e in rows}


async def settle(loop: DeliveryLoop) -> None:
    while loop.in_flight:
        await asyncio.sleep(0.01)


async def tick_holding_the_first_record(loop: DeliveryLoop, store: TestingStore, others: int) -> None:
    """A tick whose first outcome's store job waits until `others` more outcomes came."""
    store.hold(outbox.record)
    await loop.tick()
    while len(loop._unrecorded) < others:
        await asyncio.sleep(0.01)
    store.release()
    await settle(loop)


def test_a_failed_delivery_is_recorded_and_not_retried_before_its_backoff(client):
    async def scenario():
        queue(client, [alert(1)], ["https://hooks.example/1"])
        attempts = []

        async def deliver(due):
            attempts.append(due.target)
            return None if due.target == "kafka" else "HTTP 500"

        loop = DeliveryLoop(TestingStore(client), deliver)
        await loop.tick()
        await settle(loop)
        assert sorted(attempts) == ["kafka", outbox.webhook_target("https://hooks.example/1").key]
        got = states(client)
        assert got[("a-1", "kafka")] == ("delivered", 1, "")
        assert got[("a-1", outbox.webhook_target("https://hooks.example/1").key)] == ("pending", 1, "HTTP 500")
        await loop.tick()  # the failed one waits for its backoff (2 s): nothing is due now
        await settle(loop)
        assert len(attempts) == 2

    asyncio.run(scenario())


def test_a_hanging_target_holds_up_nothing_else_and_in_flight_is_bounded(client):
    async def scenario():
        queue(client, [alert(n) for n in range(MAX_DELIVERIES_IN_FLIGHT + 10)])
        hang = asyncio.Event()
        under_way, most = 0, 0

        async def deliver(due):
            nonlocal under_way, most
            under_way += 1
            most = max(most, under_way)
            if due.alert_id == "a-0":
                await hang.wait()
            await asyncio.sleep(0)  # the others finish in their own turn too
            under_way -= 1
            return None

        loop = DeliveryLoop(TestingStore(client), deliver)
        await loop.tick()  # 64 at once; the other ten as those finish, within the tick
        assert most == MAX_DELIVERIES_IN_FLIGHT
        await loop.tick()  # a-0 is not started twice
        await asyncio.sleep(0.05)
        assert list(loop.in_flight) == [("a-0:firing", "kafka")]
        delivered = [k for k, v in states(client).items() if v[0] == "delivered"]
        assert len(delivered) == MAX_DELIVERIES_IN_FLIGHT + 9
        hang.set()
        await settle(loop)
        assert most == MAX_DELIVERIES_IN_FLIGHT

    asyncio.run(scenario())


def test_a_backlog_drains_in_one_tick_at_the_targets_pace(client, store_thread):
    """Five times what may be in flight, on the worker's own store thread (outcomes that
    come together are stored together): all delivered in one tick, not 64 a second."""

    async def scenario():
        queue(client, [alert(n) for n in range(5 * MAX_DELIVERIES_IN_FLIGHT)])

        async def deliver(due):
            await asyncio.sleep(0.001)
            return None

        loop = DeliveryLoop(store_thread, deliver)
        await loop.tick()
        await settle(loop)
        got = states(client)
        assert len(got) == 5 * MAX_DELIVERIES_IN_FLIGHT and set(got.values()) == {("delivered", 1, "")}

    asyncio.run(scenario())


def test_an_unrecorded_attempt_is_offered_again(client):
    async def scenario():
        queue(client, [alert(1)])
        store = TestingStore(client)
        store.fail(outbox.record, 1)
        attempts = []

        async def deliver(due):
            attempts.append(due.attempts)
            return None

        loop = DeliveryLoop(store, deliver)
        await loop.tick()
        await settle(loop)
        await loop.tick()  # the store lost the first outcome: delivered again (at least once)
        await settle(loop)
        assert attempts == [0, 0]
        assert states(client)[("a-1", "kafka")] == ("delivered", 1, "")

    asyncio.run(scenario())


def test_outcomes_that_come_while_one_is_being_stored_are_stored_together(client):
    async def scenario():
        queue(client, [alert(n) for n in range(40)])
        store = TestingStore(client)

        async def deliver(due):
            return None

        loop = DeliveryLoop(store, deliver)
        await tick_holding_the_first_record(loop, store, others=39)
        assert store.calls.count("record") == 2  # the first one alone, then the 39 gathered
        assert {v for v in states(client).values()} == {("delivered", 1, "")} and len(states(client)) == 40
        assert all(loop.attempted[(f"a-{n}:firing", "kafka")] == 1 for n in range(40))

    asyncio.run(scenario())


def test_outcomes_stored_together_are_offered_again_together_when_the_store_fails(client):
    async def scenario():
        queue(client, [alert(n) for n in range(5)])
        store = TestingStore(client)
        store.fail(outbox.record, 2)  # the first outcome alone, then the four gathered meanwhile
        delivered = []

        async def deliver(due):
            delivered.append(due.alert_id)
            return None

        loop = DeliveryLoop(store, deliver)
        await tick_holding_the_first_record(loop, store, others=4)
        assert store.calls.count("record") == 2 and not loop.attempted
        assert {v[0] for v in states(client).values()} == {"pending"}
        await loop.tick()  # none was recorded: all five are delivered again, and recorded
        await settle(loop)
        assert sorted(delivered) == sorted([f"a-{n}" for n in range(5)] * 2)
        assert {v for v in states(client).values()} == {("delivered", 1, "")}

    asyncio.run(scenario())

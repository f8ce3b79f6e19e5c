"""The ingest loop in process: a real chDB engine behind a testing store executor, a
reader fed from lists, a fake clock (tests/testing.py)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from streams.store.writes import write_batch
from streams.worker.ingest_loop import IN_FLIGHT, Extent, IngestLoop, extents, retry_delay
from tests.testing import FakeClock, Record, TestingReader, TestingStore


def meeting(n: int, partner: str = "acme") -> bytes:
    return orjson.dumps({
        "specversion": "1.0", "id": f"m-{n}", "source": "crm", "type": "partner.meeting",
        "time": f"2026-11-{1 + n % 20:02d}T10:00:00Z", "subject": partner,
        "data": {"kind": "planning", "duration_minutes": 30, "initiated_by": "partner"},
    })  # fmt: skip


def batch(start: int, n: int, partition: int = 0) -> list[Record]:
    return [Record("engagement-events", partition, start + i, meeting(start + i)) for i in range(n)]


def stored(client) -> int:
    return client.query("SELECT count() FROM engagement_events").result_rows[0][0]


async def run_until(loop: IngestLoop, done, timeout: float = 10.0) -> None:
    task = asyncio.ensure_future(loop.run())
    try:
        async with asyncio.timeout(timeout):
            while not done():
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_a_failing_store_is_retried_with_backoff_and_offsets_are_committed_only_after(client):
    async def scenario():
        store, clock = TestingStore(client), FakeClock()
        reader = TestingReader([batch(0, 5)])
        store.fail(write_batch, 4)
        seen_errors = []

        async def sleep(seconds):
            seen_errors.append(loop.store_error)
            assert reader.committed == []  # nothing committed while the batch is not stored
            await clock.sleep(seconds)

        async def no_dead_letters(classified):
            pass

        loop = IngestLoop(reader, store, no_dead_letters, batch_size=100, sleep=sleep, clock=clock)
        await run_until(loop, lambda: reader.committed)
        assert clock.sleeps == [0.5, 1.0, 2.0, 4.0] == [retry_delay(n) for n in range(1, 5)]
        assert all("the store is away" in e for e in seen_errors)
        assert loop.store_error is None
        assert reader.committed == [{0: 5}]
        assert stored(client) == 5 and loop.processed.records == 5 and loop.processed.batches == 1

    asyncio.run(scenario())


def test_retry_delays_double_up_to_thirty_seconds():
    assert [retry_delay(n) for n in (1, 2, 3, 6, 7, 20)] == [0.5, 1.0, 2.0, 16.0, 30.0, 30.0]


def test_reading_stops_while_the_store_is_behind(client):
    async def scenario():
        store = TestingStore(client)
        store.hold(write_batch)
        reader = TestingReader([batch(10 * i, 10) for i in range(6)])

        async def no_dead_letters(classified):
            pass

        loop = IngestLoop(reader, store, no_dead_letters, batch_size=10)
        task = asyncio.ensure_future(loop.run())
        await asyncio.sleep(0.3)
        # One batch being stored and one read ahead, no more: back-pressure.
        assert reader.reads == IN_FLIGHT
        store.release()
        while len(reader.committed) < 6:
            await asyncio.sleep(0.01)
        task.cancel()
        assert stored(client) == 60

    asyncio.run(scenario())


def test_partitions_read_and_not_yet_stored_and_those_behind_on_the_broker_are_a_backlog(client):
    async def scenario():
        store = TestingStore(client)
        store.hold(write_batch)
        reader = TestingReader([batch(0, 4, partition=1), batch(10, 2, partition=2)], behind={3})
        loop = IngestLoop(reader, store, lambda classified: asyncio.sleep(0), batch_size=10)
        task = asyncio.ensure_future(loop.run())
        while reader.reads < IN_FLIGHT:
            await asyncio.sleep(0.01)
        # Partition 1's batch is being stored, partition 2's read ahead, 3 not read yet.
        assert await loop.backlog() == {1, 2, 3}
        reader.behind = set()
        store.release()
        while len(reader.committed) < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert await loop.backlog() == set()  # stored: the partitions may go idle now
        task.cancel()

    asyncio.run(scenario())


def test_a_rebalance_during_a_batch_stores_only_the_partitions_still_owned(client):
    async def scenario():
        store = TestingStore(client)
        reader = TestingReader([batch(0, 4, partition=0) + batch(100, 3, partition=1)], mine={1})
        dead_letter_batches = []

        async def record_dead_letters(classified):
            dead_letter_batches.append(classified)

        loop = IngestLoop(reader, store, record_dead_letters, batch_size=100)
        await run_until(loop, lambda: reader.committed)
        assert reader.committed == [{1: 103}]  # partition 0's records: read again by its new owner
        assert stored(client) == 3 and loop.processed.records == 3
        assert await loop.backlog() == set()  # the dropped records are no backlog of this worker's

    asyncio.run(scenario())


def test_a_batch_gives_the_store_its_lookups_memory_back_before_inserting(client):
    async def scenario():
        store = TestingStore(client)
        reader = TestingReader([batch(0, 3)])
        loop = IngestLoop(reader, store, lambda classified: asyncio.sleep(0), batch_size=100)
        await run_until(loop, lambda: reader.committed)
        assert store.calls[store.calls.index("write_batch") + 1] == "give_back" and stored(client) == 3

    asyncio.run(scenario())


def test_a_classified_batch_keeps_of_its_records_one_extent_per_partition():
    records = batch(5, 3, partition=0) + batch(10, 2, partition=1) + batch(4, 1, partition=0)
    assert extents(records) == [Extent("engagement-events", 0, 7, 4), Extent("engagement-events", 1, 11, 2)]


def test_dead_letters_go_out_before_the_commit_and_a_duplicate_counts_once(client):
    async def scenario():
        store = TestingStore(client)
        records = [
            *batch(0, 2),
            Record("engagement-events", 0, 2, b"{not json"),
            Record("engagement-events", 0, 3, meeting(0)),
        ]
        reader = TestingReader([records])
        order = []

        async def dead_letters(classified):
            order.append(("dead letters", len(classified.rejected), list(reader.committed)))

        loop = IngestLoop(reader, store, dead_letters, batch_size=100)
        await run_until(loop, lambda: reader.committed)
        assert order == [("dead letters", 1, [])]
        assert loop.processed.engagements == 2 and loop.processed.duplicates == 1 and loop.processed.dead_letters == 1

    asyncio.run(scenario())

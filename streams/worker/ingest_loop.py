"""The hot path: read a batch, classify it, store it, dead-letter what failed, commit.

The commit order, each step only after the one before succeeded:
1. read up to `batch_size` records (`BatchReader.get`);
2. classify them on a thread of their own (validation, rows as JSON lines), overlapping
   with the store thread writing the previous batch;
3. keep what came from partitions this worker still owns (a rebalance may have come);
4. write: dead letters first, profiles, events last (`streams.store.writes`);
5. send the dead letters to the dead-letter topic;
6. commit the offsets. A crash before this step redelivers the batch, and the
   idempotent write stores nothing twice.
A failed step 4 or 5 is retried with backoff, forever: the store may be down a while,
and nothing is read meanwhile beyond one batch ahead (back-pressure).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from streams.broker.reader import next_offsets
from streams.store.rows import Origin
from streams.store.writes import Classified, Written, classify, write_batch

log = logging.getLogger(__name__)

# A batch is up to batch_size records: large batches are where the speed is (fewer,
# larger inserts); waiting at most this long for one keeps latency low.
BATCH_WITHIN = 0.5
MAX_RETRY_DELAY = 30.0
# Batches read ahead of the one being stored, at most (memory, and back-pressure).
IN_FLIGHT = 2


class Extent(NamedTuple):
    """What a batch keeps of its records from one partition once they are classified:
    their last offset (to commit) and how many (to count). The records themselves are let
    go: two batches in flight held ~20 MB of them (step 30)."""

    topic: str
    partition: int
    offset: int
    records: int


def extents(records) -> list[Extent]:
    """One extent per (topic, partition) among `records`, in the order first read."""
    last: dict[tuple[str, int], int] = {}
    counts: Counter[tuple[str, int]] = Counter()
    for r in records:
        key = (r.topic, r.partition)
        last[key] = max(r.offset, last.get(key, r.offset))
        counts[key] += 1
    return [Extent(topic, partition, offset, counts[topic, partition]) for (topic, partition), offset in last.items()]


@dataclass
class Processed:
    """What this worker did since it started (the store holds the totals)."""

    records: int = 0
    engagements: int = 0
    profiles: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    batches: int = 0

    def add(self, records: int, written: Written) -> None:
        self.records += records
        self.engagements += written.engagements
        self.profiles += written.profiles
        self.dead_letters += written.dead_letters
        self.duplicates += written.duplicates
        self.batches += 1


def retry_delay(failures: int) -> float:
    """Seconds before the next attempt after `failures` failed ones: 0.5, 1, 2, … ≤ 30."""
    return min(2 ** (failures - 1) * 0.5, MAX_RETRY_DELAY)


class IngestLoop:
    """Reads, stores and commits batches until cancelled; `store_error` says why it waits."""

    def __init__(
        self,
        reader,
        store,
        send_dead_letters: Callable[[Classified], Awaitable[None]],
        batch_size: int,
        describe: Callable[[BaseException], str] = repr,
        on_stored: Callable[[], None] = lambda: None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.reader = reader
        self.store = store
        self.send_dead_letters = send_dead_letters
        self.batch_size = batch_size
        self.describe = describe
        self.on_stored = on_stored
        self.sleep = sleep
        self.clock = clock
        self.processed = Processed()
        self.store_error: str | None = None
        self.last_stored = float("-inf")  # clock() when a batch was last stored
        self.last_read = float("-inf")  # clock() when records were last read
        self.in_flight = 0  # batches read and not yet stored
        self.committed: dict[int, int] = {}  # partition -> next offset, stored and committed
        self.unstored: Counter[int] = Counter()  # partition -> batches read, not yet stored (or dropped)
        self._stored = asyncio.Condition()
        self._classifier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classify")

    def settled(self, quiet: float) -> bool:
        """Nothing read for `quiet` seconds and nothing waiting to be stored: on a broker
        that takes no new records, everything it held is stored."""
        return self.in_flight == 0 and self.clock() - self.last_read >= quiet

    async def wait_stored(self, offsets: dict[int, int], timeout: float) -> bool:
        """Wait until the records up to these offsets (partition -> offset) are stored."""

        def done() -> bool:
            return all(self.committed.get(p, 0) > offset for p, offset in offsets.items())

        async with self._stored:
            try:
                await asyncio.wait_for(self._stored.wait_for(done), timeout)
            except TimeoutError:
                return False
        return True

    async def backlog(self) -> set[int]:
        """Partitions with records not stored yet: on the broker beyond what was read, or
        read and still being classified or stored. The owner's heartbeat says so, and the
        watermark waits for them (see rules/watermark.py)."""
        return await self.reader.backlogged() | set(+self.unstored)  # (+: the partitions counted above 0)

    def busy(self, within: float = 1.0) -> bool:
        """Was a batch stored in the last `within` seconds (a backlog streaming in)?"""
        return self.clock() - self.last_stored < within

    async def prepare(self, records: list) -> tuple[list[Extent], Classified]:
        """The records' extents and their classification, on the classifying thread."""
        now = datetime.now(UTC)

        def classified() -> tuple[list[Extent], Classified]:
            batch = [(r.value or b"", Origin(r.topic, r.partition, r.offset, now, tuple(getattr(r, "headers", None) or ())))
                     for r in records]  # fmt: skip
            return extents(records), classify(batch)

        return await asyncio.get_running_loop().run_in_executor(self._classifier, classified)

    async def store_batch(self, read: list[Extent], classified: Classified) -> None:
        """Steps 3–6 for one batch (the part of it this worker still owns)."""
        async with self.reader.storing:
            owned = await self.reader.owned(read)
            if not owned:
                return
            if len(owned) < len(read):  # a rebalance took some partitions meanwhile
                read, classified = owned, classified.only({e.partition for e in owned})
            written = await self.store.run(write_batch, classified, between=self.store.give_back)
            await self.send_dead_letters(classified)
            try:
                await self.reader.commit(read)
            except Exception as exc:  # e.g. a rebalance in between; redelivery is harmless
                log.warning("could not commit offsets (%s); the batch will be read again", type(exc).__name__)
            self.processed.add(sum(e.records for e in read), written)
            self.last_stored = self.clock()
            # Stored (whether or not the commit went through): what waits for it may go on.
            for tp, offset in next_offsets(read).items():
                self.committed[tp.partition] = max(offset, self.committed.get(tp.partition, 0))
            async with self._stored:
                self._stored.notify_all()

    async def store_until_stored(self, read: list[Extent], classified: Classified) -> None:
        failures = 0
        while True:
            try:
                await self.store_batch(read, classified)
                self.store_error = None
                return
            except Exception as exc:
                failures += 1
                delay = retry_delay(failures)
                self.store_error = self.describe(exc)
                log.error("storing a batch of %d failed (attempt %d, retrying in %.1f s): %s",
                          sum(e.records for e in read), failures, delay, self.store_error)  # fmt: skip
                await self.sleep(delay)

    async def _read_forever(self, prepared: asyncio.Queue, room: asyncio.Semaphore) -> None:
        try:
            while True:
                await room.acquire()  # given back once the batch is stored
                records = await self.reader.get(self.batch_size, BATCH_WITHIN)
                if records:
                    self.last_read = self.clock()
                    self.in_flight += 1
                    self.unstored.update({r.partition for r in records})  # before any await
                    await prepared.put(await self.prepare(records))
                    del records  # classified now: not held while the next read waits for room
                else:
                    room.release()
        except Exception as exc:
            await prepared.put(exc)
            raise

    async def run(self) -> None:
        await self.reader.start()
        prepared: asyncio.Queue = asyncio.Queue()
        room = asyncio.Semaphore(IN_FLIGHT)
        reading = asyncio.ensure_future(self._read_forever(prepared, room))
        try:
            while True:
                item = await prepared.get()
                if isinstance(item, Exception):
                    raise item
                read, classified = item
                await self.store_until_stored(read, classified)
                self.unstored.subtract({e.partition for e in read})
                del item, classified  # stored: not held while the next batch is awaited
                self.in_flight -= 1
                room.release()
                self.on_stored()
        finally:
            reading.cancel()
            await self.reader.stop()

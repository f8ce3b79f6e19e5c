"""The events topic, read in large batches with a plain aiokafka consumer.

faust hands its agents one event at a time (~4.5k events/s per process here); the
sink wants thousands at once. So the hot path reads with aiokafka's `getmany` (the
same consumer faust wraps) in its own consumer group, and commits offsets only after
a batch is stored. Everything else — web API, timers, producing — stays with faust.

A rebalance waits for the batch being stored, and a batch is stored only between
rebalances and only for partitions this worker owns then: two workers never store
the same records at once. Records dropped that way are not lost — their offsets are
not committed, so whoever owns the partition reads them again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    InconsistentGroupProtocolError,
    InvalidSessionTimeoutError,
    TopicAuthorizationFailedError,
)

from streams.errors import BrokerError

GROUP = "partnerpulse-events"

# What the broker answers that no retry changes: the worker stops with this sentence.
REFUSALS = {
    InconsistentGroupProtocolError: f"Kafka refuses this worker in consumer group '{GROUP}': another member "
    "uses a partition assignor it does not speak — is another application using that group id?",
    GroupAuthorizationFailedError: f"Kafka does not authorize this worker for consumer group '{GROUP}'",
    TopicAuthorizationFailedError: "Kafka does not authorize this worker to read the events topic",
    InvalidSessionTimeoutError: "Kafka refuses the consumer session timeout: set PARTNERPULSE_SESSION_TIMEOUT within "
    "the broker's group.min.session.timeout.ms and group.max.session.timeout.ms (6–1800 s by default)",
}


def next_offsets(records: Iterable[ConsumerRecord]) -> dict[TopicPartition, int]:
    """What to commit after `records` (or extents) are stored: one past the last offset per partition."""
    out: dict[tuple[str, int], int] = {}  # plain tuples: no TopicPartition per record on the hot path
    for r in records:
        key = (r.topic, r.partition)
        if r.offset >= out.get(key, 0):
            out[key] = r.offset + 1
    return {TopicPartition(*key): offset for key, offset in out.items()}


class BatchReader(ConsumerRebalanceListener):
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        session_timeout: float | None,
        heartbeat_interval: float | None,
        on_assigned: Callable[[list[int]], Awaitable[None]],
    ):
        self._options = {
            "bootstrap_servers": bootstrap.split(","),
            "group_id": GROUP,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "max_partition_fetch_bytes": 8 << 20,
        }
        if session_timeout:
            self._options["session_timeout_ms"] = int(session_timeout * 1000)
            self._options["heartbeat_interval_ms"] = int(heartbeat_interval * 1000)
        self.topic = topic
        self._consumer: AIOKafkaConsumer | None = None
        self._on_assigned = on_assigned
        self.storing = asyncio.Lock()  # held while a batch is stored and committed
        self._settled = asyncio.Event()  # set while no rebalance is in progress
        self.assigned = False
        self.started = False

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(**self._options)  # needs the running loop
        await self._consumer.start()
        self._consumer.subscribe([self.topic], listener=self)
        self.started = True

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def reachable(self, timeout: float) -> bool:
        """Does the broker answer a metadata request within `timeout` seconds?"""
        try:
            await asyncio.wait_for(self._consumer.topics(), timeout)
        except Exception:  # refused, reset, timed out: all mean unreachable here
            return False
        return True

    def partitions(self) -> list[int]:
        if self._consumer is None:
            return []
        return sorted(tp.partition for tp in self._consumer.assignment() if tp.topic == self.topic)

    def is_leader(self) -> bool:
        """One worker evaluates: whoever holds partition 0 (every partition has one owner)."""
        return 0 in self.partitions()

    async def owned(self, records: list) -> list:
        """Wait out a rebalance, then keep the records (or a batch's extents: anything with a
        topic and a partition) of partitions this worker owns.

        Call with `storing` held: no rebalance can then begin until it is released."""
        while not self._settled.is_set():
            self.storing.release()
            try:
                await self._settled.wait()
            finally:
                await self.storing.acquire()
        mine = self._consumer.assignment()  # TopicPartitions: equal to, and hash as, plain tuples
        if all(key in mine for key in {(r.topic, r.partition) for r in records}):
            return records  # the usual case, without a new list
        return [r for r in records if (r.topic, r.partition) in mine]

    async def get(self, max_records: int, within: float) -> list[ConsumerRecord]:
        """Up to `max_records`, waiting at most `within` seconds for the first."""
        try:
            batches = await self._consumer.getmany(timeout_ms=int(within * 1000), max_records=max_records)
        except tuple(REFUSALS) as exc:
            raise BrokerError(REFUSALS[type(exc)]) from exc
        return [r for records in batches.values() for r in records]

    async def backlogged(self) -> set[int]:
        """Assigned partitions with records on the broker not yet handed out: the position
        behind the high watermark of the last fetch, or nothing fetched since the assignment
        (unknown counts as a backlog). A fetch's high watermark is right on Tansu too, whose
        ListOffsets is not (measured: 20k records produced in batches, 4 partitions)."""
        out = set()
        if self._consumer is None:
            return out
        for tp in self._consumer.assignment():
            if tp.topic != self.topic:
                continue
            try:
                high = self._consumer.highwater(tp)
                behind = high is None or await asyncio.wait_for(self._consumer.position(tp), 0.1) < high
            except Exception:  # revoked meanwhile, or no position yet: a backlog until known
                behind = True
            if behind:
                out.add(tp.partition)
        return out

    async def end_offsets(self) -> dict[int, int]:
        """The log end offset of each assigned partition, as the broker reports it (Tansu
        reports too low after batched produce: a lower bound there)."""
        tps = [tp for tp in self._consumer.assignment() if tp.topic == self.topic]
        return {tp.partition: offset for tp, offset in (await self._consumer.end_offsets(tps)).items()}

    async def commit(self, records: list) -> None:
        """Commit past `records` (or extents: their last offsets)."""
        await self._consumer.commit(next_offsets(records))

    async def on_partitions_revoked(self, revoked) -> None:
        async with self.storing:  # the batch being stored is finished first
            self._settled.clear()
            self.assigned = False  # rejoining: not ready until the group has settled again

    async def on_partitions_assigned(self, assigned) -> None:
        await self._on_assigned(sorted(tp.partition for tp in assigned if tp.topic == self.topic))
        self.assigned = True
        self._settled.set()

"""The batch reader's view of each partition's backlog, on both brokers: the watermark
waits for a partition while its owner has records of it not handed out yet (see
rules/watermark.py), so this must never miss one, and must end when all are read."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from streams.broker.embedded import ensure_topics
from streams.broker.producer import open_producer
from streams.broker.reader import BatchReader
from streams.config import TOPIC_EVENTS

PRODUCED = {0: 700, 1: 1300, 2: 40}  # partition 3 stays empty


def test_a_partition_is_backlogged_until_every_record_on_the_broker_was_handed_out(any_broker):
    ensure_topics(any_broker, 4, timeout=30)
    producer = open_producer(any_broker, timeout=30)
    futures = [
        producer.send(TOPIC_EVENTS, value=b"x" * 200, partition=p) for p, n in PRODUCED.items() for _ in range(n)
    ]
    producer.flush()
    for future in futures:
        future.get(timeout=30)  # in batches: Tansu's ListOffsets answers too low after these
    producer.close()

    async def scenario():
        at_assignment = []

        async def on_assigned(partitions):
            at_assignment.append((partitions, await reader.backlogged()))

        reader = BatchReader(any_broker, TOPIC_EVENTS, 6.0, 1.0, on_assigned)  # Kafka's least
        await reader.start()
        try:
            read: Counter[int] = Counter()
            async with asyncio.timeout(60):
                while not reader.assigned:  # joining the group
                    read.update(r.partition for r in await reader.get(1, 0.2))
            assert at_assignment == [([0, 1, 2, 3], {0, 1, 2, 3})]  # nothing fetched yet: unknown is a backlog
            backlogs = []
            deadline = time.monotonic() + 60
            while (backlog := await reader.backlogged()) and time.monotonic() < deadline:
                # Never a partition with records left out (nothing fetched yet counts as a backlog).
                assert backlog >= {p for p, n in PRODUCED.items() if read[p] < n}
                backlogs.append(backlog)
                read.update(r.partition for r in await reader.get(250, 1.0))
            assert read == Counter(PRODUCED) and backlog == set()  # all read: the empty partition too
            assert any(set() < b < {0, 1, 2, 3} for b in backlogs)  # known per partition, not all at once
        finally:
            await reader.stop()

    asyncio.run(scenario())

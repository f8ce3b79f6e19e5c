"""Ingest throughput per worker, against a plain aiokafka consumer in the same run.

Produces N realistic events (the demo's simulator, repeated with fresh ids) to an
embedded Tansu broker with 4 partitions, then
  1. baseline: a plain aiokafka consumer reads them all (no processing);
  2. PartnerPulse: one worker (`partnerpulse up`, chDB store) takes them from the topic
     to rows queryable in ClickHouse — validation, dedup, dead letters, rollups included.
Prints events/s for both and the ratio.

    python benchmarks/ingest.py --events 200000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from common import produce, records, worker

from streams.broker.embedded import embedded_broker, ensure_topics
from streams.config import TOPIC_EVENTS


async def baseline(bootstrap: str, n: int) -> float:
    consumer = AIOKafkaConsumer(TOPIC_EVENTS, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None, max_partition_fetch_bytes=8 << 20)  # fmt: skip
    await consumer.start()
    try:
        seen, t = 0, time.perf_counter()
        while seen < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            seen += sum(len(v) for v in batch.values())
        return n / (time.perf_counter() - t)
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, help="the worker's PARTNERPULSE_BATCH_SIZE (default: its default)")
    args = parser.parse_args()
    data = records(args.events)
    work = Path(tempfile.mkdtemp(prefix="pp-ingest-"))
    with embedded_broker() as bootstrap:
        ensure_topics(bootstrap, 4)
        print(f"produced {len(data):,} events in {produce(bootstrap, data):.1f} s")

        rate_base = asyncio.run(baseline(bootstrap, len(data)))
        print(f"baseline  plain aiokafka consumer: {rate_base:12,.0f} events/s (reading only)")

        with worker(work, bootstrap, batch_size=args.batch_size) as running:
            t = time.perf_counter()
            first = None  # (seconds, records) when the first batch was stored
            while (status := running.status())["processed"]["records"] < len(data):
                if first is None and status["processed"]["records"]:
                    first = (time.perf_counter() - t, status["processed"]["records"])
                time.sleep(0.25)
            elapsed = time.perf_counter() - t
        rate = len(data) / elapsed
        print(f"PartnerPulse one worker (to ClickHouse): {rate:8,.0f} events/s  "
              f"({status['stored']['engagement_events']:,} stored, {status['stored']['dead_letters']:,} dead letters, "
              f"{status['processed']['duplicates']:,} duplicates, {status['processed']['batches']} batches)")  # fmt: skip
        if first:
            steady = (len(data) - first[1]) / (elapsed - first[0])
            print(f"  of which {first[0]:.1f} s until the first batch was stored (the first fetch after the "
                  f"group join); after it {steady:,.0f} events/s")  # fmt: skip
        print(f"ratio to baseline: {rate / rate_base:.3f}   (team goal: ≥ 20,000 events/s per worker)")


if __name__ == "__main__":
    main()

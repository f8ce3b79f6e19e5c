"""Ingest throughput per worker, against a plain aiokafka consumer in the same run, on
Tansu and on Apache Kafka.

For each broker: produces N realistic events (the demo's simulator, repeated with fresh
ids) to a topic with 4 partitions, then
  1. baseline: a plain aiokafka consumer reads them all (no processing);
  2. PartnerPulse: one worker (`partnerpulse up`, chDB store), started with the events
     waiting, takes them from the topic to rows queryable in ClickHouse — validation,
     dedup, dead letters, rollups included.
Prints events/s for both, the ratio, and the seconds from starting `up` to the first
stored event (process start, store, group join, first fetch).

    python benchmarks/ingest.py --events 200000 [--broker tansu|kafka|both]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from common import produce, records, scratch, worker

from streams.broker.embedded import embedded_broker, ensure_topics
from streams.config import EMBEDDED_SESSION_TIMEOUT, TOPIC_EVENTS


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


def measure(label: str, bootstrap: str, data, work: Path, batch_size: int | None, session_timeout: float) -> None:
    ensure_topics(bootstrap, 4)
    print(f"[{label}] produced {len(data):,} events in {produce(bootstrap, data):.1f} s")
    rate_base = asyncio.run(baseline(bootstrap, len(data)))
    print(f"[{label}] baseline  plain aiokafka consumer: {rate_base:12,.0f} events/s (reading only)")

    started = time.perf_counter()
    with worker(work, bootstrap, batch_size=batch_size, session_timeout=session_timeout) as running:
        ready = time.perf_counter() - started
        first = None  # (seconds since `up` started, records) when the first batch was stored
        while (status := running.status())["processed"]["records"] < len(data):
            if first is None and status["stored"]["engagement_events"]:
                first = (time.perf_counter() - started, status["processed"]["records"])
            time.sleep(0.05 if first is None else 0.25)
        elapsed = time.perf_counter() - started
    first = first or (elapsed, len(data))
    rate = (len(data) - first[1]) / max(elapsed - first[0], 1e-9) if first[1] < len(data) else len(data) / elapsed
    print(f"[{label}] PartnerPulse one worker (to ClickHouse): {rate:8,.0f} events/s steady  "
          f"({status['stored']['engagement_events']:,} stored, {status['stored']['dead_letters']:,} dead letters, "
          f"{status['processed']['duplicates']:,} duplicates, {status['processed']['batches']} batches)")  # fmt: skip
    print(f"[{label}]   from `up` to ready {ready:.1f} s, to the first stored event {first[0]:.1f} s")
    print(f"[{label}] ratio to baseline: {rate / rate_base:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--broker", choices=["tansu", "kafka", "both"], default="both")
    parser.add_argument("--batch-size", type=int, help="the worker's PARTNERPULSE_BATCH_SIZE (default: its default)")
    args = parser.parse_args()
    data = records(args.events)
    if args.broker in ("tansu", "both"):
        # Started as the embedded default starts (its session timeout), events waiting.
        with embedded_broker() as bootstrap, scratch("pp-ingest-") as work:
            measure("tansu", bootstrap, data, work, args.batch_size, EMBEDDED_SESSION_TIMEOUT)
    if args.broker in ("kafka", "both"):
        from tests.apache_kafka import VERSION, apache_kafka

        with apache_kafka() as kafka, scratch("pp-ingest-") as work:
            measure(f"kafka {VERSION}", kafka.bootstrap, data, work, args.batch_size, 6.0)


if __name__ == "__main__":
    main()

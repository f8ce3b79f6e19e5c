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
import dataclasses
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from streams import config, simulator
from streams.broker import embedded_broker, ensure_topics
from streams.config import TOPIC_EVENTS
from streams.pipeline import PipelineProcess
from streams.producer import open_producer


def records(n: int) -> list[tuple[bytes | None, bytes]]:
    sim = simulator.simulate(partners=400, days=365, seed=5)
    base = sim.records
    out = []
    round_ = 0
    while len(out) < n:
        for key, raw in base:
            if round_:
                raw = raw.replace(b'"id":"', f'"id":"r{round_}-'.encode(), 1)
            out.append((key, raw))
            if len(out) == n:
                break
        round_ += 1
    return out


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
    args = parser.parse_args()
    data = records(args.events)
    work = Path(tempfile.mkdtemp(prefix="pp-ingest-"))
    with embedded_broker() as bootstrap:
        ensure_topics(bootstrap, 4)
        producer = open_producer(bootstrap)
        t = time.perf_counter()
        for i in range(0, len(data), 10_000):
            futures = [producer.send(TOPIC_EVENTS, key=k, value=v) for k, v in data[i : i + 10_000]]
            producer.flush()
            for f in futures:
                f.get(timeout=60)
        producer.close()
        print(f"produced {len(data):,} events in {time.perf_counter() - t:.1f} s")

        rate_base = asyncio.run(baseline(bootstrap, len(data)))
        print(f"baseline  plain aiokafka consumer: {rate_base:12,.0f} events/s (reading only)")

        settings = dataclasses.replace(config.load({"PARTNERPULSE_DATA_DIR": str(work)}), kafka=bootstrap,
                                       session_timeout=6.0)  # fmt: skip
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        with PipelineProcess(settings, work / "pipeline.log") as worker:
            t = time.perf_counter()
            while (status := worker.status())["processed"]["records"] < len(data):
                time.sleep(0.25)
            elapsed = time.perf_counter() - t
        rate = len(data) / elapsed
        print(f"PartnerPulse one worker (to ClickHouse): {rate:8,.0f} events/s  "
              f"({status['stored']['engagement_events']:,} stored, {status['stored']['dead_letters']:,} dead letters, "
              f"{status['processed']['duplicates']:,} duplicates)")  # fmt: skip
        print(f"ratio to baseline: {rate / rate_base:.3f}   (team goal: ≥ 20,000 events/s per worker)")


if __name__ == "__main__":
    main()

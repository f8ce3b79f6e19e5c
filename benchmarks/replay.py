"""Replay: a year of history for 1,000 partners, from the topic to alerts decided.

The simulator's year for P partners (its 8 archetypes give ~83k events for 1,000;
repeated with fresh ids up to --events, 500k by default) is produced to an embedded
broker first; then one worker starts on it and the clock runs until every
record is stored and the daily evaluation (snapshots + alerts) has reached the
stream's watermark — the whole history replayed; then until every alert version
decided is on the `partner-alerts` topic. Baseline in the same run: a plain aiokafka
consumer reading the same topic.

    python benchmarks/replay.py --partners 1000
"""

from __future__ import annotations

import argparse
import asyncio
import time

import orjson
from aiokafka import AIOKafkaConsumer
from common import produce, records, scratch, worker
from ingest import baseline

from streams.broker.embedded import embedded_broker, ensure_topics
from streams.config import TOPIC_ALERTS
from streams.formats import parse_iso
from streams.rules.watermark import midnight_at_or_before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--events", type=int, default=500_000)
    args = parser.parse_args()
    n = args.events
    data = records(n, partners=args.partners, days=args.days)
    with scratch("pp-replay-") as work, embedded_broker() as bootstrap:
        ensure_topics(bootstrap, 4)
        print(f"{args.partners:,} partners × {args.days} days: produced {n:,} records in "
              f"{produce(bootstrap, data):.1f} s (kafka-python, not part of the replay figure)")  # fmt: skip
        rate_base = asyncio.run(baseline(bootstrap, n))
        print(f"baseline  plain aiokafka consumer reads them in {n / rate_base:6.1f} s")

        running = worker(work, bootstrap)
        t = time.perf_counter()
        with running:
            while (status := running.status())["processed"]["records"] < n:
                time.sleep(0.25)
            stored = time.perf_counter() - t
            target = midnight_at_or_before(parse_iso(status["watermark"])) if status["watermark"] else None
            while target and (last := running.status()["last_evaluated"]) and parse_iso(last) < target:
                time.sleep(0.25)
            decided = time.perf_counter() - t
            status = running.status()
            alerts = running.get("/api/alerts", timeout=60)
            # Every version decided (firing, and resolved when it was) as a CloudEvent on the topic.
            versions = len(alerts) + sum(a["state"] == "resolved" for a in alerts)
            at, on = asyncio.run(on_topic(bootstrap, versions))
        print(f"PartnerPulse one worker: all {n:,} records stored after {stored:6.1f} s "
              f"({n / stored:,.0f} records/s), alerts decided up to {target:%Y-%m-%d} after {decided:6.1f} s")  # fmt: skip
        print(f"  stored {status['stored']['engagement_events']:,} engagements for "
              f"{status['stored']['partners_engaged']:,} partners, {len(alerts):,} alert episodes; goal: ≤ 30 s")  # fmt: skip
        print(
            f"  the {versions:,} alert versions decided were on `{TOPIC_ALERTS}` after {at - t:6.1f} s"
            if on >= versions
            else f"  only {on:,} of {versions:,} alert versions on `{TOPIC_ALERTS}` after {at - t:.1f} s"
        )


async def on_topic(bootstrap: str, versions: int, wait: float = 600.0) -> tuple[float, int]:
    """When (perf_counter) the topic held that many distinct alert versions (CloudEvent
    ids), and how many it held then (fewer after `wait`)."""
    consumer = AIOKafkaConsumer(TOPIC_ALERTS, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)  # fmt: skip
    await consumer.start()
    try:
        seen: set[bytes] = set()
        give_up = time.perf_counter() + wait
        while len(seen) < versions and time.perf_counter() < give_up:
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            seen.update(orjson.loads(r.value)["id"].encode() for rs in batch.values() for r in rs)
        return time.perf_counter(), len(seen)
    finally:
        await consumer.stop()


if __name__ == "__main__":
    main()

"""Query latency at scale: `health` for every partner, every dashboard panel, the report.

Loads N events for P partners straight into a fresh chDB store through the real sink
(write_batch: dedup check + insert + rollup), adds the day's events up to T + 14 h,
evaluates the last 31 midnights up to T's (daily snapshots and alerts), then times each query R times and prints p50/p95. The baseline,
measured in the same run, is a full scan of the raw table (`SELECT count(), sum(...)`):
ratios to it survive a noisy machine.

    python benchmarks/queries.py --events 1000000 --partners 2000
    python benchmarks/queries.py --events 10000000 --partners 10000   # the issue's scale
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from common import scratch

from streams.reporting.explain import explain
from streams.reporting.health_rows import health
from streams.reporting.panels import dashboards, expand
from streams.reporting.report import report_data
from streams.rules.scoring import load_scoring
from streams.store import connection as store
from streams.store.evaluations import Evaluator
from streams.store.health_state import build_state
from streams.store.progress import record_progress
from streams.store.rows import Origin
from streams.store.windows import sql_time
from streams.store.writes import already_stored, classify, write_batch

TYPES = [
    ("partner.webinar", "role", ["host", "cohost", "attendee"]),
    ("partner.joint_event", "role", ["organizer", "speaker", "exhibitor", "participant"]),
    ("partner.meeting", "kind", ["business_review", "enablement", "planning", "other"]),
    ("partner.training", None, None),
    ("partner.solution", "stage", ["proposed", "building", "launched"]),
]


def events(n: int, partners: int, end: datetime, days: float, rng: random.Random, prefix: str = "b"):
    span = int(days * 86400)
    for i in range(n):
        type_, field, values = TYPES[rng.randrange(5)]
        data = {
            "duration_minutes": rng.choice([30, 45, 60, 90, 120]),
            "initiated_by": rng.choice(["partner", "vendor"]),
        }
        if field:
            data[field] = rng.choice(values)
        if type_ == "partner.training":
            data["course"] = "c"
        if type_ == "partner.solution":
            data["solution_id"] = "s"
            data["ecosystem_partners"] = ["isv-a", "isv-b"][: rng.randint(0, 2)]
        at = end - timedelta(seconds=rng.randrange(span))
        yield orjson.dumps({"specversion": "1.0", "id": f"{prefix}{i}", "source": "bench", "type": type_,
                            "time": at.isoformat().replace("+00:00", "Z"), "subject": f"p{rng.randrange(partners)}",
                            "data": data})  # fmt: skip


def timed(fn, repeats: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--partners", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--store", help="keep the loaded store here; reused (not reloaded) when it holds the events")
    args = parser.parse_args()
    rng = random.Random(1)
    end = datetime(2026, 11, 26, tzinfo=UTC)
    with nullcontext(Path(args.store)) if args.store else scratch("pp-bench-") as path:
        client = store.connect(f"chdb://{path}")
        stored = client.query(  # (the day after T's midnight is added in `measure`)
            "SELECT count() FROM engagement_events WHERE time <= {end:DateTime64(3, 'UTC')}",
            parameters={"end": sql_time(end)},
        ).result_rows[0][0]
        if stored:
            if stored != args.events:
                raise SystemExit(f"{path} holds {stored:,} events, not {args.events:,}: use another --store")
            print(f"reusing {stored:,} events in {path}")
        else:
            load(client, args, rng, end)
        measure(client, args, end)


def load(client, args, rng: random.Random, end: datetime) -> None:
    origin = Origin("engagement-events", 0, 0, datetime.now(UTC))
    t = time.perf_counter()
    batch = []
    for i, raw in enumerate(events(args.events, args.partners, end, args.days, rng), 1):
        batch.append((raw, origin))
        if len(batch) == 10_000:
            write_batch(client, classify(batch))
            batch = []
        if i % 1_000_000 == 0:
            print(f"  {i:,} loaded after {time.perf_counter() - t:.0f} s", flush=True)
    if batch:
        write_batch(client, classify(batch))
    took = time.perf_counter() - t
    print(f"loaded {args.events:,} events for {args.partners:,} partners in {took:.1f} s "
          f"({args.events / took:,.0f} events/s through validate + dedup + insert + rollup)")  # fmt: skip


def measure(client, args, end: datetime) -> None:
    scoring = load_scoring()
    # As a live store holds it at T + 14 h: the day's events since the midnight, an average
    # day's share (read as T + 14 h's delta). First, so that a fresh store and a reused one
    # (which holds them from its last run: fixed ids, its sink finds them stored) evaluate
    # the same midnights: they put the watermark past T's, as a live worker's is by then.
    day = [(raw, Origin("engagement-events", 0, i, datetime.now(UTC))) for i, raw in
           enumerate(events(round(args.events / args.days * 14 / 24), args.partners, end + timedelta(hours=14),
                            14 / 24, random.Random(3), prefix="day-"))]  # fmt: skip
    write_batch(client, classify(day))
    record_progress(client, [("engagement-events", 0, end, datetime.now(UTC) - timedelta(hours=1))])
    evaluator = Evaluator(scoring, timedelta(hours=1), [], timedelta(seconds=30))
    evaluator._last = end - timedelta(days=31)  # evaluate only the last 31 midnights, T's included
    t = time.perf_counter()
    done = []
    while batch_done := evaluator.advance(client, datetime.now(UTC), limit=31):
        done += batch_done
    evaluate = time.perf_counter() - t
    print(f"evaluated {len(done)} midnights (snapshots + alerts for every partner) in {evaluate:.1f} s "
          f"({evaluate / max(1, len(done)) * 1000:.0f} ms each)")  # fmt: skip

    # Steady state: the evaluation just wrote parts that ClickHouse merges in the background.
    t = time.perf_counter()
    while client.query("SELECT count() FROM system.merges").result_rows[0][0] and time.perf_counter() - t < 120:
        time.sleep(0.5)
    print(f"waited {time.perf_counter() - t:.1f} s for background merges to finish")
    # A reused store holds each earlier run's snapshots of the same midnights too (one
    # version per run, 300k rows each at 10k partners, not merged away yet): the panels
    # read them all. Merged now, as a store that evaluated each midnight once holds them.
    t = time.perf_counter()
    client.command("OPTIMIZE TABLE partner_health FINAL")
    print(f"merged the snapshots' versions in {time.perf_counter() - t:.1f} s")

    base50, base95 = timed(lambda: client.query("SELECT count(), sum(duration_minutes) FROM engagement_events"),
                           args.repeats)  # fmt: skip
    print(f"\nbaseline: full scan of engagement_events  p50 {base50 * 1000:8.1f} ms  p95 {base95 * 1000:8.1f} ms")
    rows = []
    as_of = end.isoformat().replace("+00:00", "Z")
    later = (end + timedelta(hours=14)).isoformat().replace("+00:00", "Z")  # T later that day
    # Health in full first (no state yet), then as the worker leaves it once caught up:
    # with the state `health` starts from that day.
    client.command("TRUNCATE TABLE partner_state")  # one a run before left on a reused store
    rows.append(("health in full (no state), T + 14 h", *timed(lambda: health(client, as_of=later), args.repeats)))
    t = time.perf_counter()
    build_state(client, end, scoring)  # T's midnight, as once the worker has evaluated it
    print(f"built the health state at {end:%Y-%m-%d} in {time.perf_counter() - t:.1f} s")
    rows.append(("health (every partner, as of T)", *timed(lambda: health(client, as_of=as_of), args.repeats)))
    rows.append(("health (every partner, T + 14 h)", *timed(lambda: health(client, as_of=later), args.repeats)))
    rows.append(("report data (all overview panels)", *timed(lambda: report_data(client, as_of), args.repeats)))
    # explain for one partner (§7: metrics at T0 and T, drivers, alert transitions).
    rows.append(("explain one partner (T0 = T − 30 d)",
                 *timed(lambda: explain(client, "p1", as_of=as_of), args.repeats)))  # fmt: skip
    for d in dashboards(scoring):
        for p in d.panels:
            sql = expand(p.sql, end - timedelta(days=180), end, 86400, {"partner": "p1"})
            rows.append((f"panel {d.uid.removeprefix('partnerpulse-')}:{p.key}",
                         *timed(lambda sql=sql: client.query(sql), args.repeats)))  # fmt: skip
    # The sink's dedup lookup for one batch of 10,000 keys: new ones, then with duplicates
    # (redeliveries). Other keys each time: ClickHouse's query condition cache remembers
    # the granules a repeated condition ruled out, which a new batch never finds.
    rng = random.Random(2)
    for dups in (0, 100, 1000):
        batches = [[("bench", f"new-{rng.randrange(10**12)}") for _ in range(10_000 - dups)]
                   + [("bench", f"b{rng.randrange(args.events)}") for _ in range(dups)]
                   for _ in range(args.repeats)]  # fmt: skip
        rows.append(
            (
                f"dedup lookup, 10k keys, {dups} already stored",
                *timed(lambda b=batches: already_stored(client, "engagement_events", b.pop()), args.repeats),
            )
        )
    print(f"{'query':48} {'p50 ms':>9} {'p95 ms':>9} {'p50/baseline':>13}")
    for name, p50, p95 in rows:
        print(f"{name:48} {p50 * 1000:9.1f} {p95 * 1000:9.1f} {p50 / base50:13.2f}")
    client.close()


if __name__ == "__main__":
    main()

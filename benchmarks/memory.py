"""Memory: the worker's RSS while it ingests N events (2M by default) — flat, or growing
with history?

Produces N realistic events, starts one worker and samples its resident set size
(VmRSS) every half second until every record is stored. Prints RSS at each tenth of
the way and the peak: the kernel's high-water mark (VmHWM), exact, which the samples
would miss when it lasts less than half a second (as an insert's working set does).
Baseline in the same run: the RSS of the idle worker before the first record arrives,
and the growth per million events after the first tenth.

`--store embedded` (default) runs the ClickHouse engine (chDB) inside the worker, as
`partnerpulse up` does by default; `--store server` gives the worker a ClickHouse
server over HTTP, as in production (here the repository's chDB-backed stand-in in its
own process, tests/chdb_server.py), so the figure is the worker's own memory.

    python benchmarks/memory.py --events 2000000
    python benchmarks/memory.py --events 2000000 --store server
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import iter_records, produce, rss_mb, scratch, worker

from streams.broker.embedded import embedded_broker, ensure_topics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--store", choices=["embedded", "server"], default="embedded")
    parser.add_argument("--batch-size", type=int, help="the worker's PARTNERPULSE_BATCH_SIZE (default: its default)")
    args = parser.parse_args()
    with scratch("pp-memory-") as work:
        server = None
        if args.store == "server":
            # Imported only here: it imports chDB, and a library mapped by this process too
            # would be shared with the worker's, which the kernel then does not page out.
            from tests.chdb_server import StoreProcess

            server = StoreProcess(work / "server").start()
        try:
            measure(args, work, server.dsn if server else None)
        finally:
            if server:
                server.kill()


def measure(args, work: Path, clickhouse: str | None) -> None:
    with embedded_broker() as bootstrap:
        ensure_topics(bootstrap, 4)
        # Streamed: this process never holds all N records at once.
        print(f"produced {args.events:,} events in {produce(bootstrap, iter_records(args.events)):.1f} s")

        running = worker(work, bootstrap, clickhouse, args.batch_size)
        with running:
            pid = running.proc.pid
            idle = rss_mb(pid)
            print(f"baseline  idle worker RSS: {idle:6.0f} MB (store: {args.store})")
            samples = []  # (records processed, RSS MB, of which anonymous MB)
            t = time.perf_counter()
            while True:
                processed = running.status()["processed"]["records"]
                samples.append((processed, rss_mb(pid), rss_mb(pid, "RssAnon")))
                if processed >= args.events:
                    break
                time.sleep(0.5)
            elapsed = time.perf_counter() - t
            # Samples miss what lasts less than their interval (an insert's working set: a
            # quarter of a second); the kernel's high-water mark misses nothing.
            high_water = rss_mb(pid, "VmHWM")
        print(f"{'events stored':>14} {'RSS MB':>8} {'anon MB':>8}")
        for tenth in range(1, 11):
            mark = args.events * tenth // 10
            processed, rss, anon = next(s for s in samples if s[0] >= mark)
            print(f"{processed:14,} {rss:8.0f} {anon:8.0f}")
        sampled = max(s[1] for s in samples)
        first = next(s[1] for s in samples if s[0] >= args.events // 10)
        growth = (samples[-1][1] - first) / (args.events * 0.9 / 1e6)
        # The rest of RSS is file-backed: mapped code (of the chDB library, ~120 MB once its
        # start-up pages are handed back: step 31), reclaimable; the goal is on RSS all the same.
        print(f"anonymous part: peak {max(s[2] for s in samples):.0f} MB")
        goal = 500 if args.store == "embedded" else 400  # issue 20: the engine included, or not
        print(f"peak {high_water:.0f} MB (highest sample {sampled:.0f}); growth after the first tenth "
              f"{growth:+.1f} MB per million events; {args.events / elapsed:,.0f} events/s; goal: ≤ {goal} MB, flat")  # fmt: skip


if __name__ == "__main__":
    main()

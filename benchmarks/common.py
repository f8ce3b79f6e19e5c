"""What the benchmarks share: realistic records, producing them, a worker to measure."""

from __future__ import annotations

import dataclasses
import itertools
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from streams import config
from streams.broker.producer import open_producer
from streams.config import TOPIC_EVENTS
from streams.demo import simulator
from streams.worker.process import PipelineProcess

# Run from a checkout: the benchmarks share the tests' helpers (the ClickHouse stand-in).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

Record = tuple[bytes | None, bytes]


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A working directory for one run (a store of up to a few GB, the worker's log),
    removed after it; kept when the run fails, and said where (its pipeline.log tells
    what the worker did)."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield work
    except BaseException:
        print(f"kept {work} for a look (the worker's log: {work / 'pipeline.log'})", file=sys.stderr)
        raise
    shutil.rmtree(work, ignore_errors=True)


def iter_records(n: int, partners: int = 400, days: int = 365) -> Iterator[Record]:
    """n records from the simulator (duplicates, late and malformed ones included),
    repeated with fresh ids when one simulated population is not enough."""
    base = simulator.simulate(partners=partners, days=days, seed=5).records
    for i in range(n):
        round_, j = divmod(i, len(base))
        key, raw = base[j]
        yield key, (raw.replace(b'"id":"', f'"id":"r{round_}-'.encode(), 1) if round_ else raw)


def records(n: int, partners: int = 400, days: int = 365) -> list[Record]:
    return list(iter_records(n, partners, days))


def produce(bootstrap: str, data: Iterable[Record]) -> float:
    """Produce every record, waiting for the acknowledgements 10k at a time; seconds taken."""
    producer = open_producer(bootstrap)
    t = time.perf_counter()
    it = iter(data)
    while chunk := list(itertools.islice(it, 10_000)):
        futures = [producer.send(TOPIC_EVENTS, key=k, value=v) for k, v in chunk]
        producer.flush()
        for f in futures:
            f.get(timeout=60)
    producer.close()
    return time.perf_counter() - t


def worker(work: Path, bootstrap: str, clickhouse: str | None = None, batch_size: int | None = None,
           session_timeout: float = 6.0) -> PipelineProcess:  # fmt: skip
    """`partnerpulse up` on an already running broker, not started; its store is the
    embedded chDB under `work` unless `clickhouse` (a DSN) says otherwise. Tansu: pass
    `config.EMBEDDED_SESSION_TIMEOUT` to start as the embedded default does."""
    env = {"PARTNERPULSE_DATA_DIR": str(work)} | ({"PARTNERPULSE_CLICKHOUSE": clickhouse} if clickhouse else {})
    settings = config.load(env)
    settings = dataclasses.replace(settings, kafka=bootstrap, session_timeout=session_timeout,
                                   batch_size=batch_size or settings.batch_size)  # fmt: skip
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return PipelineProcess(settings, work / "pipeline.log")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory in MB: all of it (VmRSS), its highest so far (VmHWM), its anonymous
    part (RssAnon: the process's own) or its file-backed part (RssFile: mapped code such
    as the chDB library, shared and reclaimable)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0

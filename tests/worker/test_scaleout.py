"""Scale-out: several workers share the partitions and one ClickHouse, and give exactly
what one worker gives — stored events, health and alert episodes — also when a worker
is killed mid-stream and the others take over its partitions.

The store is `tests/chdb_server.py`: the real ClickHouse engine (chDB) behind
ClickHouse's HTTP interface, in its own process, since embedded chDB admits one."""

from __future__ import annotations

import dataclasses
import signal
import time

import orjson
import pytest

from streams.broker.embedded import ensure_topics
from streams.broker.producer import open_producer
from streams.worker.process import PipelineProcess
from tests import oracle
from tests.chdb_server import StoreProcess
from tests.conftest import cli, running_broker
from tests.producing import send_raw
from tests.rules import test_alerts

EVENTS = test_alerts.EVENTS
FINAL = test_alerts.FINAL.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def shared_store(tmp_path):
    server = StoreProcess(tmp_path / "store").start()
    try:
        yield server.dsn
    finally:
        server.kill()


def keyed(events):
    return [(e["subject"].encode(), orjson.dumps(e)) for e in events]


def evaluated(workers: list[PipelineProcess]) -> str:
    done = ""
    for w in workers:
        if w.proc.poll() is None:
            done = max(done, w.status()["last_evaluated"] or "")
    return done


@pytest.mark.parametrize(("count", "broker"), [(2, "tansu"), (3, "tansu"), (2, "kafka")])
def test_workers_share_the_stream_and_agree_with_one(count, broker, tmp_path, settings, shared_store, monkeypatch):
    scoring = tmp_path / "scoring.yaml"
    scoring.write_text("watermark:\n  idle_partition_seconds: 5\n")
    monkeypatch.setenv("PARTNERPULSE_SCORING", str(scoring))
    with running_broker(broker) as bootstrap:
        base = dataclasses.replace(settings, kafka=bootstrap, clickhouse=shared_store, session_timeout=6.0)
        ensure_topics(bootstrap, 4)
        producer = open_producer(bootstrap)
        half = len(EVENTS) // 2
        send_raw(producer, keyed(EVENTS[:half]))
        workers = []
        for i in range(count):
            run = dataclasses.replace(base, data_dir=tmp_path / f"worker{i}")
            run.data_dir.mkdir()
            workers.append(PipelineProcess(run, tmp_path / f"worker{i}.log").start())
        try:
            # The rest trickles in while the group rebalances; one worker dies midway.
            rest = EVENTS[half:]
            for n, start in enumerate(range(0, len(rest), 20)):
                send_raw(producer, keyed(rest[start : start + 20]))
                if n == 3 and count == 3:
                    workers[1].proc.send_signal(signal.SIGKILL)
                    workers[1].proc.wait()
                time.sleep(0.3)
            producer.close()
            deadline = time.monotonic() + 240
            while evaluated(workers) < FINAL:
                assert time.monotonic() < deadline, [w.status() for w in workers if w.proc.poll() is None]
                time.sleep(0.2)
            alive = next(w for w in workers if w.proc.poll() is None)
            leaders = [w.status()["leader"] for w in workers if w.proc.poll() is None]
            assert leaders.count(True) == 1
            status = alive.status()
            rows = orjson.loads(cli(alive.settings, "alerts", "--format", "json").stdout)
            health = {}
            for t in ("2026-04-01", "2026-06-15T12:00:00Z", test_alerts.FINAL.strftime("%Y-%m-%d")):
                answer = cli(alive.settings, "health", "--as-of", t, "--format", "json")
                assert answer.returncode == 0, answer.stderr.decode()
                health[t] = orjson.loads(answer.stdout)
        finally:
            for w in workers:
                w.stop()
    assert status["stored"]["engagement_events"] == len(EVENTS)
    assert test_alerts.episodes_from(rows) == test_alerts.EXPECTED
    assert len({r["id"] for r in rows}) == len(rows)  # each episode once, whichever worker led
    for as_of, answer in health.items():
        want = oracle.health(EVENTS, oracle.parse(as_of if "T" in as_of else as_of + "T00:00:00Z"))
        assert {r["partner_id"]: (r["score"], r["status"]) for r in answer} == {
            p: (h["score"], h["status"]) for p, h in want.items()
        }


@pytest.mark.parametrize("broker", ["tansu", "kafka"])
def test_more_partitions_than_workers_and_a_worker_joining_late(broker, tmp_path, settings, shared_store):
    """8 partitions, one worker alone, then a second joins mid-stream: partitions move
    to it, each is owned by one worker, and every event is stored once."""
    from tests.worker.test_pipeline import events, wait_stored

    n = 16_000
    with running_broker(broker) as bootstrap:
        base = dataclasses.replace(settings, kafka=bootstrap, clickhouse=shared_store, session_timeout=6.0,
                                   partitions=8)  # fmt: skip
        ensure_topics(bootstrap, 8)
        producer = open_producer(bootstrap)
        send_raw(producer, events(n // 2, prefix="late"))
        runs = [dataclasses.replace(base, data_dir=tmp_path / f"worker{i}") for i in range(2)]
        for run in runs:
            run.data_dir.mkdir()
        first = PipelineProcess(runs[0], tmp_path / "worker0.log").start()
        second = None
        try:
            assert first.status()["partitions"] == list(range(8))
            deadline = time.monotonic() + 120
            while first.status()["stored"]["engagement_events"] == 0:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            second = PipelineProcess(runs[1], tmp_path / "worker1.log").start()  # joins late
            send_raw(producer, events(n, prefix="late")[n // 2 :])
            producer.close()
            status = wait_stored(second, n, timeout=240)
            owned = [first.status()["partitions"], second.status()["partitions"]]
        finally:
            first.stop()
            if second is not None:
                second.stop()
    assert status["stored"]["engagement_events"] == n
    assert all(owned) and sorted(owned[0] + owned[1]) == list(range(8)), owned

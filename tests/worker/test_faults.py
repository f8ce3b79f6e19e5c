"""Faults (issue 10), against the real broker and engine: workers killed again and
again, a store that goes away, a broker that goes away, a disk that is full. Each
test states the guarantee it proves; the README's reliability section cites them."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from streams import config
from streams.broker.embedded import embedded_broker, ensure_topics, free_port
from streams.broker.producer import open_producer
from streams.broker.reader import GROUP
from streams.config import EMBEDDED_SESSION_TIMEOUT, TOPIC_EVENTS
from streams.worker.process import PipelineProcess
from tests import oracle
from tests.chdb_server import StoreProcess
from tests.conftest import ROOT, cli, env_for, running_broker
from tests.producing import send_raw
from tests.rules import test_alerts
from tests.worker.test_pipeline import events
from tests.worker.test_scaleout import keyed

EVENTS = test_alerts.EVENTS
KILLS = 5
SECRETS = ["pw-s3cret-1701", "tok-s3cret-4711", "hook-s3cret-0815", "url-s3cret-4242"]
SECRET_ENV = {"PARTNERPULSE_INGEST_TOKENS": SECRETS[1], "PARTNERPULSE_WEBHOOK_SECRET": SECRETS[2],
              "PARTNERPULSE_WEBHOOKS": f"http://127.0.0.1:9/hook?token={SECRETS[3]}"}  # fmt: skip


@pytest.fixture
def fast_idle(tmp_path, monkeypatch):
    scoring = tmp_path / "scoring.yaml"
    scoring.write_text("watermark:\n  idle_partition_seconds: 2\n")
    monkeypatch.setenv("PARTNERPULSE_SCORING", str(scoring))


def test_killed_again_and_again_while_events_stream_in(tmp_path, settings, fast_idle, any_broker):
    """SIGKILL at random points (ingest, evaluation, start-up), restart each time: every
    event stored once, health and alert episodes exactly those of an uninterrupted run."""
    rng = random.Random(20261127)
    bootstrap = any_broker
    run = dataclasses.replace(settings, kafka=bootstrap, session_timeout=6.0)
    run.data_dir.mkdir(parents=True)
    ensure_topics(bootstrap, run.partitions)
    records = keyed(EVENTS)
    size = len(records) // 20 + 1
    chunks = [records[i : i + size] for i in range(0, len(records), size)]

    def stream_in():
        producer = open_producer(bootstrap)
        sent = []
        for chunk in chunks:
            send_raw(producer, chunk)
            sent += chunk
            # Redeliveries on top: of records already sent. (A record of a later chunk would
            # be an event from the future: it moves event time on, and the events it passed
            # are then late — stored, but not deciding alerts already decided.)
            send_raw(producer, rng.sample(sent, min(50, len(sent))))
            time.sleep(2.0)
        producer.close()

    sender = threading.Thread(target=stream_in)
    sender.start()
    killed_at = []
    try:
        for i in range(KILLS):
            worker = PipelineProcess(run, tmp_path / f"worker{i}.log").start()
            deadline = time.monotonic() + 60
            while not worker.status()["processed"]["records"] and time.monotonic() < deadline:
                time.sleep(0.05)  # kill it while it works, not while it joins the group
            time.sleep(rng.uniform(0.0, 1.5))
            # The last kill lands during an evaluation on either broker (on Kafka a worker
            # gets its partitions later: the group waits out the killed one's session).
            while i == KILLS - 1 and worker.status()["last_evaluated"] is None and time.monotonic() < deadline:
                time.sleep(0.05)
            status = worker.status()
            killed_at.append((status["stored"]["engagement_events"], status["last_evaluated"]))
            worker.proc.send_signal(signal.SIGKILL)
            worker.proc.wait()
    finally:
        sender.join()
    with test_alerts.run_pipeline(run, tmp_path / "final.log") as final:
        status = final.status()
        rows = orjson.loads(cli(run, "alerts", "--format", "json").stdout)
        as_of = test_alerts.FINAL.strftime("%Y-%m-%d")
        health = orjson.loads(cli(run, "health", "--as-of", as_of, "--format", "json").stdout)
    print("killed at (engagements stored, last midnight evaluated):", killed_at)
    assert any(stored < len(EVENTS) for stored, _ in killed_at), "no kill landed mid-ingest"
    assert any(last is not None for _, last in killed_at), "no kill landed after evaluation began"
    assert status["stored"]["engagement_events"] == len(EVENTS)
    assert test_alerts.episodes_from(rows) == test_alerts.EXPECTED
    assert len({r["id"] for r in rows}) == len(rows)
    want = oracle.health(EVENTS, test_alerts.FINAL)
    assert {r["partner_id"]: (r["score"], r["status"], r["engagements_90d"]) for r in health} == {
        p: (h["score"], h["status"], h["engagements_90d"]) for p, h in want.items()
    }


def committed(bootstrap: str, partitions: int) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=GROUP, enable_auto_commit=False)
    try:
        return sum(consumer.committed(TopicPartition(TOPIC_EVENTS, p)) or 0 for p in range(partitions))
    finally:
        consumer.close()


def test_store_away_for_a_while_loses_nothing_and_holds_back(tmp_path, settings):
    """ClickHouse unreachable mid-stream: the worker keeps running, says what is wrong,
    reads no further (no offsets committed, no unbounded buffer), and when the store is
    back it catches up — every event stored exactly once."""
    store = StoreProcess(tmp_path / "store", password=SECRETS[0])
    store.start()
    n = 30_000
    try:
        with embedded_broker() as bootstrap:
            run = dataclasses.replace(
                settings, kafka=bootstrap, clickhouse=store.dsn, session_timeout=EMBEDDED_SESSION_TIMEOUT
            )
            run.data_dir.mkdir(parents=True)
            ensure_topics(bootstrap, run.partitions)
            producer = open_producer(bootstrap)
            data = events(n, prefix="away")
            send_raw(producer, data[:5000])
            with PipelineProcess(run, tmp_path / "worker.log", extra_env=SECRET_ENV) as worker:
                worker.wait_processed(5000)
                store.kill()
                send_raw(producer, data[5000:])
                deadline = time.monotonic() + 60
                while not (status := worker.status())["store_error"]:
                    assert time.monotonic() < deadline, status
                    time.sleep(0.2)
                held = committed(bootstrap, run.partitions)
                processed = status["processed"]["records"]
                time.sleep(6)
                status = worker.status()
                assert worker.proc.poll() is None
                assert status["stored"] is None and "Error" in status["store_error"]
                shown = [orjson.dumps(status), cli(run, "alerts").stdout, cli(run, "health").stderr]
                assert status["processed"]["records"] == processed < n
                assert committed(bootstrap, run.partitions) == held < n
                ready = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                        worker.info["web_url"] + "/readyz"], capture_output=True)  # fmt: skip
                assert ready.stdout == b"503"

                store.start()
                send_raw(producer, data[:300])  # and a few redeliveries
                deadline = time.monotonic() + 120
                while ((status := worker.status())["stored"] or {}).get("engagement_events") != n:
                    assert time.monotonic() < deadline, status
                    time.sleep(0.5)
                time.sleep(2)
                status = worker.status()
            producer.close()
    finally:
        store.kill()
    assert status["stored"]["engagement_events"] == n
    assert status["store_error"] is None
    log = (tmp_path / "worker.log").read_text()
    assert "retrying" in log
    # No secret in the log, the status or the CLI's output, failures included.
    for secret in SECRETS:
        assert secret not in log and all(secret.encode() not in text for text in shown), secret


@pytest.mark.parametrize("broker", ["tansu", "kafka"])
def test_broker_going_away_stops_the_worker_with_a_clear_error(broker, tmp_path, settings):
    """The broker disappears: after PARTNERPULSE_BROKER_TIMEOUT the worker stops with a
    message saying so and a non-zero exit status (an orchestrator restarts it)."""
    with running_broker(broker) as bootstrap:
        run = dataclasses.replace(settings, kafka=bootstrap, session_timeout=6.0)
        run.data_dir.mkdir(parents=True)
        ensure_topics(bootstrap, run.partitions)
        worker = PipelineProcess(run, tmp_path / "worker.log", extra_env={"PARTNERPULSE_BROKER_TIMEOUT": "8"})
        worker.start()
    # The broker is gone now.
    started = time.monotonic()
    try:
        worker.proc.wait(timeout=90)
    finally:
        worker.stop()
    log = (tmp_path / "worker.log").read_text()
    assert worker.proc.returncode not in (0, None)
    assert time.monotonic() - started < 90
    assert f"cannot reach Kafka at {bootstrap}" in log, log[-2000:]


def test_broker_unreachable_at_start_is_a_clear_error(settings):
    """`up` and `send` give up after PARTNERPULSE_BROKER_TIMEOUT with one clear line."""
    port = free_port()  # nothing listens there
    run = dataclasses.replace(settings, kafka=f"127.0.0.1:{port}")
    env = {**env_for(run), "PARTNERPULSE_BROKER_TIMEOUT": "5"}
    for args in (["up"], ["send", str(ROOT / "schemas" / "examples" / "events.jsonl")]):
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "streams.cli", *args], env=env, capture_output=True,
                                timeout=120, cwd=ROOT)  # fmt: skip
        assert result.returncode == 1, result.stderr.decode()
        assert f"cannot reach Kafka at 127.0.0.1:{port}" in result.stderr.decode()
        if args == ["up"]:  # it said what it was doing first
            assert f"connecting to Kafka at 127.0.0.1:{port} (giving up after 5 s" in result.stderr.decode()
        assert b"Traceback" not in result.stderr
        assert time.monotonic() - started < 30


def test_up_refused_by_its_group_says_why_and_exits_1(tmp_path, settings):
    """Another application holds the events group with an assignor ours does not speak:
    Kafka refuses the join for good. `up` exits 1 with a sentence saying so."""
    from kafka.coordinator.assignors.range import RangePartitionAssignor

    from tests.apache_kafka import apache_kafka

    with apache_kafka() as kafka:
        ensure_topics(kafka.bootstrap, 2, timeout=30)
        squatter = KafkaConsumer(TOPIC_EVENTS, bootstrap_servers=kafka.bootstrap, group_id=GROUP,
                                 partition_assignment_strategy=[RangePartitionAssignor])  # fmt: skip
        stop = threading.Event()
        polling = threading.Thread(target=lambda: [squatter.poll(200) for _ in iter(stop.is_set, True)], daemon=True)
        polling.start()
        try:
            deadline = time.monotonic() + 30
            while not squatter.assignment():
                assert time.monotonic() < deadline
                time.sleep(0.2)
            run = dataclasses.replace(settings, kafka=kafka.bootstrap, session_timeout=6.0)
            run.data_dir.mkdir(parents=True)
            result = subprocess.run([sys.executable, "-m", "streams.cli", "up"], capture_output=True, timeout=180,
                                    env=env_for(run), cwd=ROOT)  # fmt: skip
        finally:
            stop.set()
            polling.join(timeout=10)
            squatter.close()
        # A session shorter than Kafka's least (6 s): refused for good, said as such.
        short = dataclasses.replace(run, data_dir=tmp_path / "short")
        short.data_dir.mkdir(parents=True)
        too_short = subprocess.run([sys.executable, "-m", "streams.cli", "up"], capture_output=True, timeout=180,
                                   env=env_for(short) | {"PARTNERPULSE_SESSION_TIMEOUT": "4"}, cwd=ROOT)  # fmt: skip
    said = result.stderr.decode()
    assert result.returncode == 1, said[-3000:]
    assert f"Kafka refuses this worker in consumer group '{GROUP}'" in said.splitlines()[-1], said[-3000:]
    assert "stopped cleanly" not in said
    said = too_short.stderr.decode()
    assert too_short.returncode == 1 and "PARTNERPULSE_SESSION_TIMEOUT within" in said.splitlines()[-1], said[-3000:]


def test_up_waiting_for_a_held_group_says_what_it_waits_for(tmp_path, settings):
    """A self-run Tansu with a long session timeout holds the join of the next worker
    after one was SIGKILLed in the group (the 15-minute spinner of issue 16): `up` says
    what it waits for, where and for how long, every 10 s, and past
    PARTNERPULSE_BROKER_TIMEOUT exits 1 with that sentence."""
    with embedded_broker() as bootstrap:
        ensure_topics(bootstrap, 2, timeout=30)
        run = dataclasses.replace(settings, kafka=bootstrap, session_timeout=40.0, heartbeat_interval=6.0)
        run.data_dir.mkdir(parents=True)
        first = PipelineProcess(run, tmp_path / "first.log").start()
        first.proc.send_signal(signal.SIGKILL)  # its member stays in the group
        first.proc.wait()
        run.runtime_file.unlink()
        env = {**env_for(run), "PARTNERPULSE_SESSION_TIMEOUT": "40", "PARTNERPULSE_BROKER_TIMEOUT": "15"}
        result = subprocess.run([sys.executable, "-m", "streams.cli", "up"], env=env, cwd=ROOT, capture_output=True,
                                timeout=180)  # fmt: skip
    said = result.stderr.decode()
    assert result.returncode == 1, said[-3000:]
    assert (f"waiting to join consumer group '{GROUP}' on {bootstrap} (the broker answers): "
            "10 s of 15 s before giving up") in said, said[-3000:]  # fmt: skip
    assert said.splitlines()[-1] == (f"error: could not join consumer group '{GROUP}' on {bootstrap} within 15 s "
                                     "(PARTNERPULSE_BROKER_TIMEOUT); stopping")  # fmt: skip
    assert "Traceback" not in said


def test_send_reports_what_kafka_did_not_acknowledge(tmp_path, settings):
    """The broker stops answering mid-send: `send` says how many events were not
    acknowledged and which lines they are, and exits 1 — within its timeout."""
    lines = tmp_path / "many.jsonl"
    lines.write_bytes(b"\n".join(raw for _, raw in events(100_000, prefix="ack")) + b"\n")
    with embedded_broker() as bootstrap:
        run = dataclasses.replace(settings, kafka=bootstrap)
        ensure_topics(bootstrap, run.partitions)
        tansu = _pid_of(f"tcp://{bootstrap}")
        sending = subprocess.Popen([sys.executable, "-m", "streams.cli", "send", str(lines)], cwd=ROOT,
                                   env={**env_for(run), "PARTNERPULSE_BROKER_TIMEOUT": "10"},
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        _wait_for_records(bootstrap)
        os.kill(tansu, signal.SIGSTOP)  # the broker hangs: connections open, no answers
        try:
            _, err = sending.communicate(timeout=120)
        finally:
            os.kill(tansu, signal.SIGCONT)
    text = err.decode()
    summary = text.strip().splitlines()[-1]
    assert sending.returncode == 1, text[-2000:]
    assert summary.startswith("accepted "), text[-3000:]
    accepted = int(summary.split("accepted ")[1].split(",")[0])
    unacked = int(summary.split("not acknowledged ")[1])
    assert accepted + unacked == 100_000 and accepted > 0 and unacked > 0, summary
    reported = [line for line in text.splitlines() if ": not acknowledged by Kafka" in line]
    assert len(reported) == unacked, [x for x in text.splitlines() if "not acknowledged by" in x and x not in reported]
    assert all(line.startswith(f"{lines}:") for line in reported)


def _pid_of(argument: str) -> int:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                args = (Path("/proc") / entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argument.encode() in args:
                return int(entry)
    raise AssertionError(f"no process with argument {argument}")


def _wait_for_records(bootstrap: str, timeout: float = 60) -> None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    tps = [TopicPartition(TOPIC_EVENTS, p) for p in range(4)]
    deadline = time.monotonic() + timeout
    try:
        while not sum(consumer.end_offsets(tps).values()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        consumer.close()


@pytest.fixture
def small_disk(tmp_path):
    """A 96 MiB filesystem of its own (tmpfs), so the test can fill it."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:  # needs root (CI and these machines have it)
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def test_full_disk_loses_nothing_and_recovers(small_disk, tmp_path):
    """The store's disk fills up mid-stream: the worker reports NOT_ENOUGH_SPACE, holds
    the batch and retries; once space is freed every event is stored exactly once."""
    run = config.load({"PARTNERPULSE_DATA_DIR": str(small_disk / "data")})
    data = events(20_000, prefix="full")
    with PipelineProcess(run, tmp_path / "worker.log") as worker:
        producer = open_producer(worker.info["kafka"])
        send_raw(producer, data[:5000])
        worker.wait_processed(5000)
        filler = small_disk / "filler"
        with open(filler, "wb", buffering=0) as f:
            for size in (1 << 20, 4096, 1):
                with contextlib.suppress(OSError):
                    while True:
                        f.write(b"\0" * size)
        send_raw(producer, data[5000:])
        deadline = time.monotonic() + 60
        while not (status := worker.status())["store_error"]:
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        assert "NOT_ENOUGH_SPACE" in status["store_error"] or "space" in status["store_error"]
        assert status["stored"]["engagement_events"] < len(data)
        filler.unlink()
        deadline = time.monotonic() + 120
        while ((status := worker.status())["stored"] or {}).get("engagement_events") != len(data):
            assert time.monotonic() < deadline, status
            time.sleep(0.5)
        producer.close()
    assert status["store_error"] is None and status["stored"]["engagement_events"] == len(data)
    assert "retrying" in (tmp_path / "worker.log").read_text()


def test_unusable_data_dir_and_full_output_are_clear_errors(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    run = config.load({"PARTNERPULSE_DATA_DIR": str(blocker / "data")})
    for args in (["up"], ["health"], ["dlq", "list"]):
        result = cli(run, *args, timeout=60)
        assert result.returncode == 1, (args, result.stderr.decode())
        assert b"Not a directory" in result.stderr and b"Traceback" not in result.stderr, result.stderr
    writable = config.load({"PARTNERPULSE_DATA_DIR": str(tmp_path / "data")})
    full = cli(writable, "report", "--out", "/dev/full", timeout=120)
    assert full.returncode == 1 and b"No space left on device" in full.stderr and b"Traceback" not in full.stderr


def test_kafka_stopped_and_restarted_mid_stream_loses_and_doubles_nothing(tmp_path, settings):
    """Only a real broker allows it: Kafka keeps its log on disk, so it can go away while
    events stream in and come back; the worker waits, then carries on."""
    from tests.apache_kafka import apache_kafka

    n = 30_000
    with apache_kafka() as kafka:
        run = dataclasses.replace(settings, kafka=kafka.bootstrap, session_timeout=6.0)
        run.data_dir.mkdir(parents=True)
        ensure_topics(kafka.bootstrap, run.partitions)
        records = events(n, prefix="restart")
        producer = open_producer(kafka.bootstrap)
        send_raw(producer, records[: n // 2])
        producer.close()
        with PipelineProcess(run, tmp_path / "worker.log") as worker:
            while worker.status()["processed"]["records"] == 0:
                time.sleep(0.05)
            kafka.stop()  # mid-stream: some stored, some not
            time.sleep(5)
            assert worker.proc.poll() is None  # it waits (within PARTNERPULSE_BROKER_TIMEOUT)
            kafka.start()
            producer = open_producer(kafka.bootstrap)
            send_raw(producer, records[n // 2 :] + records[:200])  # the rest, and some again
            producer.close()
            deadline = time.monotonic() + 180
            while ((status := worker.status())["stored"] or {}).get("engagement_events") != n:
                assert time.monotonic() < deadline, status
                time.sleep(0.5)
            time.sleep(2)
            assert worker.status()["stored"]["engagement_events"] == n

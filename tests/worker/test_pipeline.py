"""The whole pipeline, end to end: real Tansu broker, real faust worker, real chDB."""

from __future__ import annotations

import dataclasses
import gc
import os
import signal
import socket
import sys
import time
from collections import Counter

import orjson
import pytest
from kafka import KafkaConsumer

from streams.broker.embedded import embedded_broker, ensure_topics
from streams.broker.producer import open_producer
from streams.config import TOPIC_DLQ
from streams.worker import pipeline, remote, runtime
from streams.worker.process import PipelineProcess
from tests import badinput
from tests.conftest import EXAMPLES, cli
from tests.producing import send_raw


def wait_stored(pipeline: PipelineProcess, engagements: int, timeout: float = 120) -> dict:
    """Wait until the store holds `engagements` rows, then a little longer to catch extras."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = pipeline.status()
        if status["stored"]["engagement_events"] >= engagements:
            time.sleep(1.5)
            return pipeline.status()
        time.sleep(0.2)
    raise AssertionError(f"only {pipeline.status()['stored']} stored after {timeout} s")


def test_the_worker_tunes_the_interpreter_for_its_threads():
    before = sys.getswitchinterval(), gc.get_threshold()
    try:
        pipeline.tune_interpreter()
        assert sys.getswitchinterval() == pytest.approx(pipeline.GIL_SWITCH_INTERVAL)
        assert gc.get_threshold() == pipeline.GC_THRESHOLDS and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        sys.setswitchinterval(before[0])
        gc.set_threshold(*before[1])


def test_every_record_ends_in_exactly_one_place(on_broker, broker_pipeline):
    settings, pipeline = on_broker, broker_pipeline
    sent = cli(settings, "send", str(EXAMPLES / "events.jsonl"))
    assert sent.returncode == 0, sent.stderr.decode()
    assert b"accepted 14, rejected 0" in sent.stderr

    # The same file again (all duplicates), from stdin this time.
    again = cli(settings, "send", "-", stdin=(EXAMPLES / "events.jsonl").read_bytes())
    assert again.returncode == 0 and b"accepted 14" in again.stderr

    # A misbehaving producer writes every class of bad record straight to the topic,
    # some of them twice, plus a re-delivery of a valid event with other bytes.
    bad = badinput.bad_records()
    producer = open_producer(pipeline.info["kafka"])
    redelivered = orjson.loads((EXAMPLES / "events.jsonl").read_bytes().splitlines()[3])
    redelivered["data"]["note"] = "same source and id, different bytes"
    send_raw(producer, [(None, raw) for _, _, raw in bad] + [(None, bad[0][2]), (b"x", orjson.dumps(redelivered))])
    producer.close()

    total = 14 + 14 + len(bad) + 2
    status = pipeline.wait_processed(total)
    assert status["idempotent_producer"] is not settings.embedded_kafka  # Kafka grants it, Tansu not
    assert status["processed"]["records"] == total
    # The repeated bad record is a second dead letter: it came from another offset, and a
    # dead letter is identified by where it came from, never by its bytes.
    assert status["stored"] == {"engagement_events": 10, "partners": 3, "dead_letters": len(bad) + 1,
                                "partners_engaged": 3}  # fmt: skip
    assert status["processed"]["duplicates"] == 1 + 14 + 1

    # `dlq list` asks the running pipeline (the embedded store admits one process).
    listed = cli(settings, "dlq", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr.decode()
    letters = orjson.loads(listed.stdout)
    assert Counter(d["code"] for d in letters) == Counter(code for _, code, _ in bad) + Counter([bad[0][1]])
    utf8 = next(d for d in letters if d["code"] == "invalid_utf8")
    assert utf8["payload"] == '{"id": "\\xff\\xfe"}' and utf8["reason"].startswith("not UTF-8")

    # The dead-letter topic carries each bad record with its reason.
    consumer = KafkaConsumer(
        TOPIC_DLQ, bootstrap_servers=pipeline.info["kafka"], auto_offset_reset="earliest", consumer_timeout_ms=3000
    )
    dlq = [(m.value, dict(m.headers)) for m in consumer]
    consumer.close()
    assert len(dlq) == len(bad) + 1
    assert all(headers["reason"] and headers["code"] for _, headers in dlq)

    table = cli(settings, "dlq", "list")
    assert table.returncode == 0 and f"Dead letters ({len(bad) + 1})".encode() in table.stdout

    assert pipeline.stop() == 0
    assert runtime.find(settings) is None
    # Stopped: the same command reads the store directly and sees the same.
    offline = cli(settings, "dlq", "list", "--format", "json", "--code", "oversize")
    assert offline.returncode == 0, offline.stderr.decode()
    assert [d["size"] for d in orjson.loads(offline.stdout)] == [len(bad[-1][2])]


def test_send_explains_rejected_lines(settings, pipeline):
    result = cli(settings, "send", str(EXAMPLES / "invalid.jsonl"), str(EXAMPLES / "events.jsonl"))
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert "invalid.jsonl:1: data.duration_minutes must be ≤ 1440, got 2000" in stderr
    assert "invalid.jsonl:2: unknown event type 'partner.lunch'" in stderr
    assert "invalid.jsonl:4: not valid JSON" in stderr
    assert "accepted 14, rejected 4" in stderr
    assert pipeline.wait_processed(14)["stored"]["dead_letters"] == 0  # rejected lines are not produced


def events(n: int, prefix: str = "r") -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(n):
        partner = f"partner-{i % 50}"
        event = {
            "specversion": "1.0",
            "id": f"{prefix}-{i}",
            "source": "test/restart",
            "type": "partner.meeting",
            "time": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00Z",
            "subject": partner,
            "data": {"kind": "planning", "duration_minutes": 1 + i % 90, "initiated_by": "partner"},
        }
        out.append((partner.encode(), orjson.dumps(event)))
    return out


def test_worker_killed_mid_stream_neither_loses_nor_double_counts(tmp_path, settings, any_broker):
    # /status answers after the batches in hand (its counts wait for the store thread), so
    # leave many batches to kill in: at 100k (5 batches) a fast worker once stored them all.
    n = 200_000
    bootstrap = any_broker
    external = dataclasses.replace(settings, kafka=bootstrap, session_timeout=6.0, heartbeat_interval=1.0)
    external.data_dir.mkdir(parents=True)
    ensure_topics(bootstrap, external.partitions)
    producer = open_producer(bootstrap)
    send_raw(producer, events(n))

    first = PipelineProcess(external, tmp_path / "first.log").start()
    deadline = time.monotonic() + 120
    while first.status()["processed"]["records"] == 0:  # killed right after its first batch
        assert time.monotonic() < deadline
        time.sleep(0.05)
    done_before_kill = first.status()["stored"]["engagement_events"]
    first.proc.send_signal(signal.SIGKILL)  # no clean shutdown, no final commit
    first.proc.wait()
    assert done_before_kill < n, "the first worker finished before it could be killed"

    second = PipelineProcess(external, tmp_path / "second.log").start()
    try:
        # Redeliver a slice on purpose too: still counted once.
        send_raw(producer, events(n)[:500])
        status = wait_stored(second, n)
    finally:
        producer.close()
        second.stop()
    assert status["stored"]["engagement_events"] == n
    assert status["stored"]["partners_engaged"] == 50


def test_killed_pipeline_leaves_no_broker_behind(settings):
    settings.data_dir.mkdir(parents=True)
    process = PipelineProcess(settings, settings.data_dir / "pipeline.log").start()
    host, port = process.info["kafka"].split(":")
    os.kill(process.proc.pid, signal.SIGKILL)
    process.proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, int(port)), timeout=0.2).close()
        except OSError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the embedded broker outlived its pipeline")
    # The store is usable again by the next process (no stale lock), and a stale
    # runtime file does not fool the CLI into asking a dead pipeline.
    listed = cli(settings, "dlq", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr.decode()
    assert orjson.loads(listed.stdout) == []


def test_probes_answer(settings, pipeline):
    base = pipeline.info["web_url"]
    assert remote.call(base + "/healthz") == {"ok": True}
    assert remote.call(base + "/readyz") == {"ready": True}


def test_init_prepares_a_deployment(settings):
    from kafka import KafkaAdminClient

    from streams.store import connection as store

    with embedded_broker() as bootstrap:
        real = dataclasses.replace(settings, kafka=bootstrap)
        result = cli(real, "init", "--partitions", "3")
        assert result.returncode == 0, result.stderr.decode()
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        topics = {t["name"]: len(t["partitions"]) for t in admin.describe_topics()}
        admin.close()
        assert {k: topics[k] for k in ("engagement-events", "engagement-events-dlq", "partner-alerts")} == {
            "engagement-events": 3, "engagement-events-dlq": 3, "partner-alerts": 3}  # fmt: skip
        assert cli(real, "init").returncode == 0  # idempotent
    client = store.connect(settings.clickhouse, migrate=False)
    try:
        versions = [r[0] for r in client.query("SELECT version FROM schema_migrations ORDER BY version").result_rows]
    finally:
        client.close()
    assert versions == [v for v, _, _ in store.migration_files()]
    embedded = cli(settings, "init")
    assert embedded.returncode == 1 and b"PARTNERPULSE_KAFKA" in embedded.stderr


def test_dlq_replay_resubmits_what_passes_now_and_keeps_the_rest(on_broker):
    """Dead letters left by an older version (whose rules rejected a now-valid event)."""
    settings = on_broker
    from datetime import UTC, datetime

    from streams.rules.validation import Rejected
    from streams.store import connection as store
    from streams.store import rows as records
    from streams.store.rows import Origin

    fixed = (EXAMPLES / "events.jsonl").read_bytes().splitlines()[3]
    origin = Origin("engagement-events", 0, 7, datetime.now(UTC))
    client = store.connect(settings.clickhouse)
    client.insert("dead_letters", [
        records.dead_letter_row(Rejected("unknown_type", "unknown event type (old version)"), fixed, origin),
        records.dead_letter_row(Rejected("invalid_json", "not valid JSON"), b"still broken", origin._replace(offset=8)),
    ], column_names=records.DEAD_LETTER_COLUMNS)  # fmt: skip
    client.close()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.embedded_kafka:  # the embedded broker lives inside `up`: nothing to send to
        offline = cli(settings, "dlq", "replay")
        assert offline.returncode == 1 and b"partnerpulse up" in offline.stderr
    else:  # Kafka is there without `up`: replay works offline once the topics exist
        assert cli(settings, "init").returncode == 0
        offline = cli(settings, "dlq", "replay")
        assert offline.returncode == 0 and b"replayed 1, still failing 1" in offline.stderr, offline.stderr

    with PipelineProcess(settings, settings.data_dir / "pipeline.log") as pipeline:
        if settings.embedded_kafka:
            first = cli(settings, "dlq", "replay")
            assert first.returncode == 0, first.stderr.decode()
            assert b"replayed 1, still failing 1" in first.stderr
        assert pipeline.wait_processed(1)["stored"]["engagement_events"] == 1
        left = orjson.loads(cli(settings, "dlq", "list", "--format", "json").stdout)
        assert [d["payload"] for d in left] == ["still broken"]
        again = cli(settings, "dlq", "replay")
        assert b"replayed 0, still failing 1" in again.stderr

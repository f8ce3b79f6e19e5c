"""The embedded default keeps what it acknowledged (its broker holds its log in memory):
a clean stop drains it into the store first, `send` and HTTP ingest call an event
accepted only once stored, a second Ctrl-C says what was lost, a crash loses nothing
that was reported accepted."""

from __future__ import annotations

import re
import signal
import threading
import time
import urllib.error
import urllib.request

import orjson

from streams.broker.producer import open_producer
from streams.store.connection import connect
from streams.worker.process import PipelineProcess
from tests.conftest import cli
from tests.producing import send_raw
from tests.worker.test_pipeline import events


def stored(settings) -> int:
    client = connect(settings.clickhouse)
    try:
        return client.query("SELECT count() FROM engagement_events").result_rows[0][0]
    finally:
        client.close()


def stop(process: PipelineProcess, second_after: float | None = None) -> int:
    """SIGINT (and a second one `second_after` seconds later); the exit status."""
    process.proc.send_signal(signal.SIGINT)
    if second_after is not None:
        time.sleep(second_after)
        process.proc.send_signal(signal.SIGINT)
    return process.proc.wait(timeout=120)


def test_a_clean_stop_stores_everything_the_embedded_broker_acknowledged(settings):
    settings.data_dir.mkdir(parents=True)
    n = 60_000
    process = PipelineProcess(settings, settings.data_dir / "pipeline.log").start()
    producer = open_producer(process.info["kafka"])
    send_raw(producer, events(n))  # acknowledged by the broker, nothing waits for the store
    producer.close()
    assert process.status()["processed"]["records"] < n  # still in the broker when the stop comes
    assert stop(process) == 0
    log = process.log_path.read_text()
    assert "still in the embedded broker" in log and "stored the" in log and "stopped cleanly" in log
    assert stored(settings) == n


def test_send_to_the_embedded_broker_reports_accepted_only_once_stored(settings, tmp_path):
    settings.data_dir.mkdir(parents=True)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(raw for _, raw in events(30_000, prefix="s")) + b"\n")
    with PipelineProcess(settings, settings.data_dir / "pipeline.log") as process:
        sent = cli(settings, "send", str(path))
        assert sent.returncode == 0, sent.stderr.decode()
        assert b"accepted 30000, rejected 0 (stored)" in sent.stderr
        # Right away, no waiting: every one of them is in the store already.
        assert process.status()["stored"]["engagement_events"] == 30_000
        assert stop(process) == 0


def test_http_ingest_busy_during_a_stop_loses_nothing_it_accepted(settings):
    settings.data_dir.mkdir(parents=True)
    process = PipelineProcess(settings, settings.data_dir / "pipeline.log",
                              extra_env={"PARTNERPULSE_INGEST_TOKENS": "tok"}).start()  # fmt: skip
    url = process.info["web_url"] + "/events"
    accepted, refused, stop_sent = [], [], threading.Event()

    def post_until_refused():
        for batch in range(10_000):
            body = orjson.dumps([orjson.loads(raw) for _, raw in events(200, prefix=f"h{batch}")])
            req = urllib.request.Request(url, data=body, method="POST", headers={
                "Authorization": "Bearer tok", "Content-Type": "application/cloudevents-batch+json"})  # fmt: skip
            try:
                with urllib.request.urlopen(req, timeout=90) as response:
                    answer = orjson.loads(response.read())
                accepted.extend(r["id"] for r in answer["results"] if r["status"] == "accepted")
            except urllib.error.HTTPError as exc:
                refused.append(exc.code)
                if stop_sent.is_set():
                    return
            except OSError:  # the port closed: the pipeline stopped
                return

    poster = threading.Thread(target=post_until_refused)
    poster.start()
    while len(accepted) < 2_000:
        time.sleep(0.05)
    stop_sent.set()
    assert stop(process) == 0
    poster.join(timeout=120)
    assert accepted and stored(settings) >= len(accepted)
    client = connect(settings.clickhouse)
    try:
        ids = {r[0] for r in client.query("SELECT id FROM engagement_events").result_rows}
    finally:
        client.close()
    assert set(accepted) <= ids  # every event answered "accepted" was stored
    assert set(refused) <= {503}


def test_a_second_ctrl_c_stops_at_once_and_says_what_was_lost(settings):
    settings.data_dir.mkdir(parents=True)
    n = 150_000
    process = PipelineProcess(settings, settings.data_dir / "pipeline.log").start()
    producer = open_producer(process.info["kafka"])
    send_raw(producer, events(n, prefix="c"))
    producer.close()
    started = time.monotonic()
    assert stop(process, second_after=0.5) == 1
    log = process.log_path.read_text()
    assert "stopped before the embedded broker was drained" in log and "lost" in log
    # What it says was lost is a lower bound (the embedded broker under-reports its log
    # end), never more than what was really left.
    said = re.search(r"at least ([\d,]+) events", log)
    assert stored(settings) + (int(said.group(1).replace(",", "")) if said else 0) <= n
    assert time.monotonic() - started < 60


def test_a_crash_loses_nothing_that_send_reported_accepted(settings, tmp_path):
    settings.data_dir.mkdir(parents=True)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(raw for _, raw in events(100_000, prefix="k")) + b"\n")
    process = PipelineProcess(settings, settings.data_dir / "pipeline.log").start()
    result = {}
    quick = {"PARTNERPULSE_BROKER_TIMEOUT": "10"}  # the broker dies with the pipeline: do not wait a minute
    sender = threading.Thread(
        target=lambda: result.update(done=cli(settings, "send", str(path), timeout=300, extra_env=quick))
    )
    sender.start()
    while process.status()["processed"]["records"] < 5_000:
        time.sleep(0.05)
    process.proc.send_signal(signal.SIGKILL)  # no drain: the broker's memory is gone
    process.proc.wait()
    sender.join(timeout=300)
    sent = result["done"]
    # send never saw them stored, so it says so: nothing it called accepted can be lost.
    assert sent.returncode == 1
    assert b"not confirmed stored" in sent.stderr or b"not acknowledged" in sent.stderr
    assert 0 < stored(settings) < 100_000

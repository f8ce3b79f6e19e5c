"""`partnerpulse demo`: a simulated partner population through the real pipeline (a
`partnerpulse up` subprocess on a fresh data dir), then the health table, the alerts,
the dead letters and the HTML report."""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from streams.broker.producer import open_producer
from streams.config import TOPIC_EVENTS, Settings
from streams.demo import simulator
from streams.errors import PipelineError
from streams.formats import iso, parse_iso
from streams.reporting import report, terminal
from streams.rules.watermark import midnight_at_or_before
from streams.worker.process import PipelineProcess

# The demo's stream ends when the simulation does: let idle partitions release the
# watermark after 2 s instead of 30 s, so the last midnights are evaluated promptly.
DEMO_SCORING = "watermark:\n  idle_partition_seconds: 2\n"
SEND_CHUNK = 500


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=False)  # fmt: skip


def _send(records: list[tuple[bytes | None, bytes]], bootstrap: str, progress: Progress) -> None:
    """Produce the simulated records as they are (bad ones too: the pipeline sorts them)."""
    sending = progress.add_task("Sending   ", total=len(records))
    producer = open_producer(bootstrap)
    try:
        for i in range(0, len(records), SEND_CHUNK):
            chunk = records[i : i + SEND_CHUNK]
            futures = [producer.send(TOPIC_EVENTS, key=k, value=v) for k, v in chunk]
            producer.flush()
            for f in futures:
                f.get(timeout=30)
            progress.advance(sending, len(chunk))
    finally:
        producer.close()


def _wait_until_evaluated(pipeline: PipelineProcess, records: int, first_midnight: datetime,
                          final_midnight: datetime, progress: Progress) -> None:  # fmt: skip
    processing = progress.add_task("Processing", total=records)
    evaluating = progress.add_task("Evaluating", total=(final_midnight - first_midnight).days + 1)
    deadline = time.monotonic() + 600
    while True:
        status = pipeline.status()
        progress.update(processing, completed=min(status["processed"]["records"], records))
        done = status["last_evaluated"]
        if done:
            progress.update(evaluating, completed=(parse_iso(done) - first_midnight).days + 1)
        if status["processed"]["records"] >= records and done and parse_iso(done) >= final_midnight:
            return
        if time.monotonic() > deadline:
            raise PipelineError(f"the demo did not finish within 10 minutes; see {pipeline.log_path}")
        time.sleep(0.2)


def _wait_until_delivered(pipeline: PipelineProcess, within: float = 30.0) -> None:
    """The last alerts are on their way to the topic: let them arrive before the stop, so
    none shows `sending` afterwards."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        waiting = [d for a in pipeline.get("/api/alerts") for d in a["deliveries"]
                   if d["state"] != "delivered" and not d["attempts"]]  # fmt: skip
        if not waiting:
            return
        time.sleep(0.5)


def run(
    settings: Settings,
    out: Console,
    err: Console,
    partners: int = 40,
    days: int = 180,
    seed: int = 7,
    report_path: Path = Path("partnerpulse-report.html"),
) -> dict:
    data_dir = settings.data_dir / "demo"
    shutil.rmtree(data_dir, ignore_errors=True)  # a fresh demo every time
    data_dir.mkdir(parents=True)
    demo_settings = replace(settings, data_dir=data_dir)
    if demo_settings.embedded_clickhouse:
        demo_settings = replace(demo_settings, clickhouse=f"chdb://{data_dir / 'clickhouse'}")
    scoring_file = data_dir / "scoring.yaml"
    scoring_file.write_text(DEMO_SCORING)

    sim = simulator.simulate(partners, days, seed)
    valid = simulator.events_of(sim)
    last_time = max(parse_iso(e["time"]) for e in valid)
    final_midnight = midnight_at_or_before(last_time - timedelta(hours=1))
    first_midnight = midnight_at_or_before(sim.start)
    err.print(f"Simulated {partners} partners over {days} days: {sim.engagements} engagements, "
              f"{sim.duplicates} duplicates, {sim.late} late events, {sim.malformed} malformed records.",
              highlight=False)  # fmt: skip

    pipeline = PipelineProcess(demo_settings, data_dir / "pipeline.log",
                               extra_env={"PARTNERPULSE_SCORING": str(scoring_file)})  # fmt: skip
    with err.status("Starting the pipeline (broker, ClickHouse, worker)…"):
        pipeline.start()
    try:
        with _progress(err) as progress:
            _send(sim.records, pipeline.info["kafka"], progress)
            _wait_until_evaluated(pipeline, len(sim.records), first_midnight, final_midnight, progress)
        _wait_until_delivered(pipeline)
        as_of = iso(sim.end)
        health = pipeline.get("/api/health?" + urlencode({"as_of": as_of}))
        alerts = pipeline.get("/api/alerts?" + urlencode({"state": "firing"}))
        reasons = pipeline.get("/api/dead_letter_reasons")
        data = pipeline.get("/api/report?" + urlencode({"as_of": as_of}))
    finally:
        pipeline.stop()

    out.print(terminal.health_table(health, as_of, out.width))
    out.print(terminal.alerts_table(alerts, out.width))
    out.print(terminal.dead_letters_table(reasons))
    report.write(data, report_path)
    out.print(f"Report: {report_path.resolve()}  ·  data kept in {data_dir} (try "
              f"`PARTNERPULSE_DATA_DIR={data_dir} partnerpulse alerts`)", highlight=False)  # fmt: skip
    return {"health": health, "alerts": alerts, "dead_letters": reasons, "simulation": sim}

"""`partnerpulse demo`: the example events, and a bad producer's records, through the
real pipeline (a `partnerpulse up` subprocess on a fresh data dir), then the results."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace

from rich.console import Console
from rich.table import Table

from streams import badinput
from streams.config import Settings
from streams.paths import SCHEMAS_DIR
from streams.pipeline import PipelineProcess
from streams.producer import open_producer, read_lines, send_lines, send_raw


def run(settings: Settings, out: Console, err: Console) -> None:
    demo_settings = replace(settings, data_dir=settings.data_dir / "demo")
    if demo_settings.embedded_clickhouse and "PARTNERPULSE_CLICKHOUSE" not in os.environ:
        demo_settings = replace(demo_settings, clickhouse=f"chdb://{demo_settings.data_dir / 'clickhouse'}")
        shutil.rmtree(demo_settings.data_dir, ignore_errors=True)  # a fresh demo every time
    demo_settings.data_dir.mkdir(parents=True, exist_ok=True)
    log_path = demo_settings.data_dir / "pipeline.log"

    pipeline = PipelineProcess(demo_settings, log_path)
    with err.status("Starting the pipeline (broker, ClickHouse, worker)…"):
        pipeline.start()
    try:
        producer = open_producer(pipeline.info["kafka"])
        try:
            examples = [SCHEMAS_DIR / "examples" / "events.jsonl"]
            report = send_lines(producer, read_lines(map(str, examples)))
            bad = badinput.bad_records()
            send_raw(producer, [(None, raw) for _, _, raw in bad])
        finally:
            producer.close()
        sent = report.accepted + len(bad)
        with err.status(f"Processing {sent} records…"):
            status = pipeline.wait_processed(sent)
    finally:
        pipeline.stop()

    processed, stored = status["processed"], status["stored"]
    table = Table(title="PartnerPulse demo: where every record went")
    table.add_column("destination")
    table.add_column("records", justify="right")
    table.add_row("engagement_events (stored)", str(stored["engagement_events"]))
    table.add_row("partners (profiles stored)", str(stored["partners"]))
    table.add_row("duplicates (same source+id, counted once)", str(processed["duplicates"]))
    table.add_row("dead_letters (with a reason)", str(stored["dead_letters"]))
    table.add_row("[bold]records sent", f"[bold]{sent}")
    out.print(table)
    out.print(
        f"Data kept in {demo_settings.data_dir}: try "
        f"`PARTNERPULSE_DATA_DIR={demo_settings.data_dir} partnerpulse dlq list`",
        highlight=False,
    )

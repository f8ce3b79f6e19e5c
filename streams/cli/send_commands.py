"""`send` and `dlq`: getting events in, and the ones that could not be accepted."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from streams import config
from streams.cli.output import Format, ask, emit, err, fail, say, shorten
from streams.errors import SendError
from streams.formats import json_bytes


def send(
    files: Annotated[list[str], typer.Argument(help="JSONL files of CloudEvents, one per line (- for stdin), or CSV")],
    mapping: Annotated[
        Path | None, typer.Option(help="YAML mapping of CSV columns to event fields (see schemas/mappings/)")
    ] = None,
    wait: Annotated[
        bool, typer.Option(help="on the embedded broker, return once the events are stored (it keeps them in memory)")
    ] = True,
) -> None:
    """Validate events and produce the valid ones to `engagement-events`, keyed by partner id.
    CSV rows are mapped to events by --mapping; rejected rows go to FILE.rejects.csv.
    On the embedded broker, an event counts as accepted once the pipeline stored it."""
    from streams.broker.producer import close, open_producer, send_lines, send_valid
    from streams.ingest import csv_import
    from streams.ingest.files import read_lines
    from streams.worker import remote
    from streams.worker.runtime import bootstrap_for, find

    settings = config.load()
    for name in files:
        if name != "-" and not Path(name).is_file():
            raise fail(f"cannot read {name}: no such file")
    csv_files = [f for f in files if f != "-" and Path(f).suffix.lower() == ".csv"]
    imports = {}
    if csv_files:
        if mapping is None:
            raise SendError(f"{csv_files[0]}: a CSV file needs --mapping MAPPING.yaml (see schemas/mappings/)")
        rules = csv_import.load_mapping(mapping)
        imports = {f: csv_import.read_csv(f, rules) for f in csv_files}
    producer = open_producer(bootstrap_for(settings), settings.broker_timeout)
    try:
        report = send_lines(producer, read_lines([f for f in files if f not in imports]))
        for name, result in imports.items():
            report.rejected += [(name, number, reason) for number, _, reason in result.rejected]
            send_valid(producer, [(name, 0, a, json_bytes(a.event)) for a in result.accepted], report)
    finally:
        close(producer)
    for name, result in imports.items():
        written = csv_import.write_rejects(name, result)
        if written:
            say(f"{name}: {len(result.rejected)} rejected row(s) written to {written}")
    embedded = None if settings.kafka else find(settings)
    unstored = 0
    if embedded and wait and report.offsets:
        # The embedded broker keeps its log in memory: acknowledged is not yet kept.
        with err.status(f"waiting until the pipeline has stored the {report.accepted:,} accepted events…"):
            if not remote.wait_stored(settings, embedded, report.offsets, timeout=settings.broker_timeout * 2):
                unstored = report.accepted
    for name, number, reason in report.rejected + report.failed:
        say(f"{name}:{number}: {reason}" if number else f"{name}: {reason}")
    if unstored:
        say(f"the embedded broker acknowledged {unstored:,} events, but the pipeline has not confirmed storing "
            "them (it stopped, or the store is away): check with `partnerpulse health`, and send again if they "
            "are missing (the same ids count once)")  # fmt: skip
    say(f"accepted {report.accepted - unstored}, rejected {len(report.rejected)}"
        + (f", not acknowledged {len(report.failed)}" if report.failed else "")
        + (f", not confirmed stored {unstored}" if unstored else "")
        + (" (stored)" if embedded and wait and not unstored and report.accepted else ""))  # fmt: skip
    if not report.ok or unstored:
        raise typer.Exit(1)


def dlq_list(
    fmt: Annotated[Format, typer.Option("--format", help="table, json or csv")] = Format.table,
    limit: Annotated[int, typer.Option(min=1, help="at most this many, newest first")] = 1000,
    code: Annotated[str | None, typer.Option(help="only this class, e.g. invalid_json")] = None,
) -> None:
    """Every dead letter with its reason and raw payload (non-UTF-8 bytes shown as \\xNN)."""
    rows = ask("dead_letters", limit=limit, code=code)
    if fmt is Format.table:
        for row in rows:
            row["payload"] = shorten(row["payload"], 60)
    for row in rows:
        row["partner"] = partner_of(row)
    emit(
        rows,
        fmt,
        ["received_at", "partner", "code", "reason", "event_id", "payload"] if fmt is not Format.json else [],
        title=f"Dead letters ({len(rows)})",
    )


def partner_of(letter: dict) -> str:
    """The partner a dead letter was meant for, as far as it says (ce_subject or subject)."""
    headers = dict(letter.get("headers") or [])
    if "ce_subject" in headers:
        return headers["ce_subject"]
    try:
        subject = orjson.loads(letter["payload"]).get("subject")
    except (orjson.JSONDecodeError, AttributeError):
        return ""
    return subject if isinstance(subject, str) else ""


def dlq_replay() -> None:
    """Re-submit the dead letters that pass validation now (after a fix); keep what still fails."""
    from streams.broker.producer import close, open_producer, unacknowledged
    from streams.ingest.replay import replay
    from streams.store.connection import connect
    from streams.worker import remote, runtime

    settings = config.load()
    info = runtime.find(settings)
    if info is not None:  # the running pipeline owns the store: it replays
        result = remote.call(info["web_url"] + "/dlq/replay", remote.token_for(settings, info), timeout=300,
                             method="POST")  # fmt: skip
    else:
        if settings.embedded_kafka:
            raise SendError(
                "start `partnerpulse up` first (the embedded broker lives inside it), or set PARTNERPULSE_KAFKA"
            )
        client = connect(settings.clickhouse)
        producer = open_producer(settings.kafka, settings.broker_timeout)
        try:
            result = replay(client, lambda items: unacknowledged(producer, items)).as_json()
        finally:
            close(producer)
            client.close()
    err.print(f"replayed {result['replayed']}, still failing {result['still_failing']}"
              + (f", not acknowledged {result['not_acknowledged']} (kept; run replay again)"
                 if result["not_acknowledged"] else ""), highlight=False)  # fmt: skip
    if result["not_acknowledged"]:
        raise typer.Exit(1)

"""The `partnerpulse` command line (../shared/CONTRACT.md §6)."""

from __future__ import annotations

import csv
import io
import sys
import urllib.request
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from streams import config
from streams.broker.embedded import BrokerError
from streams.broker.producer import SendError, bootstrap_for, open_producer, read_lines, send_lines
from streams.broker.producer import close as close_producer
from streams.reporting import terminal as views
from streams.rules.scoring import COMPONENTS, ScoringError
from streams.store.connection import StoreError
from streams.store.metrics import METRIC_FIELDS as HEALTH_METRICS
from streams.worker import runtime

app = typer.Typer(
    help="PartnerPulse: which channel partners are you losing? Health of vendor ↔ partner relationships.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
dlq_app = typer.Typer(
    help="The dead letters: records that could not be accepted, with the reason.", no_args_is_help=True
)
app.add_typer(dlq_app, name="dlq")
dashboards_app = typer.Typer(
    help="Grafana dashboards, datasource and alert rules (files under dashboards/).", no_args_is_help=True
)
app.add_typer(dashboards_app, name="dashboards")

# No emoji codes, and user data never printed as markup: a file, partner or reason
# shows exactly as it is ("data:1234:" stays, "[red]" stays).
out = Console(emoji=False)
err = Console(stderr=True, emoji=False)


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def fail(message: str, status: int = 1) -> typer.Exit:
    err.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)
    return typer.Exit(status)


def emit(rows: list[dict], fmt: Format, columns: list[str], title: str) -> None:
    """Print rows as a rich table, one JSON array, or CSV; nothing else on stdout."""
    if fmt is Format.json:
        sys.stdout.write(orjson.dumps(rows).decode() + "\n")
    elif fmt is Format.csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(buffer.getvalue())
    else:
        table = Table(title=title, show_lines=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(Text(str(row.get(c, ""))) for c in columns))
        out.print(table)


@app.command()
def up() -> None:
    """Run the whole pipeline (embedded broker and ClickHouse unless configured) until Ctrl-C."""
    from streams.worker import pipeline

    settings = config.load()

    def announce(info: dict) -> None:
        kafka = f"{info['kafka']} (embedded)" if info["embedded_kafka"] else info["kafka"]
        err.print(
            f"[bold green]PartnerPulse is up[/]  Kafka {kafka} · ClickHouse {info['clickhouse']} · "
            f"HTTP API {info['web_url']}  — Ctrl-C to stop",
            highlight=False,
        )

    try:
        pipeline.run(settings, announce=announce)
    except (StoreError, BrokerError, runtime.PipelineError) as exc:
        raise fail(str(exc)) from None
    err.print("PartnerPulse stopped cleanly.")


@app.command()
def init(
    partitions: Annotated[
        int | None, typer.Option(help="partitions of new topics (default PARTNERPULSE_PARTITIONS)")
    ] = None,
) -> None:
    """Create the topics and apply the ClickHouse migrations (a deployment's one-shot job)."""
    from streams.broker import embedded as broker
    from streams.store import connection as store

    settings = config.load()
    if settings.embedded_kafka:
        raise fail("init prepares a real deployment: set PARTNERPULSE_KAFKA (the embedded broker lives inside `up`)")
    try:
        broker.ensure_topics(settings.kafka, partitions or settings.partitions, timeout=settings.broker_timeout)
        store.connect(settings.clickhouse).close()
    except (BrokerError, StoreError) as exc:
        raise fail(str(exc)) from None
    err.print(f"topics ready on {settings.kafka}; ClickHouse migrated at {config.redact(settings.clickhouse)}",
              highlight=False)  # fmt: skip


@app.command()
def send(
    files: Annotated[list[str], typer.Argument(help="JSONL files of CloudEvents, one per line (- for stdin), or CSV")],
    mapping: Annotated[
        Path | None, typer.Option(help="YAML mapping of CSV columns to event fields (see schemas/mappings/)")
    ] = None,
) -> None:
    """Validate events and produce the valid ones to `engagement-events`, keyed by partner id.
    CSV rows are mapped to events by --mapping; rejected rows go to FILE.rejects.csv."""
    from streams.broker.producer import send_valid
    from streams.ingest import csv_import as csvimport

    settings = config.load()
    for name in files:
        if name != "-" and not Path(name).is_file():
            raise fail(f"cannot read {name}: no such file")
    csv_files = [f for f in files if f != "-" and Path(f).suffix.lower() == ".csv"]
    imports = {}
    try:
        if csv_files:
            if mapping is None:
                raise SendError(f"{csv_files[0]}: a CSV file needs --mapping MAPPING.yaml (see schemas/mappings/)")
            rules = csvimport.load_mapping(mapping)
            imports = {f: csvimport.read_csv(f, rules) for f in csv_files}
        bootstrap = bootstrap_for(settings)
        producer = open_producer(bootstrap, settings.broker_timeout)
        try:
            report = send_lines(producer, read_lines([f for f in files if f not in imports]))
            for name, result in imports.items():
                report.rejected += [(name, number, reason) for number, _, reason in result.rejected]
                items = [(name, 0, a, orjson.dumps(a.event)) for a in result.accepted]
                send_valid(producer, items, report)
        finally:
            close_producer(producer)
    except (SendError, csvimport.MappingError) as exc:
        raise fail(str(exc)) from None
    for name, result in imports.items():
        written = csvimport.write_rejects(name, result)
        if written:
            err.print(f"{name}: {len(result.rejected)} rejected row(s) written to {written}", highlight=False,
                      markup=False)  # fmt: skip
    for name, number, reason in report.rejected + report.failed:
        where = f"{name}:{number}" if number else name
        err.print(f"{where}: {reason}", highlight=False, soft_wrap=True, markup=False)
    err.print(
        f"accepted {report.accepted}, rejected {len(report.rejected)}"
        + (f", not acknowledged {len(report.failed)}" if report.failed else ""),
        highlight=False,
    )
    if not report.ok:
        raise typer.Exit(1)


@dlq_app.command("list")
def dlq_list(
    fmt: Annotated[Format, typer.Option("--format", help="table, json or csv")] = Format.table,
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 1000,
    code: Annotated[str | None, typer.Option(help="only this class, e.g. invalid_json")] = None,
) -> None:
    """Every dead letter with its reason and raw payload (non-UTF-8 bytes shown as \\xNN)."""
    rows = _ask("dead_letters", limit=limit, code=code)
    if fmt is Format.table:
        for row in rows:
            row["payload"] = _shorten(row["payload"], 60)
    emit(
        rows,
        fmt,
        ["received_at", "code", "reason", "source", "event_id", "size", "payload"] if fmt is not Format.json else [],
        title=f"Dead letters ({len(rows)})",
    )


@dlq_app.command("replay")
def dlq_replay() -> None:
    """Re-submit the dead letters that pass validation now (after a fix); keep what still fails."""
    from streams.broker.producer import SendReport, send_valid
    from streams.rules.validation import revalidate
    from streams.store import connection as store
    from streams.store import reads as queries

    settings = config.load()
    try:
        info = runtime.find(settings)
        if info is not None:  # the running pipeline owns the store: it replays
            request = urllib.request.Request(info["web_url"] + "/dlq/replay", data=b"", method="POST")
            with urllib.request.urlopen(request, timeout=300) as response:
                result = orjson.loads(response.read())
        else:
            if settings.embedded_kafka:
                raise SendError("start `partnerpulse up` first (the embedded broker lives inside it), "
                                "or set PARTNERPULSE_KAFKA")  # fmt: skip
            client = store.connect(settings.clickhouse)
            try:
                letters = queries.dead_letter_payloads(client)
                passing = revalidate(letters)
                producer = open_producer(settings.kafka, settings.broker_timeout)
                report = SendReport()
                try:
                    send_valid(producer, [(i, 0, r, raw) for i, raw, r in passing], report)
                finally:
                    close_producer(producer)
                failed = {name for name, _, _ in report.failed}
                done = [i for i, _, _ in passing if i not in failed]
                queries.forget_dead_letters(client, done)
            finally:
                client.close()
            result = {"replayed": len(done), "still_failing": len(letters) - len(passing),
                      "not_acknowledged": len(failed)}  # fmt: skip
    except (SendError, StoreError, runtime.PipelineError) as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"the running pipeline did not answer the replay: {exc}") from None
    err.print(f"replayed {result['replayed']}, still failing {result['still_failing']}"
              + (f", not acknowledged {result['not_acknowledged']} (kept; run replay again)"
                 if result["not_acknowledged"] else ""), highlight=False)  # fmt: skip
    if result["not_acknowledged"]:
        raise typer.Exit(1)


def _ask(name: str, **params):
    try:
        return runtime.ask(config.load(), name, **params)
    except (StoreError, runtime.PipelineError, ScoringError, ValueError) as exc:
        raise fail(str(exc)) from None


class Status(StrEnum):
    disengaged = "disengaged"
    at_risk = "at_risk"
    new = "new"
    healthy = "healthy"


HEALTH_CSV_COLUMNS = [
    "partner_id",
    "name",
    "status",
    "score",
    *HEALTH_METRICS,
    *(f"components.{c}" for c in COMPONENTS),
]


@app.command()
def health(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="event time T: 2026-11-20 (00:00Z) or RFC 3339; default now")
    ] = None,
    status: Annotated[Status | None, typer.Option(help="only partners with this status")] = None,
    partner: Annotated[str | None, typer.Option(help="only this partner id")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, json or csv")] = Format.table,
) -> None:
    """One row per partner: every metric, the components, score and status; worst first."""
    rows = _ask("health", as_of=as_of, status=status.value if status else None, partner=partner)
    if fmt is Format.json:
        emit(rows, fmt, [], "")
    elif fmt is Format.csv:
        flat = [{**r, **{f"components.{k}": v for k, v in r["components"].items()}} for r in rows]
        emit(flat, fmt, HEALTH_CSV_COLUMNS, "")
    else:
        out.print(views.health_table(rows, as_of))


class AlertState(StrEnum):
    firing = "firing"
    resolved = "resolved"


ALERT_CSV_COLUMNS = [
    "id", "partner_id", "name", "kind", "state", "fired_at", "resolved_at", "reason", "resolved_reason",
    "undelivered", "metrics",
]  # fmt: skip


@app.command()
def alerts(
    since: Annotated[
        str | None, typer.Option(help="only alerts that fired or resolved at or after T (date or RFC 3339)")
    ] = None,
    state: Annotated[AlertState | None, typer.Option(help="firing or resolved")] = None,
    partner: Annotated[str | None, typer.Option(help="only this partner id")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, json or csv")] = Format.table,
) -> None:
    """Alert episodes (disengaged, declining, one-sided), newest first, with what triggered each."""
    rows = _ask("alerts", since=since, state=state.value if state else None, partner=partner)
    if fmt is Format.json:
        emit(rows, fmt, [], "")
        return
    for r in rows:
        r["undelivered"] = sum(d["state"] != "delivered" for d in r.get("deliveries", []))
    if fmt is Format.csv:
        emit([{**r, "metrics": orjson.dumps(r["metrics"]).decode()} for r in rows], fmt, ALERT_CSV_COLUMNS, "")
        return
    out.print(views.alerts_table(rows))


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@app.command()
def report(
    out_file: Annotated[Path, typer.Option("--out", help="where to write the HTML file")] = Path(
        "partnerpulse-report.html"
    ),
    as_of: Annotated[str | None, typer.Option("--as-of", help="event time T: a date or RFC 3339; default now")] = None,
) -> None:
    """Write a self-contained HTML report (charts embedded; opens without a network)."""
    from streams.reporting import report as report_module

    data = _ask("report", as_of=as_of)
    try:
        path = report_module.write(data, out_file)
    except OSError as exc:
        raise fail(f"cannot write {out_file}: {exc.strerror}") from None
    err.print(f"wrote {path} ({path.stat().st_size // 1024:,} KiB)", highlight=False, markup=False)


@dashboards_app.command("build")
def dashboards_build() -> None:
    """Regenerate the dashboards JSON and provisioning files under dashboards/."""
    from streams.reporting import grafana
    from streams.rules.scoring import load_scoring

    try:
        written = grafana.build(load_scoring())
    except ScoringError as exc:
        raise fail(str(exc)) from None
    err.print(f"{len(written)} file(s) changed under {grafana.DASHBOARDS_DIR}", highlight=False)


@dashboards_app.command("publish")
def dashboards_publish(
    grafana_url: Annotated[str, typer.Option("--grafana-url", help="e.g. https://grafana.example.com")],
    folder: Annotated[str, typer.Option(help="Grafana folder for the dashboards and alert rules")] = "PartnerPulse",
) -> None:
    """Create or update the datasource (from PARTNERPULSE_CLICKHOUSE), dashboards and alert rules
    in a Grafana; the token comes from GRAFANA_TOKEN. Running it twice changes nothing."""
    from streams.reporting import grafana
    from streams.rules.scoring import load_scoring

    settings = config.load()
    try:
        report = grafana.publish(grafana_url, grafana.token_from_env(), load_scoring(), settings.clickhouse, folder)
    except (grafana.PublishError, ScoringError) as exc:
        raise fail(str(exc)) from None
    for verb, items in (("created", report.created), ("updated", report.updated)):
        for item in items:
            err.print(f"{verb} {item}", highlight=False)
    err.print(
        f"published to {grafana_url}: {len(report.created)} created, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged",
        highlight=False,
    )


@app.command()
def demo(
    partners: Annotated[int, typer.Option(min=1, max=5000, help="how many partners to simulate")] = 40,
    days: Annotated[int, typer.Option(min=7, max=1500, help="how many days of history, ending now")] = 180,
    seed: Annotated[int, typer.Option(help="random seed: the same seed gives the same population")] = 7,
    report_out: Annotated[Path, typer.Option("--report", help="where to write the HTML report")] = Path(
        "partnerpulse-report.html"
    ),
) -> None:
    """A simulated partner population through the real pipeline, then health, alerts and a report."""
    from streams.demo import run as demo_module

    try:
        demo_module.run(config.load(), out, err, partners=partners, days=days, seed=seed, report_path=report_out)
    except (StoreError, BrokerError, runtime.PipelineError, SendError) as exc:
        raise fail(str(exc)) from None


def main() -> None:
    try:
        app()
    except OSError as exc:
        # A file or folder we cannot use (full disk, no permission, not a directory):
        # one line that names it, whichever command hit it.
        where = f" {exc.filename}" if exc.filename else ""
        fail(f"cannot use{where}: {exc.strerror or exc}; check PARTNERPULSE_DATA_DIR and free space")
        sys.exit(1)


if __name__ == "__main__":
    main()

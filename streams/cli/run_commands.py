"""`up`, `init` and `demo`: running the pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from streams import config
from streams.cli.output import err, fail, out, say


def up() -> None:
    """Run the whole pipeline (embedded broker and ClickHouse unless configured) until Ctrl-C."""
    from streams.worker import pipeline

    def announce(info: dict) -> None:
        kafka = f"{info['kafka']} (embedded)" if info["embedded_kafka"] else info["kafka"]
        err.print(
            f"[bold green]PartnerPulse is up[/]  Kafka {kafka} · ClickHouse {info['clickhouse']} · "
            f"HTTP API {info['web_url']}  — Ctrl-C to stop",
            highlight=False,
        )

    pipeline.run(config.load(), announce=announce, say=say)
    err.print("PartnerPulse stopped cleanly.")


def init(
    partitions: Annotated[
        int | None, typer.Option(help="partitions of new topics (default PARTNERPULSE_PARTITIONS)")
    ] = None,
) -> None:
    """Create the topics and apply the ClickHouse migrations (a deployment's one-shot job)."""
    from streams.broker.embedded import ensure_topics
    from streams.store.connection import connect

    settings = config.load()
    if settings.embedded_kafka:
        raise fail("init prepares a real deployment: set PARTNERPULSE_KAFKA (the embedded broker lives inside `up`)")
    ensure_topics(settings.kafka, partitions or settings.partitions, timeout=settings.broker_timeout)
    connect(settings.clickhouse).close()
    err.print(f"topics ready on {settings.kafka}; ClickHouse migrated at {config.redact(settings.clickhouse)}",
              highlight=False)  # fmt: skip


def demo(
    partners: Annotated[int, typer.Option(min=1, max=5000, help="how many partners to simulate")] = 40,
    days: Annotated[int, typer.Option(min=7, max=1500, help="how many days of history, ending now")] = 180,
    seed: Annotated[int, typer.Option(help="random seed: the same seed gives the same population")] = 7,
    report_out: Annotated[Path, typer.Option("--report", help="where to write the HTML report")] = Path(
        "partnerpulse-report.html"
    ),
) -> None:
    """A simulated partner population through the real pipeline, then health, alerts and a report."""
    from streams.demo import run

    run.run(config.load(), out, err, partners=partners, days=days, seed=seed, report_path=report_out)

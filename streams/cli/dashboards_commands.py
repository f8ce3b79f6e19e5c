"""`dashboards build` and `dashboards publish`: Grafana as code."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from streams import config
from streams.cli.output import Format, ask, emit, err, out, show
from streams.cli.read_commands import TableOrJson
from streams.reporting import terminal
from streams.reporting.panel_types import DASHBOARDS

RunbookOption = Annotated[
    str | None,
    typer.Option("--runbook-url", help="where dashboards/RUNBOOK.md is hosted: alert rules link to its sections"),
]


def dashboards_build(runbook_url: RunbookOption = None) -> None:
    """Regenerate the dashboards JSON and provisioning files under dashboards/."""
    from streams.reporting import grafana
    from streams.rules.scoring import load_scoring

    written = grafana.build(load_scoring(), runbook_url=runbook_url)
    err.print(f"{len(written)} file(s) changed under {grafana.DASHBOARDS_DIR}", highlight=False)


Board = StrEnum("Board", {name: name for name in DASHBOARDS})


def dashboards_show(
    dashboard: Annotated[Board, typer.Argument(help="overview, partner or pipeline")] = Board.overview,
    partner: Annotated[str | None, typer.Option(help="the partner id (the partner dashboard)")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="the range's end: a date or RFC 3339; default now")
    ] = None,
    since: Annotated[str | None, typer.Option(help="the range's start; default 180 days (pipeline: 1) before")] = None,
    region: Annotated[str | None, typer.Option(help="overview filter: regions, comma-separated")] = None,
    tier: Annotated[str | None, typer.Option(help="overview filter: tiers, comma-separated")] = None,
    account_manager: Annotated[str | None, typer.Option(help="overview filter: account managers")] = None,
    quadrant: Annotated[str | None, typer.Option(help="overview filter: core, invest, review, deprioritise")] = None,
    rows: Annotated[int, typer.Option(min=1, help="rows per panel in the table")] = 10,
    fmt: Annotated[TableOrJson, typer.Option("--format", help="table or json")] = TableOrJson.table,
) -> None:
    """What each panel of a dashboard shows, from the same SQL Grafana runs: the dashboards
    where no Grafana runs."""
    filters = {"region": region, "tier": tier, "account_manager": account_manager, "quadrant": quadrant}
    answer = ask("panels", dashboard=dashboard.value, partner=partner, as_of=as_of, since=since,
                 **{k: v for k, v in filters.items() if v})  # fmt: skip
    if fmt is TableOrJson.json:
        emit(answer, Format.json, [], "")
    else:
        show(terminal.panels_view(answer, out.width, rows))


def dashboards_publish(
    grafana_url: Annotated[str, typer.Option("--grafana-url", help="e.g. https://grafana.example.com")],
    folder: Annotated[str, typer.Option(help="Grafana folder for the dashboards and alert rules")] = "PartnerPulse",
    editable_rules: Annotated[
        bool, typer.Option("--editable-rules", help="let Grafana's UI edit the alert rules (no API provenance)")
    ] = False,
    runbook_url: RunbookOption = None,
) -> None:
    """Create or update the datasource (from PARTNERPULSE_CLICKHOUSE), dashboards and alert rules
    in a Grafana; the token comes from GRAFANA_TOKEN. Running it twice changes nothing."""
    from streams.reporting import grafana
    from streams.rules.scoring import load_scoring

    settings = config.load()
    options = grafana.RuleOptions(editable=editable_rules, runbook_url=runbook_url)
    report = grafana.publish(grafana_url, config.grafana_token(), load_scoring(), settings.clickhouse, folder, options)
    for verb, items in (("created", report.created), ("updated", report.updated)):
        for item in items:
            err.print(f"{verb} {item}", highlight=False)
    err.print(
        f"published to {grafana_url}: {len(report.created)} created, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged",
        highlight=False,
    )
    if editable_rules:
        err.print("alert rules are editable in Grafana's UI; the next publish puts back what the code says",
                  highlight=False)  # fmt: skip
    else:
        err.print("alert rules are provisioned: Grafana's UI shows them read-only (change them in "
                  "streams/reporting/grafana_models.py and publish again, or publish with --editable-rules)",
                  highlight=False)  # fmt: skip

"""`dashboards build` and `dashboards publish`: Grafana as code."""

from __future__ import annotations

from typing import Annotated

import typer

from streams import config
from streams.cli.output import err

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

"""The `partnerpulse` command line (../shared/CONTRACT.md §6). Each command is in the
module of its kind; a user-facing error (`streams.errors`) is caught once, in `main`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from streams.cli import dashboards_commands, read_commands, run_commands, send_commands
from streams.cli.output import fail
from streams.errors import PartnerPulseError

app = typer.Typer(
    help="PartnerPulse: which channel partners are you losing? Health of vendor ↔ partner relationships.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
dlq_app = typer.Typer(
    help="The dead letters: records that could not be accepted, with the reason.", no_args_is_help=True
)
dashboards_app = typer.Typer(
    help="Grafana dashboards, datasource and alert rules (files under dashboards/).", no_args_is_help=True
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"partnerpulse {version('partnerpulse')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """PartnerPulse: which channel partners are you losing? Health of vendor ↔ partner relationships."""


app.add_typer(dlq_app, name="dlq")
app.add_typer(dashboards_app, name="dashboards")

app.command()(run_commands.up)
app.command()(run_commands.init)
app.command()(send_commands.send)
dlq_app.command("list")(send_commands.dlq_list)
dlq_app.command("replay")(send_commands.dlq_replay)
app.command()(read_commands.health)
app.command()(read_commands.alerts)
app.command()(read_commands.explain)
app.command()(read_commands.report)
dashboards_app.command("build")(dashboards_commands.dashboards_build)
dashboards_app.command("publish")(dashboards_commands.dashboards_publish)
dashboards_app.command("show")(dashboards_commands.dashboards_show)
app.command()(run_commands.demo)


def main() -> None:
    try:
        app()
    except PartnerPulseError as exc:
        fail(str(exc))
        sys.exit(1)
    except OSError as exc:
        # A file or folder we cannot use (full disk, no permission, not a directory):
        # one line that names it, whichever command hit it.
        where = f" {exc.filename}" if exc.filename else ""
        fail(f"cannot use{where}: {exc.strerror or exc}; check PARTNERPULSE_DATA_DIR and free space")
        sys.exit(1)


if __name__ == "__main__":
    main()

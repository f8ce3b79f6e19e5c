"""`health`, `alerts` and `report`: reading what the pipeline computed."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import orjson
import typer

from streams.cli.output import Format, ask, emit, err, fail, out, show
from streams.reporting import terminal
from streams.reporting.health_rows import HEALTH_CSV_COLUMNS, flat_health_row


class Status(StrEnum):
    disengaged = "disengaged"
    at_risk = "at_risk"
    new = "new"
    healthy = "healthy"


class Quadrant(StrEnum):
    core = "core"
    invest = "invest"
    review = "review"
    deprioritise = "deprioritise"


class AlertState(StrEnum):
    firing = "firing"
    resolved = "resolved"


ALERT_CSV_COLUMNS = [
    "id", "partner_id", "name", "kind", "priority", "state", "fired_at", "resolved_at", "reason", "resolved_reason",
    "undelivered", "metrics",
]  # fmt: skip
AS_OF_HELP = "event time T: 2026-11-20 (00:00Z) or RFC 3339; default now"


def health(
    as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None,
    status: Annotated[Status | None, typer.Option(help="only partners with this status")] = None,
    partner: Annotated[str | None, typer.Option(help="only this partner id")] = None,
    quadrant: Annotated[
        Quadrant | None, typer.Option(help="only this fit × score quadrant (invest: right partner, drifting)")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, json or csv")] = Format.table,
    wide: Annotated[bool, typer.Option(help="every column, however narrow the terminal")] = False,
) -> None:
    """One row per partner: every metric, the components, score, status and fit; worst first."""
    rows = ask("health", as_of=as_of, status=status.value if status else None, partner=partner,
               quadrant=quadrant.value if quadrant else None)  # fmt: skip
    if partner and not rows and fmt is Format.table:  # JSON and CSV: an empty answer, for scripts
        raise fail(f"no partner {partner!r} has an engagement at or before {as_of or 'now'}: "
                   "check the id (`partnerpulse health` lists every partner)")  # fmt: skip
    if fmt is Format.json:
        emit(rows, fmt, [], "")
    elif fmt is Format.csv:
        emit([flat_health_row(r) for r in rows], fmt, HEALTH_CSV_COLUMNS, "")
    else:
        # --wide: every column at its natural width, wider than the terminal if need be.
        show(terminal.health_table(rows, as_of, out.width, wide), wide)


def alerts(
    since: Annotated[
        str | None, typer.Option(help="only alerts that fired or resolved at or after T (date or RFC 3339)")
    ] = None,
    state: Annotated[AlertState | None, typer.Option(help="firing or resolved")] = None,
    partner: Annotated[str | None, typer.Option(help="only this partner id")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, json or csv")] = Format.table,
    wide: Annotated[bool, typer.Option(help="every column, however narrow the terminal")] = False,
) -> None:
    """Alert episodes (quiet, disengaged, declining, one-sided), newest first, with what triggered each."""
    rows = ask("alerts", since=since, state=state.value if state else None, partner=partner)
    if fmt is Format.json:
        emit(rows, fmt, [], "")
        return
    for r in rows:
        r["undelivered"] = sum(d["state"] != "delivered" for d in r.get("deliveries", []))
    if fmt is Format.csv:
        emit([{**r, "metrics": orjson.dumps(r["metrics"]).decode()} for r in rows], fmt, ALERT_CSV_COLUMNS, "")
        return
    show(terminal.alerts_table(rows, out.width, wide), wide)


class TableOrJson(StrEnum):
    table = "table"
    json = "json"


def explain(
    partner: Annotated[str, typer.Argument(metavar="PARTNER", help="the partner id")],
    as_of: Annotated[str | None, typer.Option("--as-of", help=AS_OF_HELP)] = None,
    since: Annotated[
        str | None, typer.Option(help="compare with this earlier time T0 (date or RFC 3339); default T − 30 days")
    ] = None,
    fmt: Annotated[TableOrJson, typer.Option("--format", help="table or json")] = TableOrJson.table,
) -> None:
    """Why the score moved between T0 and T: each component's share, the engagements behind it, the alerts."""
    answer = ask("explain", partner=partner, as_of=as_of, since=since)
    if fmt is TableOrJson.json:
        emit(answer, Format.json, [], "")
    else:
        show(terminal.explain_view(answer, out.width))


def report(
    out_file: Annotated[Path, typer.Option("--out", help="where to write the HTML file")] = Path(
        "partnerpulse-report.html"
    ),
    as_of: Annotated[str | None, typer.Option("--as-of", help="event time T: a date or RFC 3339; default now")] = None,
) -> None:
    """Write a self-contained HTML report (charts embedded; opens without a network)."""
    from streams.reporting import report as report_module

    data = ask("report", as_of=as_of)
    try:
        path = report_module.write(data, out_file)
    except OSError as exc:
        raise fail(f"cannot write {out_file}: {exc.strerror}") from None
    err.print(f"wrote {path} ({path.stat().st_size // 1024:,} KiB)", highlight=False, markup=False)

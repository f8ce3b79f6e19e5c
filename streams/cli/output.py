"""How the CLI speaks: tables, JSON or CSV on stdout; errors and progress on stderr."""

from __future__ import annotations

import csv
import io
import sys
from enum import StrEnum

import orjson
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from streams import config
from streams.worker import remote

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


def say(message: str) -> None:
    """A line for people on stderr, printed exactly as given."""
    err.print(message, highlight=False, markup=False, soft_wrap=True)


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


def show(table, wide: bool = False) -> None:
    """A table on stdout; `wide`: every column at its natural width, wider than the
    terminal if need be (for a pager or a file)."""
    (Console(emoji=False, width=max(out.width, 200)) if wide else out).print(table)


def ask(name: str, **params):
    """A read query (`streams.reporting.queries`), from the running pipeline or the store."""
    try:
        return remote.ask(config.load(), name, **params)
    except ValueError as exc:  # a bad parameter (e.g. --as-of) or answer
        raise fail(str(exc)) from None


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

"""Rich tables shared by the CLI and the demo."""

from __future__ import annotations

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

STATUS_STYLE = {"disengaged": "bold red", "at_risk": "yellow", "new": "cyan", "healthy": "green"}


# Columns by importance: on a narrow terminal the last ones go first; the partner always
# shows (wrapped, never squeezed to nothing). `wide` keeps every column.
_HEALTH_COLUMNS = (
    ("partner", "left", 0), ("status", "left", 0), ("score", "right", 0), ("silent/limit", "right", 0),
    ("fit", "right", 90), ("usually", "right", 100), ("trend", "right", 100), ("quality 30d", "right", 120), ("", "left", 140),
    ("partner-led", "right", 140), ("types", "right", 160), ("ecosystem", "right", 160),
)  # fmt: skip
_ALERT_COLUMNS = (
    ("partner", 0), ("kind", 0), ("state", 0), ("fired", 0), ("why", 0), ("resolved", 120), ("delivery", 140),
)  # fmt: skip


def _shown(columns, width: int, wide: bool) -> list:
    return [c for c in columns if wide or width >= c[-1]]


def _partner(r: dict) -> str:
    return escape(r["name"] or r["partner_id"]) + (f" [dim]({escape(r['partner_id'])})[/]" if r["name"] else "")


def health_table(rows: list[dict], as_of: str | None, width: int = 200, wide: bool = False) -> Table:
    when = rows[0]["as_of"] if rows else (as_of or "now")
    table = Table(title=f"Partner health as of {when} — {len(rows)} partners, worst first", title_justify="left")
    columns = _shown(_HEALTH_COLUMNS, width, wide)
    for name, justify, _ in columns:
        if name == "partner":
            table.add_column(name, justify=justify, min_width=16, ratio=1, overflow="fold")
        else:
            table.add_column(name, justify=justify, no_wrap=True)
    for r in rows:
        style = STATUS_STYLE[r["status"]]
        filled = round(r["score"] / 10)
        share = r["partner_initiated_share"]
        cells = {
            "partner": _partner(r),
            "status": f"[{style}]{r['status']}[/]",
            "score": f"{r['score']:.1f}",
            "": f"[{style}]{'█' * filled}[/][dim]{'░' * (10 - filled)}[/]",
            "quality 30d": f"{r['quality_minutes_30d']:,.0f} min",
            "trend": "[dim]no baseline[/]" if r["baseline_minutes_30d"] < 1 else f"{r['trend']:+.0%}",
            "silent/limit": _silence(r),
            "usually": "—" if r["usual_gap_days"] is None else f"every {r['usual_gap_days']:.0f} d",
            "fit": "—" if r.get("fit") is None else _fit(r),
            "partner-led": "—" if share is None else f"{share:.0%}",
            "types": f"{r['distinct_types_90d']}/5",
            "ecosystem": str(r["ecosystem_partners_90d"]),
        }
        table.add_row(*(cells[name] for name, _, _ in columns))
    return table


def _fit(r: dict) -> str:
    """Fit, bold when high (≥ 60); "invest" partners (high fit, low score) marked."""
    text = f"{r['fit']:.0f}"
    if r.get("quadrant") == "invest":
        return f"[bold magenta]{text} invest[/]"
    return f"[bold]{text}[/]" if r["quadrant"] == "core" else text


def _silence(r: dict) -> str:
    """Days silent against this partner's own limit, red past it, yellow past half."""
    days, limit = r["days_since_last"], r["silence_limit_days"]
    style = "bold red" if days >= limit else "yellow" if days >= limit / 2 else ""
    text = f"{days:.0f}/{limit:.0f}"
    return f"[{style}]{text}[/]" if style else text


def alerts_table(rows: list[dict], width: int = 200, wide: bool = False) -> Table:
    high = " · ▲ high priority: a right partner (fit ≥ 60)" if any(r.get("priority") == "high" for r in rows) else ""
    table = Table(title=f"Alerts — {len(rows)}, newest first{high}", title_justify="left")
    columns = [name for name, _ in _shown(_ALERT_COLUMNS, width, wide)]
    for name in columns:
        if name in ("partner", "why", "delivery"):
            table.add_column(name, min_width=12 if name == "partner" else 20, ratio=1 if name != "why" else 2)
        else:
            table.add_column(name, no_wrap=True)
    for r in rows:
        firing = r["state"] == "firing"
        failed = [d for d in r.get("deliveries", []) if d["state"] != "delivered" and d["attempts"]]
        waiting = any(d["state"] != "delivered" and not d["attempts"] for d in r.get("deliveries", []))
        cells = {
            "partner": escape(r.get("name") or r["partner_id"]),
            # A right partner's alert (fit ≥ 60 when it fired, §8) says so where it is read first.
            "kind": r["kind"] + (" [bold magenta]▲[/]" if r.get("priority") == "high" else ""),
            "state": "[bold red]firing[/]" if firing else "[green]resolved[/]",
            "fired": r["fired_at"][:10],
            "resolved": (r["resolved_at"] or "")[:10],
            "why": escape(r["reason"] + ("" if firing else f" → {r['resolved_reason']}")),
            "delivery": ("sending" if waiting else "ok") if not failed else "[yellow]" + escape("; ".join(
                f"{d['target']}: {d['last_error']} ({d['attempts']} tries)" for d in failed)) + "[/]",
        }  # fmt: skip
        table.add_row(*(cells[name] for name in columns))
    return table


def dead_letters_table(reasons: list[dict]) -> Table:
    table = Table(title=f"Dead letters by reason — {sum(r['count'] for r in reasons)}", title_justify="left")
    table.add_column("reason")
    table.add_column("records", justify="right")
    for r in reasons:
        table.add_row(escape(r["code"]), str(r["count"]))
    return table


def _bar(points: float, scale: float, half: int) -> str:
    """A signed bar around a middle line: losses to the left in red, gains to the right."""
    n = min(half, round(abs(points) / scale * half)) if scale else 0
    if points < 0:
        return f"{' ' * (half - n)}[red]{'█' * n}[/]│{' ' * half}"
    return f"{' ' * half}│[green]{'█' * n}[/]{' ' * (half - n)}"


def explain_view(answer: dict, width: int = 200) -> Group:
    """The summary, then each component's contribution as a signed bar, then the drivers."""
    who = escape(answer["name"] or answer["partner_id"])
    parts = answer["contributions"]
    scale = max([abs(v) for v in parts.values()] + [1.0])
    half = max(5, min(20, (width - 30) // 2))
    contributions = Table(title=f"{who}: score {answer['score_delta']:+.1f} points, by component", title_justify="left")
    contributions.add_column("component")
    contributions.add_column("points", justify="right")
    contributions.add_column("", no_wrap=True)
    for component, points in parts.items():
        contributions.add_row(component, f"{points:+.1f}", _bar(points, scale, half))
    drivers = Table(title=f"Engagements that entered or left the 30-day window ({len(answer['drivers'])} largest)",
                    title_justify="left")  # fmt: skip
    drivers.add_column("effect", no_wrap=True)
    drivers.add_column("when", no_wrap=True)
    drivers.add_column("type", no_wrap=True)
    drivers.add_column("quality min", justify="right", no_wrap=True)
    drivers.add_column("source / id", ratio=1, overflow="fold", min_width=12)
    for d in answer["drivers"]:
        effect = "[green]entered[/]" if d["effect"] == "entered" else "[red]left[/]"
        drivers.add_row(effect, d["time"][:10], d["type"].removeprefix("partner."), f"{d['quality_minutes']:,.1f}",
                        escape(f"{d['source']} / {d['id']}"))  # fmt: skip
    parts_shown = [Text(answer["summary"]), Text(""), contributions]
    parts_shown += [drivers] if answer["drivers"] else [Text("No engagement entered or left the window.")]
    return Group(*parts_shown)


def _cell(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value).removesuffix("T00:00:00")  # a day's midnight: the day


def _many(n: int, what: str) -> str:
    return f"{n} more {what}{'s' if n != 1 else ''}"


def panels_view(answer: dict, width: int = 200, max_rows: int = 10) -> Group:
    """Each panel of a dashboard as a table: the columns that fit the width (the first ones,
    as the panel orders them by importance), the first `max_rows` rows."""
    parts: list = [Text.from_markup(f"[bold]{escape(answer['dashboard'])}[/] · {answer['from']} → {answer['to']}"
                                    + (f" · partner {escape(answer['partner'])}" if answer["partner"] else "")
                                    + "".join(f" · {k} {', '.join(v)}" for k, v in answer["filters"].items()))]  # fmt: skip
    for panel in answer["panels"]:
        cells = [[_cell(r[c]) for c in panel["columns"]] for r in panel["rows"][:max_rows]]
        widths = [max([len(c), *(len(row[i]) for row in cells)]) + 3 for i, c in enumerate(panel["columns"])]
        fits = max(1, next((n for n in range(len(widths), 0, -1) if sum(widths[:n]) + 4 <= width), 1))
        table = Table(title=f"{panel['title']}", title_justify="left", title_style="bold", expand=False)
        for column in panel["columns"][:fits]:
            table.add_column(column, overflow="fold")
        for row in cells:
            table.add_row(*(escape(c) for c in row[:fits]))
        more = [_many(len(panel["rows"]) - max_rows, "row")] if len(panel["rows"]) > max_rows else []
        more += [_many(len(widths) - fits, "column")] if fits < len(widths) else []
        table.caption = (
            (f"… {' and '.join(more)} (--format json shows all)" if more else None) if panel["rows"] else "no data"
        )
        parts += [Text(""), table]
    return Group(*parts)

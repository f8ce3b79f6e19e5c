"""Rich tables shared by the CLI and the demo."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

STATUS_STYLE = {"disengaged": "bold red", "at_risk": "yellow", "new": "cyan", "healthy": "green"}


def health_table(rows: list[dict], as_of: str | None) -> Table:
    when = rows[0]["as_of"] if rows else (as_of or "now")
    table = Table(title=f"Partner health as of {when} — {len(rows)} partners, worst first", title_justify="left")
    for name, justify in [
        ("partner", "left"),
        ("status", "left"),
        ("score", "right"),
        ("", "left"),
        ("quality 30d", "right"),
        ("trend", "right"),
        ("days silent", "right"),
        ("usually", "right"),
        ("partner-led", "right"),
        ("types", "right"),
        ("ecosystem", "right"),
    ]:
        table.add_column(name, justify=justify, no_wrap=name != "partner")
    for r in rows:
        style = STATUS_STYLE[r["status"]]
        filled = round(r["score"] / 10)
        share = r["partner_initiated_share"]
        table.add_row(
            escape(r["name"] or r["partner_id"]) + (f" [dim]({escape(r['partner_id'])})[/]" if r["name"] else ""),
            f"[{style}]{r['status']}[/]",
            f"{r['score']:.1f}",
            f"[{style}]{'█' * filled}[/][dim]{'░' * (10 - filled)}[/]",
            f"{r['quality_minutes_30d']:,.0f} min",
            "[dim]no baseline[/]" if r["baseline_minutes_30d"] < 1 else f"{r['trend']:+.0%}",
            _silence(r),
            "—" if r["usual_gap_days"] is None else f"every {r['usual_gap_days']:.0f} d",
            "—" if share is None else f"{share:.0%}",
            f"{r['distinct_types_90d']}/5",
            str(r["ecosystem_partners_90d"]),
        )
    return table


def _silence(r: dict) -> str:
    """Days silent against this partner's own limit, red past it, yellow past half."""
    days, limit = r["days_since_last"], r["silence_limit_days"]
    style = "bold red" if days >= limit else "yellow" if days >= limit / 2 else ""
    text = f"{days:.0f}/{limit:.0f}"
    return f"[{style}]{text}[/]" if style else text


def alerts_table(rows: list[dict]) -> Table:
    table = Table(title=f"Alerts — {len(rows)}, newest first", title_justify="left")
    for name in ("partner", "kind", "state", "fired", "resolved", "why", "delivery"):
        table.add_column(name, no_wrap=name in ("kind", "state", "fired", "resolved"))
    for r in rows:
        firing = r["state"] == "firing"
        failed = [d for d in r.get("deliveries", []) if d["state"] != "delivered" and d["attempts"]]
        waiting = any(d["state"] != "delivered" and not d["attempts"] for d in r.get("deliveries", []))
        table.add_row(
            escape(r.get("name") or r["partner_id"]),
            r["kind"],
            "[bold red]firing[/]" if firing else "[green]resolved[/]",
            r["fired_at"][:10],
            (r["resolved_at"] or "")[:10],
            escape(r["reason"] + ("" if firing else f" → {r['resolved_reason']}")),
            ("sending" if waiting else "ok") if not failed else "[yellow]" + escape("; ".join(
                f"{d['target']}: {d['last_error']} ({d['attempts']} tries)" for d in failed)) + "[/]",
        )  # fmt: skip
    return table


def dead_letters_table(reasons: list[dict]) -> Table:
    table = Table(title=f"Dead letters by reason — {sum(r['count'] for r in reasons)}", title_justify="left")
    table.add_column("reason")
    table.add_column("records", justify="right")
    for r in reasons:
        table.add_row(escape(r["code"]), str(r["count"]))
    return table

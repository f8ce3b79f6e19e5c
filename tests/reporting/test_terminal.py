"""Tables for people: a right partner's alert is marked, and everything fits 80 columns."""

from __future__ import annotations

import io

from rich.console import Console

from streams.reporting import terminal


def alert(partner: str, priority: str) -> dict:
    return {"partner_id": partner, "name": None, "kind": "disengaged", "state": "firing",
            "fired_at": "2026-11-01T00:00:00Z", "resolved_at": None, "resolved_reason": "", "priority": priority,
            "reason": "no engagement for 31 days (usually every 10 days; counts as disengaged after 30 days)",
            "deliveries": []}  # fmt: skip


def shown(rows: list[dict]) -> list[str]:
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(terminal.alerts_table(rows, 80))
    return console.export_text().splitlines()


def test_high_priority_alerts_are_marked_and_fit_80_columns():
    lines = shown([alert("acme", "high"), alert("globex", "normal")])
    assert max(len(line) for line in lines) <= 80
    assert "▲ high priority: a right partner (fit ≥ 60)" in lines[0]
    assert any("acme" in line and "disengaged ▲" in line for line in lines)
    assert any("globex" in line and "disengaged ▲" not in line for line in lines)
    assert "▲" not in "".join(shown([alert("globex", "normal")]))

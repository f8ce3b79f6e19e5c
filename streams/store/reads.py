"""Read queries, shared by the CLI (store opened directly) and the pipeline's HTTP API.

Each query takes a client and keyword parameters and returns JSON-ready data, so the
answer is the same whichever way it was asked.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from streams.formats import iso, safe_text


def counts(client: Client) -> dict[str, int]:
    # Engaged partners from `partner_months` (a row per partner and month), not by
    # reading every stored event: /status asks this often.
    row = client.query(
        "SELECT (SELECT count() FROM engagement_events), (SELECT count() FROM partners), "
        "(SELECT count() FROM dead_letters), (SELECT uniqExact(partner_id) FROM partner_months)"
    ).result_rows[0]
    return dict(zip(["engagement_events", "partners", "dead_letters", "partners_engaged"], map(int, row), strict=True))


def dead_letters(client: Client, limit: int = 1000, code: str | None = None) -> list[dict[str, Any]]:
    where = "WHERE code = {code:String}" if code else ""
    result = client.query(
        "SELECT id, received_at, code, reason, event_id, source, event_type, topic, partition, offset, size, payload, "
        "headers "
        f"FROM dead_letters {where} ORDER BY received_at DESC, id LIMIT {{limit:UInt32}}",
        parameters={"limit": int(limit), "code": code or ""},
        column_formats={"payload": "bytes"},
    )
    out = []
    for row in result.named_results():
        raw = row.pop("payload")
        row["received_at"] = iso(row["received_at"])
        row["payload"] = safe_text(raw)
        row["payload_base64"] = base64.b64encode(raw).decode()
        row["headers"] = orjson.loads(row["headers"]) if row["headers"] else []
        out.append(row)
    return out


def dead_letter_reasons(client: Client) -> list[dict[str, Any]]:
    result = client.query("SELECT code, count() AS count FROM dead_letters GROUP BY code ORDER BY count DESC, code")
    return list(result.named_results())


def dead_letter_payloads(client: Client) -> list[tuple[str, bytes, list[tuple[str, bytes]]]]:
    """(id, raw bytes, Kafka headers) of every dead letter, for a replay."""
    result = client.query("SELECT id, any(payload) AS payload, any(headers) AS headers FROM dead_letters GROUP BY id",
                          column_formats={"payload": "bytes"})  # fmt: skip
    return [(i, bytes(raw), [(k, v.encode()) for k, v in orjson.loads(h)] if h else [])
            for i, raw, h in result.result_rows]  # fmt: skip


def forget_dead_letters(client: Client, ids: list[str]) -> None:
    """Remove dead letters that were replayed successfully."""
    if ids:
        client.command("DELETE FROM dead_letters WHERE id IN {ids:Array(String)}", parameters={"ids": ids})


def partner_names(client: Client) -> dict[str, str]:
    return {
        pid: name for pid, name in client.query("SELECT partner_id, name FROM partner_profiles").result_rows if name
    }

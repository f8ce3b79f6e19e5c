"""Alert delivery: CloudEvents to the `partner-alerts` topic and to webhooks.

Every transition is first written to the `alert_deliveries` outbox (with the
evaluation, on the store thread); a timer then delivers what is due, concurrently and
with a timeout (`streams.worker.delivery_loop`), and records the outcome here. A failed target is retried with exponential
backoff, forever, and stays visible in `partnerpulse alerts`; nothing waits on it.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
from clickhouse_connect.driver.client import Client

from streams.formats import iso
from streams.rules.alerting import Alert

DELIVERY_COLUMNS = [
    "event_id", "target", "target_display", "alert_id", "partner_id", "payload", "state", "attempts",
    "last_error", "next_attempt_at", "created_at", "version",
]  # fmt: skip
MAX_BACKOFF = 3600.0


@dataclass(frozen=True)
class Target:
    key: str  # stable id stored with each delivery
    display: str  # shown to people: no credentials, no query string
    url: str | None  # None for the Kafka topic


KAFKA_TARGET = Target("kafka", "topic partner-alerts", None)


def webhook_target(url: str) -> Target:
    parts = urlsplit(url)
    host = parts.hostname or "?"
    display = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "") + parts.path
    return Target("webhook:" + hashlib.sha256(url.encode()).hexdigest()[:16], display, url)


def targets(webhooks: list[str]) -> list[Target]:
    return [KAFKA_TARGET, *(webhook_target(u) for u in webhooks)]


def backoff(attempts: int) -> float:
    """Seconds to wait after the n-th failed attempt: 2, 4, 8, … capped at an hour."""
    return min(MAX_BACKOFF, 2.0 ** max(1, attempts))


def outbox_rows(alerts: list[Alert], to: list[Target], now: datetime) -> list[tuple]:
    rows = []
    version = time.time_ns()
    for alert in alerts:
        event = alert.cloudevent()
        payload = orjson.dumps(event).decode()
        for target in to:
            rows.append((
                event["id"], target.key, target.display, alert.id, alert.partner_id, payload,
                "pending", 0, "", now, now, version,
            ))  # fmt: skip
    return rows


@dataclass
class Due:
    event_id: str
    target: str
    target_display: str
    alert_id: str
    partner_id: str
    payload: str
    attempts: int
    created_at: datetime


def due(client: Client, now: datetime, limit: int = 500) -> list[Due]:
    result = client.query(
        "SELECT event_id, target, target_display, alert_id, partner_id, payload, attempts, created_at "
        "FROM alert_deliveries FINAL WHERE state = 'pending' AND next_attempt_at <= {now:DateTime64(3, 'UTC')} "
        "ORDER BY created_at, event_id LIMIT {limit:UInt32}",
        parameters={"now": now.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], "limit": limit},
    )
    return [Due(**row) for row in result.named_results()]


def record(client: Client, outcomes: list[tuple[Due, str | None]], now: datetime) -> None:
    """Store each attempt's outcome: error None means delivered."""
    version = time.time_ns()
    rows = []
    for d, error in outcomes:
        attempts = d.attempts + 1
        state = "delivered" if error is None else "pending"
        retry_at = now + timedelta(seconds=backoff(attempts)) if error else now
        rows.append((
            d.event_id, d.target, d.target_display, d.alert_id, d.partner_id, d.payload, state, attempts,
            error or "", retry_at, d.created_at, version,
        ))  # fmt: skip
    if rows:
        client.insert("alert_deliveries", rows, column_names=DELIVERY_COLUMNS)


def deliveries_by_alert(client: Client, alert_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    result = client.query(
        "SELECT alert_id, event_id, target_display, state, attempts, last_error, next_attempt_at "
        "FROM alert_deliveries FINAL WHERE alert_id IN {ids:Array(String)} ORDER BY event_id, target",
        parameters={"ids": alert_ids},
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for row in result.named_results():
        alert = row.pop("alert_id")
        row["next_attempt_at"] = iso(row["next_attempt_at"]) if row["state"] == "pending" else None
        row["target"] = row.pop("target_display")
        out.setdefault(alert, []).append(row)
    return out


def utcnow() -> datetime:
    return datetime.now(UTC)

"""Pure conversion of validated records into ClickHouse rows."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import NamedTuple

import orjson

from streams.rules.fit import FIT_FIELDS
from streams.rules.validation import Accepted, Rejected

ENGAGEMENT_COLUMNS = [
    "partner_id",
    "time",
    "type",
    "source",
    "id",
    "role",
    "duration_minutes",
    "initiated_by",
    "ecosystem_partners",
    "solution_id",
    "event",
]
PROFILE_FIELDS = ["name", "tier", "region", "segment", "account_manager"]
PROFILE_COLUMNS = ["partner_id", "updated_at", "source", "id", *PROFILE_FIELDS, "event", "fit"]
DEAD_LETTER_COLUMNS = [
    "id",
    "received_at",
    "code",
    "reason",
    "event_id",
    "source",
    "event_type",
    "topic",
    "partition",
    "offset",
    "size",
    "payload",
    "headers",
]
# The field of each engagement type that its weight depends on (schemas/scoring.yaml).
ROLE_FIELD = {
    "partner.webinar": "role",
    "partner.joint_event": "role",
    "partner.solution": "stage",
    "partner.meeting": "kind",
}


class Origin(NamedTuple):
    """Where a record was read from (a tuple: one is made per record read)."""

    topic: str
    partition: int
    offset: int
    received_at: datetime
    headers: tuple[tuple[str, bytes], ...] = ()  # the Kafka record's headers (binary mode: its attributes)


def key(accepted: Accepted) -> tuple[str, str]:
    """The identity of an event: the same (source, id) counts once, ever."""
    return accepted.event["source"], accepted.event["id"]


def engagement_row(accepted: Accepted) -> tuple:
    event, data = accepted.event, accepted.event["data"]
    role_field = ROLE_FIELD.get(event["type"])
    return (
        event["subject"],
        accepted.time,
        event["type"],
        event["source"],
        event["id"],
        data[role_field] if role_field else "",
        float(data["duration_minutes"]),
        data["initiated_by"],
        list(dict.fromkeys(data.get("ecosystem_partners") or [])),
        str(data.get("solution_id", "")),
        as_received(accepted),
    )


def profile_row(accepted: Accepted) -> tuple:
    event, data = accepted.event, accepted.event["data"]
    fields = [_text_or_none(data.get(name)) for name in PROFILE_FIELDS]
    fit = {name: data[name] for name in FIT_FIELDS if data.get(name) is not None}
    return (event["subject"], accepted.time, event["source"], event["id"], *fields, as_received(accepted),
            orjson.dumps(fit).decode())  # fmt: skip


def as_received(accepted: Accepted) -> str:
    """The `event` column: the CloudEvent as it arrived (JSON of the object if it came parsed)."""
    return accepted.text or orjson.dumps(accepted.event).decode()


def dead_letter_id(origin: Origin) -> str:
    """Where it came from, never its bytes: two records with equal payloads are two dead
    letters, and the same record redelivered is one."""
    return hashlib.sha256(f"{origin.topic}\x1f{origin.partition}\x1f{origin.offset}".encode()).hexdigest()


def headers_text(headers: tuple[tuple[str, bytes], ...]) -> str:
    """Headers as JSON text ([[name, value], …], values as text): kept with a dead letter."""
    return orjson.dumps([[k, (v or b"").decode("utf-8", errors="backslashreplace")] for k, v in headers]).decode()


def dead_letter_row(rejected: Rejected, raw: bytes, origin: Origin) -> tuple:
    return (
        dead_letter_id(origin),
        origin.received_at,
        rejected.code,
        rejected.reason,
        rejected.event_id,
        rejected.source,
        rejected.event_type,
        origin.topic,
        origin.partition,
        origin.offset,
        len(raw),
        raw,
        headers_text(origin.headers) if origin.headers else "",
    )


def _text_or_none(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else orjson.dumps(value).decode()

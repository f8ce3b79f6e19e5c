"""Validation of raw engagement records: bytes in, Accepted or Rejected out.

Pure and synchronous. The rules live in `schemas/events/*.schema.json` (the envelope
plus one schema per event type); this module only compiles those files, checks what
JSON Schema cannot say (payload size, UTF-8, a real calendar time) and turns errors
into sentences a user can act on.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

import jsonschema_rs
import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from streams.formats import MAX_YEAR, MIN_YEAR, parse_time
from streams.paths import SCHEMAS_DIR

MAX_PAYLOAD_BYTES = 256 * 1024


class Accepted(NamedTuple):
    """A valid record (a tuple: one is made per valid record)."""

    event: dict[str, Any]
    kind: str  # "engagement" or "profile"
    time: datetime  # event time, UTC
    text: str = ""  # the record as received, when it came as bytes

    @property
    def partner_id(self) -> str:
        return self.event["subject"]


@dataclass(frozen=True, slots=True)
class Rejected:
    code: str  # short machine-readable class, e.g. "invalid_json", "out_of_range"
    reason: str  # a sentence for people
    event_id: str = ""
    source: str = ""
    event_type: str = ""


@dataclass(frozen=True, slots=True)
class _Schemas:
    envelope: Draft202012Validator
    by_type: dict[str, tuple[str, Draft202012Validator]]  # type -> (kind, data validator)
    # The same files in a compiled (Rust) validator: the fast yes/no for the common,
    # valid case. Only when it says no does jsonschema explain why (the reasons users see).
    fast_envelope: Callable[[Any], bool]
    fast_by_type: dict[str, Callable[[Any], bool]]


@lru_cache(maxsize=1)
def _schemas() -> _Schemas:
    events_dir = SCHEMAS_DIR / "events"
    envelope_schema = orjson.loads((events_dir / "cloudevent.schema.json").read_bytes())
    by_type, fast_by_type = {}, {}
    for path in sorted(events_dir.glob("partner.*.schema.json")):
        schema = orjson.loads(path.read_bytes())
        Draft202012Validator.check_schema(schema)
        type_name = path.name.removesuffix(".schema.json")
        by_type[type_name] = (schema["x-partnerpulse-kind"], Draft202012Validator(schema))
        fast_by_type[type_name] = jsonschema_rs.validator_for(schema).is_valid
    return _Schemas(Draft202012Validator(envelope_schema), by_type, jsonschema_rs.validator_for(envelope_schema).is_valid,
                    fast_by_type)  # fmt: skip


def _fast_ok(schemas: _Schemas, event: dict[str, Any]) -> bool:
    if not schemas.fast_envelope(event):
        return False
    check = schemas.fast_by_type.get(event["type"])
    return check is not None and check(event["data"])


# What the schema's subject pattern means; Python's `$` would also admit a trailing newline.
_PARTNER_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def known_types() -> list[str]:
    return sorted(_schemas().by_type)


def engagement_types() -> list[str]:
    return sorted(t for t, (kind, _) in _schemas().by_type.items() if kind == "engagement")


def validate(raw: bytes) -> Accepted | Rejected:
    """Classify one record exactly as the pipeline does."""
    if not raw or not raw.strip():
        return Rejected("empty", "empty message: expected a CloudEvent JSON object")
    if len(raw) > MAX_PAYLOAD_BYTES:
        return Rejected("oversize", f"payload is {len(raw):,} bytes, over the 256 KiB (262,144 bytes) limit")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejected(
            "invalid_utf8", f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at position {exc.start} is invalid"
        )
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Rejected("invalid_json", f"not valid JSON: {exc}")
    if not isinstance(event, dict):
        return Rejected("not_object", f"expected a JSON object (a CloudEvent), got a JSON {_json_kind(event)}")
    return validate_event(event, text)


def _with_data(event: dict[str, Any]) -> dict[str, Any] | str:
    """An event whose data came as data_base64 (bytes data), with it decoded as `data`; or
    the reason it cannot be an engagement's data."""
    if "data" in event or "data_base64" not in event:
        return event
    encoded = event["data_base64"]
    try:
        raw = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else None
    except (binascii.Error, ValueError):
        raw = None
    if raw is None:
        return "data_base64 is not base64 text"
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "data_base64 does not hold JSON: the engagement's fields must be a JSON object"
    return {**{k: v for k, v in event.items() if k != "data_base64"}, "data": data}


def validate_event(event: dict[str, Any], text: str = "") -> Accepted | Rejected:
    """Validate an already-parsed CloudEvent object (`text`: as received, if it was).
    Bytes data (`data_base64`) counts as the same event as its JSON `data` would."""
    decoded = _with_data(event)
    if isinstance(decoded, str):
        return Rejected("bad_data", decoded, _str_or_empty(event.get("id")), _str_or_empty(event.get("source")),
                        _str_or_empty(event.get("type")))  # fmt: skip
    event = decoded
    ids = {
        "event_id": _str_or_empty(event.get("id")),
        "source": _str_or_empty(event.get("source")),
        "event_type": _str_or_empty(event.get("type")),
    }
    schemas = _schemas()
    if _fast_ok(schemas, event):
        return _accept(schemas, event, ids, text)
    error = _first_error(schemas.envelope, event)
    if error is not None:
        code, reason = _explain(error, prefix="")
        return Rejected(code, reason, **ids)
    type_name = event["type"]
    if type_name not in schemas.by_type:
        return Rejected(
            "unknown_type", f"unknown event type {type_name!r}; known types: {', '.join(known_types())}", **ids
        )
    _, data_validator = schemas.by_type[type_name]
    error = _first_error(data_validator, event["data"])
    if error is not None:
        code, reason = _explain(error, prefix="data.")
        return Rejected(code, reason, **ids)
    return _accept(schemas, event, ids, text)


def _accept(schemas: _Schemas, event: dict[str, Any], ids: dict[str, str], text: str) -> Accepted | Rejected:
    """What the schemas cannot say: a real calendar time, an exact partner id."""
    if not _PARTNER_ID.fullmatch(event["subject"]):
        return Rejected("bad_subject", f"subject (the partner id) must be 1–128 characters of A-Z a-z 0-9 . _ : -, "
                        f"got {_show(event['subject'])}", **ids)  # fmt: skip
    kind = schemas.by_type[event["type"]][0]
    time = parse_time(event["time"])
    if time is None:
        return Rejected(
            "bad_time", f"time {event['time']!r} is not a real calendar time between {MIN_YEAR} and {MAX_YEAR}", **ids
        )
    return Accepted(event, kind, time, text)


def _first_error(validator: Draft202012Validator, instance: Any) -> ValidationError | None:
    # Report the error nearest the root first (a missing attribute before a bad value),
    # then in document order, so the reason is stable from run to run.
    errors = sorted(validator.iter_errors(instance), key=lambda e: (len(e.path), list(map(str, e.path)), e.validator))
    return errors[0] if errors else None


_RANGE_KEYWORDS = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}


def _explain(error: ValidationError, prefix: str) -> tuple[str, str]:
    path = prefix + ".".join(str(p) for p in error.path)
    where = path or prefix.rstrip(".") or "event"
    kw = error.validator
    value = error.instance
    if kw == "required":
        missing = next((name for name in error.validator_value if name not in value), "?")
        field = f"{prefix}{missing}" if not error.path else f"{path}.{missing}"
        return "missing_field", f"missing required {'attribute' if not prefix else 'field'} '{field}'"
    if where == "specversion":
        return "bad_specversion", f'specversion must be "1.0" (CloudEvents 1.0), got {_show(value)}'
    if where == "subject" and kw in ("pattern", "type"):
        return (
            "bad_subject",
            f"subject (the partner id) must be 1–128 characters of A-Z a-z 0-9 . _ : -, got {_show(value)}",
        )
    if where == "time" and kw in ("pattern", "type"):
        return (
            "bad_time",
            f"time must be an RFC 3339 timestamp with an offset such as 2026-11-20T15:00:00Z, got {_show(value)}",
        )
    if kw == "type":
        return (
            "wrong_type",
            f"{where} must be {_article(error.validator_value)}, got {_json_kind(value)} {_show(value)}",
        )
    if kw in _RANGE_KEYWORDS:
        bound = error.validator_value
        rule = {
            "minimum": f"≥ {bound}",
            "maximum": f"≤ {bound}",
            "exclusiveMinimum": f"> {bound}",
            "exclusiveMaximum": f"< {bound}",
        }[kw]
        return "out_of_range", f"{where} must be {rule}, got {_show(value)}"
    if kw in ("enum", "const"):
        allowed = error.validator_value if kw == "enum" else [error.validator_value]
        return "invalid_value", f"{where} must be one of {', '.join(map(_show, allowed))}, got {_show(value)}"
    return "invalid_value", f"{where}: {error.message}"


def _article(type_name: Any) -> str:
    if isinstance(type_name, list):
        return " or ".join(map(_article, type_name))
    return {"object": "an object", "array": "an array", "integer": "an integer"}.get(type_name, f"a {type_name}")


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", int: "number", float: "number"}.get(
        type(value), type(value).__name__
    )


def _show(value: Any, limit: int = 80) -> str:
    text = orjson.dumps(value).decode() if not isinstance(value, bytes) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _str_or_empty(value: Any) -> str:
    return value if isinstance(value, str) else ""


def revalidate(letters: list[tuple[str, bytes]]) -> list[tuple[str, bytes, Accepted]]:
    """The dead letters (id, raw bytes) that today's rules accept: what a replay re-submits."""
    return [(i, raw, r) for i, raw in letters if isinstance(r := validate(raw), Accepted)]

"""CloudEvents protocol bindings, pure: a Kafka record (value and headers) as the
structured event the validator reads. Every mode is the same event: a binary-mode record
(attributes in `ce_*` headers, the data as the value) becomes the structured JSON object
with the same attributes and data, so the same (source, id) counts once whichever mode
carried it. HTTP's binding is in `streams.ingest.http_binding`.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import orjson

from streams.formats import json_bytes

KAFKA_PREFIX = "ce_"
JSON_TYPES = ("application/json", "text/json")


def header_map(headers: Sequence[tuple[str, bytes]] | None) -> dict[str, str]:
    """Kafka headers as text (lower-case names; bytes that are not UTF-8 kept as \\xNN)."""
    return {k.lower(): (v or b"").decode("utf-8", errors="backslashreplace") for k, v in headers or ()}


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return not media or media in JSON_TYPES or media.endswith("+json")


def structured(attributes: dict[str, str], content_type: str | None, data: bytes | None) -> bytes:
    """A binary-mode event (attributes, content type, data bytes) as structured JSON bytes.
    JSON data stays JSON; other data, or bytes that do not parse, travel as data_base64
    (the validator then says why they are not an engagement's fields)."""
    event: dict = dict(attributes)
    if content_type:
        event["datacontenttype"] = content_type
    if data:
        parsed = None
        if is_json(content_type):
            try:
                parsed = orjson.loads(data)
            except orjson.JSONDecodeError:
                parsed = None
        if parsed is not None:
            event["data"] = parsed
        else:
            event["data_base64"] = base64.b64encode(data).decode()
    return json_bytes(event)


def from_kafka(value: bytes | None, headers: Sequence[tuple[str, bytes]] | None) -> bytes:
    """The record as structured CloudEvent bytes: a structured-mode record as it is, a
    binary-mode one (a `ce_specversion` header) rebuilt from its headers and value."""
    if not headers:
        return value or b""
    texts = header_map(headers)
    if KAFKA_PREFIX + "specversion" not in texts:
        return value or b""
    attributes = {name[len(KAFKA_PREFIX) :]: v for name, v in texts.items() if name.startswith(KAFKA_PREFIX)}
    return structured(attributes, texts.get("content-type"), value)

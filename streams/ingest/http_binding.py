"""HTTP ingest of CloudEvents (the HTTP protocol binding): parsing and auth, pure.

Three modes: structured (`application/cloudevents+json`, one event in the body),
batch (`application/cloudevents-batch+json`, a JSON array of events) and binary
(attributes in `ce-*` headers, the body is `data`). Each event then goes through the
same validator as the stream. The endpoint itself is in `streams.worker.http_ingest`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import orjson

from streams.formats import json_bytes
from streams.rules.access import Denied, check_bearer
from streams.rules.bindings import structured
from streams.rules.validation import Accepted, Rejected, validate

MAX_BODY_BYTES = 5 * 1024 * 1024
# A client that stops sending its body this long is answered 408 (no slow-loris holds).
BODY_IDLE_SECONDS = 10.0
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
MAX_BATCH_EVENTS = 10_000


class IngestError(ValueError):
    """The request as a whole is unusable: (HTTP status, sentence)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def authorize(header: str | None, tokens: tuple[str, ...]) -> None:
    """Bearer auth for POST /events (`streams.rules.access`): 503 while HTTP ingest is off."""
    if not tokens:
        raise IngestError(503, "HTTP ingest is off: set PARTNERPULSE_INGEST_TOKENS on the pipeline")
    try:
        check_bearer(header, tokens, "ingest")
    except Denied as exc:
        raise IngestError(exc.status, str(exc)) from None


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def split_events(content_type: str | None, headers: dict[str, str], body: bytes) -> list[bytes]:
    """The request's events as raw structured CloudEvents, one per item. The mode is the
    Content-Type's (as the binding says): a `ce-traceparent` or any other ce-* header next
    to a structured or batch body changes nothing; binary mode is a ce-specversion header
    with any other Content-Type."""
    media = _media_type(content_type)
    if media == STRUCTURED:
        return [body]
    if media == BATCH:
        try:
            items = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise IngestError(400, f"the batch is not valid JSON: {exc}") from None
        if not isinstance(items, list):
            raise IngestError(400, "a batch (application/cloudevents-batch+json) must be a JSON array of events")
        if len(items) > MAX_BATCH_EVENTS:
            raise IngestError(413, f"at most {MAX_BATCH_EVENTS:,} events per batch")
        return [json_bytes(item) for item in items]
    ce_headers = {k.lower(): v for k, v in headers.items() if k.lower().startswith("ce-")}
    if "ce-specversion" in ce_headers:
        # Header values are percent-encoded in the HTTP binding: "Z%C3%BCrich" is "Zürich",
        # so the same event sent in binary and in structured mode is one event.
        attributes = {name.removeprefix("ce-"): unquote(value) for name, value in ce_headers.items()}
        return [structured(attributes, content_type, body)]
    if media == "application/json":
        return [body]
    raise IngestError(
        415,
        f"unsupported Content-Type {content_type or '(none)'!r}: use {STRUCTURED}, {BATCH}, "
        "or binary mode (ce-* headers, the data as the body)",
    )


@dataclass(frozen=True)
class ItemResult:
    index: int
    raw: bytes
    result: Accepted | Rejected

    def as_json(self, delivered: bool | None = None) -> dict[str, Any]:
        r = self.result
        out: dict[str, Any] = {"index": self.index}
        if isinstance(r, Accepted):
            out.update(id=r.event["id"], source=r.event["source"], status="accepted")
            if delivered is False:
                out.update(
                    status="rejected",
                    reason="not acknowledged by Kafka (or, on the embedded broker, not "
                    "stored in time); send it again: the same id counts once",
                )
        else:
            out.update(id=r.event_id or None, source=r.source or None, status="rejected", reason=r.reason)
        return out


def check(items: list[bytes]) -> list[ItemResult]:
    return [ItemResult(i, raw, validate(raw)) for i, raw in enumerate(items)]


def response_status(results: list[dict[str, Any]]) -> int:
    """202 all accepted, 207 some, 400 none (each item says why)."""
    accepted = sum(r["status"] == "accepted" for r in results)
    if accepted == len(results):
        return 202
    return 207 if accepted else 400

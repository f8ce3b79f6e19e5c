"""POST /events: CloudEvents over HTTP (structured, batch, binary; see
schemas/ingest.openapi.yaml). Parsing is in `streams.ingest.http_binding`; this is the
endpoint: auth, a bounded body, and an answer only after Kafka acknowledged."""

from __future__ import annotations

import asyncio

import faust

from streams.ingest import http_binding as binding
from streams.rules.validation import Accepted

# On the embedded broker an answer waits this long for its events to be stored.
STORED_WITHIN = 60.0


async def accept_events(w, headers, content) -> tuple[dict, int]:
    """The answer to POST /events (JSON, HTTP status), whichever listener took it. On the
    embedded broker (memory only) an event counts as accepted once stored, not before."""
    if not w.accepting:
        return {"error": "the pipeline is stopping: send again once it is up"}, 503
    events_topic, ingest_tokens = w.events_topic, w.tokens.ingest
    try:
        binding.authorize(headers.get("Authorization"), ingest_tokens)
        declared = headers.get("Content-Length")
        if declared and int(declared) > binding.MAX_BODY_BYTES:
            raise binding.IngestError(413, f"the body is over {binding.MAX_BODY_BYTES // 1024 // 1024} MiB")
        body = await read_limited(content, binding.MAX_BODY_BYTES)
        items = binding.split_events(headers.get("Content-Type"), dict(headers), body)
    except binding.IngestError as exc:
        return {"error": str(exc)}, exc.status
    except ValueError:
        return {"error": "Content-Length is not a number"}, 400
    checked = binding.check(items)
    # Answer only after Kafka has acknowledged every accepted event: what the
    # response calls accepted is never lost.
    sends = {
        c.index: await events_topic.send(key=c.result.partner_id.encode(), value=c.raw)
        for c in checked
        if isinstance(c.result, Accepted)
    }
    outcomes = await asyncio.gather(*sends.values(), return_exceptions=True)
    delivered = {i: not isinstance(o, BaseException) for i, o in zip(sends, outcomes, strict=True)}
    if w.settings.embedded_kafka and any(delivered.values()):
        offsets: dict[int, int] = {}
        for o in outcomes:
            if not isinstance(o, BaseException):
                offsets[o.partition] = max(o.offset, offsets.get(o.partition, -1))
        if not await w.ingest.wait_stored(offsets, STORED_WITHIN):
            delivered = dict.fromkeys(delivered, False)
    results = [c.as_json(delivered.get(c.index)) for c in checked]
    accepted = sum(r["status"] == "accepted" for r in results)
    return {"accepted": accepted, "rejected": len(results) - accepted, "results": results}, binding.response_status(
        results
    )


def register(app: faust.App, w) -> None:
    @app.page("/events")
    class Events(faust.web.View):
        def get_methods(self) -> set[str]:
            # faust routes HEAD on every view and then answers it 405; only POST exists
            # here, so aiohttp answers anything else 405 with `Allow: POST`.
            return {"POST"}

        async def post(self, request):
            body, code = await accept_events(w, request.headers, request.content)
            return self.json(body, status=code)


async def read_limited(stream, limit: int) -> bytes:
    """The request body, refusing (413) anything over `limit` without reading it all, and
    (408) a client that stops sending for binding.BODY_IDLE_SECONDS."""
    chunks, size = [], 0
    while True:
        try:
            chunk = await asyncio.wait_for(stream.read(64 * 1024), binding.BODY_IDLE_SECONDS)
        except TimeoutError:
            raise binding.IngestError(408, f"no body bytes for {binding.BODY_IDLE_SECONDS:.0f} s") from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise binding.IngestError(413, f"the body is over {limit // 1024 // 1024} MiB")
        chunks.append(chunk)

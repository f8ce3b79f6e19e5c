"""The pipeline's HTTP views besides /events: status, probes, read queries, DLQ replay.

Every route but the probes needs a bearer token of its scope (`streams.rules.access`):
/status and /api/* a read (or admin) token, /dlq/replay an admin token. Nothing is open
by default: without configured tokens only the pipeline's own local admin token (in the
runtime file, readable by the same user alone) opens them."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import asdict
from datetime import UTC, datetime

import faust
import orjson
from aiohttp.http_exceptions import HttpProcessingError

from streams.errors import NotFoundError
from streams.formats import iso, iso_or_none
from streams.ingest.replay import replay
from streams.reporting.queries import QUERIES
from streams.rules.access import Denied, check_bearer
from streams.store import reads


class OneLineForBadRequests(logging.Filter):
    """aiohttp logs a request it cannot parse (a NUL byte in a header, a broken request
    line) as an error with its traceback; the client was answered 400, so for whoever
    watches `up` it is one line saying what was refused."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            reason = " ".join(str(exc.message).split())
            record.msg, record.args, record.exc_info, record.exc_text = (
                f"refused a malformed HTTP request (400): {reason}", (), None, None)  # fmt: skip
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_bad_requests() -> None:
    logging.getLogger("aiohttp.server").addFilter(OneLineForBadRequests())


async def status_json(w) -> dict:
    """What this worker did and where the stream stands; answers while the store is away."""

    async def or_none(fn, *args):
        try:
            return await w.store.run(fn, *args)
        except Exception:  # the store is away: /status still answers, store_error says why
            return None

    return {
        "ready": w.reader.assigned,
        "pid": os.getpid(),
        "started_at": iso(w.started_at),
        "kafka": w.bootstrap,
        "idempotent_producer": w.idempotent_producer,
        "clickhouse": w.clickhouse,
        "processed": asdict(w.ingest.processed),
        "watermark": iso_or_none(await or_none(w.evaluator.watermark, datetime.now(UTC))),
        "leader": w.reader.is_leader(),
        "partitions": w.reader.partitions(),  # assigned to this worker now
        "last_evaluated": iso_or_none(w.evaluator.last_evaluated),
        "stored": await or_none(reads.counts),
        "store_error": w.ingest.store_error,
        # Next offset per partition, stored and committed: `send` waits on it (embedded broker).
        "committed": {str(p): offset for p, offset in sorted(w.ingest.committed.items())},
        "accepting": w.accepting,
    }


async def ready_json(w) -> tuple[dict, int]:
    """Readiness: partitions assigned and the store answering; says nothing more."""
    try:
        await asyncio.wait_for(w.store.run(lambda client: client.query("SELECT 1")), timeout=5)
    except Exception:  # any store failure means not ready
        return {"ready": False}, 503
    return ({"ready": True}, 200) if w.reader.assigned else ({"ready": False}, 503)


def denied(w, request, scope: str) -> tuple[dict, int] | None:
    """None when the request carries a token of `scope`, else the answer to give."""
    try:
        check_bearer(request.headers.get("Authorization"), w.tokens.of(scope), scope)
    except Denied as exc:
        return {"error": str(exc)}, exc.status
    return None


def register(app: faust.App, w) -> None:
    """`w`: the worker's parts (`streams.worker.app.Worker`)."""

    @app.page("/status")
    async def status(web, request):
        if no := denied(w, request, "read"):
            return web.json(no[0], status=no[1])
        return web.json(await status_json(w))

    @app.page("/healthz")
    async def healthz(web, request):
        """Liveness: the worker's event loop answers."""
        return web.json({"ok": True})

    @app.page("/readyz")
    async def readyz(web, request):
        body, code = await ready_json(w)
        return web.json(body, status=code)

    @app.page("/dlq/replay")
    class Replay(faust.web.View):
        """Re-submit the dead letters that today's validation accepts; keep the rest."""

        async def post(self, request):
            if no := denied(w, request, "admin"):
                return self.json(no[0], status=no[1])
            # On the store thread as a whole: a replay is rare, and nothing else may
            # forget or add dead letters in between.
            result = await w.store.run(replay, w.replay_sender())
            return self.json(result.as_json())

    @app.page("/api/{name}")
    async def api_view(web, request, name):
        if no := denied(w, request, "read"):
            return web.json(no[0], status=no[1])
        query = QUERIES.get(name)
        if query is None:
            return web.json({"error": f"no query named {name!r}"}, status=404)
        try:
            result = await w.store.run(query, **dict(request.query))
        except NotFoundError as exc:
            return web.json({"error": str(exc)}, status=404)
        except (TypeError, ValueError) as exc:
            return web.json({"error": str(exc)}, status=400)
        return web.bytes(orjson.dumps(result, default=str), content_type="application/json")

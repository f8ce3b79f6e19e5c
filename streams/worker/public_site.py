"""A second listener, for what must be reachable from outside: POST /events and the
probes, nothing else (PARTNERPULSE_PUBLIC_PORT). Deployments publish this port and keep
the main one (the read API, /status, /dlq/replay) on the internal network."""

from __future__ import annotations

import orjson
from aiohttp import web

from streams.worker.http_ingest import accept_events
from streams.worker.web import ready_json


class PublicSite:
    def __init__(self, w, bind: str, port: int):
        self.w, self.bind, self.port = w, bind, port
        self._runner: web.AppRunner | None = None

    def _answer(self, body: dict, status: int) -> web.Response:
        return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")

    async def _events(self, request: web.Request) -> web.Response:
        return self._answer(*await accept_events(self.w, request.headers, request.content))

    async def _healthz(self, request: web.Request) -> web.Response:
        return self._answer({"ok": True}, 200)

    async def _readyz(self, request: web.Request) -> web.Response:
        return self._answer(*await ready_json(self.w))

    async def start(self) -> None:
        site_app = web.Application()
        site_app.router.add_post("/events", self._events)
        site_app.router.add_get("/healthz", self._healthz)
        site_app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(site_app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.bind, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

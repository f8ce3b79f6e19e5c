"""Asking for a read query (`streams.reporting.queries`): through the running pipeline's
HTTP API if there is one (it owns the embedded store), else directly on the store."""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import orjson

from streams.config import Settings
from streams.errors import PipelineError
from streams.reporting.queries import QUERIES
from streams.store.connection import connect
from streams.worker.runtime import find


def call(url: str, token: str | None = None, timeout: float = 30, method: str = "GET") -> Any:
    """A JSON answer of the running pipeline, presenting `token` (a read or admin one)."""
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            detail = orjson.loads(body).get("error", body.decode(errors="replace"))
        except orjson.JSONDecodeError:
            detail = body.decode(errors="replace")
        hint = "; set PARTNERPULSE_TOKEN to a read or admin token of that pipeline" if exc.code in (401, 403) else ""
        raise PipelineError(f"the running pipeline answered {exc.code}: {detail}{hint}") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise PipelineError(f"the running pipeline at {url} does not answer ({exc}); is it still starting?") from exc


def token_for(settings: Settings, info: dict) -> str | None:
    """PARTNERPULSE_TOKEN if set, else the local admin token in the runtime file."""
    return settings.token or info.get("token")


def ask(settings: Settings, name: str, **params: Any) -> Any:
    """Run a read query of `streams.reporting.queries`: through the running pipeline if there is
    one, else directly on the store."""
    info = find(settings)
    if info is not None:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        url = f"{info['web_url']}/api/{name}" + (f"?{query}" if query else "")
        return call(url, token_for(settings, info))
    client = connect(settings.clickhouse)
    try:
        return orjson.loads(orjson.dumps(QUERIES[name](client, **params), default=str))
    finally:
        client.close()


def wait_stored(settings: Settings, info: dict, offsets: dict[int, int], timeout: float) -> bool:
    """Wait until the running pipeline has stored the records up to `offsets` (partition
    -> last offset); False if it did not within `timeout` or stopped answering."""
    token = token_for(settings, info)
    deadline = time.monotonic() + timeout
    while True:
        try:
            committed = call(info["web_url"] + "/status", token, timeout=10)["committed"]
        except PipelineError:
            return False
        if all(int(committed.get(str(p), 0)) > offset for p, offset in offsets.items()):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)

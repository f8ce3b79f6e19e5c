"""Finding a running pipeline: it leaves `pipeline.json` in the data dir while it runs.

The embedded chDB admits one process, so while `up` runs the other commands ask it
through its HTTP API; when nothing runs they open the store themselves.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import orjson

from streams.config import Settings
from streams.reporting import queries as api
from streams.store import connection as store


class PipelineError(RuntimeError):
    """The running pipeline cannot be used; the message says what to do."""


def write(settings: Settings, info: dict) -> None:
    tmp = settings.runtime_file.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(info))
    tmp.replace(settings.runtime_file)


def remove(settings: Settings, pid: int) -> None:
    info = _read(settings)
    if info is not None and info.get("pid") == pid:
        settings.runtime_file.unlink(missing_ok=True)


def _read(settings: Settings) -> dict | None:
    try:
        return orjson.loads(settings.runtime_file.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find(settings: Settings) -> dict | None:
    """The running pipeline's info, or None; a stale file (dead pid) is cleaned up."""
    info = _read(settings)
    if info is None:
        return None
    if not _alive(int(info.get("pid", 0))):
        settings.runtime_file.unlink(missing_ok=True)
        return None
    return info


def get_json(url: str, timeout: float = 30) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            detail = orjson.loads(body).get("error", body.decode(errors="replace"))
        except orjson.JSONDecodeError:
            detail = body.decode(errors="replace")
        raise PipelineError(f"the running pipeline answered {exc.code}: {detail}") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise PipelineError(f"the running pipeline at {url} does not answer ({exc}); is it still starting?") from exc


def ask(settings: Settings, name: str, **params: Any) -> Any:
    """Run a read query of `streams.api`: through the running pipeline if there is
    one, else directly on the store."""
    info = find(settings)
    if info is not None:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        return get_json(f"{info['web_url']}/api/{name}" + (f"?{query}" if query else ""))
    client = store.connect(settings.clickhouse)
    try:
        return orjson.loads(orjson.dumps(api.QUERIES[name](client, **params), default=str))
    finally:
        client.close()

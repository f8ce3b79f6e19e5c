"""Finding a running pipeline: it leaves `pipeline.json` in the data dir while it runs.

The embedded chDB admits one process, so while `up` runs the other commands ask it
through its HTTP API (`streams.worker.remote`); when nothing runs they open the store.
"""

from __future__ import annotations

import os

import orjson

from streams.config import Settings
from streams.errors import SendError


def write(settings: Settings, info: dict) -> None:
    """The file holds the pipeline's local admin token: only this user may read it (0600,
    from its creation on, so there is no moment when others could)."""
    tmp = settings.runtime_file.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(orjson.dumps(info))
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


def bootstrap_for(settings: Settings) -> str:
    """Kafka to produce to: the configured one, else the running pipeline's embedded broker."""
    if settings.kafka:
        return settings.kafka
    info = find(settings)
    if info is not None and info.get("stopping"):
        raise SendError("the running pipeline is stopping (storing what its embedded broker holds): "
                        "send again once `partnerpulse up` runs again")  # fmt: skip
    if info is None:
        raise SendError(
            "no pipeline is running and PARTNERPULSE_KAFKA is not set: start `partnerpulse up` "
            "in another terminal (same PARTNERPULSE_DATA_DIR), or point PARTNERPULSE_KAFKA at your Kafka"
        )
    return info["kafka"]

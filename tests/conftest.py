"""Shared fixtures: real CLI subprocesses, a real pipeline, a real chDB store."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams import config
from streams.config import Settings
from streams.store import connection as store
from streams.store.executor import StoreExecutor
from streams.worker.process import PipelineProcess

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "schemas" / "examples"

# The in-process memory tests (tests/store/test_memory.py) measure the give-back against
# freed pages the engine keeps: this process loads chDB, before any test opens a store,
# with ClickHouse's own setting for them, as a user's JE_MALLOC_CONF would. The product's
# shorter keep (streams.config.ENGINE_ALLOCATOR) is tested in fresh processes.
with pytest.MonkeyPatch.context() as _env:
    _env.setenv("JE_MALLOC_CONF", "dirty_decay_ms:5000")
    store.import_chdb()


def env_for(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERPULSE_")}
    env["PARTNERPULSE_DATA_DIR"] = str(settings.data_dir)
    if settings.kafka:
        env["PARTNERPULSE_KAFKA"] = settings.kafka
    env["COLUMNS"] = "200"
    return env


def cli(settings: Settings, *args: str, stdin: bytes | None = None, timeout: float = 120,
        extra_env: dict[str, str] | None = None):  # fmt: skip
    """Run `partnerpulse ARGS…` as a user would, in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=env_for(settings) | (extra_env or {}),
        input=stdin,
        capture_output=True,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.fixture
def settings(tmp_path) -> Settings:
    return config.load({"PARTNERPULSE_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def pipeline(settings):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    process = PipelineProcess(settings, settings.data_dir / "pipeline.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def client(tmp_path):
    """A real chDB store in this test process (closed after, so the next test may use another path)."""
    c = store.connect(f"chdb://{tmp_path / 'clickhouse'}")
    yield c
    c.close()


@pytest.fixture
def store_before(tmp_path, monkeypatch):
    """A chDB store as an earlier version left it: `store_before(N)` applies the migrations
    before version N only (store.apply_migrations then applies the rest, as on upgrade)."""
    opened = []

    def before(version: int):
        client = store.connect(f"chdb://{tmp_path / 'clickhouse'}", migrate=False)
        opened.append(client)
        every = store.migration_files
        with monkeypatch.context() as m:
            m.setattr(store, "migration_files", lambda cluster=None: [f for f in every(cluster) if f[0] < version])
            store.apply_migrations(client)
        return client

    yield before
    for client in opened:
        client.close()


@pytest.fixture
def store_thread(client, tmp_path):
    """The worker's store thread and its reader on the `client` fixture's store, each with
    a client of its own (chDB admits several in one process), as in a worker."""
    executor = StoreExecutor(f"chdb://{tmp_path / 'clickhouse'}")
    yield executor
    executor.close()


@contextlib.contextmanager
def running_broker(kind: str):
    """A broker of `kind` for one test: the embedded Tansu, or Apache Kafka itself."""
    from streams.broker.embedded import embedded_broker
    from tests.apache_kafka import apache_kafka

    if kind == "tansu":
        with embedded_broker() as bootstrap:
            yield bootstrap
    else:
        with apache_kafka() as kafka:
            yield kafka.bootstrap


@pytest.fixture(params=["tansu", "kafka"])
def any_broker(request):
    """The end-to-end suites run on both brokers; the test id says which."""
    with running_broker(request.param) as bootstrap:
        yield bootstrap


@pytest.fixture(params=["tansu", "kafka"])
def on_broker(request, settings) -> Settings:
    """Settings for a pipeline on each broker (the test id says which): the embedded
    default (Tansu, started by `up` itself), or Apache Kafka started for this test."""
    if request.param == "tansu":
        yield settings
        return
    with running_broker("kafka") as bootstrap:
        yield dataclasses.replace(settings, kafka=bootstrap, session_timeout=6.0)  # Kafka's least


@pytest.fixture
def broker_pipeline(on_broker):
    """`partnerpulse up` on each broker; its `.settings` are what CLI calls must use."""
    on_broker.data_dir.mkdir(parents=True, exist_ok=True)
    with PipelineProcess(on_broker, on_broker.data_dir / "pipeline.log") as process:
        yield process

"""`partnerpulse up`: broker (embedded or configured), store, faust worker, until stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import faust

from streams.broker import embedded as broker
from streams.config import Settings, redact
from streams.store import connection as store
from streams.worker import runtime
from streams.worker.app import create_app

FATAL_STOP_WITHIN = 20.0


def run(settings: Settings, announce: Callable[[dict], None] | None = None, loglevel: str = "WARNING") -> None:
    """Run the pipeline until SIGINT/SIGTERM; everything started here is stopped here."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    running = runtime.find(settings)
    if running is not None:
        raise runtime.PipelineError(
            f"a pipeline is already running for {settings.data_dir} (pid {running['pid']}, {running['web_url']}); "
            "stop it first or set PARTNERPULSE_DATA_DIR to another folder"
        )
    # Open (and migrate) the store before anything else: a locked or unreachable store
    # is the most common start-up failure and should fail fast.
    store.connect(settings.clickhouse).close()

    with contextlib.ExitStack() as stack:
        if settings.embedded_kafka:
            bootstrap = stack.enter_context(broker.embedded_broker(log_path=settings.data_dir / "broker.log"))
        else:
            bootstrap = settings.kafka
        broker.ensure_topics(bootstrap, settings.partitions, timeout=settings.broker_timeout)
        web_port = int(os.environ.get("PARTNERPULSE_WEB_PORT") or broker.free_port())
        info = {
            "pid": os.getpid(),
            "web_url": f"http://127.0.0.1:{web_port}",
            "kafka": bootstrap,
            "embedded_kafka": settings.embedded_kafka,
            "clickhouse": redact(settings.clickhouse),
        }

        def ready() -> None:
            runtime.write(settings, info)
            if announce:
                announce(info)

        fatal: list[str] = []

        def stop_for(message: str) -> None:
            # A clean stop (SIGTERM), bounded: one that hangs on the unreachable broker
            # is cut short, so the exit status still says what happened.
            fatal.append(message)
            deadline = threading.Timer(FATAL_STOP_WITHIN, os._exit, args=(1,))
            deadline.daemon = True
            deadline.start()
            os.kill(os.getpid(), signal.SIGTERM)

        stack.callback(runtime.remove, settings, os.getpid())
        app, sink = create_app(settings, bootstrap, web_port, on_ready=ready, on_fatal=stop_for)
        stack.callback(sink.close)
        worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
        with contextlib.suppress(SystemExit):
            worker.execute_from_commandline()
        if fatal:
            raise broker.BrokerError(fatal[0])


class PipelineProcess:
    """`partnerpulse up` in a subprocess; waits until it serves, stops it with SIGINT."""

    def __init__(self, settings: Settings, log_path, extra_env: dict[str, str] | None = None):
        self.settings = settings
        self.log_path = log_path
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen | None = None
        self.info: dict | None = None

    def start(self, timeout: float = 120) -> PipelineProcess:
        env = {**os.environ, **self.extra_env, "PARTNERPULSE_DATA_DIR": str(self.settings.data_dir)}
        if self.settings.kafka:
            env["PARTNERPULSE_KAFKA"] = self.settings.kafka
        env["PARTNERPULSE_CLICKHOUSE"] = self.settings.clickhouse
        if self.settings.session_timeout:
            env["PARTNERPULSE_SESSION_TIMEOUT"] = str(self.settings.session_timeout)
        env["PARTNERPULSE_BATCH_SIZE"] = str(self.settings.batch_size)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "up"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        self.info = self.wait_ready(timeout)
        return self

    def __enter__(self) -> PipelineProcess:
        return self if self.proc is not None else self.start()

    def wait_ready(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise runtime.PipelineError(f"the pipeline exited at start-up; see {self.log_path}")
            info = runtime.find(self.settings)
            if info is not None and info["pid"] == self.proc.pid:
                try:
                    if runtime.get_json(info["web_url"] + "/status", timeout=5)["ready"]:
                        return info
                except runtime.PipelineError:
                    pass
            time.sleep(0.2)
        raise runtime.PipelineError(f"the pipeline did not become ready within {timeout:.0f} s; see {self.log_path}")

    def status(self) -> dict:
        return runtime.get_json(self.info["web_url"] + "/status")

    def wait_processed(self, records: int, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if status["processed"]["records"] >= records:
                return status
            time.sleep(0.2)
        raise runtime.PipelineError(f"the pipeline did not process {records} records within {timeout:.0f} s")

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> int | None:
        """SIGINT, as Ctrl-C would; returns the exit status."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode if self.proc else None

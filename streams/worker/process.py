"""`partnerpulse up` in a subprocess (the demo, tests and benchmarks): waits until it
serves, stops it with SIGINT as Ctrl-C would."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from streams.config import Settings, child_environment
from streams.errors import PipelineError
from streams.worker.remote import call
from streams.worker.runtime import find


class PipelineProcess:
    """`partnerpulse up` in a subprocess; waits until it serves, stops it with SIGINT."""

    def __init__(self, settings: Settings, log_path, extra_env: dict[str, str] | None = None):
        self.settings = settings
        self.log_path = log_path
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen | None = None
        self.info: dict | None = None

    def start(self, timeout: float = 120) -> PipelineProcess:
        env = child_environment(self.settings, self.extra_env)
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
                raise PipelineError(f"the pipeline exited at start-up; see {self.log_path}")
            info = find(self.settings)
            if info is not None and info["pid"] == self.proc.pid:
                try:
                    if call(info["web_url"] + "/status", info["token"], timeout=5)["ready"]:
                        return info
                except PipelineError:
                    pass
            time.sleep(0.2)
        raise PipelineError(f"the pipeline did not become ready within {timeout:.0f} s; see {self.log_path}")

    def status(self) -> dict:
        return self.get("/status")

    def get(self, path: str, timeout: float = 30):
        """A JSON answer of this pipeline, with its local admin token."""
        return call(self.info["web_url"] + path, self.info["token"], timeout=timeout)

    def wait_processed(self, records: int, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if status["processed"]["records"] >= records:
                return status
            time.sleep(0.2)
        raise PipelineError(f"the pipeline did not process {records} records within {timeout:.0f} s")

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

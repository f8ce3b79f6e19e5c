"""`partnerpulse up`: broker (embedded or configured), store, faust worker, until stopped.
(`streams.worker.process` runs it as a subprocess, for the demo and tests.)"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import threading
from collections.abc import Callable

import faust

from streams.broker import embedded as broker
from streams.broker.idempotent import grants_producer_ids
from streams.config import Settings, redact
from streams.errors import PartnerPulseError, PipelineError
from streams.rules.fit import load_ideal
from streams.store.connection import connect
from streams.worker import runtime
from streams.worker.app import create_app
from streams.worker.drain import DrainingWorker

FATAL_STOP_WITHIN = 20.0
# Three busy threads share the GIL: the event loop, the classifying thread and the store
# thread, which passes into chDB and back many times per batch and each time waits for the
# GIL. At Python's default switch interval (5 ms) that wait was a large part of a batch.
GIL_SWITCH_INTERVAL = 0.0005
# A batch parses thousands of events into dicts: at the default threshold (700 new objects)
# the cyclic collector ran every few events, its older generations walking all that was
# imported at start. Those are frozen; a batch's objects hold no cycles (refcounts free them).
GC_THRESHOLDS = (50_000, 20, 100)


def run(settings: Settings, announce: Callable[[dict], None] | None = None, loglevel: str = "WARNING",
        say: Callable[[str], None] = print) -> None:  # fmt: skip
    """Run the pipeline until SIGINT/SIGTERM; everything started here is stopped here.
    On the embedded broker a stop first stores what the broker holds (`streams.worker.drain`)."""
    _refuse_a_second_one(settings)
    load_ideal()  # a bad ideal partner file is refused now, with its line, not half-applied later
    # Open (and migrate) the store before anything else: a locked or unreachable store
    # is the most common start-up failure and should fail fast.
    connect(settings.clickhouse).close()

    with contextlib.ExitStack() as stack:
        if settings.embedded_kafka:
            bootstrap = stack.enter_context(broker.embedded_broker(log_path=settings.data_dir / "broker.log"))
        else:
            bootstrap = settings.kafka
            say(f"connecting to Kafka at {bootstrap} (giving up after {settings.broker_timeout:.0f} s, "
                "PARTNERPULSE_BROKER_TIMEOUT)…")  # fmt: skip
        broker.ensure_topics(bootstrap, settings.partitions, timeout=settings.broker_timeout)
        # Tansu (the embedded broker) grants aiokafka no producer id: ask only elsewhere.
        idempotent = not settings.embedded_kafka and grants_producer_ids(bootstrap)
        web_port = settings.web_port or broker.free_port()
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
            deadline = threading.Timer(FATAL_STOP_WITHIN, _exit_now, args=(message,))
            deadline.daemon = True
            deadline.start()
            os.kill(os.getpid(), signal.SIGTERM)

        stack.callback(runtime.remove, settings, os.getpid())
        app, worker_parts = create_app(settings, bootstrap, web_port, on_ready=ready, on_fatal=stop_for,
                                       idempotent=idempotent)  # fmt: skip
        info["token"] = worker_parts.local_token
        if settings.public_port:
            info["public_url"] = f"http://127.0.0.1:{settings.public_port}"
        stack.callback(worker_parts.close)
        worker = _faust_worker(app, worker_parts, settings, info, say, loglevel)
        tune_interpreter()
        with contextlib.suppress(SystemExit):
            worker.execute_from_commandline()
        _raise_what_stopped_it(worker, worker_parts, fatal)


def tune_interpreter() -> None:
    """For ingest throughput (benchmarks/README.md, round two): with these a worker stored
    ~25% more events per second."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _raise_what_stopped_it(worker, worker_parts, fatal: list[str]) -> None:
    """A stop that was not asked for is an error with its reason (exit status 1)."""
    if fatal:
        raise broker.BrokerError(fatal[0])
    crash = worker.crash_reason  # mode logs a crash and returns as if stopped: we do not
    if isinstance(crash, PartnerPulseError):
        raise crash
    if crash is not None:
        raise PipelineError(f"the worker stopped on an error: {worker_parts.describe(crash)}")
    if getattr(worker, "lost", None) is not None:
        raise PipelineError(
            "stopped before the embedded broker was drained: "
            + (f"at least {worker.lost:,} events it held were not stored and are lost"
               if worker.lost else "events it still held, if any, were not stored and are lost")
        )  # fmt: skip


def _exit_now(message: str) -> None:
    """The clean stop hung (aiokafka waits on a group or broker that does not answer):
    exit 1 with the sentence `main` would have printed."""
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    os._exit(1)


def _refuse_a_second_one(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    running = runtime.find(settings)
    if running is not None:
        raise PipelineError(
            f"a pipeline is already running for {settings.data_dir} (pid {running['pid']}, {running['web_url']}); "
            "stop it first or set PARTNERPULSE_DATA_DIR to another folder"
        )


def _faust_worker(app, worker_parts, settings: Settings, info: dict, say, loglevel: str) -> faust.Worker:
    """faust's worker; on the embedded broker one whose stop drains it first."""
    options = {"loglevel": loglevel, "quiet": True, "redirect_stdouts": False}
    if not settings.embedded_kafka:
        return faust.Worker(app, **options)

    def stopping() -> None:  # `send` must not target a broker about to vanish
        runtime.write(settings, {**info, "stopping": True})

    return DrainingWorker(app, worker_parts, say, stopping, **options)

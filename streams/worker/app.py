"""The worker as wiring: the faust app, the store thread, and the loops that run in it.

Each loop is a class that holds its own state and is tested on its own
(tests/worker/): ingest (read → classify → store → commit), evaluation (midnights
crossed → health and alerts), delivery (the alert outbox → topic and webhooks), and
the broker watch. faust hosts them (tasks, a timer), the HTTP views and the producing.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

import aiohttp
import faust

from streams.broker.idempotent import use_idempotent_producer
from streams.broker.producer import close as close_producer
from streams.broker.producer import open_producer, unacknowledged
from streams.broker.reader import BatchReader
from streams.config import TOPIC_ALERTS, TOPIC_DLQ, TOPIC_EVENTS, Settings, redact
from streams.rules.access import Tokens
from streams.rules.scoring import load_scoring
from streams.store import outbox
from streams.store.evaluations import Evaluator
from streams.store.executor import StoreExecutor
from streams.store.outbox import Due
from streams.store.progress import record_progress
from streams.store.writes import Classified
from streams.worker import http_ingest, web
from streams.worker.broker_watch import BrokerWatch
from streams.worker.delivery_loop import DeliveryLoop, post_webhook
from streams.worker.evaluation_loop import EvaluationLoop
from streams.worker.ingest_loop import IngestLoop
from streams.worker.public_site import PublicSite


class Worker:
    """The parts of one worker, shared by its loops and HTTP views."""

    def __init__(self, app: faust.App, settings: Settings, bootstrap: str, on_fatal=None):
        self.settings = settings
        self.idempotent_producer = False
        self.accepting = True  # False once a stop began: HTTP ingest answers 503
        self.bootstrap = bootstrap
        self.clickhouse = redact(settings.clickhouse)
        self.started_at = datetime.now(UTC)
        self.store = StoreExecutor(settings.clickhouse)
        scoring = load_scoring()
        lateness = timedelta(seconds=scoring.raw["watermark"]["allowed_lateness_seconds"])
        idle = timedelta(seconds=scoring.raw["watermark"]["idle_partition_seconds"])
        targets = outbox.targets(list(settings.webhooks))
        self.webhook_urls = {t.key: t.url for t in targets if t.url}
        self.evaluator = Evaluator(scoring, lateness, targets, idle, read_ahead=self.store.read_ahead)
        self.reader = BatchReader(bootstrap, TOPIC_EVENTS, settings.session_timeout, settings.heartbeat_interval,
                                  self._on_assigned)  # fmt: skip
        self.producer = app.producer
        self.alerts_topic = app.topic(TOPIC_ALERTS, key_serializer="raw", value_serializer="raw")
        self.events_topic = app.topic(TOPIC_EVENTS, key_serializer="raw", value_serializer="raw")
        self.ingest = IngestLoop(self.reader, self.store, self._send_dead_letters, settings.batch_size,
                                 describe=self.describe)  # fmt: skip
        self.evaluation = EvaluationLoop(self.evaluator, self.store, self.reader, TOPIC_EVENTS, self.ingest.busy,
                                         self.ingest.backlog, describe=self.describe)  # fmt: skip
        self.ingest.on_stored = self.evaluation.wake.set
        self.delivery = DeliveryLoop(self.store, self._deliver, describe=self.describe)
        self.watch = BrokerWatch(self.reader, bootstrap, settings.broker_timeout, on_fatal,
                                 session_timeout_set=settings.session_timeout is not None)  # fmt: skip
        # The pipeline's own admin token, for the CLI on this machine (runtime file, 0600):
        # read and admin routes are never open, even with no tokens configured.
        self.local_token = secrets.token_urlsafe(32)
        self.tokens = Tokens(settings.ingest_tokens, settings.read_tokens, (*settings.admin_tokens, self.local_token))
        self._http: aiohttp.ClientSession | None = None
        self._producer = None  # kafka-python, for DLQ replay; opened on the first one

    def describe(self, exc: BaseException) -> str:
        """An error for logs and /status: short, and with every secret masked."""
        return self.settings.scrub(f"{type(exc).__name__}: {exc}")[:500]

    async def _on_assigned(self, partitions: list[int]) -> None:
        # A newly assigned partition holds the watermark back (at its last known event
        # time): its backlog may be older than the rest. Its heartbeats say it has a backlog
        # until this worker has read and stored it; it is idle only a while after that.
        now = datetime.now(UTC)
        await self.store.run(record_progress, [(TOPIC_EVENTS, p, None, now) for p in partitions])

    async def _send_dead_letters(self, classified: Classified) -> None:
        # Bytes to the producer itself: a faust topic's send adds a message object, callbacks
        # and sensors per record, on the event loop the whole ingest shares.
        send = self.producer.send
        deliveries = [
            await send(
                TOPIC_DLQ,
                key=rejected.event_id.encode() or None,
                value=raw,
                partition=None,
                timestamp=None,
                # The record's own headers too (binary mode: its attributes), for a replay.
                headers=[
                    *origin.headers,
                    ("reason", rejected.reason.encode()),
                    ("code", rejected.code.encode()),
                    ("original-partition", str(origin.partition).encode()),
                    ("original-offset", str(origin.offset).encode()),
                ],
            )
            for rejected, raw, origin in classified.rejected
        ]
        if deliveries:
            await asyncio.gather(*deliveries)

    async def _deliver(self, due: Due) -> str | None:
        if due.target == outbox.KAFKA_TARGET.key:
            try:
                await (await self.alerts_topic.send(key=due.partner_id.encode(), value=due.payload.encode()))
            except Exception as exc:  # the broker's errors vary; the outbox retries
                return f"Kafka: {type(exc).__name__}"
            return None
        url = self.webhook_urls.get(due.target)
        if url is None:
            return "this webhook is no longer configured (PARTNERPULSE_WEBHOOKS)"
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return await post_webhook(self._http, url, due.payload.encode(), self.settings.webhook_secret)

    def replay_sender(self):
        """For `streams.ingest.replay` on the store thread: produce, report what failed."""

        def send(items):
            if self._producer is None:
                self._producer = open_producer(self.bootstrap, self.settings.broker_timeout)
            return unacknowledged(self._producer, items)

        return send

    def close(self) -> None:
        if self._producer is not None:
            close_producer(self._producer)
        self.store.close()


def create_app(
    settings: Settings, bootstrap: str, web_port: int, on_ready=None, on_fatal=None, idempotent: bool = False
) -> tuple[faust.App, Worker]:
    """The worker. `on_ready()` once it serves; `on_fatal(message)` when it must stop;
    `idempotent`: the broker grants producer ids (`streams.broker.idempotent`)."""
    app = faust.App(
        "partnerpulse",
        broker=[f"kafka://{host}" for host in bootstrap.split(",")],
        store="memory://",
        datadir=str(settings.data_dir / "faust"),
        topic_partitions=settings.partitions,
        producer_acks=-1,
        web_enabled=True,
        web_bind=settings.web_bind,
        web_host="127.0.0.1",
        web_port=web_port,
        web_in_thread=False,
    )
    # No faust consumer: events are read in `BatchReader`'s group, so faust's own group would
    # read nothing, yet its join comes before our tasks start — a second join at every start
    # (Tansu holds each for half the session timeout) and a second group to rebalance.
    # faust still runs the tasks, the timer, the web server and the producer.
    app.boot_strategy = app.BootStrategy(app, enable_kafka_consumer=False)
    if idempotent:
        use_idempotent_producer(app)
    w = Worker(app, settings, bootstrap, on_fatal)
    w.idempotent_producer = idempotent

    public = PublicSite(w, settings.web_bind, settings.public_port) if settings.public_port else None

    @app.task
    async def _opened() -> None:
        await w.store.open()
        if public is not None:
            await public.start()
        if on_ready is not None:
            on_ready()

    app.task(w.ingest.run)
    app.task(w.evaluation.run)
    app.task(w.watch.run)
    app.timer(1.0, name="delivery")(w.delivery.tick)
    http_ingest.register(app, w)
    web.register(app, w)
    web.quiet_bad_requests()
    return app, w

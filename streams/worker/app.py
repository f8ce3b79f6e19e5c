"""The faust application: batched ingest, evaluation, alert delivery and the small HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import faust
import orjson

from streams.broker.reader import BatchReader
from streams.config import TOPIC_ALERTS, TOPIC_DLQ, TOPIC_EVENTS, Settings, redact
from streams.formats import iso, iso_or_none
from streams.ingest import http_binding as ingest
from streams.reporting import queries as api
from streams.rules.scoring import load_scoring
from streams.rules.validation import Accepted, revalidate
from streams.store import outbox as delivery
from streams.store import reads as queries
from streams.store.evaluations import Evaluator, record_ownership, record_progress
from streams.store.rows import Origin
from streams.store.writes import Classified, Sink, Written, classify

log = logging.getLogger(__name__)

# A batch is up to settings.batch_size records: large batches are where the speed is
# (chDB inserts); waiting at most this long for one keeps latency low.
BATCH_WITHIN = 0.5
MAX_DELIVERIES_IN_FLIGHT = 64
MAX_RETRY_DELAY = 30.0
BROKER_CHECK_EVERY = 2.0
# Midnights per store-thread job while catching up (one query); ingest and queries run in between.
EVALUATE_AT_ONCE = 31
EVALUATE_BUSY, EVALUATE_BUSY_PAUSE = 7, 5.0


@dataclass
class Processed:
    """What this worker did since it started (the store holds the totals)."""

    records: int = 0
    engagements: int = 0
    profiles: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    batches: int = 0

    def add(self, records: int, written: Written) -> None:
        self.records += records
        self.engagements += written.engagements
        self.profiles += written.profiles
        self.dead_letters += written.dead_letters
        self.duplicates += written.duplicates
        self.batches += 1


def create_app(
    settings: Settings, bootstrap: str, web_port: int, on_ready=None, on_fatal=None
) -> tuple[faust.App, Sink]:
    """The worker. `on_ready()` once it serves; `on_fatal(message)` when it must stop."""
    options = {}
    if settings.session_timeout:
        options.update(
            broker_session_timeout=settings.session_timeout,
            broker_heartbeat_interval=settings.heartbeat_interval,
        )
    app = faust.App(
        "partnerpulse",
        broker=[f"kafka://{host}" for host in bootstrap.split(",")],
        store="memory://",
        datadir=str(settings.data_dir / "faust"),
        topic_partitions=settings.partitions,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_enabled=True,
        web_bind=os.environ.get("PARTNERPULSE_WEB_BIND", "127.0.0.1"),
        web_host="127.0.0.1",
        web_port=web_port,
        web_in_thread=False,
        **options,
    )
    sink = Sink(settings.clickhouse)

    def problem(exc: BaseException) -> str:
        """An error for logs and /status: short, and with every secret masked."""
        return settings.scrub(f"{type(exc).__name__}: {exc}")[:500]

    processed = Processed()
    state: dict[str, Any] = {"started_at": datetime.now(UTC), "store_error": None, "last_stored": 0.0}
    scoring = load_scoring()
    lateness = timedelta(seconds=scoring.raw["watermark"]["allowed_lateness_seconds"])
    idle = timedelta(seconds=scoring.raw["watermark"]["idle_partition_seconds"])
    alert_targets = delivery.targets(list(settings.webhooks))
    webhook_urls = {t.key: t.url for t in alert_targets if t.url}
    evaluator = Evaluator(scoring, lateness, alert_targets, idle)

    async def on_assigned(partitions: list[int]) -> None:
        # A newly assigned partition holds the watermark back (at its last known event
        # time) until it has been idle a while: its backlog may be older than the rest.
        now = datetime.now(UTC)
        await sink.run(record_progress, [(TOPIC_EVENTS, p, None, now) for p in partitions])

    reader = BatchReader(bootstrap, TOPIC_EVENTS, settings.session_timeout, settings.heartbeat_interval, on_assigned)

    wake_evaluator = asyncio.Event()

    @app.task
    async def _evaluate_forever() -> None:
        # Its own task: ingest only wakes it, so a long catch-up (a year replayed)
        # never holds up ingest. Idle partitions release the watermark as wall time
        # passes, hence the periodic wake-up too. Only the worker holding partition 0
        # evaluates, from every partition's progress in the store: one evaluation per
        # midnight however many workers share the partitions.
        more, leading = False, False
        while True:
            if not more:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake_evaluator.wait(), timeout=1.0)
            wake_evaluator.clear()
            # While a backlog streams in, ingest has the store thread first: evaluation
            # catches up in small steps every few seconds, and fully once ingest rests.
            busy = time.monotonic() - state["last_stored"] < 1.0
            if busy:
                await asyncio.sleep(EVALUATE_BUSY_PAUSE)
            try:  # every worker: "I still own my partitions" (see streams/watermark.py)
                await sink.run(record_ownership, TOPIC_EVENTS, reader.partitions(), datetime.now(UTC))
            except Exception as exc:
                log.warning("could not record partition ownership: %s", problem(exc))
            if not reader.is_leader():
                more, leading = False, False
                continue
            if not leading:
                evaluator.forget()  # another worker may have led meanwhile
                leading = True
            try:
                limit = EVALUATE_BUSY if busy else EVALUATE_AT_ONCE
                done = await sink.run(evaluator.advance, datetime.now(UTC), limit)
                more = len(done) == limit
            except Exception as exc:
                log.warning("evaluation failed, retrying in a second: %s", problem(exc))
                await asyncio.sleep(1.0)

    events_topic = app.topic(TOPIC_EVENTS, key_serializer="raw", value_serializer="raw")
    dlq_topic = app.topic(TOPIC_DLQ, key_serializer="raw", value_serializer="raw")
    alerts_topic = app.topic(TOPIC_ALERTS, key_serializer="raw", value_serializer="raw")
    http: dict[str, Any] = {}

    async def send_dead_letters(classified) -> None:
        deliveries = [
            await dlq_topic.send(
                key=rejected.event_id.encode() or None,
                value=raw,
                headers={
                    "reason": rejected.reason.encode(),
                    "code": rejected.code.encode(),
                    "original-partition": str(origin.partition).encode(),
                    "original-offset": str(origin.offset).encode(),
                },
            )
            for rejected, raw, origin in classified.rejected
        ]
        if deliveries:
            await asyncio.gather(*deliveries)

    classifier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classify")

    def pairs_and_classes(records: list, now: datetime) -> tuple[list, Classified]:
        batch = [(r.value or b"", Origin(r.topic, r.partition, r.offset, now)) for r in records]
        return batch, classify(batch)

    async def prepare(records: list) -> tuple[list, Classified]:
        """(raw, origin) pairs and their classification, on a thread of its own: it
        overlaps with the store thread writing the previous batch."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(classifier, pairs_and_classes, records, datetime.now(UTC))

    async def store_batch(records: list, batch: list, classified: Classified) -> None:
        """Store, dead-letter and commit one batch (the part of it this worker still owns)."""
        async with reader.storing:
            owned = await reader.owned(records)
            if not owned:
                return
            if len(owned) < len(records):  # a rebalance took some partitions meanwhile
                records, (batch, classified) = owned, await prepare(owned)
            written = await sink.write(classified)
            await send_dead_letters(classified)
            # Offsets are committed only now: a crash before this line redelivers the
            # batch, and the idempotent sink stores nothing twice.
            try:
                await reader.commit(records)
            except Exception as exc:  # e.g. a rebalance in between; redelivery is harmless
                log.warning("could not commit offsets (%s); the batch will be read again", type(exc).__name__)
            processed.add(len(batch), written)
            state["last_stored"] = time.monotonic()

    async def read_forever(prepared: asyncio.Queue, room: asyncio.Semaphore) -> None:
        try:
            while True:
                await room.acquire()  # given back once the batch is stored
                records = await reader.get(settings.batch_size, BATCH_WITHIN)
                if records:
                    await prepared.put((records, *await prepare(records)))
                else:
                    room.release()
        except Exception as exc:
            await prepared.put(exc)
            raise

    @app.task
    async def _ingest() -> None:
        await reader.start()
        # One batch read and classified while the previous one is stored, and no more
        # (memory, and back-pressure: reading stops when the store falls behind).
        prepared: asyncio.Queue = asyncio.Queue()
        room = asyncio.Semaphore(2)
        reading = asyncio.ensure_future(read_forever(prepared, room))
        try:
            while True:
                item = await prepared.get()
                if isinstance(item, Exception):
                    raise item
                records, batch, classified = item
                failures = 0
                # The store may be down for a while: keep retrying this batch.
                while True:
                    try:
                        await store_batch(records, batch, classified)
                        state["store_error"] = None
                        break
                    except Exception as exc:
                        failures += 1
                        delay = min(2 ** (failures - 1) * 0.5, MAX_RETRY_DELAY)
                        state["store_error"] = problem(exc)
                        log.error("storing a batch of %d failed (attempt %d, retrying in %.1f s): %s",
                                  len(records), failures, delay, state["store_error"])  # fmt: skip
                        await asyncio.sleep(delay)
                room.release()
                wake_evaluator.set()
        finally:
            reading.cancel()
            await reader.stop()

    async def deliver_one(due: delivery.Due) -> str | None:
        if due.target == delivery.KAFKA_TARGET.key:
            try:
                await (await alerts_topic.send(key=due.partner_id.encode(), value=due.payload.encode()))
            except Exception as exc:  # the broker's errors vary; the outbox retries
                return f"Kafka: {type(exc).__name__}"
            return None
        url = webhook_urls.get(due.target)
        if url is None:
            return "this webhook is no longer configured (PARTNERPULSE_WEBHOOKS)"
        if "session" not in http:
            http["session"] = aiohttp.ClientSession()
        return await delivery.post_webhook(http["session"], url, due.payload.encode(), settings.webhook_secret)

    in_flight: dict[tuple[str, str], asyncio.Task] = {}
    attempted: dict[tuple[str, str], int] = {}  # attempts recorded by this worker

    async def deliver_and_record(due: delivery.Due) -> None:
        key = (due.event_id, due.target)
        try:
            error = await deliver_one(due)
            await sink.run(delivery.record, [(due, error)], delivery.utcnow())
            attempted[key] = due.attempts + 1
        except Exception as exc:  # not recorded: the outbox offers it again
            log.warning("could not record a delivery attempt: %s", problem(exc))
        finally:
            in_flight.pop(key, None)

    @app.timer(1.0)
    async def _deliver() -> None:
        # Each delivery is its own task: a slow or failing target delays nothing else,
        # neither the stream nor the other targets.
        try:
            dues = await sink.run(delivery.due, delivery.utcnow())
        except Exception as exc:  # the store is away; the outbox keeps everything for later
            log.warning("cannot read the alert outbox: %s", problem(exc))
            return
        for due in dues:
            key = (due.event_id, due.target)
            # A row read just before its last attempt was recorded is stale: skip it.
            stale = due.attempts < attempted.get(key, 0)
            if not stale and key not in in_flight and len(in_flight) < MAX_DELIVERIES_IN_FLIGHT:
                in_flight[key] = asyncio.ensure_future(deliver_and_record(due))

    @app.task
    async def _watch_broker() -> None:
        # aiokafka reconnects forever; a worker cut off from Kafka for longer than
        # PARTNERPULSE_BROKER_TIMEOUT says so and stops, for its orchestrator to restart.
        last_ok = time.monotonic()
        while True:
            await asyncio.sleep(BROKER_CHECK_EVERY)
            if reader.started and await reader.reachable(timeout=BROKER_CHECK_EVERY):
                last_ok = time.monotonic()
            elif time.monotonic() - last_ok > settings.broker_timeout:
                message = (f"cannot reach Kafka at {bootstrap} for {settings.broker_timeout:.0f} s; stopping "
                           "(check PARTNERPULSE_KAFKA and the brokers)")  # fmt: skip
                log.error(message)
                if on_fatal is not None:
                    on_fatal(message)
                return

    @app.task
    async def _opened() -> None:
        await sink.open()
        if on_ready is not None:
            on_ready()

    async def or_none(fn, *args):
        try:
            return await sink.run(fn, *args)
        except Exception:  # the store is away: /status still answers, store_error says why
            return None

    @app.page("/status")
    async def status(web, request):
        counts = await or_none(queries.counts)
        return web.json(
            {
                "ready": reader.assigned,
                "pid": os.getpid(),
                "started_at": iso(state["started_at"]),
                "kafka": bootstrap,
                "clickhouse": redact(settings.clickhouse),
                "processed": asdict(processed),
                "watermark": iso_or_none(await or_none(evaluator.watermark, datetime.now(UTC))),
                "leader": reader.is_leader(),
                "last_evaluated": iso_or_none(evaluator.last_evaluated),
                "stored": counts,
                "store_error": state["store_error"],
            }
        )

    @app.page("/healthz")
    async def healthz(web, request):
        """Liveness: the worker's event loop answers."""
        return web.json({"ok": True})

    @app.page("/readyz")
    async def readyz(web, request):
        """Readiness: partitions assigned and the store answering."""
        try:
            await asyncio.wait_for(sink.run(lambda client: client.query("SELECT 1")), timeout=5)
        except Exception as exc:  # any store failure means not ready
            return web.json({"ready": False, "reason": f"store: {type(exc).__name__}"}, status=503)
        if not reader.assigned:
            return web.json({"ready": False, "reason": "waiting for partitions"}, status=503)
        return web.json({"ready": True})

    @app.page("/events")
    class Events(faust.web.View):
        """CloudEvents over HTTP (structured, batch, binary); see schemas/ingest.openapi.yaml."""

        async def post(self, request):
            try:
                ingest.authorize(request.headers.get("Authorization"), settings.ingest_tokens)
                declared = request.headers.get("Content-Length")
                if declared and int(declared) > ingest.MAX_BODY_BYTES:
                    raise ingest.IngestError(413, f"the body is over {ingest.MAX_BODY_BYTES // 1024 // 1024} MiB")
                body = await _read_limited(request.content, ingest.MAX_BODY_BYTES)
                items = ingest.split_events(request.headers.get("Content-Type"), dict(request.headers), body)
            except ingest.IngestError as exc:
                return self.json({"error": str(exc)}, status=exc.status)
            except ValueError:
                return self.json({"error": "Content-Length is not a number"}, status=400)
            checked = ingest.check(items)
            # Answer only after Kafka has acknowledged every accepted event: what the
            # response calls accepted is never lost.
            sends = {
                c.index: await events_topic.send(key=c.result.partner_id.encode(), value=c.raw)
                for c in checked
                if isinstance(c.result, Accepted)
            }
            outcomes = await asyncio.gather(*sends.values(), return_exceptions=True)
            delivered = {i: not isinstance(o, BaseException) for i, o in zip(sends, outcomes, strict=True)}
            results = [c.as_json(delivered.get(c.index)) for c in checked]
            accepted = sum(r["status"] == "accepted" for r in results)
            return self.json(
                {"accepted": accepted, "rejected": len(results) - accepted, "results": results},
                status=ingest.response_status(results),
            )

    @app.page("/dlq/replay")
    class Replay(faust.web.View):
        """Re-submit the dead letters that today's validation accepts; keep the rest."""

        async def post(self, request):
            letters = await sink.run(queries.dead_letter_payloads)
            passing = revalidate(letters)
            sent = [await events_topic.send(key=r.partner_id.encode(), value=raw) for _, raw, r in passing]
            outcomes = await asyncio.gather(*sent, return_exceptions=True)
            done = [i for (i, _, _), o in zip(passing, outcomes, strict=True) if not isinstance(o, BaseException)]
            await sink.run(queries.forget_dead_letters, done)
            return self.json({"replayed": len(done), "still_failing": len(letters) - len(passing),
                              "not_acknowledged": len(passing) - len(done)})  # fmt: skip

    @app.page("/api/{name}")
    async def api_view(web, request, name):
        query = api.QUERIES.get(name)
        if query is None:
            return web.json({"error": f"no query named {name!r}"}, status=404)
        try:
            result = await sink.run(query, **dict(request.query))
        except (TypeError, ValueError) as exc:
            return web.json({"error": str(exc)}, status=400)
        return web.bytes(orjson.dumps(result, default=str), content_type="application/json")

    return app, sink


async def _read_limited(stream, limit: int) -> bytes:
    """The request body, refusing (413) anything over `limit` without reading it all, and
    (408) a client that stops sending for ingest.BODY_IDLE_SECONDS."""
    chunks, size = [], 0
    while True:
        try:
            chunk = await asyncio.wait_for(stream.read(64 * 1024), ingest.BODY_IDLE_SECONDS)
        except TimeoutError:
            raise ingest.IngestError(408, f"no body bytes for {ingest.BODY_IDLE_SECONDS:.0f} s") from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise ingest.IngestError(413, f"the body is over {limit // 1024 // 1024} MiB")
        chunks.append(chunk)

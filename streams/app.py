"""The faust application: the ingest agent and the pipeline's small HTTP API."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import faust
import orjson

from streams import api, queries
from streams.config import TOPIC_DLQ, TOPIC_EVENTS, Settings, redact
from streams.evaluation import Evaluator
from streams.records import Origin
from streams.scoring import load_scoring
from streams.sink import Sink, Written, classify
from streams.watermark import Watermark

# Large batches are where the speed is (chDB inserts), a short wait keeps latency low.
BATCH_MAX = 5000
BATCH_WITHIN = 0.5


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


def create_app(settings: Settings, bootstrap: str, web_port: int, on_ready=None) -> tuple[faust.App, Sink]:
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
    processed = Processed()
    state = {"assigned": False, "started_at": datetime.now(UTC), "last_evaluated": None}
    scoring = load_scoring()
    lateness = timedelta(seconds=scoring.raw["watermark"]["allowed_lateness_seconds"])
    watermark = Watermark(lateness, idle_seconds=float(scoring.raw["watermark"]["idle_partition_seconds"]))
    evaluator = Evaluator(scoring, lateness)
    evaluating = asyncio.Lock()

    async def advance() -> None:
        """Evaluate every midnight the watermark has crossed (after the batches that
        carried it past are stored)."""
        async with evaluating:
            done = await sink.run(evaluator.advance, watermark.current(time.monotonic()))
            if done:
                state["last_evaluated"] = done[-1]

    events_topic = app.topic(TOPIC_EVENTS, key_serializer="raw", value_serializer="raw")
    dlq_topic = app.topic(TOPIC_DLQ, key_serializer="raw", value_serializer="raw")

    @app.agent(events_topic)
    async def ingest(stream):
        # Events are acked (offsets committed) only after the body below returns, so a
        # crash redelivers the batch and the idempotent sink stores nothing twice.
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN):
            now = datetime.now(UTC)
            batch = [
                (event.value or b"", Origin(event.message.topic, event.message.partition, event.message.offset, now))
                for event in events
            ]
            classified = classify(batch)
            written = await sink.write(classified)
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
            processed.add(len(batch), written)
            now_mono = time.monotonic()
            for partition, latest in classified.latest.items():
                watermark.observe(partition, latest, now_mono)
            await advance()

    @app.timer(1.0)
    async def _tick() -> None:
        # Idle partitions stop holding the watermark back only as wall time passes.
        await advance()

    @app.on_partitions_assigned.connect
    async def _assigned(app, assigned, **kwargs):
        watermark.assign((tp.partition for tp in assigned if tp.topic == TOPIC_EVENTS), time.monotonic())
        state["assigned"] = True

    @app.on_partitions_revoked.connect
    async def _revoked(app, revoked, **kwargs):
        watermark.revoke(tp.partition for tp in revoked if tp.topic == TOPIC_EVENTS)

    @app.task
    async def _opened() -> None:
        await sink.open()
        if on_ready is not None:
            on_ready()

    @app.page("/status")
    async def status(web, request):
        counts = await sink.run(queries.counts)
        return web.json(
            {
                "ready": state["assigned"],
                "pid": os.getpid(),
                "started_at": queries.iso(state["started_at"]),
                "kafka": bootstrap,
                "clickhouse": redact(settings.clickhouse),
                "processed": asdict(processed),
                "watermark": _iso_or_none(watermark.current(time.monotonic())),
                "last_evaluated": _iso_or_none(state["last_evaluated"]),
                "stored": counts,
            }
        )

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


def _iso_or_none(value: datetime | None) -> str | None:
    return queries.iso(value) if value is not None else None

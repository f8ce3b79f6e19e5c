"""Each input partition's progress (latest event time, activity, ownership): the
watermark's inputs, kept in the store so it is the whole stream's (see rules/watermark.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from streams.formats import aware
from streams.rules.watermark import PartitionProgress


def read_progress(client: Client, topic: str = "engagement-events") -> list[PartitionProgress]:
    result = client.query(
        "SELECT partition, max(latest), max(active_at), max(owned_at) FROM partition_progress "
        "WHERE topic = {topic:String} GROUP BY partition ORDER BY partition",
        parameters={"topic": topic},
    )
    return [
        PartitionProgress(p, aware(latest) if latest else None, aware(active), aware(owned))
        for p, latest, active, owned in result.result_rows
    ]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def record_progress(client: Client, rows: list[tuple[str, int, datetime | None, datetime]]) -> None:
    """(topic, partition, latest event time or None, wall clock now) per partition read or
    assigned: activity, and ownership too."""
    if rows:
        client.insert(
            "partition_progress",
            [(t, p, latest, now, now) for t, p, latest, now in rows],
            column_names=["topic", "partition", "latest", "active_at", "owned_at"],
        )


def record_ownership(client: Client, topic: str, partitions: list[int], backlogged: set[int], now: datetime) -> None:
    """The owner's heartbeat: it still reads these partitions, and those `backlogged` have
    records it has not stored yet — activity, so they are not idle however long that takes."""
    if partitions:
        client.insert(
            "partition_progress",
            [(topic, p, None, now if p in backlogged else _EPOCH, now) for p in partitions],
            column_names=["topic", "partition", "latest", "active_at", "owned_at"],
        )

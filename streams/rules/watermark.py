"""Event-time progress of the stream, and the midnights it has crossed (pure).

Watermark = the smallest, over the input partitions, of the latest event time seen on
each, minus the allowed lateness. A partition stops holding it back once it has been
idle for `idle` seconds of wall time, counted from its last activity: a record stored,
its assignment, or a heartbeat in which its owner still had a backlog of it (records on
the broker not yet read, or read and not yet stored) — by the clock alone, a partition
just assigned whose backlog waited behind other partitions' batches could count as idle,
and midnights be decided without its events. And only while a live worker owns it: a
partition whose worker died has a backlog, not silence, and holds the watermark at its
last event time until another worker takes it over. If every partition is idle, the
furthest one sets it. A partition that holds the watermark but has shown no event time
yet holds it back entirely. Workers record each partition's progress in ClickHouse
(`partition_progress`), so the watermark is the whole stream's, whichever worker reads
which partition.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class PartitionProgress:
    partition: int
    latest: datetime | None  # the latest event time seen on it, ever
    active_at: datetime  # wall clock of its last record, assignment, or backlog reported
    owned_at: datetime  # wall clock of its owner's last heartbeat


OWNER_TIMEOUT = timedelta(seconds=10)  # heartbeats come every second


def watermark(progress: Iterable[PartitionProgress], now: datetime, lateness: timedelta,
              idle: timedelta) -> datetime | None:  # fmt: skip
    parts = list(progress)

    def idle_as_seen_by_a_live_owner(p: PartitionProgress) -> bool:
        # Its owner heartbeated for the whole idle period after the last activity (a record,
        # the assignment, a backlog) and is still alive: it really had nothing to read.
        return p.owned_at - p.active_at >= idle and now - p.owned_at <= OWNER_TIMEOUT

    busy = [p for p in parts if not idle_as_seen_by_a_live_owner(p)]
    if any(p.latest is None for p in busy):
        return None
    if busy:
        return min(p.latest for p in busy) - lateness
    seen = [p.latest for p in parts if p.latest is not None]
    return max(seen) - lateness if seen else None


def midnights_between(after: datetime, upto: datetime) -> list[datetime]:
    """The UTC midnights M with after < M ≤ upto, in order."""
    first = datetime.combine(after.astimezone(UTC).date(), datetime.min.time(), UTC) + timedelta(days=1)
    out = []
    m = first
    while m <= upto:
        out.append(m)
        m += timedelta(days=1)
    return out


def midnight_at_or_before(t: datetime) -> datetime:
    return datetime.combine(t.astimezone(UTC).date(), datetime.min.time(), UTC)

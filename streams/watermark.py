"""Event-time progress of the stream, and the midnights it has crossed (pure).

Watermark = the smallest, over the input partitions, of the latest event time seen on
each, minus the allowed lateness. A partition with no record for `idle` seconds of
wall time (or none since it was assigned) stops holding it back; if every partition
is idle, the furthest one sets it. It never moves backwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta


class Watermark:
    def __init__(self, lateness: timedelta, idle_seconds: float):
        self.lateness = lateness
        self.idle_seconds = idle_seconds
        self._latest: dict[int, datetime] = {}  # partition -> latest event time
        self._active_at: dict[int, float] = {}  # partition -> wall clock of last record (or assignment)
        self._value: datetime | None = None

    def assign(self, partitions: Iterable[int], now: float) -> None:
        for p in partitions:
            self._active_at.setdefault(p, now)

    def revoke(self, partitions: Iterable[int]) -> None:
        for p in partitions:
            self._active_at.pop(p, None)
            self._latest.pop(p, None)

    def observe(self, partition: int, event_time: datetime, now: float) -> None:
        self._active_at[partition] = now
        if partition not in self._latest or event_time > self._latest[partition]:
            self._latest[partition] = event_time

    def current(self, now: float) -> datetime | None:
        busy = [p for p, at in self._active_at.items() if now - at < self.idle_seconds]
        if any(p not in self._latest for p in busy):
            candidate = None  # an assigned partition has not said anything yet
        elif busy:
            candidate = min(self._latest[p] for p in busy) - self.lateness
        elif self._latest:
            candidate = max(self._latest.values()) - self.lateness
        else:
            candidate = None
        if candidate is not None and (self._value is None or candidate > self._value):
            self._value = candidate
        return self._value


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

"""Test doubles for the worker's loops, in the manner of bytewax's testing.py: a store
executor that runs each call at once on a real chDB client (and can be told to fail or
to hold), a reader fed from lists, and a fake clock whose sleeps only advance it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from streams.broker.reader import next_offsets


@dataclass(frozen=True)
class Record:
    """What aiokafka's ConsumerRecord gives the ingest loop."""

    topic: str
    partition: int
    offset: int
    value: bytes


class FakeClock:
    """`sleep` advances `now` at once and remembers each delay."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class TestingStore:
    __test__ = False  # a test double, not a test class
    """`run(fn, *args)` calls fn(client, *args) on the event loop's thread. `fail(fn, n)`:
    the next n calls of fn raise; `hold(fn)`: calls of fn wait until `release()`;
    `give_back` (memory, within a call) is only recorded in `calls`."""

    def __init__(self, client):
        self.client = client
        self.calls: list[str] = []
        self._failures: dict[str, int] = {}
        self._held: set[str] = set()
        self._gate = asyncio.Event()

    def fail(self, fn, times: int) -> None:
        self._failures[fn.__name__] = times

    def hold(self, fn) -> None:
        self._held.add(fn.__name__)
        self._gate.clear()

    def release(self) -> None:
        self._held.clear()
        self._gate.set()

    def give_back(self, client) -> None:
        self.calls.append("give_back")

    async def run(self, fn, *args, **kwargs):
        name = getattr(fn, "__name__", repr(fn))
        self.calls.append(name)
        if name in self._held:
            await self._gate.wait()
        if self._failures.get(name):
            self._failures[name] -= 1
            raise ConnectionError(f"{name}: the store is away")
        return fn(self.client, *args, **kwargs)


@dataclass
class TestingReader:
    __test__ = False
    """Batches handed out in order; then nothing (an empty read after `within`)."""

    batches: list[list[Record]]
    mine: set[int] = field(default_factory=lambda: {0, 1, 2, 3})
    committed: list[dict] = field(default_factory=list)
    reads: int = 0
    assigned: bool = True
    started: bool = True
    reachable_answers: list[bool] = field(default_factory=list)
    behind: set[int] = field(default_factory=set)  # partitions with records on the broker not handed out

    def __post_init__(self):
        self.storing = asyncio.Lock()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def get(self, max_records: int, within: float) -> list[Record]:
        self.reads += 1
        if self.batches:
            return self.batches.pop(0)
        await asyncio.sleep(0.01)
        return []

    async def owned(self, records: list[Record]) -> list[Record]:
        return [r for r in records if r.partition in self.mine]

    async def commit(self, records: list[Record]) -> None:
        self.committed.append({tp.partition: offset for tp, offset in next_offsets(records).items()})

    def partitions(self) -> list[int]:
        return sorted(self.mine)

    async def backlogged(self) -> set[int]:
        return self.behind & self.mine

    def is_leader(self) -> bool:
        return 0 in self.mine

    async def reachable(self, timeout: float) -> bool:
        return self.reachable_answers.pop(0) if self.reachable_answers else True

"""A clean stop on the embedded broker: it keeps its log in memory and stops with `up`,
so what it acknowledged is stored first.

1. stop taking events: HTTP ingest answers 503, the runtime file says "stopping" (so
   `send` refuses);
2. keep storing until nothing was read for DRAIN_QUIET seconds and nothing waits to be
   stored: no producer can add records any more, so the broker's log is exhausted;
3. then stop as usual. A second Ctrl-C cuts 2. short, and says how much was left.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable

import faust

DRAIN_QUIET = 1.0  # two empty reads in a row (each waits up to 0.5 s)
PROGRESS_EVERY = 2.0


async def left_in_broker(w) -> int:
    """At least this many records are in the broker and not stored (the embedded broker
    reports its log end too low after batched produce: a lower bound)."""
    with contextlib.suppress(Exception):
        ends = await asyncio.wait_for(w.reader.end_offsets(), 5)
        return sum(max(0, end - w.ingest.committed.get(p, 0)) for p, end in ends.items())
    return 0


async def drain(w, say: Callable[[str], None], on_stopping: Callable[[], None]) -> int:
    """Steps 1 and 2; returns how many records were stored while draining."""
    w.accepting = False
    on_stopping()
    before = w.ingest.processed.records
    left = await left_in_broker(w)
    say(f"storing the {left:,} events still in the embedded broker before stopping (Ctrl-C again to stop at once)…"
        if left else "storing what the embedded broker still holds before stopping (Ctrl-C again to stop at once)…")  # fmt: skip
    last_said = time.monotonic()
    while not w.ingest.settled(DRAIN_QUIET):
        await asyncio.sleep(0.2)
        if time.monotonic() - last_said >= PROGRESS_EVERY:
            last_said = time.monotonic()
            problem = f" (waiting for the store: {w.ingest.store_error})" if w.ingest.store_error else ""
            say(f"  {w.ingest.processed.records - before:,} stored so far{problem}…")
    stored = w.ingest.processed.records - before
    say(f"stored the {stored:,} events that were still in the embedded broker")
    return stored


class DrainingWorker(faust.Worker):
    """faust's worker, whose first SIGINT/SIGTERM drains the embedded broker (`drain`)
    before stopping; a second one stops at once and records what was left."""

    def __init__(self, app, w, say: Callable[[str], None], on_stopping: Callable[[], None], **kwargs):
        super().__init__(app, **kwargs)
        self._parts, self._say, self._on_stopping = w, say, on_stopping
        self._draining: asyncio.Future | None = None
        self.lost: int | None = None  # set when a second signal cut the drain short

    def _on_sigint(self) -> None:
        self._stop_asked(signal.SIGINT)

    def _on_sigterm(self) -> None:
        self._stop_asked(signal.SIGTERM)

    def _stop_asked(self, sig: signal.Signals) -> None:
        if self._draining is None:
            self._draining = asyncio.ensure_future(self._drain_then_stop(sig))
        elif not self._draining.done():
            self._draining.cancel()
            self._draining = asyncio.ensure_future(self._cut_short(sig))

    async def _drain_then_stop(self, sig: signal.Signals) -> None:
        await drain(self._parts, self._say, self._on_stopping)
        self._schedule_shutdown(sig)

    async def _cut_short(self, sig: signal.Signals) -> None:
        self.lost = await left_in_broker(self._parts)
        self._schedule_shutdown(sig)

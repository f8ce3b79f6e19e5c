"""Evaluation as the stream's event time crosses midnights, in a task of its own.

Ingest only wakes it, so a long catch-up (a year replayed) never holds up ingest. Idle
partitions release the watermark as wall time passes, hence a periodic wake-up too.
Only the worker holding partition 0 evaluates, from every partition's progress in the
store: one evaluation per midnight however many workers share the partitions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from streams.store.health_state import keep_state
from streams.store.progress import record_ownership

log = logging.getLogger(__name__)

# Midnights per store-thread job while catching up (one query); ingest and queries run in between.
EVALUATE_AT_ONCE = 31
# While a backlog streams in, ingest has the store thread first: evaluation catches up
# in small steps every few seconds, and fully once ingest rests. The pause looks again
# every BUSY_LOOK seconds: a backlog that ended in it left evaluation idle for the rest
# (up to 5 s of a replay: step 41 in benchmarks/README).
EVALUATE_BUSY, EVALUATE_BUSY_PAUSE, BUSY_LOOK = 7, 5.0, 0.25


class EvaluationLoop:
    def __init__(
        self,
        evaluator,
        store,
        reader,
        topic: str,
        busy: Callable[[], bool],
        backlog: Callable[[], Awaitable[set[int]]],
        describe: Callable[[BaseException], str] = repr,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.evaluator = evaluator
        self.store = store
        self.reader = reader
        self.topic = topic
        self.busy = busy
        self.backlog = backlog
        self.describe = describe
        self.sleep = sleep
        self.now = now
        self.wake = asyncio.Event()
        self.more = False  # the last step hit its limit: more midnights are due
        self.leading = False
        self.state_checked = False  # the last midnight's health state, once after start

    async def step(self) -> list[datetime]:
        """One round: record ownership, then (as leader) evaluate the due midnights."""
        busy = await self._pause_while_busy()
        try:  # every worker: "I still own my partitions; these have a backlog" (see rules/watermark.py)
            backlog = await self.backlog()
            await self.store.run(record_ownership, self.topic, self.reader.partitions(), backlog, self.now())
        except Exception as exc:
            log.warning("could not record partition ownership: %s", self.describe(exc))
        if not self.reader.is_leader():
            self.more = self.leading = False
            return []
        if not self.leading:
            self.evaluator.forget()  # another worker may have led meanwhile
            self.leading, self.state_checked = True, False
        limit = EVALUATE_BUSY if busy else EVALUATE_AT_ONCE
        try:
            done = await self.store.run(self.evaluator.advance, self.now(), limit)
        except Exception as exc:
            log.warning("evaluation failed, retrying in a second: %s", self.describe(exc))
            self.more = False
            await self.sleep(1.0)
            return []
        self.more = len(done) == limit
        # Caught up: `health` today starts from the last midnight's state. At the first step
        # with nothing due (a restart, an upgrade that dropped the state) it is checked too.
        midnight = done[-1] if done else self.evaluator.last_evaluated
        if midnight is not None and not self.more and (done or not self.state_checked):
            self.state_checked = True
            try:
                await self.store.run(keep_state, midnight, self.evaluator.scoring)
            except Exception as exc:  # health is computed in full meanwhile: slower, as exact
                log.warning("could not keep the health state: %s", self.describe(exc))
        return done

    async def _pause_while_busy(self) -> bool:
        """Wait while ingest is busy, up to EVALUATE_BUSY_PAUSE; whether it still is."""
        waited = 0.0
        while self.busy():
            if waited >= EVALUATE_BUSY_PAUSE:
                return True
            await self.sleep(BUSY_LOOK)
            waited += BUSY_LOOK
        return False

    async def run(self) -> None:
        while True:
            if not self.more:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=1.0)
            self.wake.clear()
            await self.step()

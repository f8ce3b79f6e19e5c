"""Alert delivery from the outbox (`streams.store.outbox`): the topic and webhooks.

Each delivery is its own task: a slow or failing target delays nothing else, neither
the stream nor the other targets. A failed one is retried with backoff, forever.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable

from streams.store import outbox
from streams.store.outbox import Due

log = logging.getLogger(__name__)

MAX_DELIVERIES_IN_FLIGHT = 64
TICK_BUDGET = 0.8  # seconds a tick goes on starting deliveries while more are due
SIGNATURE_HEADER = "X-PartnerPulse-Signature"
WEBHOOK_TIMEOUT = 10.0


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def post_webhook(session, url: str, body: bytes, secret: str | None) -> str | None:
    """POST one alert; None on a 2xx answer, else a short error (never the URL or secret)."""
    import aiohttp

    headers = {"Content-Type": "application/cloudevents+json", "User-Agent": "partnerpulse"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    try:
        async with session.post(url, data=body, headers=headers,
                                timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT)) as response:  # fmt: skip
            if 200 <= response.status < 300:
                return None
            return f"HTTP {response.status}"
    except TimeoutError:
        return f"no answer within {WEBHOOK_TIMEOUT:.0f} s"
    except aiohttp.ClientError as exc:
        return f"{type(exc).__name__}"


class DeliveryLoop:
    """`tick()` every second: start a task for each due delivery not already under way."""

    def __init__(
        self,
        store,
        deliver: Callable[[Due], Awaitable[str | None]],
        describe: Callable[[BaseException], str] = repr,
    ):
        self.store = store
        self.deliver = deliver  # returns None when delivered, else a short error
        self.describe = describe
        self.in_flight: dict[tuple[str, str], asyncio.Task] = {}
        self.attempted: dict[tuple[str, str], int] = {}  # attempts recorded by this worker
        self._unrecorded: list[tuple[Due, str | None, asyncio.Future]] = []
        self._recording = False  # a task is storing outcomes (and those that come meanwhile)

    async def _deliver_and_record(self, due: Due) -> None:
        key = (due.event_id, due.target)
        try:
            error = await self.deliver(due)
            if await self._record(due, error):
                self.attempted[key] = due.attempts + 1
        except Exception as exc:  # not recorded: the outbox offers it again
            log.warning("could not deliver an alert: %s", self.describe(exc))
        finally:
            self.in_flight.pop(key, None)

    async def _record(self, due: Due, error: str | None) -> bool:
        """Store an attempt's outcome; whether it was stored. Outcomes that come while a
        store job records others go together in the next one: one insert for a tick's
        deliveries, not one each (a catch-up delivers thousands of alerts, and the store
        thread is what evaluation waits for)."""
        stored = asyncio.get_running_loop().create_future()
        self._unrecorded.append((due, error, stored))
        if not self._recording:
            self._recording, batch = True, []
            try:
                while self._unrecorded:
                    batch, self._unrecorded = self._unrecorded, []
                    ok = True
                    try:
                        await self.store.run(outbox.record, [(d, e) for d, e, _ in batch], outbox.utcnow())
                    except Exception as exc:  # not recorded: the outbox offers them again
                        log.warning("could not record %d delivery attempts: %s", len(batch), self.describe(exc))
                        ok = False
                    for *_, done in batch:
                        done.set_result(ok)
            finally:  # cancelled (the worker stops): what is not known stored is offered again
                self._recording = False
                for *_, done in [*batch, *self._unrecorded]:
                    if not done.done():
                        done.set_result(False)
                self._unrecorded = []
        return await stored

    async def tick(self) -> None:
        """Start the due deliveries; while more are due than may be in flight, go on
        starting them as others finish, for up to TICK_BUDGET (the timer fires every
        second): a backlog drains at the targets' pace, not MAX_DELIVERIES_IN_FLIGHT a second."""
        clock = asyncio.get_running_loop()
        until = clock.time() + TICK_BUDGET
        try:
            dues = await self.store.run(outbox.due, outbox.utcnow())
        except Exception as exc:  # the store is away; the outbox keeps everything for later
            log.warning("cannot read the alert outbox: %s", self.describe(exc))
            return
        waiting = self._start(dues)
        while waiting and self.in_flight and (left := until - clock.time()) > 0:
            await asyncio.wait(list(self.in_flight.values()), timeout=left, return_when=asyncio.FIRST_COMPLETED)
            waiting = self._start(waiting)

    def _start(self, dues: list[Due]) -> list[Due]:
        """A task for each due delivery not under way, as room allows; those left to start."""
        waiting = []
        for due in dues:
            key = (due.event_id, due.target)
            # A row read just before its last attempt was recorded is stale: skip it.
            if due.attempts < self.attempted.get(key, 0) or key in self.in_flight:
                continue
            if len(self.in_flight) < MAX_DELIVERIES_IN_FLIGHT:
                self.in_flight[key] = asyncio.ensure_future(self._deliver_and_record(due))
            else:
                waiting.append(due)
        return waiting

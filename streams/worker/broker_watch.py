"""aiokafka reconnects forever; a worker cut off from Kafka for longer than
PARTNERPULSE_BROKER_TIMEOUT says so and stops, for its orchestrator to restart it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

BROKER_CHECK_EVERY = 2.0


class BrokerWatch:
    def __init__(
        self,
        reader,
        bootstrap: str,
        timeout: float,
        on_fatal: Callable[[str], None] | None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.reader = reader
        self.bootstrap = bootstrap
        self.timeout = timeout
        self.on_fatal = on_fatal
        self.sleep = sleep
        self.clock = clock

    async def run(self) -> str:
        """Returns (after calling on_fatal) the message once the broker stayed away too long."""
        last_ok = self.clock()
        while True:
            await self.sleep(BROKER_CHECK_EVERY)
            if self.reader.started and await self.reader.reachable(timeout=BROKER_CHECK_EVERY):
                last_ok = self.clock()
            elif self.clock() - last_ok > self.timeout:
                message = (f"cannot reach Kafka at {self.bootstrap} for {self.timeout:.0f} s; stopping "
                           "(check PARTNERPULSE_KAFKA and the brokers)")  # fmt: skip
                log.error(message)
                if self.on_fatal is not None:
                    self.on_fatal(message)
                return message

"""aiokafka reconnects and rejoins forever; a worker cut off from Kafka, or kept out of
its consumer group, for longer than PARTNERPULSE_BROKER_TIMEOUT says so and stops, for
its orchestrator to restart it. Until then it says what it waits for, where, how long."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from streams.broker.reader import GROUP

log = logging.getLogger(__name__)

BROKER_CHECK_EVERY = 2.0
SAY_WAITING_EVERY = 10.0

# A worker killed during its join leaves a member that Tansu keeps for half the session
# timeout (faust's default: 60 s; seen to hold a join for 15 minutes without the setting).
TANSU_HINT = ("if the broker is a Tansu you run yourself, a worker killed during its join holds the group: "
              "set PARTNERPULSE_SESSION_TIMEOUT=6 for every worker (the embedded broker uses 4)")  # fmt: skip


class BrokerWatch:
    def __init__(
        self,
        reader,
        bootstrap: str,
        timeout: float,
        on_fatal: Callable[[str], None] | None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        say: Callable[[str], None] = log.warning,
        session_timeout_set: bool = True,
    ):
        self.reader = reader
        self.bootstrap = bootstrap
        self.timeout = timeout
        self.on_fatal = on_fatal
        self.sleep = sleep
        self.clock = clock
        self.say = say
        self.session_timeout_set = session_timeout_set

    async def run(self) -> str:
        """Returns (after calling on_fatal) the message once the broker stayed away, or the
        group closed, too long."""
        last_ok = joined_at = last_said = self.clock()
        was_joined, said_waiting = False, False
        while True:
            await self.sleep(BROKER_CHECK_EVERY)
            now = self.clock()
            reachable = self.reader.started and await self.reader.reachable(timeout=BROKER_CHECK_EVERY)
            if reachable:
                last_ok = now
            elif now - last_ok > self.timeout:
                return self._stop(f"cannot reach Kafka at {self.bootstrap} for {self.timeout:.0f} s; stopping "
                                  "(check PARTNERPULSE_KAFKA and the brokers)")  # fmt: skip
            if self.reader.assigned:
                if said_waiting:
                    self.say(f"joined consumer group '{GROUP}' on {self.bootstrap} after {now - joined_at:.0f} s")
                was_joined, said_waiting = True, False
                continue
            if was_joined:  # a rebalance began: count from here
                joined_at = last_said = now
                was_joined = False
            waited = now - joined_at
            if waited > self.timeout:
                hint = f"; {TANSU_HINT}" if reachable and not self.session_timeout_set else ""
                return self._stop(
                    f"could not join consumer group '{GROUP}' on {self.bootstrap} within {self.timeout:.0f} s "
                    f"(PARTNERPULSE_BROKER_TIMEOUT); stopping{hint}"
                )
            if now - last_said >= SAY_WAITING_EVERY:
                last_said, said_waiting = now, True
                where = "the broker answers" if reachable else "the broker does not answer"
                self.say(f"waiting to join consumer group '{GROUP}' on {self.bootstrap} ({where}): "
                         f"{waited:.0f} s of {self.timeout:.0f} s before giving up")  # fmt: skip

    def _stop(self, message: str) -> str:
        log.error(message)
        if self.on_fatal is not None:
            self.on_fatal(message)
        return message

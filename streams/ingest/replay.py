"""Dead-letter replay (`partnerpulse dlq replay`, `POST /dlq/replay`): re-submit the dead
letters that today's validation accepts, keep the rest. One function for both."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from clickhouse_connect.driver.client import Client

from streams.rules.bindings import from_kafka
from streams.rules.validation import Accepted, revalidate
from streams.store import reads


@dataclass(frozen=True)
class ReplayResult:
    replayed: int
    still_failing: int
    not_acknowledged: int

    def as_json(self) -> dict[str, int]:
        return asdict(self)


def replay(client: Client, send: Callable[[list[tuple[str, Accepted, bytes]]], set[str]]) -> ReplayResult:
    """`send((id, accepted, raw) items)` returns the ids Kafka did not acknowledge: those
    stay dead letters (a later replay tries again); the others are removed only now."""
    letters = [(i, from_kafka(raw, headers)) for i, raw, headers in reads.dead_letter_payloads(client)]
    passing = revalidate(letters)
    failed = send([(i, accepted, raw) for i, raw, accepted in passing]) if passing else set()
    done = [i for i, _, _ in passing if i not in failed]
    reads.forget_dead_letters(client, done)
    return ReplayResult(len(done), len(letters) - len(passing), len(passing) - len(done))

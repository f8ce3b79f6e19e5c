"""Producing validated events to `engagement-events` with kafka-python (the CLI, and DLQ replay)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

from streams.config import TOPIC_EVENTS
from streams.errors import SendError
from streams.rules.validation import Accepted, Rejected, validate


@dataclass
class SendReport:
    accepted: int = 0
    rejected: list[tuple[str, int, str]] = field(default_factory=list)  # (file, line, reason)
    failed: list[tuple[str, int, str]] = field(default_factory=list)  # accepted but not acknowledged
    # The last acknowledged offset per partition: what "stored" must reach on the embedded broker.
    offsets: dict[int, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.rejected and not self.failed


def open_producer(bootstrap: str, timeout: float = 60.0) -> KafkaProducer:
    """A producer whose every send is acknowledged or failed within `timeout` seconds."""
    try:
        return KafkaProducer(
            bootstrap_servers=bootstrap.split(","),
            acks="all",
            enable_idempotence=True,  # a retry after a lost ack is written once (Kafka and Tansu)
            linger_ms=20,
            retries=5,
            client_id="partnerpulse-send",
            max_request_size=1024 * 1024,
            delivery_timeout_ms=int(timeout * 1000),
            request_timeout_ms=int(min(30.0, timeout / 2) * 1000),
            max_block_ms=int(timeout * 1000),
            bootstrap_timeout_ms=int(timeout * 1000),
        )
    except KafkaError as exc:
        raise SendError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc


def close(producer: KafkaProducer) -> None:
    """Close without waiting long on a broker that does not answer: whatever is still
    unacknowledged has been reported by then."""
    try:
        producer.close(timeout=5)
    except KafkaError:
        # kafka-python's close() flushes first and raises when that times out, leaving
        # the sender running (and raising again at exit). The records concerned are
        # reported already: close again without the flush.
        producer.flush = lambda timeout=None: None
        producer.close(timeout=1)


def send_lines(
    producer: KafkaProducer,
    lines: Iterable[tuple[str, int, bytes]],
    progress: Callable[[int], None] | None = None,
) -> SendReport:
    """Validate each line; produce the valid ones keyed by partner id; wait for acks."""
    report = SendReport()
    valid = []
    for name, number, raw in lines:
        result = validate(raw)
        if isinstance(result, Rejected):
            report.rejected.append((name, number, result.reason))
        else:
            valid.append((name, number, result, raw))
        if progress:
            progress(1)
    send_valid(producer, valid, report)
    return report


def send_valid(producer: KafkaProducer, items: list[tuple[str, int, Accepted, bytes]], report: SendReport) -> None:
    """Produce validated events keyed by partner id and count what Kafka acknowledged
    within the producer's delivery timeout; the rest are reported, line by line."""
    timeout = producer.config["delivery_timeout_ms"] / 1000
    deadline = time.monotonic() + timeout
    pending = []
    for name, number, accepted, raw in items:
        try:
            pending.append((name, number, producer.send(TOPIC_EVENTS, key=accepted.partner_id.encode(), value=raw)))
        except KafkaError as exc:  # e.g. the buffer stayed full: the broker is not taking records
            report.failed.append((name, number, f"not acknowledged by Kafka: {exc}"))
    # Not producer.flush(): it can wait forever on a broker that accepts connections
    # but never answers. Each acknowledgement is awaited up to one shared deadline.
    for name, number, future in pending:
        try:
            meta = future.get(timeout=max(0.0, deadline - time.monotonic()))
            report.accepted += 1
            report.offsets[meta.partition] = max(meta.offset, report.offsets.get(meta.partition, -1))
        except KafkaTimeoutError:
            report.failed.append((name, number, f"not acknowledged by Kafka within {timeout:.0f} s"))
        except KafkaError as exc:
            report.failed.append((name, number, f"not acknowledged by Kafka: {exc}"))


def unacknowledged(producer: KafkaProducer, items: list[tuple[str, Accepted, bytes]]) -> set[str]:
    """Produce (name, accepted, raw) items; the names of those Kafka did not acknowledge."""
    report = SendReport()
    send_valid(producer, [(name, 0, accepted, raw) for name, accepted, raw in items], report)
    return {name for name, _, _ in report.failed}

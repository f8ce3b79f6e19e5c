"""Producing records as they are, unvalidated: a misbehaving producer, for tests."""

from __future__ import annotations

from collections.abc import Iterable

from kafka import KafkaProducer

from streams.config import TOPIC_EVENTS


def send_raw(producer: KafkaProducer, records: Iterable[tuple[bytes | None, bytes]]) -> int:
    """Produce records as they are, unvalidated (a misbehaving producer, in demos and tests)."""
    futures = [producer.send(TOPIC_EVENTS, key=key, value=value) for key, value in records]
    producer.flush()
    for future in futures:
        future.get(timeout=30)
    return len(futures)

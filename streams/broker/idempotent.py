"""The worker's producer (dead letters, alerts, HTTP-ingested events): acks=all always,
and idempotent where the broker grants it, so a send retried after a lost
acknowledgement is written once. Apache Kafka grants aiokafka a producer id; Tansu
answers aiokafka's InitProducerId v0 with an unknown error, so there the store's dedup
remains the only guard (as it is for everything else; faust enables idempotence only
inside transactions, which PartnerPulse does not use: Tansu has none)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import faust
from aiokafka import AIOKafkaClient, errors
from aiokafka.protocol.transaction import InitProducerIdRequest
from faust.transport.drivers.aiokafka import Producer


class IdempotentProducer(Producer):
    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


def use_idempotent_producer(app: faust.App) -> None:
    """Before the app starts: its transport makes producers of this class."""
    app.transport.Producer = IdempotentProducer


async def _grants(bootstrap: str, timeout: float) -> bool:
    client = AIOKafkaClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=int(timeout * 1000))
    try:
        await client.bootstrap()
        node = client.get_random_node()
        request = InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=60_000)
        while True:
            response = await client.send(node, request)
            if response.error_code == 0:
                return response.producer_id >= 0
            if not getattr(errors.for_code(response.error_code), "retriable", False):
                return False
            await asyncio.sleep(0.2)  # a freshly started Kafka answers "load in progress" first
    finally:
        await client.close()


def grants_producer_ids(bootstrap: str, timeout: float = 10.0) -> bool:
    """Whether the broker gives aiokafka a producer id (asks for one; nothing is written)."""
    with contextlib.suppress(Exception):  # no answer, an error code: not idempotent
        return asyncio.run(asyncio.wait_for(_grants(bootstrap, timeout), timeout))
    return False

"""Producers are idempotent where the broker grants producer ids, so a send retried
after a lost acknowledgement is written once: kafka-python's (the CLI's) on both
brokers; aiokafka's (the worker's) on Apache Kafka only — Tansu refuses it, and the
worker then produces with acks=all alone."""

from __future__ import annotations

import asyncio

import faust

from streams.broker.embedded import ensure_topics
from streams.broker.idempotent import grants_producer_ids, use_idempotent_producer
from streams.broker.producer import open_producer
from streams.config import TOPIC_DLQ


def test_the_cli_producer_gets_a_producer_id(any_broker):
    ensure_topics(any_broker, 2, timeout=30)
    producer = open_producer(any_broker, timeout=30)
    try:
        producer.send(TOPIC_DLQ, key=b"p", value=b"x").get(timeout=30)
        assert producer.config["enable_idempotence"] and producer.config["acks"] == -1
        assert producer._transaction_manager.producer_id_and_epoch.producer_id >= 0
    finally:
        producer.close()


def test_the_worker_producer_is_idempotent_where_the_broker_grants_it(any_broker, tmp_path, request):
    ensure_topics(any_broker, 2, timeout=30)
    granted = grants_producer_ids(any_broker)
    assert granted == (request.node.callspec.params["any_broker"] == "kafka")

    async def scenario():
        app = faust.App("producer-test", broker=f"kafka://{any_broker}", datadir=str(tmp_path), web_enabled=False)
        if granted:
            use_idempotent_producer(app)
        producer = app.producer
        await producer.start()
        try:
            await producer.send_and_wait(TOPIC_DLQ, b"p", b"x", partition=None, timestamp=None, headers=None)
            manager = producer._producer._txn_manager  # aiokafka's idempotence bookkeeping
            assert (manager is not None and manager.producer_id >= 0) == granted
        finally:
            await producer.stop()

    asyncio.run(scenario())

"""Clients we did not write: the official CloudEvents SDK (`cloudevents` 2.2) in every
mode of both bindings, against the running pipeline. The same event in every mode is one
event; records that fail keep what arrived (Kafka headers too) and are never merged."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import UTC, datetime

import orjson
import pytest
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from kafka import KafkaConsumer, KafkaProducer

from streams.config import TOPIC_DLQ, TOPIC_EVENTS
from streams.worker.process import PipelineProcess
from tests.conftest import cli

FORMAT = JSONFormat()
TOKEN = "sdk-token"


def event(id_: str, subject: str = "acme", source: str = "Zoom Webinars/Zürich", **data) -> CloudEvent:
    attributes = {"specversion": "1.0", "id": id_, "source": source, "type": "partner.webinar", "subject": subject,
                  "time": datetime(2026, 11, 20, 15, tzinfo=UTC), "datacontenttype": "application/json"}  # fmt: skip
    return CloudEvent(attributes, {"role": "host", "duration_minutes": 60, "initiated_by": "partner", **data})


def post(url: str, message) -> tuple[int, dict]:
    headers = {**message.headers, "Authorization": f"Bearer {TOKEN}"}
    request = urllib.request.Request(url + "/events", data=message.body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


def produce(bootstrap: str, messages) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for m in messages:
        key = m.key.encode() if isinstance(m.key, str) else m.key
        producer.send(TOPIC_EVENTS, key=key, value=m.value, headers=list(m.headers.items())).get(timeout=30)
    producer.close()


@pytest.fixture
def sdk_pipeline(on_broker):
    settings = on_broker
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with PipelineProcess(settings, settings.data_dir / "pipeline.log",
                         extra_env={"PARTNERPULSE_INGEST_TOKENS": TOKEN}) as process:  # fmt: skip
        yield process


def test_one_event_in_every_mode_of_both_bindings_counts_once(sdk_pipeline):
    settings = sdk_pipeline.settings
    url, bootstrap = sdk_pipeline.info["web_url"], sdk_pipeline.info["kafka"]
    same = event("sdk-1")
    assert post(url, ce_http.to_structured(same, FORMAT))[0] == 202
    assert post(url, ce_http.to_binary(same, FORMAT))[0] == 202  # ce-source percent-encoded
    traced = ce_http.to_structured(same, FORMAT)
    traced.headers["ce-traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert post(url, traced)[0] == 202  # a ce-* header on a structured request changes nothing
    produce(bootstrap, [ce_kafka.to_binary(same, FORMAT, key_mapper=lambda e: e.get_subject()),
                        ce_kafka.to_structured(same, FORMAT, key_mapper=lambda e: e.get_subject())])  # fmt: skip
    # Bytes data (data_base64) of the same fields is the same event too.
    as_bytes = CloudEvent({**same.get_attributes(), "id": "sdk-2"}, orjson.dumps(same.get_data()))
    as_bytes.get_attributes().pop("datacontenttype", None)
    assert post(url, ce_http.to_structured(as_bytes, FORMAT))[0] == 202
    status = sdk_pipeline.wait_processed(6)
    assert status["stored"]["engagement_events"] == 2 and status["processed"]["duplicates"] == 4
    stored = orjson.loads(cli(settings, "health", "--format", "json").stdout)
    assert stored[0]["partner_id"] == "acme" and stored[0]["engagements_90d"] == 2


def test_binary_dead_letters_keep_their_headers_and_are_never_merged(sdk_pipeline):
    settings = sdk_pipeline.settings
    bootstrap = sdk_pipeline.info["kafka"]
    # Three partners, the same (invalid) data: three dead letters, each with its headers.
    broken = [event(f"bad-{p}", subject=p, duration_minutes=0) for p in ("p1", "p2", "p3")]
    messages = [ce_kafka.to_binary(e, FORMAT, key_mapper=lambda e: e.get_subject()) for e in broken]
    assert len({m.value for m in messages}) == 1
    produce(bootstrap, messages + messages[:1])  # and one redelivered at another offset
    status = sdk_pipeline.wait_processed(4)
    assert status["stored"]["dead_letters"] == 4  # by where they came from, not by their bytes
    letters = orjson.loads(cli(settings, "dlq", "list", "--format", "json").stdout)
    subjects = sorted(dict(letter["headers"])["ce_subject"] for letter in letters)
    assert subjects == ["p1", "p1", "p2", "p3"]
    assert all("duration_minutes" in letter["reason"] for letter in letters)
    consumer = KafkaConsumer(TOPIC_DLQ, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=3000)  # fmt: skip
    on_topic = list(consumer)
    consumer.close()
    assert sorted(dict(m.headers)["ce_subject"].decode() for m in on_topic) == ["p1", "p1", "p2", "p3"]
    assert all("reason" in dict(m.headers) for m in on_topic)
    # A replay rebuilds them from payload and headers: still failing, all four kept.
    replayed = cli(settings, "dlq", "replay")
    assert replayed.returncode == 0 and b"replayed 0, still failing 4" in replayed.stderr, replayed.stderr

"""Health through the real pipeline, checked against the plain-Python oracle."""

from __future__ import annotations

import dataclasses
import random
import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from streams.broker.embedded import embedded_broker, ensure_topics
from streams.broker.producer import open_producer
from streams.config import EMBEDDED_SESSION_TIMEOUT
from streams.store import connection as store
from streams.worker.process import PipelineProcess
from tests import oracle
from tests.conftest import cli
from tests.producing import send_raw

EVENTS = oracle.generate()
LAST = oracle.parse(EVENTS[-1]["time"])


def as_of_times() -> list[str]:
    """Inside a day, exactly on event times, on midnights, and where an event sits
    exactly on a window edge (T−30d, T−60d, T−90d, T−120d)."""
    picks = [oracle.parse(EVENTS[i]["time"]) for i in (50, 200, 300)]
    return [
        "2026-06-15T13:37:42.123Z",
        "2026-07-01",
        oracle._iso(LAST),
        *(oracle._iso(t) for t in picks),
        *(oracle._iso(picks[0] + timedelta(days=d)) for d in (30, 60, 90, 120)),
        *(oracle._iso(picks[1] + timedelta(days=d)) for d in (30, 90)),
        oracle._iso(LAST + timedelta(days=45)),
        "2026-02-01",  # before anything: no rows
    ]


def keyed(events) -> list[tuple[bytes, bytes]]:
    return [(e["subject"].encode(), orjson.dumps(e)) for e in events]


def assert_matches_oracle(rows: list[dict], t: datetime) -> None:
    expected = oracle.health(EVENTS, t)
    assert {r["partner_id"] for r in rows} == set(expected), t
    for row in rows:
        want = expected[row["partner_id"]]
        for name in ("engagements_90d", "distinct_types_90d", "ecosystem_partners_90d", "score", "status",
                     "engagements_60d"):  # fmt: skip
            assert row[name] == want[name], (t, row["partner_id"], name)
        for name in ("quality_minutes_30d", "quality_minutes_prev_30d", "baseline_minutes_30d", "days_since_last",
                     "trend", "silence_limit_days", "usual_engagements_60d"):  # fmt: skip
            assert row[name] == pytest.approx(want[name], rel=1e-9, abs=1e-9), (t, row["partner_id"], name)
        for name in ("partner_initiated_share", "usual_gap_days", "drop_probability"):
            if want[name] is None:
                assert row[name] is None, (t, row["partner_id"], name)
            else:
                assert row[name] == pytest.approx(want[name], rel=1e-9, abs=1e-12), (t, row["partner_id"], name)
        for name in ("last_engagement_at", "first_engagement_at"):
            assert oracle.parse(row[name]) == want[name], (t, row["partner_id"], name)
        for name, value in want["components"].items():
            assert row["components"][name] == pytest.approx(value, rel=1e-9, abs=1e-12), (t, row["partner_id"], name)


def parse_as_of(text: str) -> datetime:
    return oracle.parse(text) if "T" in text else datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_health_matches_the_oracle_at_many_times(settings, pipeline):
    producer = open_producer(pipeline.info["kafka"])
    send_raw(producer, keyed(EVENTS))
    producer.close()
    pipeline.wait_processed(len(EVENTS))
    for as_of in as_of_times():
        result = cli(settings, "health", "--as-of", as_of, "--format", "json")
        assert result.returncode == 0, result.stderr.decode()
        rows = orjson.loads(result.stdout)
        assert_matches_oracle(rows, parse_as_of(as_of))
        scores = [r["score"] for r in rows]
        assert scores == sorted(scores)  # worst first

    # Filters, and the other formats, on the same data.
    t = oracle._iso(LAST)
    everyone = orjson.loads(cli(settings, "health", "--as-of", t, "--format", "json").stdout)
    for status in {r["status"] for r in everyone}:
        only = orjson.loads(cli(settings, "health", "--as-of", t, "--status", status, "--format", "json").stdout)
        assert [r["partner_id"] for r in only] == [r["partner_id"] for r in everyone if r["status"] == status]
    one = orjson.loads(cli(settings, "health", "--as-of", t, "--partner", "p03-listener", "--format", "json").stdout)
    assert [r["partner_id"] for r in one] == ["p03-listener"] and one[0]["partner_initiated_share"] == 0.0
    csv_out = cli(settings, "health", "--as-of", t, "--format", "csv").stdout.decode().splitlines()
    assert csv_out[0].startswith("partner_id,name,status,score,fit,quadrant,fit_gaps,quality_minutes_30d")
    assert len(csv_out) == 13
    table = cli(settings, "health", "--as-of", t)
    assert table.returncode == 0 and b"p01-fader" in table.stdout and b"disengaged" in table.stdout
    bad = cli(settings, "health", "--as-of", "last tuesday")
    assert bad.returncode == 1 and b"RFC 3339" in bad.stderr

    # Stopped: the same answers straight from the store.
    pipeline.stop()
    offline = orjson.loads(cli(settings, "health", "--as-of", t, "--format", "json").stdout)
    assert offline == everyone


def run_and_snapshot(tmp_path, settings, name: str, events: list[dict]) -> tuple[list, dict]:
    """Produce `events` in the given order, run a pipeline over them, and return the
    daily snapshots it wrote plus `health` at a few times."""
    data = settings.data_dir.parent / name
    data.mkdir()
    with embedded_broker() as bootstrap:
        run = dataclasses.replace(settings, kafka=bootstrap, data_dir=data, clickhouse=f"chdb://{data / 'ch'}",
                                  session_timeout=EMBEDDED_SESSION_TIMEOUT)  # fmt: skip
        ensure_topics(bootstrap, run.partitions)
        producer = open_producer(bootstrap)
        send_raw(producer, keyed(events))
        producer.close()
        with PipelineProcess(run, data / "pipeline.log") as pipeline:
            pipeline.wait_processed(len(events))
            # Idle partitions release the watermark after 2 s (test scoring file): it
            # then stands at the last event − 1 h, and every midnight before is done.
            final = LAST - timedelta(hours=1)
            expected_last = datetime.combine(final.date(), datetime.min.time(), UTC)
            deadline = time.monotonic() + 60
            while pipeline.status()["last_evaluated"] != oracle._iso(expected_last).replace(".000", ""):
                assert time.monotonic() < deadline, pipeline.status()
                time.sleep(0.2)
            answers = {
                t: orjson.loads(cli(run, "health", "--as-of", t, "--format", "json").stdout) for t in as_of_times()[:5]
            }
    client = store.connect(run.clickhouse)
    try:
        snapshots = client.query(
            "SELECT day, partner_id, score, status, quality_minutes_30d, trend FROM partner_health FINAL "
            "ORDER BY day, partner_id"
        ).result_rows
    finally:
        client.close()
    return snapshots, answers


def test_shuffled_within_lateness_gives_identical_results(tmp_path, settings, monkeypatch):
    scoring = tmp_path / "scoring.yaml"
    scoring.write_text("watermark:\n  idle_partition_seconds: 2\n")
    monkeypatch.setenv("PARTNERPULSE_SCORING", str(scoring))
    rng = random.Random(3)
    # Sort by time plus a jitter under 50 minutes: no event arrives more than 50 min
    # of event time after a later one (the allowed lateness is 1 h).
    shuffled = sorted(EVENTS, key=lambda e: oracle.parse(e["time"]) + timedelta(minutes=rng.uniform(0, 50)))
    assert shuffled != EVENTS
    in_order, answers_in_order = run_and_snapshot(tmp_path, settings, "ordered", EVENTS)
    reordered, answers_reordered = run_and_snapshot(tmp_path, settings, "shuffled", shuffled)
    assert answers_in_order == answers_reordered
    assert in_order == reordered

    # One snapshot per partner per day, each the oracle's health as of that midnight.
    days = sorted({row[0] for row in in_order})
    assert days[0] <= oracle.parse(EVENTS[0]["time"]).date() + timedelta(days=1)
    assert days == [days[0] + timedelta(days=i) for i in range(len(days))]  # none skipped
    for day in days[::17]:
        midnight = datetime.combine(day, datetime.min.time(), UTC)
        want = oracle.health(EVENTS, midnight)
        got = {row[1]: row for row in in_order if row[0] == day}
        assert set(got) == set(want)
        for partner, row in got.items():
            assert (row[2], row[3]) == (want[partner]["score"], want[partner]["status"]), (day, partner)

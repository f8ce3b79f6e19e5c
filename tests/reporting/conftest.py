"""A store filled by the real pipeline, shared by the dashboard and report tests."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from streams.broker.embedded import embedded_broker, ensure_topics
from streams.broker.producer import open_producer
from streams.config import EMBEDDED_SESSION_TIMEOUT
from streams.store import connection as store
from tests import badinput
from tests.conftest import EXAMPLES
from tests.producing import send_raw
from tests.store import test_fit_store


@pytest.fixture(scope="module")  # chDB: one path per process, so one module at a time
def populated(tmp_path_factory):
    """A store filled by the real pipeline: scenario events, profiles, bad records,
    every midnight evaluated."""
    from tests.rules import test_alerts

    base = tmp_path_factory.mktemp("dash")
    scoring = base / "scoring.yaml"
    scoring.write_text("watermark:\n  idle_partition_seconds: 2\n")
    mp = pytest.MonkeyPatch()
    mp.setenv("PARTNERPULSE_SCORING", str(scoring))
    from streams import config

    settings = config.load({"PARTNERPULSE_DATA_DIR": str(base / "data")})
    settings.data_dir.mkdir(parents=True)
    try:
        with embedded_broker() as bootstrap:
            run = dataclasses.replace(settings, kafka=bootstrap, session_timeout=EMBEDDED_SESSION_TIMEOUT)
            ensure_topics(bootstrap, run.partitions)
            producer = open_producer(bootstrap)
            profiles = [line for line in (EXAMPLES / "events.jsonl").read_bytes().splitlines() if b"profile" in line]
            solutions = [
                {"specversion": "1.0", "id": f"sol-{i}", "source": "test/dash", "type": "partner.solution",
                 "time": f"2026-0{3 + i}-10T10:00:00Z", "subject": "steady",
                 "data": {"solution_id": "s-1", "stage": "building", "duration_minutes": 300,
                          "initiated_by": "partner", "ecosystem_partners": ["isv-a", f"tech-{i}"]}}
                for i in range(2)
            ]  # fmt: skip
            fit = [test_fit_store.profile(pid, test_alerts.FIRST, fields | PROFILES[pid], 1)
                   for pid, fields in FIT_PROFILES.items()]  # fmt: skip
            send_raw(producer, [(e["subject"].encode(), orjson.dumps(e)) for e in test_alerts.EVENTS + solutions + fit]
                     + [(None, raw) for raw in profiles] + [(None, raw) for _, _, raw in badinput.bad_records()])  # fmt: skip
            producer.close()
            with test_alerts.run_pipeline(run, base / "pipeline.log"):
                pass
    finally:
        mp.undo()
    client = store.connect(run.clickhouse)
    yield client
    client.close()


# Fit profiles for the scenario's partners (the comeback and the listener have none).
FIT_PROFILES = {"steady": test_fit_store.RIGHT, "fader": test_fit_store.RIGHT, "decliner": test_fit_store.WRONG}
PROFILES = {"steady": {"region": "EMEA", "tier": "gold", "account_manager": "Dana Whit"},
            "fader": {"region": "EMEA", "tier": "silver", "account_manager": "Lee Park"},
            "decliner": {"region": "NA", "tier": "gold", "account_manager": "Dana Whit"}}  # fmt: skip

"""Alerts (../shared/CONTRACT.md §4): the rules (pure), then whole scenarios through the
real pipeline with real webhook endpoints, and a worker killed mid-scenario."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import math
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest
from kafka import KafkaConsumer

from streams.broker.embedded import embedded_broker, ensure_topics
from streams.broker.producer import open_producer
from streams.config import EMBEDDED_SESSION_TIMEOUT, TOPIC_ALERTS
from streams.rules import alerting
from streams.rules.scoring import (
    Health,
    Metrics,
    assess,
    drop_probability,
    gap_quantile,
    load_scoring,
    poisson_cdf,
    silence_limit,
)
from streams.store import connection as store
from streams.worker.process import PipelineProcess
from tests import oracle
from tests.conftest import cli
from tests.producing import send_raw

S = load_scoring()
T = datetime(2026, 6, 1, tzinfo=UTC)


def health(status="healthy", score=80.0, trend=0.0, n90=10, partner_led=5, silent=0.5, gap=None, drop=None,
           n60=10, usual60=10.0) -> Health:  # fmt: skip
    m = Metrics("p", T, 300.0, 300.0, 300.0, n90, partner_led, 3, 1, T - timedelta(days=200),
                T - timedelta(days=silent), n60, usual60, gap)  # fmt: skip
    return Health(m, trend, {}, score, status, silence_limit(gap, S), drop)


def kinds(h: Health, open_kinds=()) -> list[tuple[str, str]]:
    return [(t.kind, t.state) for t in alerting.transitions(h, set(open_kinds), T, S)]


def test_disengaged_fires_on_status_and_resolves_only_at_45():
    assert kinds(health(status="disengaged", score=70)) == [("disengaged", "firing")]
    assert kinds(health(status="at_risk", score=44.9), ["disengaged"]) == []  # not yet: below 45
    assert kinds(health(status="at_risk", score=45.0), ["disengaged"]) == [("disengaged", "resolved")]
    assert kinds(health(status="disengaged", score=90), ["disengaged"]) == []  # still disengaged
    assert kinds(health(status="disengaged", score=10), ["disengaged"]) == []  # open: never repeated


@pytest.mark.parametrize(
    ("h", "fired"),
    [
        (health(drop=0.0499), True),
        (health(drop=0.05), False),
        (health(drop=None), False),  # too few usual engagements to judge
        (health(status="new", drop=0.001), False),
        (health(status="at_risk", drop=0.01), True),
        (health(status="disengaged", drop=0.0), True),
    ],
)
def test_declining_fires_on_an_unlikely_drop(h, fired):
    assert (("declining", "firing") in kinds(h)) is fired


def test_declining_hysteresis():
    assert kinds(health(drop=0.2), ["declining"]) == []  # between 0.05 and 0.25: stays open
    assert kinds(health(drop=0.25), ["declining"]) == []
    assert kinds(health(drop=0.26), ["declining"]) == [("declining", "resolved")]
    assert kinds(health(drop=None), ["declining"]) == [("declining", "resolved")]
    assert kinds(health(drop=0.2)) == []  # and does not fire either


@pytest.mark.parametrize(
    ("gap", "silent", "status", "fired"),
    [
        (6, 11.9, "healthy", False),
        (6, 12, "at_risk", True),  # twice its usual gap
        (2, 6.9, "healthy", False),  # a 7-day floor for fast partners
        (2, 7, "healthy", True),
        (None, 25, "healthy", False),  # no rhythm yet: nothing to be quiet against
        (6, 20, "new", False),
    ],
)
def test_quiet_fires_after_twice_the_usual_gap(gap, silent, status, fired):
    assert (("quiet", "firing") in kinds(health(gap=gap, silent=silent, status=status))) is fired


def test_quiet_resolves_when_an_engagement_comes_or_the_rhythm_changes():
    assert kinds(health(gap=6, silent=13), ["quiet"]) == []
    assert kinds(health(gap=6, silent=0.5), ["quiet"]) == [("quiet", "resolved")]
    assert kinds(health(gap=10, silent=13), ["quiet"]) == [("quiet", "resolved")]
    assert kinds(health(gap=None, silent=13), ["quiet"]) == [("quiet", "resolved")]


@pytest.mark.parametrize(("gap", "limit"), [(None, 30), (3, 30), (10, 30), (20, 60), (45, 135), (90, 180)])
def test_each_partner_may_be_silent_three_of_its_gaps_within_30_to_180_days(gap, limit):
    assert silence_limit(gap, S) == limit


def test_a_low_score_alone_never_makes_a_partner_disengaged():
    m = Metrics("p", T, 0.0, 0.0, 0.0, 1, 0, 1, 0, T - timedelta(days=300), T - timedelta(days=20), 1, 1.0, 21.0)
    h = assess(m, S)
    assert h.score < 40 and h.status == "at_risk" and h.silence_limit_days == 63
    silent = assess(dataclasses.replace(m, last_engagement_at=T - timedelta(days=63)), S)
    assert silent.status == "disengaged"


def test_usual_gap_is_the_90th_percentile_with_linear_interpolation():
    assert gap_quantile([1, 2, 3, 4, 10], S) == pytest.approx(7.6)  # position 0.9 × 4 = 3.6
    assert gap_quantile([7, 5, 5], S) == pytest.approx(6.6)
    assert gap_quantile([5, 5], S) is None  # fewer than 3 gaps


def test_drop_probability_is_the_poisson_lower_tail():
    assert poisson_cdf(4, 11) == pytest.approx(math.exp(-11) * (1 + 11 + 11**2 / 2 + 11**3 / 6 + 11**4 / 24))
    assert poisson_cdf(0, 3) == pytest.approx(0.0497871, rel=1e-5)
    assert poisson_cdf(2000, 2000) == pytest.approx(0.5059, abs=1e-3)  # no overflow on large counts
    assert poisson_cdf(4, 11) == pytest.approx(oracle.poisson_at_most(4, 11))
    assert drop_probability(4, 2.9, S) is None and drop_probability(4, 11, S) == poisson_cdf(4, 11)


def test_every_alert_sentence_carries_its_numbers():
    quiet = alerting.reason("quiet", health(gap=6, silent=14))
    assert quiet == "usually every 6 days, silent for 14 days — reach out"
    drop = poisson_cdf(4, 11)
    declining = alerting.reason("declining", health(n60=4, usual60=11.0, drop=drop))
    assert declining == "4 engagements in 60 days where 11 are usual: 2% likely by chance"
    lapsed = alerting.reason("disengaged", health(status="disengaged", gap=10, silent=31))
    assert lapsed == "no engagement for 31 days (usually every 10 days; counts as disengaged after 30 days)"


def test_alert_ids_are_stable_per_episode():
    a = alerting.alert_id("p", "declining", T)
    assert a == alerting.alert_id("p", "declining", T)
    assert a != alerting.alert_id("p", "declining", T + timedelta(days=1))
    assert a != alerting.alert_id("p", "disengaged", T)


def test_an_alert_fired_for_a_right_partner_has_high_priority():
    lapsed = [health(status="disengaged", silent=40, gap=10) for _ in range(3)]
    for h, pid in zip(lapsed, ("core", "drifting", "unknown"), strict=True):
        h.metrics.partner_id = pid
    episodes: alerting.Episodes = {}
    fired = alerting.decide(lapsed, episodes, T, S, {"core": 60.0, "drifting": 59.9})
    assert {(a.partner_id, a.kind): a.priority for a in fired if a.kind == "disengaged"} == {
        ("core", "disengaged"): "high", ("drifting", "disengaged"): "normal", ("unknown", "disengaged"): "normal",
    }  # fmt: skip
    assert all(a.cloudevent()["data"]["priority"] == a.priority for a in fired)


def test_every_alert_version_links_to_its_explanation():
    fired = alerting.Alert("a1", "acme reseller", "quiet", "firing", T, None, "why", "", {}, None)
    resolved = dataclasses.replace(fired, state="resolved", resolved_at=T + timedelta(days=5), resolved_metrics={})
    assert fired.cloudevent()["data"]["explain"] == {
        "command": "partnerpulse explain acme reseller --as-of 2026-06-01T00:00:00Z",
        "api": "/api/explain?partner=acme+reseller&as_of=2026-06-01T00%3A00%3A00Z",
    }
    assert resolved.as_json()["explain"]["command"].endswith("--as-of 2026-06-06T00:00:00Z")


# --- scenarios through the real pipeline -------------------------------------------------

EVENTS = oracle.scenario()
FIRST = oracle.parse(EVENTS[0]["time"]).replace(hour=0, minute=0, second=0, microsecond=0)
FINAL = (oracle.parse(EVENTS[-1]["time"]) - timedelta(hours=1)).replace(hour=0, minute=0, second=0, microsecond=0)
EXPECTED = oracle.episodes(EVENTS, FIRST, FINAL)
SECRET = "s3cr3t-webhook-key"


class Hooks:
    """Real HTTP endpoints: /good answers 204, /flaky fails twice per event then 204,
    /hang never answers in time."""

    def __init__(self):
        self.received: dict[str, list[tuple[dict, bytes]]] = {"/good": [], "/flaky": [], "/hang": []}
        self.flaky_failures: dict[str, int] = {}
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                path = self.path.split("?")[0]
                hooks.received[path].append((dict(self.headers), body))
                if path == "/hang":
                    time.sleep(12)
                    status = 204
                elif path == "/flaky":
                    event_id = orjson.loads(body)["id"]
                    hooks.flaky_failures[event_id] = hooks.flaky_failures.get(event_id, 0) + 1
                    status = 500 if hooks.flaky_failures[event_id] <= 2 else 204
                else:
                    status = 204
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def ids(self, path: str) -> set[str]:
        return {orjson.loads(body)["id"] for _, body in self.received[path]}

    def close(self):
        self.server.shutdown()


def run_pipeline(run, log, until: datetime | None = None) -> PipelineProcess:
    """Start a pipeline and wait until it has evaluated `until` (default: the final midnight)."""
    process = PipelineProcess(run, log).start()
    target = (until or FINAL).strftime("%Y-%m-%dT%H:%M:%SZ")
    deadline = time.monotonic() + 240
    try:
        while (process.status()["last_evaluated"] or "") < target:
            assert time.monotonic() < deadline, process.status()
            assert process.proc.poll() is None, log.read_text()[-2000:]
            time.sleep(0.05)
    except BaseException:
        process.stop()
        raise
    return process


@pytest.fixture
def scenario_env(tmp_path, settings, monkeypatch):
    scoring = tmp_path / "scoring.yaml"
    scoring.write_text("watermark:\n  idle_partition_seconds: 2\n")
    monkeypatch.setenv("PARTNERPULSE_SCORING", str(scoring))
    with embedded_broker() as bootstrap:
        run = dataclasses.replace(settings, kafka=bootstrap, session_timeout=EMBEDDED_SESSION_TIMEOUT)
        run.data_dir.mkdir(parents=True)
        ensure_topics(bootstrap, run.partitions)
        producer = open_producer(bootstrap)
        send_raw(producer, [(e["subject"].encode(), orjson.dumps(e)) for e in EVENTS])
        producer.close()
        yield run


def episodes_from(rows: list[dict]) -> list[tuple]:
    return sorted(
        (r["partner_id"], r["kind"], oracle.parse(r["fired_at"]),
         oracle.parse(r["resolved_at"]) if r["resolved_at"] else None)
        for r in rows
    )  # fmt: skip


def test_scenario_gives_exactly_the_expected_episodes_everywhere(scenario_env, tmp_path, monkeypatch):
    assert {(p, k) for p, k, _, _ in EXPECTED} >= {("fader", "disengaged"), ("comeback", "disengaged"),
                                                    ("listener", "one_sided"), ("decliner", "declining"),
                                                    ("fader", "quiet"), ("comeback", "quiet")}  # fmt: skip
    assert any(resolved for *_, resolved in EXPECTED) and any(not resolved for *_, resolved in EXPECTED)
    hooks = Hooks()
    monkeypatch.setenv("PARTNERPULSE_WEBHOOKS", f"{hooks.url}/good,{hooks.url}/flaky {hooks.url}/hang?token=abc")
    monkeypatch.setenv("PARTNERPULSE_WEBHOOK_SECRET", SECRET)
    run = scenario_env
    try:
        with run_pipeline(run, tmp_path / "pipeline.log"):
            rows = orjson.loads(cli(run, "alerts", "--format", "json").stdout)
            assert episodes_from(rows) == EXPECTED
            event_ids = {f"{r['id']}:firing" for r in rows} | {f"{r['id']}:resolved" for r in rows if r["resolved_at"]}

            # Every target gets every transition; the flaky one after retries with backoff.
            deadline = time.monotonic() + 60
            while hooks.ids("/good") != event_ids or any(hooks.flaky_failures.get(i, 0) < 3 for i in event_ids):
                assert time.monotonic() < deadline, (hooks.ids("/good"), hooks.flaky_failures, event_ids)
                time.sleep(0.5)
            time.sleep(3)  # long enough for a wrongly repeated delivery to show
            for headers, body in hooks.received["/good"]:
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                assert headers["X-PartnerPulse-Signature"] == expected
                assert headers["Content-Type"] == "application/cloudevents+json"
            assert all(n == 3 for n in hooks.flaky_failures.values()), hooks.flaky_failures
            assert len(hooks.received["/good"]) == len(event_ids)  # delivered, so never sent again

            # The hanging endpoint is visible as undelivered, with a reason and no secret.
            shown = cli(run, "alerts", "--format", "json")
            listed = orjson.loads(shown.stdout)
            hang = [d for r in listed for d in r["deliveries"] if d["target"].endswith("/hang")]
            assert len(hang) == len(event_ids) and all(d["state"] == "pending" for d in hang)
            deadline = time.monotonic() + 30
            while not all("no answer" in d["last_error"] for d in hang):
                assert time.monotonic() < deadline, hang
                time.sleep(0.5)
                listed = orjson.loads(cli(run, "alerts", "--format", "json").stdout)
                hang = [d for r in listed for d in r["deliveries"] if d["target"].endswith("/hang")]
            assert b"token=abc" not in shown.stdout and SECRET.encode() not in shown.stdout
            table = cli(run, "alerts")
            assert table.returncode == 0 and b"no answer" in table.stdout

            # Filters.
            firing = orjson.loads(cli(run, "alerts", "--state", "firing", "--format", "json").stdout)
            assert episodes_from(firing) == [e for e in EXPECTED if e[3] is None]
            since = orjson.loads(cli(run, "alerts", "--since", "2026-06-01", "--format", "json").stdout)
            assert episodes_from(since) == [e for e in EXPECTED if e[2] >= datetime(2026, 6, 1, tzinfo=UTC)
                                            or (e[3] and e[3] >= datetime(2026, 6, 1, tzinfo=UTC))]  # fmt: skip
            one = orjson.loads(cli(run, "alerts", "--partner", "listener", "--format", "json").stdout)
            assert [(r["kind"], r["state"]) for r in one] == [("one_sided", "firing")]
            assert one[0]["metrics"]["partner_initiated_share"] == 0.0 and "vendor" in one[0]["reason"]

            # The partner-alerts topic carries one CloudEvent per transition.
            consumer = KafkaConsumer(TOPIC_ALERTS, bootstrap_servers=run.kafka, auto_offset_reset="earliest",
                                     consumer_timeout_ms=3000)  # fmt: skip
            published = [orjson.loads(m.value) for m in consumer]
            consumer.close()
            assert {e["id"] for e in published} == event_ids
            assert all(e["type"] == f"partner.alert.{e['data']['kind']}" for e in published)
    finally:
        hooks.close()


def test_worker_killed_mid_scenario_gives_identical_episodes(scenario_env, tmp_path):
    run = scenario_env
    first = run_pipeline(run, tmp_path / "first.log", until=datetime(2026, 5, 10, tzinfo=UTC))
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    client = store.connect(run.clickhouse)
    try:
        done = client.query("SELECT count(), max(midnight) FROM evaluations").result_rows[0]
    finally:
        client.close()
    assert done[0] > 100 and done[1] < FINAL.replace(tzinfo=None), "killed too late to be mid-scenario"
    with run_pipeline(run, tmp_path / "second.log") as second:
        status = second.status()
        rows = orjson.loads(cli(run, "alerts", "--format", "json").stdout)
        # A late event (months behind the watermark) is stored and counted, but does not
        # rewrite the alerts already decided: the fader's silence stays on record.
        before = orjson.loads(
            cli(run, "health", "--as-of", "2026-06-16", "--partner", "fader", "--format", "json").stdout
        )
        late = {"specversion": "1.0", "id": "late-1", "source": "test/late", "type": "partner.meeting",
                "time": "2026-06-15T10:00:00Z", "subject": "fader",
                "data": {"kind": "planning", "duration_minutes": 600, "initiated_by": "partner"}}  # fmt: skip
        producer = open_producer(run.kafka)
        send_raw(producer, [(b"fader", orjson.dumps(late))])
        producer.close()
        second.wait_processed(1)
        after = orjson.loads(
            cli(run, "health", "--as-of", "2026-06-16", "--partner", "fader", "--format", "json").stdout
        )
        assert after[0]["engagements_90d"] == before[0]["engagements_90d"] + 1
        assert after[0]["days_since_last"] < 1
        time.sleep(2)
        assert episodes_from(orjson.loads(cli(run, "alerts", "--format", "json").stdout)) == EXPECTED
    assert status["last_evaluated"] == FINAL.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert episodes_from(rows) == EXPECTED
    # Each midnight was evaluated once: no episode was fired twice.
    assert len({r["id"] for r in rows}) == len(rows) == len(EXPECTED)

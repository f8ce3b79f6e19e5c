"""Dashboards, datasource and alert rules as code: structure, every query run on real
data in chDB the way the Grafana plugin expands it, and `publish` against a stand-in
Grafana that enforces the documented API."""

from __future__ import annotations

import dataclasses
import re
import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import yaml

from streams.broker.embedded import embedded_broker, ensure_topics
from streams.broker.producer import open_producer
from streams.reporting import grafana, panels
from streams.rules.scoring import load_scoring
from streams.store import connection as store
from tests import badinput
from tests.conftest import EXAMPLES, cli, env_for
from tests.fake_grafana import FakeGrafana
from tests.producing import send_raw

SCORING = load_scoring()
MODELS = [grafana.dashboard_model(d) for d in panels.dashboards(SCORING)]


def test_committed_files_are_what_the_code_generates():
    for relative, content in grafana.provisioning_files(SCORING).items():
        path = grafana.DASHBOARDS_DIR / relative
        assert path.read_text() == content, f"{relative} drifted: run `partnerpulse dashboards build`"


@pytest.mark.parametrize("model", MODELS, ids=[m["uid"] for m in MODELS])
def test_dashboard_structure(model):
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for p in model["panels"]:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, f"{p['title']} overlaps another panel"
        cells |= mine
        refs = [p["datasource"]] + [t["datasource"] for t in p["targets"]]
        assert all(r == {"type": panels.DATASOURCE_TYPE, "uid": panels.DATASOURCE_UID} for r in refs)
    defined = {v["name"] for v in model["templating"]["list"]}
    text = orjson.dumps(model["panels"]).decode()
    used = set(re.findall(r"\$\{(\w+)", text)) | set(re.findall(r"\$(?!__)(\w+)", text))
    assert used <= defined, used - defined


def test_provisioning_files_reference_the_same_datasource():
    ds = yaml.safe_load((grafana.DASHBOARDS_DIR / "provisioning/datasources/partnerpulse.yaml").read_text())
    assert ds["datasources"][0]["uid"] == panels.DATASOURCE_UID
    assert ds["datasources"][0]["secureJsonData"] == {"password": "$CLICKHOUSE_PASSWORD"}
    rules = yaml.safe_load((grafana.DASHBOARDS_DIR / "provisioning/alerting/partnerpulse.yaml").read_text())
    for rule in rules["groups"][0]["rules"]:
        assert rule["data"][0]["datasourceUid"] == panels.DATASOURCE_UID
        assert {"condition", "data", "noDataState", "execErrState", "for", "labels", "annotations"} <= set(rule)


def test_macros_expand_like_the_plugin():
    f, t = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    sql = "$__timeFilter(a) $__timeFilter_ms(b) $__dateFilter(d) $__fromTime $__toTime_ms $__timeInterval(c) ${p:sqlstring}"
    assert panels.expand(sql, f, t, 60, {"p": "o'hara"}) == (
        "a >= toDateTime(1767323045) AND a <= toDateTime(1769904000) "
        "b >= fromUnixTimestamp64Milli(1767323045000) AND b <= fromUnixTimestamp64Milli(1769904000000) "
        "d >= toDate('2026-01-02') AND d <= toDate('2026-02-01') toDateTime(1767323045) "
        "fromUnixTimestamp64Milli(1769904000000) toStartOfInterval(toDateTime(c), INTERVAL 60 second) 'o\\'hara'"
    )


@pytest.fixture(scope="module")
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
            run = dataclasses.replace(settings, kafka=bootstrap, session_timeout=6.0)
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
            send_raw(producer, [(e["subject"].encode(), orjson.dumps(e)) for e in test_alerts.EVENTS + solutions]
                     + [(None, raw) for raw in profiles] + [(None, raw) for _, _, raw in badinput.bad_records()])  # fmt: skip
            producer.close()
            with test_alerts.run_pipeline(run, base / "pipeline.log"):
                pass
    finally:
        mp.undo()
    client = store.connect(run.clickhouse)
    yield client
    client.close()


EVENT_RANGE = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC))
MAY_BE_EMPTY = {"open_alerts"}  # the others must show data for this population


@pytest.mark.parametrize(
    ("dashboard", "panel"),
    [(d, p) for d in panels.dashboards(SCORING) for p in d.panels],
    ids=[f"{d.uid}:{p.key}" for d in panels.dashboards(SCORING) for p in d.panels],
)
def test_every_panel_query_runs_on_real_data(populated, dashboard, panel):
    if dashboard.uid == "partnerpulse-pipeline":
        now = datetime.now(UTC)
        time_range = (now - timedelta(hours=2), now + timedelta(minutes=5))
    else:
        time_range = EVENT_RANGE
    sql = panels.expand(panel.sql, *time_range, interval_s=60, variables={"partner": "fader"})
    result = populated.query(sql)
    assert tuple(result.column_names) == panel.columns
    rows = result.result_rows
    if panel.key not in MAY_BE_EMPTY:
        assert rows, panel.key
    named = [dict(zip(panel.columns, r, strict=True)) for r in rows]
    for r in named:
        if "score" in r:
            assert 0 <= r["score"] <= 100
        if "status" in r:
            assert r["status"] in ("healthy", "at_risk", "new", "disengaged")
        for k in ("quality_minutes", "engagements", "events", "dead_letters", "partners"):
            if k in r:
                assert r[k] >= 0
    if panel.key == "status_counts":
        assert sum(r["partners"] for r in named) == 5  # steady, fader, comeback, listener, decliner
    if panel.key == "dead_letters":
        assert sum(r["dead_letters"] for r in named) == len(badinput.bad_records())
    if panel.key == "quiet_now":  # the fader went quiet, lapsed and never came back
        assert [r["partner_id"] for r in named] == ["fader"] and "reach out" in named[0]["reason"]
        assert named[0]["days_silent"] > named[0]["disengaged_after_days"]
    if panel.key == "silence":
        assert all(r["disengaged_after"] >= 30 for r in named) and max(r["days_silent"] for r in named) > 30
    if panel.key == "episodes":
        assert {r["kind"] for r in named} == {"quiet", "disengaged", "declining"}  # the fader's story


def test_variable_queries_run(populated):
    for model in MODELS:
        for variable in model["templating"]["list"]:
            values = [r[0] for r in populated.query(variable["query"]).result_rows]
            assert "fader" in values


def test_alert_rule_queries_run(populated):
    for rule in grafana.alert_rules():
        sql = rule["data"][0]["model"]["rawSql"]
        populated.query(sql)  # runs without error
    firing = populated.query(grafana.alert_rules()[0]["data"][0]["model"]["rawSql"]).result_rows
    assert ("fader", 1) in firing


# --- publish -------------------------------------------------------------------------------


def publish(settings, url, token="tok", folder=None):
    env = env_for(settings) | {"PARTNERPULSE_CLICKHOUSE": "https://reader:pw@ch.example.com:8443/pp"}
    if token:
        env["GRAFANA_TOKEN"] = token
    args = ["dashboards", "publish", "--grafana-url", url] + (["--folder", folder] if folder else [])
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "streams.cli", *args], env=env, capture_output=True, timeout=60)


def test_publish_creates_everything_then_changes_nothing(settings):
    fake = FakeGrafana(token="tok")
    try:
        first = publish(settings, fake.url)
        assert first.returncode == 0, first.stderr.decode()
        assert set(fake.dashboards) == {m["uid"] for m in MODELS}
        assert set(fake.rules) == {r["uid"] for r in grafana.alert_rules()}
        ds = fake.datasources[panels.DATASOURCE_UID]
        assert ds["jsonData"] == {"host": "ch.example.com", "port": 8443, "protocol": "http", "secure": True,
                                  "username": "reader", "defaultDatabase": "pp"}  # fmt: skip
        assert ds["secureJsonData"] == {"password": "pw"}
        assert all(d["folderUid"] == grafana.FOLDER_UID for d in fake.dashboards.values())
        assert b"pw" not in first.stderr
        writes = len(fake.writes())
        second = publish(settings, fake.url)
        assert second.returncode == 0 and b"0 created, 0 updated" in second.stderr
        assert len(fake.writes()) == writes  # idempotent: nothing written the second time
        renamed = publish(settings, fake.url, folder="Channel")
        assert b"updated folder Channel" in renamed.stderr and fake.folders[grafana.FOLDER_UID]["title"] == "Channel"
    finally:
        fake.close()


def test_publish_errors_are_actionable(settings):
    fake = FakeGrafana(token="right")
    no_plugin = FakeGrafana(token="tok", plugins=["grafana-postgresql-datasource"])
    try:
        bad_token = publish(settings, fake.url, token="wrong")
        assert bad_token.returncode == 1 and b"rejected the token" in bad_token.stderr
        no_token = publish(settings, fake.url, token=None)
        assert no_token.returncode == 1 and b"GRAFANA_TOKEN" in no_token.stderr
        missing = publish(settings, no_plugin.url)
        assert missing.returncode == 1 and b"grafana-clickhouse-datasource" in missing.stderr
        assert no_plugin.writes() == []
        port = fake.server.server_address[1]
        fake.close()
        time.sleep(0.2)
        down = publish(settings, f"http://127.0.0.1:{port}")
        assert down.returncode == 1 and b"cannot reach Grafana" in down.stderr
        nonsense = publish(settings, "grafana.example.com")
        assert nonsense.returncode == 1 and b"not an http(s) URL" in nonsense.stderr
        embedded = cli(settings, "dashboards", "publish", "--grafana-url", "http://127.0.0.1:1")
        assert embedded.returncode == 1
    finally:
        no_plugin.close()

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
from streams.reporting import grafana, panel_types, panels
from streams.rules.scoring import load_scoring
from streams.store import connection as store
from tests import badinput
from tests.conftest import EXAMPLES, cli, env_for
from tests.fake_grafana import FakeGrafana
from tests.producing import send_raw
from tests.store import test_fit_store

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
        assert all(r == {"type": panel_types.DATASOURCE_TYPE, "uid": panel_types.DATASOURCE_UID} for r in refs)
    defined = {v["name"] for v in model["templating"]["list"]}
    text = orjson.dumps(model["panels"]).decode()
    used = set(re.findall(r"\$\{(\w+)", text)) | set(re.findall(r"\$(?!__)(\w+)", text))
    assert used <= defined, used - defined


def test_provisioning_files_reference_the_same_datasource():
    ds = yaml.safe_load((grafana.DASHBOARDS_DIR / "provisioning/datasources/partnerpulse.yaml").read_text())
    assert ds["datasources"][0]["uid"] == panel_types.DATASOURCE_UID
    assert ds["datasources"][0]["secureJsonData"] == {"password": "$CLICKHOUSE_PASSWORD"}
    rules = yaml.safe_load((grafana.DASHBOARDS_DIR / "provisioning/alerting/partnerpulse.yaml").read_text())
    for rule in rules["groups"][0]["rules"]:
        assert rule["data"][0]["datasourceUid"] == panel_types.DATASOURCE_UID
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
            fit = [test_fit_store.profile(pid, test_alerts.FIRST, fields, 1) for pid, fields in FIT_PROFILES.items()]
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
EVENT_RANGE = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC))
# The others must show data for this population; the drivers are compared with
# `explain` below, on ranges where they have some.
MAY_BE_EMPTY = {"open_alerts", "drivers"}


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
    rows = result.result_rows
    if rows or panel.key not in MAY_BE_EMPTY:  # (an empty answer from chDB names no columns)
        assert tuple(result.column_names) == panel.columns
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
    if panel.key == "fit_quadrants":  # the fader: the right partner, lapsed (invest); the decliner: off-profile
        assert {r["partner_id"]: (r["fit"], r["quadrant"]) for r in named} == {
            "steady": (100.0, "core"), "fader": (100.0, "invest"), "decliner": (0.0, "review")}  # fmt: skip
        assert next(r for r in named if r["partner_id"] == "decliner")["fit_gaps"].startswith("must: business_model")
    if panel.key == "worst_first":  # needing attention first, and among them the right partners
        attention = [r["partner_id"] for r in named if r["status"] in ("disengaged", "at_risk")]
        assert attention == [r["partner_id"] for r in named][: len(attention)] and attention[0] == "fader"
    if panel.key == "episodes":
        assert {r["kind"] for r in named} == {"quiet", "disengaged", "declining"}  # the fader's story


@pytest.mark.parametrize("partner", ["steady", "fader", "comeback", "decliner"])
def test_the_partner_dashboard_explains_as_explain_does(populated, partner):
    """The drivers panel lists what `partnerpulse explain --since FROM --as-of TO` lists; the
    components panel's bands add up to the score, and their change to explain's contributions."""
    from streams.reporting.explain import explain

    detail = next(d for d in panels.dashboards(SCORING) if d.uid == "partnerpulse-partner")
    drivers = next(p for p in detail.panels if p.key == "drivers")
    bands = next(p for p in detail.panels if p.key == "score_components")
    seen = 0
    for start, end in (("2026-03-01", "2026-05-01"), ("2026-05-01", "2026-08-01")):
        time_from, time_to = (datetime.fromisoformat(t).replace(tzinfo=UTC) for t in (start, end))
        answer = explain(populated, partner, as_of=end, since=start)
        shown = populated.query(panels.expand(drivers.sql, time_from, time_to, variables={"partner": partner}))
        rows = [dict(zip(drivers.columns, r, strict=True)) for r in shown.result_rows]
        assert [(r["source"], r["id"], r["effect"], r["quality_minutes"]) for r in rows] == [
            (d["source"], d["id"], d["effect"], d["quality_minutes"]) for d in answer["drivers"]
        ], (partner, start)
        seen += len(rows)
        days = populated.query(panels.expand(bands.sql, time_from, time_to, variables={"partner": partner}))
        by_day = {r[0].date().isoformat(): r[1:] for r in days.result_rows}
        last = by_day[max(by_day)]
        assert sum(last) == pytest.approx(answer["now"]["score"], abs=0.1)
    assert seen > 0


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
        ds = fake.datasources[panel_types.DATASOURCE_UID]
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

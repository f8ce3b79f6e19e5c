"""`dashboards publish` against a stand-in Grafana that enforces the documented API:
creates, then changes nothing; the rule group's interval; provisioned or editable rules;
errors a user can act on."""

from __future__ import annotations

import subprocess
import sys
import time

from streams.reporting import grafana_models, panel_types, panels
from streams.rules.scoring import load_scoring
from tests.conftest import cli, env_for
from tests.fake_grafana import FakeGrafana

SCORING = load_scoring()
MODELS = [grafana_models.dashboard_model(d, SCORING) for d in panels.dashboards(SCORING)]


def publish(settings, url, token="tok", folder=None, *extra):
    env = env_for(settings) | {"PARTNERPULSE_CLICKHOUSE": "https://reader:pw@ch.example.com:8443/pp"}
    if token:
        env["GRAFANA_TOKEN"] = token
    args = ["dashboards", "publish", "--grafana-url", url, *extra] + (["--folder", folder] if folder else [])
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], env=env, capture_output=True, timeout=60)


def test_publish_creates_everything_then_changes_nothing(settings):
    fake = FakeGrafana(token="tok")
    try:
        first = publish(settings, fake.url)
        assert first.returncode == 0, first.stderr.decode()
        assert set(fake.dashboards) == {m["uid"] for m in MODELS}
        assert set(fake.rules) == {r["uid"] for r in grafana_models.alert_rules(SCORING)}
        ds = fake.datasources[panel_types.DATASOURCE_UID]
        assert ds["jsonData"] == {"host": "ch.example.com", "port": 8443, "protocol": "http", "secure": True,
                                  "username": "reader", "defaultDatabase": "pp"}  # fmt: skip
        assert ds["secureJsonData"] == {"password": "pw"}
        assert all(d["folderUid"] == grafana_models.FOLDER_UID for d in fake.dashboards.values())
        assert b"pw" not in first.stderr
        assert fake.intervals[(grafana_models.FOLDER_UID, grafana_models.RULE_GROUP)] == 60  # not the server's 10 s
        assert b"updated alert rule group partnerpulse (evaluated every 60 s)" in first.stderr
        assert {r["provenance"] for r in fake.rules.values()} == {"api"} and b"read-only" in first.stderr
        quiet = fake.rules["partnerpulse-quiet"]["annotations"]
        assert quiet["__dashboardUid__"] == "partnerpulse-overview" and "runbook_url" not in quiet
        writes = len(fake.writes())
        second = publish(settings, fake.url)
        assert second.returncode == 0 and b"0 created, 0 updated" in second.stderr
        assert len(fake.writes()) == writes  # idempotent: nothing written the second time
        renamed = publish(settings, fake.url, folder="Channel")
        assert (
            b"updated folder Channel" in renamed.stderr
            and fake.folders[grafana_models.FOLDER_UID]["title"] == "Channel"
        )
    finally:
        fake.close()


def test_publish_editable_rules_with_a_runbook(settings):
    fake = FakeGrafana(token="tok")
    try:
        first = publish(
            settings, fake.url, "tok", None, "--editable-rules", "--runbook-url", "https://wiki.example.com/pp"
        )
        assert first.returncode == 0, first.stderr.decode()
        assert {r["provenance"] for r in fake.rules.values()} == {""} and b"editable in Grafana's UI" in first.stderr
        assert (
            fake.rules["partnerpulse-one-sided"]["annotations"]["runbook_url"]
            == "https://wiki.example.com/pp#one-sided"
        )
        again = publish(
            settings, fake.url, "tok", None, "--editable-rules", "--runbook-url", "https://wiki.example.com/pp"
        )
        assert b"0 created, 0 updated" in again.stderr
        locked = publish(settings, fake.url, "tok", None, "--runbook-url", "https://wiki.example.com/pp")
        assert locked.returncode == 0 and {r["provenance"] for r in fake.rules.values()} == {"api"}
        back = publish(settings, fake.url, "tok", None, "--editable-rules")  # Grafana keeps API provenance
        assert back.returncode == 1 and b"cannot change provenance" in back.stderr
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

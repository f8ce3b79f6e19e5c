"""Grafana as code: dashboard models, provisioning files and `dashboards publish`.

`build` writes the versioned files under dashboards/ (the dashboards JSON and Grafana's
file-provisioning layout); `publish` pushes the same objects over Grafana's HTTP API
with grafana-client, changing only what differs, so a second run changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
import yaml

from streams.config import redact
from streams.errors import PublishError
from streams.paths import ROOT
from streams.reporting.panel_types import DATASOURCE_TYPE, DATASOURCE_UID, Dashboard, Panel
from streams.reporting.panels import dashboards
from streams.rules.scoring import Scoring

DASHBOARDS_DIR = ROOT / "dashboards"
FOLDER_UID = "partnerpulse"
RULE_GROUP = "partnerpulse"
PLUGIN_ID = DATASOURCE_TYPE
DATASOURCE_NAME = "PartnerPulse ClickHouse"
_DS_REF = {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}


def _panel_model(panel_id: int, p: Panel) -> dict[str, Any]:
    x, y, w, h = p.grid
    model: dict[str, Any] = {
        "id": panel_id,
        "type": p.kind,
        "title": p.title,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "datasource": _DS_REF,
        "targets": [
            {
                "refId": "A",
                "datasource": _DS_REF,
                "editorType": "sql",
                "format": 0 if p.time_series else 1,  # plugin: 0 time series, 1 table
                "queryType": "timeseries" if p.time_series else "table",
                "rawSql": p.sql,
            }
        ],
        "fieldConfig": {"defaults": {"unit": p.unit} if p.unit else {}, "overrides": []},
        "options": {},
    }
    if p.description:
        model["description"] = p.description
    return model


def dashboard_model(d: Dashboard) -> dict[str, Any]:
    return {
        "uid": d.uid,
        "title": d.title,
        "description": d.description,
        "tags": ["partnerpulse"],
        "timezone": "utc",
        "schemaVersion": 39,
        "editable": True,
        "time": {"from": d.time_from, "to": "now"},
        "templating": {
            "list": [
                {
                    "name": v["name"],
                    "label": v["label"],
                    "type": "query",
                    "datasource": _DS_REF,
                    "query": v["query"],
                    "definition": v["query"],
                    "refresh": 2,
                    "includeAll": False,
                    "multi": False,
                }
                for v in d.variables
            ]
        },
        "panels": [_panel_model(i, p) for i, p in enumerate(d.panels, start=1)],
    }


def _rule(uid: str, title: str, sql: str, summary: str, severity: str, folder_uid: str | None) -> dict[str, Any]:
    rule = {
        "uid": uid,
        "title": title,
        "condition": "C",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": 600, "to": 0},
                "datasourceUid": DATASOURCE_UID,
                "model": {"refId": "A", "editorType": "sql", "format": 1, "queryType": "table", "rawSql": sql},
            },
            {
                "refId": "B",
                "datasourceUid": "__expr__",
                "model": {"refId": "B", "type": "reduce", "expression": "A", "reducer": "last"},
            },
            {
                "refId": "C",
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "C",
                    "type": "threshold",
                    "expression": "B",
                    "conditions": [{"evaluator": {"type": "gt", "params": [0]}}],
                },
            },
        ],
        "noDataState": "OK",
        "execErrState": "Error",
        "for": "0s",
        "labels": {"team": "channel", "product": "partnerpulse", "severity": severity},
        "annotations": {"summary": summary},
    }
    if folder_uid is not None:
        rule.update(folderUID=folder_uid, ruleGroup=RULE_GROUP, orgID=1)
    return rule


def alert_rules(folder_uid: str | None = FOLDER_UID) -> list[dict[str, Any]]:
    """Grafana alert rules that mirror the product's alerts: one instance per partner."""
    rules = []
    for kind, summary in (
        ("quiet", "Partner {{ $labels.partner_id }} has been silent for twice its usual gap: reach out"),
        ("disengaged", "Partner {{ $labels.partner_id }} has stopped coming (silent past its own limit)"),
        ("declining", "Partner {{ $labels.partner_id }} engages far less often than usual (unlikely by chance)"),
        ("one_sided", "The relationship with {{ $labels.partner_id }} is one-sided"),
    ):
        rules.append(_rule(
            f"partnerpulse-{kind.replace('_', '-')}", f"PartnerPulse: {kind.replace('_', '-')} partners",
            "SELECT partner_id, toUInt8(1) AS firing FROM partner_alerts FINAL "
            f"WHERE kind = '{kind}' AND state = 'firing'",
            summary, "warning" if kind != "disengaged" else "critical", folder_uid,
        ))  # fmt: skip
    rules.append(_rule(
        "partnerpulse-dead-letters", "PartnerPulse: dead letters in the last 15 minutes",
        "SELECT count() AS dead_letters FROM dead_letters WHERE received_at >= now() - INTERVAL 15 MINUTE",
        "{{ $values.B }} records went to the dead letters in the last 15 minutes: run `partnerpulse dlq list`",
        "warning", folder_uid,
    ))  # fmt: skip
    return rules


def datasource_model(dsn: str) -> dict[str, Any]:
    """The API model of the ClickHouse datasource, from PARTNERPULSE_CLICKHOUSE."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("http", "https"):
        raise PublishError(
            "Grafana needs a ClickHouse server: set PARTNERPULSE_CLICKHOUSE to http(s)://user:pass@host:port/db "
            f"(it is {redact(dsn)!r})"
        )
    return {
        "uid": DATASOURCE_UID,
        "name": DATASOURCE_NAME,
        "type": DATASOURCE_TYPE,
        "access": "proxy",
        "jsonData": {
            "host": parts.hostname,
            "port": parts.port or (8443 if parts.scheme == "https" else 8123),
            "protocol": "http",
            "secure": parts.scheme == "https",
            "username": unquote(parts.username or "default"),
            "defaultDatabase": unquote(parts.path.strip("/")) or "partnerpulse",
        },
        "secureJsonData": {"password": unquote(parts.password or "")},
    }


def provisioning_files(scoring: Scoring) -> dict[str, str]:
    """Relative path under dashboards/ -> content, for Grafana's file provisioning."""
    files = {}
    for d in dashboards(scoring):
        files[f"json/{d.uid}.json"] = orjson.dumps(dashboard_model(d), option=orjson.OPT_INDENT_2).decode() + "\n"
    datasource = {
        "apiVersion": 1,
        "datasources": [{
            "name": DATASOURCE_NAME, "uid": DATASOURCE_UID, "type": DATASOURCE_TYPE, "access": "proxy",
            "jsonData": {"host": "$CLICKHOUSE_HOST", "port": "$CLICKHOUSE_PORT", "protocol": "$CLICKHOUSE_PROTOCOL",
                         "secure": "$CLICKHOUSE_SECURE", "username": "$CLICKHOUSE_USER",
                         "defaultDatabase": "$CLICKHOUSE_DATABASE"},
            "secureJsonData": {"password": "$CLICKHOUSE_PASSWORD"},
            "editable": False,
        }],
    }  # fmt: skip
    provider = {
        "apiVersion": 1,
        "providers": [{
            "name": "partnerpulse", "orgId": 1, "folder": "PartnerPulse", "folderUid": FOLDER_UID,
            "type": "file", "disableDeletion": False, "allowUiUpdates": False, "updateIntervalSeconds": 60,
            "options": {"path": "/var/lib/grafana/dashboards/partnerpulse"},
        }],
    }  # fmt: skip
    rules = {
        "apiVersion": 1,
        "groups": [{"orgId": 1, "name": RULE_GROUP, "folder": "PartnerPulse", "interval": "1m",
                    "rules": alert_rules(folder_uid=None)}],
    }  # fmt: skip
    header = "# Generated by `partnerpulse dashboards build` from streams/reporting/panels.py and streams/reporting/grafana.py.\n"
    for name, doc in (("datasources", datasource), ("dashboards", provider), ("alerting", rules)):
        files[f"provisioning/{name}/partnerpulse.yaml"] = header + yaml.safe_dump(doc, sort_keys=False, width=120)
    return files


def build(scoring: Scoring, out: Path = DASHBOARDS_DIR) -> list[Path]:
    written = []
    for relative, content in provisioning_files(scoring).items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != content:
            path.write_text(content)
            written.append(path)
    return written


@dataclass
class PublishReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _same(wanted: Any, have: Any) -> bool:
    """Whether everything we set is already so (the server may add fields of its own)."""
    if isinstance(wanted, dict):
        return isinstance(have, dict) and all(_same(v, have.get(k)) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(have, list) and len(wanted) == len(have) and all(map(_same, wanted, have))
    return wanted == have


def _upsert(report: PublishReport, label: str, get, unchanged, update, create) -> None:
    """Create, update or leave one Grafana object; `get` raises a 404 when it is missing."""
    from grafana_client.client import GrafanaClientError

    try:
        have = get()
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
        create()
        report.created.append(label)
        return
    if unchanged(have):
        report.unchanged.append(label)
    else:
        update()
        report.updated.append(label)


def _publish_all(api, scoring: Scoring, datasource: dict[str, Any], folder: str) -> PublishReport:
    report = PublishReport()
    if not any(p.get("id") == PLUGIN_ID for p in api.plugin.list()):
        raise PublishError(
            f"the ClickHouse plugin is not installed in this Grafana: install {PLUGIN_ID} "
            f"(grafana cli plugins install {PLUGIN_ID}) and restart Grafana"
        )
    _upsert(report, f"folder {folder}", lambda: api.folder.get_folder(FOLDER_UID),
            lambda have: have.get("title") == folder,
            lambda: api.folder.update_folder(FOLDER_UID, title=folder, overwrite=True),
            lambda: api.folder.create_folder(folder, uid=FOLDER_UID))  # fmt: skip
    public = {k: v for k, v in datasource.items() if k != "secureJsonData"}
    _upsert(report, f"datasource {DATASOURCE_NAME}", lambda: api.datasource.get_datasource_by_uid(DATASOURCE_UID),
            lambda have: _same(public, have),
            lambda: api.datasource.update_datasource_by_uid(DATASOURCE_UID, datasource),
            lambda: api.datasource.create_datasource(datasource))  # fmt: skip
    for d in dashboards(scoring):
        model = dashboard_model(d)
        put = {"dashboard": model, "folderUid": FOLDER_UID, "overwrite": True, "message": "partnerpulse publish"}
        _upsert(report, f"dashboard {d.title}", lambda uid=d.uid: api.dashboard.get_dashboard(uid),
                lambda have, model=model: _same(model, have.get("dashboard"))
                and have.get("meta", {}).get("folderUid") == FOLDER_UID,
                lambda put=put: api.dashboard.update_dashboard(put),
                lambda put=put: api.dashboard.update_dashboard(put))  # fmt: skip
    for rule in alert_rules():
        _upsert(report, f"alert rule {rule['title']}", lambda uid=rule["uid"]: api.alertingprovisioning.get_alertrule(uid),
                lambda have, rule=rule: _same(rule, have),
                lambda rule=rule: api.alertingprovisioning.update_alertrule(rule["uid"], rule),
                lambda rule=rule: api.alertingprovisioning.create_alertrule(rule))  # fmt: skip
    return report


def publish(url: str, token: str | None, scoring: Scoring, dsn: str, folder: str = "PartnerPulse") -> PublishReport:
    """Create or update the datasource, dashboards and alert rules; errors as sentences."""
    from grafana_client import GrafanaApi
    from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaUnauthorizedError
    from requests.exceptions import Timeout

    if not token:
        raise PublishError("set GRAFANA_TOKEN to a Grafana service-account token with the Editor or Admin role")
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise PublishError(f"--grafana-url {url!r} is not an http(s) URL, e.g. https://grafana.example.com")
    datasource = datasource_model(dsn)
    try:
        return _publish_all(GrafanaApi.from_url(url, credential=token, timeout=15), scoring, datasource, folder)
    except GrafanaUnauthorizedError:
        raise PublishError(f"Grafana at {url} rejected the token: check GRAFANA_TOKEN") from None
    except GrafanaClientError as exc:
        if exc.status_code == 403:
            raise PublishError(
                "the token may not change dashboards or alert rules: give it the Editor or Admin role"
            ) from None
        raise PublishError(f"Grafana at {url} refused a request ({exc.status_code}): {exc.message}") from None
    except Timeout:
        raise PublishError(f"Grafana at {url} did not answer within 15 s; check --grafana-url") from None
    except GrafanaException as exc:
        if exc.status_code == 0:  # no HTTP answer at all
            raise PublishError(f"cannot reach Grafana at {url}; check --grafana-url") from None
        raise PublishError(f"Grafana at {url} failed ({exc.status_code}): {exc.message}") from None
    except PublishError:
        raise
    except Exception as exc:  # connection errors come from the HTTP library below grafana-client
        raise PublishError(f"cannot reach Grafana at {url}: {type(exc).__name__}; check --grafana-url") from None

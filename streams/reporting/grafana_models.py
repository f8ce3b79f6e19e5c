"""Grafana's JSON models of the dashboards, alert rules and datasource, from the panels
(`streams.reporting.panels`) and their styles (`streams.reporting.panel_style`).

Field names and types follow Grafana's own schema (npm `@grafana/schema`, `Dashboard`),
which `make test` checks every model against with `tsc --strict`; targets follow the
ClickHouse plugin's query model.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from streams.config import redact
from streams.errors import PublishError
from streams.reporting.panel_style import UNITS, column_styles
from streams.reporting.panel_types import (
    DATASOURCE_TYPE,
    DATASOURCE_UID,
    PARTNER_DASHBOARD,
    PLUGIN_VERSION,
    Dashboard,
    Panel,
    Variable,
    dashboard_uid,
)
from streams.reporting.panels import dashboards
from streams.rules.scoring import Scoring

FOLDER_UID = "partnerpulse"
RULE_GROUP = "partnerpulse"
RULE_INTERVAL_S = 60
DATASOURCE_NAME = "PartnerPulse ClickHouse"
DS_REF = {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
# Table cells coloured by their value: whole cell for categories, text for numbers.
_CELLS = {"status": "color-background", "quadrant": "color-background", "kind": "color-text",
          "state": "color-text", "effect": "color-text", "score": "color-text", "fit": "color-text"}  # fmt: skip
_STACKED = {"score_components"}  # time series whose series add up (stacked areas)
DASHBOARD_LINKS = [{
    "title": "PartnerPulse", "type": "dashboards", "tags": ["partnerpulse"], "asDropdown": False, "icon": "external link",
    "includeVars": False, "keepTime": True, "targetBlank": False, "tooltip": "The other PartnerPulse dashboards",
}]  # fmt: skip


def unit(column: str, panel: Panel) -> str:
    if column.endswith("_points"):
        return "none"
    return UNITS.get(column, panel.unit)


def _overrides(p: Panel, styles: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One override per column that looks different from the panel's defaults."""
    out = []
    for column in p.columns:
        props = dict(styles.get(column, {}))
        if "partner_id" not in p.columns:  # the links need the id in the row
            props.pop("links", None)
        if unit(column, p) != p.unit:
            props["unit"] = unit(column, p)
        if p.kind == "table" and column in _CELLS:
            props["custom.cellOptions"] = {"type": _CELLS[column]}
        if p.time_series and "thresholds" in props:
            props["custom.thresholdsStyle"] = {"mode": "area"}
        if props:
            out.append({"matcher": {"id": "byName", "options": column},
                        "properties": [{"id": k, "value": v} for k, v in props.items()]})  # fmt: skip
    return out


def _options(p: Panel) -> dict[str, Any]:
    if p.kind == "stat":  # every column of the one row, text included (status)
        return {"reduceOptions": {"values": False, "calcs": ["lastNotNull"], "fields": "/.*/"},
                "colorMode": "background", "textMode": "value_and_name"}  # fmt: skip
    if p.kind == "table":
        return {"showHeader": True, "cellHeight": "sm"}
    return {}


def _panel_model(panel_id: int, p: Panel, styles: dict[str, dict[str, Any]]) -> dict[str, Any]:
    x, y, w, h = p.grid
    custom = {"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 60} if p.key in _STACKED else {}
    return {
        "id": panel_id,
        "type": p.kind,
        "title": p.title,
        "description": p.description,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "datasource": DS_REF,
        "targets": [
            {
                "refId": "A",
                "datasource": DS_REF,
                "pluginVersion": PLUGIN_VERSION,
                "editorType": "sql",
                "format": 0 if p.time_series else 1,  # plugin: 0 time series, 1 table
                "queryType": "timeseries" if p.time_series else "table",
                "rawSql": p.sql,
            }
        ],
        "fieldConfig": {"defaults": {"unit": p.unit, "custom": custom}, "overrides": _overrides(p, styles)},
        "options": _options(p),
    }


def _variable_model(v: Variable) -> dict[str, Any]:
    common: dict[str, Any] = {"name": v.name, "label": v.label, "description": v.description, "multi": v.multi,
                              "includeAll": v.multi}  # fmt: skip
    if v.multi:  # opens on All: no filter
        common["current"] = {"text": ["All"], "value": ["$__all"], "selected": True}
    if v.values:
        return common | {"type": "custom", "query": ",".join(v.values),
                         "options": [{"text": x, "value": x, "selected": False} for x in v.values]}  # fmt: skip
    # refresh 1: on dashboard load — the values do not depend on the time range.
    return common | {"type": "query", "datasource": DS_REF, "query": v.query, "refresh": 1, "sort": 0}


def dashboard_model(d: Dashboard, scoring: Scoring) -> dict[str, Any]:
    styles = column_styles(scoring)
    return {
        "uid": d.uid,
        "title": d.title,
        "description": d.description,
        "tags": ["partnerpulse"],
        "timezone": "utc",
        "schemaVersion": 39,
        "editable": True,
        "time": {"from": d.time_from, "to": "now"},
        "links": DASHBOARD_LINKS,
        "templating": {"list": [_variable_model(v) for v in d.variables]},
        "panels": [_panel_model(i, p, styles) for i, p in enumerate(d.panels, start=1)],
    }


def _rule(uid: str, title: str, sql: str, annotations: dict[str, str], severity: str, folder_uid: str | None,
          relative_s: int = 600) -> dict[str, Any]:  # fmt: skip
    rule = {
        "uid": uid,
        "title": title,
        "condition": "C",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": relative_s, "to": 0},
                "datasourceUid": DATASOURCE_UID,
                "model": {
                    "refId": "A",
                    "editorType": "sql",
                    "format": 1,
                    "queryType": "table",
                    "rawSql": sql,
                    "pluginVersion": PLUGIN_VERSION,
                },
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
        "annotations": annotations,
    }
    if folder_uid is not None:
        rule.update(folderUID=folder_uid, ruleGroup=RULE_GROUP, orgID=1)
    return rule


_PARTNER_ALERTS = {
    "quiet": "Partner {{ $labels.partner_id }} has been silent for twice its usual gap: reach out",
    "disengaged": "Partner {{ $labels.partner_id }} has stopped coming (silent past its own limit)",
    "declining": "Partner {{ $labels.partner_id }} engages far less often than usual (unlikely by chance)",
    "one_sided": "The relationship with {{ $labels.partner_id }} is one-sided",
}


def alert_rules(scoring: Scoring, folder_uid: str | None = FOLDER_UID, runbook_url: str | None = None) -> list[dict]:
    """Grafana alert rules that mirror the product's alerts (one instance per partner), each
    linked to its dashboard panel, the partner's dashboard and `partnerpulse explain`, and to
    the runbook (dashboards/RUNBOOK.md, wherever it is hosted) when `runbook_url` is given."""

    # Panel ids as `dashboard_model` numbers them (from 1, in order).
    ids = {(d.uid, p.key): i for d in dashboards(scoring) for i, p in enumerate(d.panels, start=1)}

    def annotations(summary: str, anchor: str, dashboard: str, panel: str, description: str) -> dict[str, str]:
        out = {"summary": summary, "description": description, "__dashboardUid__": dashboard,
               "__panelId__": str(ids[(dashboard, panel)])}  # fmt: skip
        return out | ({"runbook_url": f"{runbook_url}#{anchor}"} if runbook_url else {})

    partner = (f"Open /d/{PARTNER_DASHBOARD}?var-partner={{{{ $labels.partner_id }}}} for its health and history; "
               "`partnerpulse explain {{ $labels.partner_id }}` says why its score moved.")  # fmt: skip
    rules = []
    for kind, summary in _PARTNER_ALERTS.items():
        rules.append(_rule(
            f"partnerpulse-{kind.replace('_', '-')}", f"PartnerPulse: {kind.replace('_', '-')} partners",
            "SELECT partner_id, toUInt8(1) AS firing FROM partner_alerts FINAL "
            f"WHERE kind = '{kind}' AND state = 'firing'",
            annotations(summary, kind.replace("_", "-"), dashboard_uid("overview"),
                        "quiet_now" if kind == "quiet" else "open_alerts", partner),
            "warning" if kind != "disengaged" else "critical", folder_uid,
        ))  # fmt: skip
    rules.append(_rule(
        "partnerpulse-dead-letters", "PartnerPulse: dead letters in the last 15 minutes",
        "SELECT count() AS dead_letters FROM dead_letters WHERE $__timeFilter(received_at)",
        annotations("{{ $values.B }} records went to the dead letters in the last 15 minutes",
                    "dead-letters", dashboard_uid("pipeline"), "dead_letters",
                    "`partnerpulse dlq list` shows them and why; fix the source, then `partnerpulse dlq replay`."),
        "warning", folder_uid, relative_s=900,
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

"""What each panel of a dashboard shows, as data: the panel's SQL expanded as Grafana
and its plugin expand it (time range, filters, partner), run on the store. Served as
/api/panels, shown by `partnerpulse dashboards show`, and the report's numbers: the
dashboards' screenshots where no Grafana runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from streams.formats import iso, parse_as_of
from streams.reporting.panel_types import DASHBOARDS, dashboard_uid
from streams.reporting.panels import FILTERS, dashboards, expand
from streams.rules.scoring import load_scoring

RANGE_DAYS = {"overview": 180, "partner": 180, "pipeline": 1}  # each dashboard's default time range


def panel_data(client: Client, dashboard: str = "overview", as_of: str | None = None, since: str | None = None,
               partner: str | None = None, **filters: str | None) -> dict[str, Any]:  # fmt: skip
    """Every panel's rows for the range (since, as_of] (default: the dashboard's own range up
    to now); `filters` are the overview's (region, tier, account_manager, quadrant), each a
    comma-separated list, absent for All."""
    if dashboard not in DASHBOARDS:
        raise ValueError(f"dashboard must be one of {', '.join(DASHBOARDS)}, not {dashboard!r}")
    unknown = set(filters) - {v.name for v in FILTERS}
    if unknown:
        raise ValueError(f"unknown filter {sorted(unknown)[0]!r}: use {', '.join(v.name for v in FILTERS)}")
    if dashboard == "partner" and not partner:
        raise ValueError("the partner dashboard shows one partner: give partner (its id)")
    t = parse_as_of(as_of)
    t0 = parse_as_of(since, option="--since") if since is not None else t - timedelta(days=RANGE_DAYS[dashboard])
    if t0 >= t:
        raise ValueError(f"since ({iso(t0)}) must be before as_of ({iso(t)})")
    chosen = {name: [v.strip() for v in value.split(",") if v.strip()] for name, value in filters.items() if value}
    d = next(d for d in dashboards(load_scoring()) if d.uid == dashboard_uid(dashboard))
    interval = 3600 if dashboard == "pipeline" else 86400
    shown = []
    for panel in d.panels:
        sql = expand(panel.sql, t0, t, interval_s=interval, variables={"partner": partner, **chosen})
        rows = [dict(zip(panel.columns, r, strict=True)) for r in client.query(sql).result_rows]
        shown.append({"key": panel.key, "title": panel.title, "description": panel.description,
                      "columns": list(panel.columns), "rows": rows})  # fmt: skip
    answer = {"dashboard": d.title, "from": iso(t0), "to": iso(t), "partner": partner, "filters": chosen,
              "panels": shown}  # fmt: skip
    return orjson.loads(orjson.dumps(answer, default=str))  # JSON-ready, the same offline as over HTTP

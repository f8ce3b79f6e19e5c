"""What a dashboard is made of (`streams.reporting.panels` builds them)."""

from __future__ import annotations

from dataclasses import dataclass, field

DATASOURCE_UID = "partnerpulse-clickhouse"
DATASOURCE_TYPE = "grafana-clickhouse-datasource"


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    kind: str  # Grafana panel type
    sql: str
    columns: tuple[str, ...]  # what the panel expects, in order
    grid: tuple[int, int, int, int]  # x, y, w, h on the 24-column grid
    time_series: bool = False
    description: str = ""
    unit: str = ""


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    variables: tuple[dict, ...] = field(default_factory=tuple)
    time_from: str = "now-180d"


LATEST_DAY = "(SELECT max(day) FROM partner_health WHERE day <= toDate($__toTime))"

"""What a dashboard is made of (`streams.reporting.panels` builds them)."""

from __future__ import annotations

from dataclasses import dataclass, field

DATASOURCE_UID = "partnerpulse-clickhouse"
DATASOURCE_TYPE = "grafana-clickhouse-datasource"
# The plugin version the panels are written for (targets carry it, or the plugin migrates
# every query it opens as a v3 one and marks the panel modified); the compose file pins it.
# $__timeFilter_ms, $__fromTime_ms and $__toTime_ms need at least 4.0.3.
PLUGIN_VERSION = "4.13.0"


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    kind: str  # Grafana panel type
    sql: str
    columns: tuple[str, ...]  # what the panel expects, in order
    grid: tuple[int, int, int, int]  # x, y, w, h on the 24-column grid
    description: str
    time_series: bool = False
    unit: str = "short"  # for columns `panel_style.UNITS` does not name


@dataclass(frozen=True)
class Variable:
    """A dashboard variable: a query's values (first column the value, a second the label)
    or fixed `values`; `multi` ones have an All option that filters nothing."""

    name: str
    label: str
    description: str
    query: str = ""
    values: tuple[str, ...] = ()
    multi: bool = False


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    variables: tuple[Variable, ...] = field(default_factory=tuple)
    time_from: str = "now-180d"


DASHBOARDS = ("overview", "partner", "pipeline")


def dashboard_uid(name: str) -> str:
    """A dashboard's uid in Grafana (its URL: /d/<uid>), from its name in DASHBOARDS."""
    return f"partnerpulse-{name}"


PARTNER_DASHBOARD = dashboard_uid("partner")  # where a click on a partner leads

LATEST_DAY = "(SELECT max(day) FROM partner_health WHERE day <= toDate($__toTime))"


def fit_join(alias: str, partner: str | None = None) -> str:
    """Each partner's (or `partner`'s, an SQL expression) latest fit profile up to the range's
    end, as `f.fit_profile` ('' if none)."""
    only = f"partner_id = {partner} AND " if partner else ""
    return ("LEFT JOIN (SELECT partner_id, argMax(fit, updated_at) AS fit_profile FROM partners "
            f"WHERE {only}updated_at <= $__toTime_ms AND fit NOT IN ('', '{{}}') GROUP BY partner_id) AS f "
            f"ON f.partner_id = {alias}.partner_id")  # fmt: skip

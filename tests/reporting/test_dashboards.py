"""Dashboards, datasource and alert rules as code: structure, links, colours and units;
every query run on real data in chDB the way the Grafana plugin expands it; the filters;
and the report (parsed with BeautifulSoup) showing the same figures as the panels."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import yaml
from bs4 import BeautifulSoup

from streams.formats import iso
from streams.reporting import grafana, grafana_models, panel_style, panel_types, panels, report
from streams.reporting.panel_data import panel_data
from streams.rules.scoring import load_scoring
from tests import badinput

SCORING = load_scoring()
MODELS = [grafana_models.dashboard_model(d, SCORING) for d in panels.dashboards(SCORING)]


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
    used = set(re.findall(r"\$\{(?!__)(\w+)", text)) | set(re.findall(r"\$(?!__)(\w+)", text))
    assert used <= defined, used - defined


COUNTS = {"partners", "engagements", "events", "dead_letters", "ecosystem_partners", "co_building_partners"}


def _overrides(panel: dict) -> dict[str, dict]:
    return {o["matcher"]["options"]: {x["id"]: x["value"] for x in o["properties"]}
            for o in panel["fieldConfig"]["overrides"]}  # fmt: skip


@pytest.mark.parametrize("model", MODELS, ids=[m["uid"] for m in MODELS])
def test_panels_are_described_linked_and_coloured(model):
    assert model["links"][0]["type"] == "dashboards" and model["links"][0]["keepTime"]
    resolve, at_risk = (v for v, _ in panel_style.score_bands(SCORING)[1:])
    for p in model["panels"]:
        assert p["description"] and all(t["pluginVersion"] == panel_types.PLUGIN_VERSION for t in p["targets"])
        fields = _overrides(p)
        for column in ("partner_id", "name"):
            if column in fields:  # a click opens the partner dashboard on that partner, same time range
                (link,) = fields[column]["links"]
                assert link["url"].startswith("/d/partnerpulse-partner?var-partner=${__data.fields.partner_id")
        if model["uid"] == "partnerpulse-overview" and p["type"] in ("table", "xychart"):  # all list partners
            assert "partner_id" in fields, p["title"]
        if "score" in fields:
            steps = fields["score"]["thresholds"]["steps"]
            assert [s["value"] for s in steps] == [None, resolve, at_risk] == [None, 45.0, 65.0]
        if "status" in fields:
            assert set(fields["status"]["mappings"][0]["options"]) == {"healthy", "at_risk", "new", "disengaged"}


def test_the_score_bands_follow_the_scoring_file(tmp_path):
    custom = tmp_path / "scoring.yaml"
    custom.write_text("status:\n  at_risk_below: 70\nalerts:\n  disengaged: {resolve_score_at_least: 50}\n")
    scoring = load_scoring(custom)
    overview = next(d for d in panels.dashboards(scoring) if d.uid == "partnerpulse-overview")
    worst = next(
        p
        for p in grafana_models.dashboard_model(overview, scoring)["panels"]
        if p["title"].startswith("Partners needing")
    )
    assert [s["value"] for s in _overrides(worst)["score"]["thresholds"]["steps"]] == [None, 50.0, 70.0]


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
    for column in panel.columns:  # every number says what it counts; "short" only for counts
        if any(isinstance(r[column], int | float) and not isinstance(r[column], bool) for r in named):
            unit = grafana_models.unit(column, panel)
            assert unit != "short" or column in COUNTS, (panel.key, column)
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
    variables = {v["name"]: v for m in MODELS for v in m["templating"]["list"]}
    picker = dict(populated.query(variables["partner"]["query"]).result_rows)
    assert picker["fader"] == "Fader (fader)" and picker["listener"] == "listener"  # name, or the id alone
    for name, values in (("region", ["EMEA", "NA"]), ("tier", ["gold", "silver"]),
                         ("account_manager", ["Dana Whit", "Lee Park"])):  # fmt: skip
        shown = [r[0] for r in populated.query(variables[name]["query"]).result_rows]
        assert shown == sorted(shown) and set(values) <= set(shown) and "" not in shown  # (the examples add more)
        assert variables[name]["refresh"] == 1  # on load, not at every change of the time range
    assert variables["quadrant"]["query"] == "core,invest,review,deprioritise"


def _shown(client, key: str, **chosen) -> list[dict]:
    panel = next(p for d in panels.dashboards(SCORING) for p in d.panels if p.key == key)
    result = client.query(panels.expand(panel.sql, *EVENT_RANGE, variables=chosen))
    return [dict(zip(panel.columns, r, strict=True)) for r in result.result_rows]


@pytest.mark.parametrize(("chosen", "partners"), [
    ({}, {"steady", "fader", "comeback", "listener", "decliner"}),
    ({"region": ["EMEA"]}, {"steady", "fader"}),
    ({"region": ["EMEA", "NA"], "tier": ["gold"]}, {"steady", "decliner"}),
    ({"account_manager": ["Lee Park"]}, {"fader"}),
    ({"quadrant": ["invest"]}, {"fader"}),
    ({"quadrant": ["core", "review"], "region": ["NA"]}, {"decliner"}),
])  # fmt: skip
def test_the_overview_filters_every_panel(populated, chosen, partners):
    """Region, tier, account manager and quadrant select the same partners in every panel."""
    assert {r["partner_id"] for r in _shown(populated, "worst_first", **chosen)} == partners
    assert sum(r["partners"] for r in _shown(populated, "status_counts", **chosen)) == len(partners)
    assert sum(r["partners"] for r in _shown(populated, "score_distribution", **chosen)) == len(partners)
    assert {r["partner_id"] for r in _shown(populated, "fit_quadrants", **chosen)} == partners - {
        "comeback",
        "listener",
    }
    for key in ("alert_timeline", "open_alerts", "quiet_now"):
        assert {r["partner_id"] for r in _shown(populated, key, **chosen)} <= partners
    everyone = sum(r["engagements"] for r in _shown(populated, "reciprocity"))
    selected = populated.query(
        "SELECT sum(engagements) FROM partner_daily WHERE partner_id IN %(p)s AND day >= '2026-01-01' "
        "AND day <= '2026-09-01'", parameters={"p": tuple(partners)}).result_rows[0][0]  # fmt: skip
    assert sum(r["engagements"] for r in _shown(populated, "reciprocity", **chosen)) == selected <= everyone


def test_alert_rule_queries_run(populated):
    """Each rule's query over its own relative time range, expanded as the plugin does."""
    now = datetime.now(UTC)

    def run(rule, end=now):
        window = rule["data"][0]["relativeTimeRange"]
        sql = panels.expand(rule["data"][0]["model"]["rawSql"], end - timedelta(seconds=window["from"]), end)
        return populated.query(sql).result_rows

    rules = {r["uid"]: r for r in grafana_models.alert_rules(SCORING)}
    assert ("fader", 1) in run(rules["partnerpulse-quiet"])
    for rule in rules.values():
        assert rule["annotations"]["__dashboardUid__"] in {m["uid"] for m in MODELS}
        run(rule)  # runs without error
    dead = rules["partnerpulse-dead-letters"]
    assert run(dead) == [(len(badinput.bad_records()),)]  # stored minutes ago: inside the 15 minutes
    assert run(dead, end=now - timedelta(hours=1)) == [(0,)]  # $__timeFilter bounds it


# --- the report shows what the dashboards show ------------------------------------

OVERVIEW = next(d for d in panels.dashboards(SCORING) if d.uid == "partnerpulse-overview")


def _overview_panel(client, key: str) -> list[dict]:
    """What Grafana's panel shows over the report's 180 days (filters on All)."""
    panel = next(p for p in OVERVIEW.panels if p.key == key)
    end = EVENT_RANGE[1]
    result = client.query(panels.expand(panel.sql, end - timedelta(days=report.REPORT_DAYS), end))
    return [dict(zip(panel.columns, r, strict=True)) for r in result.result_rows]


def _section(page: BeautifulSoup, heading: str):
    return next(h for h in page.find_all("h2") if h.get_text().startswith(heading)).find_parent("section")


def test_the_report_shows_what_the_dashboards_show(populated):
    page = BeautifulSoup(report.render(report.report_data(populated, as_of=iso(EVENT_RANGE[1]))), "html.parser")

    kpis = {k.get_text(" ", strip=True).split(" ", 1)[1]: int(k.b.get_text()) for k in page.select("div.kpi")}
    counts = {r["status"]: r["partners"] for r in _overview_panel(populated, "status_counts")}
    for status in ("disengaged", "at_risk", "new", "healthy"):
        assert kpis[status.replace("_", " ")] == counts.get(status, 0), status
    assert kpis["open alerts"] == len(_overview_panel(populated, "open_alerts"))

    rows = page.select("section table")[0].find_all("tr")[1:]  # the attention table
    shown = [
        (tr.select_one("td.partner span").get_text(), tr.select_one("td.score").get_text(strip=True)) for tr in rows
    ]
    worst = [r for r in _overview_panel(populated, "worst_first") if r["status"] in report.ATTENTION]
    assert shown == [(r["partner_id"], f"{r['score']:.1f}") for r in worst] and shown
    bands = panel_style.score_bands(SCORING)
    for tr, r in zip(rows, worst, strict=True):  # the score bar in Grafana's threshold colour
        assert panel_style.band_colour(bands, r["score"]) in tr.select_one("td.score i")["style"]

    quadrants = _section(page, "Fit × engagement").p.find_next("p").find_all("b")
    by_quadrant = [r["quadrant"] for r in _overview_panel(populated, "fit_quadrants")]
    assert [int(b.get_text()) for b in quadrants] == [
        by_quadrant.count(q) for q in ("invest", "core", "review", "deprioritise")
    ]

    quiet = [tr.td.get_text() for tr in _section(page, "Quiet now").find_all("tr")[1:]]
    assert quiet == [r["name"] or r["partner_id"] for r in _overview_panel(populated, "quiet_now")] == ["Fader"]


def test_the_partner_header_is_its_health_then(populated):
    """Score, status, silence and fit at the top of the partner dashboard = `health --as-of`
    at the range's end; bad requests are sentences."""
    from streams.reporting.health_rows import health

    for partner in ("steady", "fader", "decliner", "listener"):
        shown = panel_data(populated, "partner", as_of="2026-08-01", since="2026-05-01", partner=partner)
        first = {p["key"]: (p["rows"] or [{}])[0] for p in shown["panels"]}
        (row,) = health(populated, as_of="2026-08-01", partner=partner)
        assert first["score_now"]["score"] == pytest.approx(row["score"], abs=0.01)
        assert first["status_now"]["status"] == row["status"]
        assert first["silence_now"]["disengaged_after"] == row["silence_limit_days"]
        assert (first["profile"]["fit"], first["profile"]["quadrant"]) == (row["fit"], row["quadrant"])
    assert shown["panels"][0]["rows"] and first["profile"]["fit"] is None  # the listener has no fit profile
    for bad, words in (({"dashboard": "sales"}, "overview, partner, pipeline"), ({"dashboard": "partner"}, "give partner"),
                       ({"since": "2026-09-02", "as_of": "2026-09-01"}, "must be before"), ({"segment": "x"}, "unknown filter")):  # fmt: skip
        with pytest.raises(ValueError, match=words):
            panel_data(populated, **bad)
    selected = panel_data(populated, as_of="2026-09-01", since="2026-01-01", region="EMEA, NA", tier="gold")
    worst = next(p for p in selected["panels"] if p["key"] == "worst_first")
    assert {r["partner_id"] for r in worst["rows"]} == {"steady", "decliner"} and selected["filters"]["region"] == [
        "EMEA",
        "NA",
    ]


@pytest.mark.parametrize(("key", "projection"), [("quality_by_type", "day_totals"), ("reciprocity", "day_totals"),
                                                 ("ecosystem", "by_type_day")])  # fmt: skip
def test_the_trend_panels_read_the_rollup_by_day(populated, key, projection):
    """With the filters on All, ClickHouse answers the trend panels from partner_daily's
    projections (migration 0011), with the rows the table itself gives."""
    panel = next(p for d in panels.dashboards(SCORING) for p in d.panels if p.key == key)
    sql = panels.expand(panel.sql, *EVENT_RANGE, interval_s=60, variables={})
    plan = populated.command(f"EXPLAIN projections = 1 {sql}")
    assert projection in str(plan), plan

    def rows(query: str) -> list[tuple]:  # sums in another order: equal to the last digits
        return [
            tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in populated.query(query).result_rows
        ]

    assert rows(sql) and rows(sql) == rows(f"{sql} SETTINGS optimize_use_projections = 0")

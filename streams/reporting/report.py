"""`partnerpulse report`: one self-contained HTML file a channel manager can forward.

Its numbers come from the dashboards' own panel queries (streams/reporting/panels.py), expanded
for the 180 days up to --as-of; charts are plotly, with plotly.js embedded once, so the
file opens without a network. Every value is escaped by the template (autoescape).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from streams.formats import iso, parse_as_of, parse_iso
from streams.reporting.explain import explain_many
from streams.reporting.panel_data import panel_data
from streams.reporting.panel_style import ALERT_COLOURS, QUADRANT_COLOURS, STATUS_COLOURS, band_colour, score_bands
from streams.rules.explanation import links
from streams.rules.fit import GOOD_SCORE, HIGH_FIT
from streams.rules.scoring import load_scoring
from streams.store import reads

REPORT_DAYS = 180
ATTENTION = ("disengaged", "at_risk")
EXPLAINED = 25  # partners needing attention explained in the report, worst first


def report_data(client: Client, as_of: str | None = None) -> dict[str, Any]:
    """Everything the report shows, JSON-ready (served by the pipeline's API too)."""
    t = parse_as_of(as_of)
    shown = panel_data(client, "overview", as_of=iso(t), since=iso(t - timedelta(days=REPORT_DAYS)))
    data: dict[str, Any] = {"as_of": shown["to"], "from": shown["from"],
                            "panels": {p["key"]: {"title": p["title"], "rows": p["rows"]} for p in shown["panels"]}}  # fmt: skip
    data["explanations"] = _explanations(client, data["panels"]["worst_first"]["rows"], t)
    data["dead_letters"] = reads.dead_letter_reasons(client)
    data["counts"] = reads.counts(client)
    return orjson.loads(orjson.dumps(data, default=str))


def _explanations(client: Client, worst_first: list[dict], t: datetime) -> dict[str, dict]:
    """Why each partner needing attention moved over the last 30 days (§7), worst first."""
    wanted = [r["partner_id"] for r in worst_first if r["status"] in ATTENTION][:EXPLAINED]
    return {
        partner: {k: answer[k] for k in ("summary", "contributions", "score_delta")}
        | {"drivers": answer["drivers"][:5], "command": links(partner, t)["command"]}
        for partner, answer in explain_many(client, wanted, as_of=iso(t)).items()
    }


def _figure_html(fig) -> str:
    import plotly.io as pio

    fig.update_layout(margin={"l": 40, "r": 20, "t": 40, "b": 40}, height=320, template="plotly_white",
                      legend={"orientation": "h", "y": -0.2})  # fmt: skip
    return pio.to_html(fig, full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def _series(rows: list[dict], key: str, value: str) -> dict[str, tuple[list, list]]:
    out: dict[str, tuple[list, list]] = {}
    for r in rows:
        xs, ys = out.setdefault(str(r[key]), ([], []))
        xs.append(r["time"])
        ys.append(r[value])
    return out


def charts(data: dict[str, Any]) -> dict[str, str]:
    import plotly.graph_objects as go

    p = data["panels"]
    out = {}
    status = p["status_counts"]["rows"]
    out["status"] = go.Figure(go.Pie(
        labels=[r["status"] for r in status], values=[r["partners"] for r in status], hole=0.45,
        marker={"colors": [STATUS_COLOURS.get(r["status"], "#999") for r in status]}, sort=False,
    ))  # fmt: skip
    dist = p["score_distribution"]["rows"]
    out["scores"] = go.Figure(go.Bar(x=[r["score_range"] for r in dist], y=[r["partners"] for r in dist],
                                     marker_color="#4c78a8"))  # fmt: skip
    out["scores"].update_layout(xaxis_title="score", yaxis_title="partners")
    quality = go.Figure()
    for name, (xs, ys) in _series(p["quality_by_type"]["rows"], "type", "quality_minutes").items():
        quality.add_trace(go.Bar(x=xs, y=ys, name=name.removeprefix("partner.")))
    quality.update_layout(barmode="stack", yaxis_title="quality minutes per week")
    out["quality"] = quality
    reciprocity = go.Figure()
    for name, (xs, ys) in _series(p["reciprocity"]["rows"], "initiated_by", "engagements").items():
        reciprocity.add_trace(go.Scatter(x=xs, y=ys, name=f"{name}-initiated", mode="lines", stackgroup="one"))
    reciprocity.update_layout(yaxis_title="engagements per week")
    out["reciprocity"] = reciprocity
    eco = p["ecosystem"]["rows"]
    ecosystem = go.Figure()
    ecosystem.add_trace(go.Bar(x=[r["time"] for r in eco], y=[r["ecosystem_partners"] for r in eco],
                               name="app/tech partners named"))  # fmt: skip
    ecosystem.add_trace(go.Bar(x=[r["time"] for r in eco], y=[r["co_building_partners"] for r in eco],
                               name="partners co-building"))  # fmt: skip
    out["ecosystem"] = ecosystem
    episodes = p["alert_timeline"]["rows"]
    timeline = go.Figure()
    for kind, colour in ALERT_COLOURS.items():
        rows = [r for r in episodes if r["kind"] == kind]
        if not rows:
            continue
        starts = [parse_iso(r["fired_at"]) for r in rows]
        ends = [parse_iso(r["resolved_at"]) if r["resolved_at"] else parse_iso(data["as_of"]) for r in rows]
        timeline.add_trace(go.Bar(
            y=[r["name"] or r["partner_id"] for r in rows], base=[s.isoformat() for s in starts],
            x=[(e - s).total_seconds() * 1000 for s, e in zip(starts, ends, strict=True)],
            orientation="h", name=kind, marker_color=colour,
        ))  # fmt: skip
    timeline.update_layout(xaxis={"type": "date"}, barmode="overlay",
                           height=max(320, 22 * len({r["partner_id"] for r in episodes}) + 80))  # fmt: skip
    out["alerts"] = timeline
    out["quadrants"] = _quadrants(p["fit_quadrants"]["rows"])
    return {name: _figure_html(fig) for name, fig in out.items()}


def _quadrants(rows: list[dict]):
    """Fit (x) × score (y), one dot per partner with a fit profile; hover: who and the gaps."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, colour in QUADRANT_COLOURS.items():
        mine = [r for r in rows if r["quadrant"] == name]
        fig.add_trace(go.Scatter(
            x=[r["fit"] for r in mine], y=[r["score"] for r in mine], mode="markers", name=name,
            marker={"color": colour, "size": 9}, customdata=[[r["name"] or r["partner_id"], r["fit_gaps"] or "none"]
                                                             for r in mine],
            hovertemplate="<b>%{customdata[0]}</b><br>fit %{x:.0f} · score %{y:.1f}<br>gaps: %{customdata[1]}"
                          "<extra>%{fullData.name}</extra>",
        ))  # fmt: skip
    fig.add_vline(x=HIGH_FIT, line_dash="dot", line_color="#888")
    fig.add_hline(y=GOOD_SCORE, line_dash="dot", line_color="#888")
    fig.update_layout(xaxis={"title": "fit with the ideal partner", "range": [-3, 103]},
                      yaxis={"title": "score", "range": [-3, 103]}, height=420)  # fmt: skip
    return fig


def render(data: dict[str, Any]) -> str:
    import jinja2
    from plotly.offline import get_plotlyjs

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    attention = [r for r in data["panels"]["worst_first"]["rows"] if r["status"] in ATTENTION]
    open_alerts = data["panels"]["open_alerts"]["rows"]
    quiet = data["panels"]["quiet_now"]["rows"]
    counts = {r["status"]: r["partners"] for r in data["panels"]["status_counts"]["rows"]}
    return env.get_template("report.html.j2").render(
        data=data, charts=charts(data), plotlyjs=get_plotlyjs(), attention=attention, open_alerts=open_alerts, quiet=quiet,
        counts=counts, total=sum(counts.values()), colours=STATUS_COLOURS,
        score_colour=partial(band_colour, score_bands(load_scoring())),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )  # fmt: skip


def write(data: dict[str, Any], out: Path) -> Path:
    out.write_text(render(data), encoding="utf-8")
    return out

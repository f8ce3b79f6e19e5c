"""The report: valid, self-contained, escaped HTML; and the demo end to end."""

from __future__ import annotations

import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from streams.reporting import report
from tests.conftest import ROOT, env_for

HOSTILE = "<script>alert('x')</script> & \"Co\""


class Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") and value and value.startswith(("http:", "https:", "//")):
                self.external.append(value)

    def handle_data(self, data):
        self.text.append(data)


def sample_data() -> dict:
    rows = [{"partner_id": "p1", "name": HOSTILE, "score": 12.5, "status": "disengaged", "days_since_last": 40.0,
             "silence_limit_days": 30.0, "usual_gap_days": 6.0, "trend": -1.0, "quality_minutes_30d": 0.0, "partner_share": None, "ecosystem_partners": 0,
             "quality": 0.0, "recency": 0.1, "reciprocity": 0.0, "breadth": 0.2, "momentum": 0.0, "fit": 72.0,
             "quadrant": "invest"}]  # fmt: skip
    return {
        "as_of": "2026-11-26T00:00:00Z",
        "from": "2026-05-30T00:00:00Z",
        "panels": {
            "status_counts": {"rows": [{"status": "disengaged", "partners": 1}]},
            "score_distribution": {"rows": [{"score_range": "10–20", "partners": 1}]},
            "open_alerts": {
                "rows": [
                    {
                        "partner_id": "p1",
                        "name": HOSTILE,
                        "kind": "disengaged",
                        "fired_at": "2026-11-01T00:00:00Z",
                        "reason": HOSTILE,
                    }
                ]
            },
            "worst_first": {"rows": rows},
            "quiet_now": {
                "rows": [
                    {
                        "partner_id": "p1",
                        "name": HOSTILE,
                        "quiet_since": "2026-10-20T00:00:00Z",
                        "days_silent": 40.0,
                        "usually_every_days": 6.0,
                        "disengaged_after_days": 30.0,
                        "reason": HOSTILE,
                    }
                ]
            },
            "quality_by_type": {
                "rows": [{"time": "2026-10-05 00:00:00", "type": "partner.webinar", "quality_minutes": 60}]
            },
            "reciprocity": {"rows": [{"time": "2026-10-05 00:00:00", "initiated_by": "partner", "engagements": 1}]},
            "ecosystem": {"rows": []},
            "fit_quadrants": {
                "rows": [
                    {
                        "partner_id": "p1",
                        "name": HOSTILE,
                        "fit": 72.0,
                        "score": 12.5,
                        "quadrant": "invest",
                        "fit_gaps": HOSTILE,
                    }
                ]
            },
            "alert_timeline": {
                "rows": [
                    {
                        "partner_id": "p1",
                        "name": HOSTILE,
                        "kind": "disengaged",
                        "state": "firing",
                        "fired_at": "2026-11-01T00:00:00Z",
                        "resolved_at": None,
                    }
                ]
            },
        },
        "explanations": {
            "p1": {
                "summary": HOSTILE,
                "score_delta": -30.0,
                "command": "partnerpulse explain p1 --as-of 2026-11-26T00:00:00Z",
                "contributions": {
                    "quality": -20.0,
                    "recency": -10.0,
                    "reciprocity": 0.0,
                    "breadth": 0.0,
                    "momentum": 0.0,
                },
                "drivers": [
                    {
                        "id": HOSTILE,
                        "source": HOSTILE,
                        "type": "partner.webinar",
                        "time": "2026-10-20T10:00:00Z",
                        "quality_minutes": 90.0,
                        "effect": "left",
                    }
                ],
            }
        },
        "dead_letters": [{"code": "bad_time", "count": 2}],
        "counts": {"engagement_events": 1, "partners": 1, "dead_letters": 2, "partners_engaged": 1},
    }


def test_report_escapes_everything_and_needs_no_network(tmp_path):
    html = report.render(sample_data())
    assert "<script>alert('x')</script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;Co&#34;" in html
    parser = Collector()
    parser.feed(html)
    assert parser.external == []
    assert "table" in parser.tags and parser.tags.count("script") >= 2  # plotly.js inline + figures


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_demo_end_to_end(settings, tmp_path):
    out = tmp_path / "report.html"
    env = env_for(settings)
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "demo", "--partners", "16", "--days", "120", "--report", str(out)],
        env=env, capture_output=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    stdout = result.stdout.decode()
    assert "Partner health as of" in stdout and "Alerts" in stdout and "Dead letters by reason" in stdout
    html = out.read_text()
    parser = Collector()
    parser.feed(html)
    text = " ".join(parser.text)
    assert "Partners needing attention" in text and "Alert timeline" in text
    assert parser.external == []
    # The demo's data stays for the other commands, which read it when nothing runs.
    demo_dir = settings.data_dir / "demo"
    listed = subprocess.run([sys.executable, "-m", "streams.cli", "health", "--format", "json"],
                            env=env | {"PARTNERPULSE_DATA_DIR": str(demo_dir)}, capture_output=True, timeout=120)  # fmt: skip
    assert listed.returncode == 0, listed.stderr.decode()
    import orjson

    rows = orjson.loads(listed.stdout)
    assert len(rows) == 16
    assert all(r["name"] for r in rows)  # profiles joined
    assert {r["quadrant"] for r in rows} == {"core", "invest", "review", "deprioritise"}  # fit profiles fill all four
    assert "Fit × engagement" in text and "Why their scores moved" in text
    statuses = {r["partner_id"]: r["status"] for r in rows}
    assert statuses["acme-000"] in ("healthy", "at_risk")  # steady
    assert statuses["northwind-001"] == "disengaged"  # fader
    alerts = orjson.loads(subprocess.run(
        [sys.executable, "-m", "streams.cli", "alerts", "--state", "firing", "--format", "json"],
        env=env | {"PARTNERPULSE_DATA_DIR": str(demo_dir)}, capture_output=True, timeout=120).stdout)  # fmt: skip
    assert ("initech-003", "one_sided") in {(a["partner_id"], a["kind"]) for a in alerts}  # listener
    shown = subprocess.run([sys.executable, "-m", "streams.cli", "dashboards", "show", "--rows", "3"],
                           env=env | {"PARTNERPULSE_DATA_DIR": str(demo_dir), "COLUMNS": "80"}, capture_output=True,
                           timeout=120)  # fmt: skip
    assert shown.returncode == 0, shown.stderr.decode()
    lines = shown.stdout.decode().splitlines()
    assert max(map(len, lines)) <= 80 and "Partners needing attention" in shown.stdout.decode()
    as_json = orjson.loads(subprocess.run(
        [sys.executable, "-m", "streams.cli", "dashboards", "show", "--format", "json"],
        env=env | {"PARTNERPULSE_DATA_DIR": str(demo_dir)}, capture_output=True, timeout=120).stdout)  # fmt: skip
    by_status = {r["status"]: r["partners"] for r in as_json["panels"][0]["rows"]}
    assert by_status == {s: sum(r["status"] == s for r in rows) for s in by_status}  # the panel = `health`
    names = {r["partner_id"]: r["name"] for r in rows}
    for a in alerts:  # every open alert is in the report, by partner name
        assert names[a["partner_id"]] in text

    browser = chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (.ci/run installs it): the rendering check did not run")
    shot = tmp_path / "report.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1200,1600", "--virtual-time-budget=8000",
         f"--screenshot={shot}", out.as_uri()],
        capture_output=True, timeout=120,
    )  # fmt: skip
    assert shot.exists() and shot.stat().st_size > 20_000
    png = Path(shot).read_bytes()
    assert png.startswith(b"\x89PNG")
    # Not blank: many distinct colours (charts, status badges), checked without extra libraries.
    import zlib

    raw = zlib.decompress(b"".join(_png_chunks(png, b"IDAT")))
    assert len(set(raw[i : i + 3] for i in range(0, min(len(raw), 3_000_000), 3))) > 50


def _png_chunks(png: bytes, kind: bytes):
    pos = 8
    while pos < len(png):
        length = int.from_bytes(png[pos : pos + 4], "big")
        if png[pos + 4 : pos + 8] == kind:
            yield png[pos + 8 : pos + 8 + length]
        pos += 12 + length

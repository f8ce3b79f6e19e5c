"""Early warning: do the alerts catch the partners who leave, and leave the others alone?

A seeded two-year population (`simulator.judged_population`: a year of history, then a
judged year; partners engaging every ~5, 10, 21 or 45 days with natural summer and
year-end pauses; 15% lapse for good and 15% fade to a third of their rate in the first
half of the judged year) goes through the real pipeline (embedded broker, one worker, chDB). The
contract's rules are the pipeline's alerts; the first rules (disengaged after 30 silent
days or below score 40; declining when this month's quality minutes are half the usual
month's) are replayed from the same daily health snapshots, side by side. Printed:

- per rhythm, the median days from a lapsed partner's last engagement to its first
  warning (quiet, disengaged or declining; 0 if one was already open), and the share of
  lapses and of fades caught within the judged year;
- false alarms per 100 partner-months on the partners that neither lapsed nor faded
  (warnings open during the judged year), by kind.

    python benchmarks/early_warning.py --partners 400 --seed 1
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

from common import produce, scratch

from streams import config
from streams.broker.embedded import embedded_broker, ensure_topics
from streams.demo import simulator
from streams.formats import aware, parse_iso
from streams.rules.watermark import midnight_at_or_before
from streams.store.connection import connect
from streams.worker.process import PipelineProcess

WARNINGS = ("quiet", "disengaged", "declining")
Episode = tuple[str, str, datetime, datetime | None]  # partner, kind, fired_at, resolved_at


def first_rules(snapshots: list[tuple]) -> list[Episode]:
    """The first version's disengaged and declining episodes, replayed from the daily
    snapshots (partner, as_of, score, days_since_last, first_engagement_at, trend, baseline)."""
    open_: dict[tuple[str, str], datetime] = {}
    out: list[Episode] = []
    for partner, t, score, silent, first, trend, baseline in sorted(snapshots, key=lambda r: (r[1], r[0])):
        status = ("disengaged" if silent >= 30 else "new" if first > t - timedelta(days=30)
                  else "disengaged" if score < 40 else "other")  # fmt: skip
        for kind, fires, resolves in (
            ("disengaged", status == "disengaged", status != "disengaged" and score >= 45),
            ("declining", status != "new" and trend <= -0.5 and baseline >= 120, trend > -0.25),
        ):
            key = (partner, kind)
            if key in open_ and resolves:
                out.append((partner, kind, open_.pop(key), t))
            elif key not in open_ and fires:
                open_[key] = t
    return out + [(p, k, fired, None) for (p, k), fired in open_.items()]


def judge(episodes: list[Episode], sim: simulator.Simulation, last_engagement: dict[str, datetime]) -> dict:
    """The figures of the module docstring for one rule set."""
    judged_from, end = sim.start + timedelta(days=365), sim.end
    warnings = defaultdict(list)
    for partner, kind, fired, resolved in episodes:
        if kind in WARNINGS:
            warnings[partner].append((kind, fired, resolved))
    delays, lapses, fades = defaultdict(list), defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0])
    false_alarms, stayed = defaultdict(int), 0
    for p in sim.partners:
        mine = warnings[p.partner_id]
        if p.lapsed_at:
            last = last_engagement[p.partner_id]
            if any(f <= last and (r is None or r > last) for _, f, r in mine):
                delay = 0.0
            else:
                after = [f for _, f, _ in mine if last < f <= end]
                delay = (min(after) - last).total_seconds() / 86400 if after else None
            lapses[p.rhythm_days][1] += 1
            if delay is not None:
                lapses[p.rhythm_days][0] += 1
                delays[p.rhythm_days].append(delay)
        elif p.faded_at:
            fades[p.rhythm_days][1] += 1
            fades[p.rhythm_days][0] += any(p.faded_at <= f <= end or (f <= p.faded_at and (r is None or r > p.faded_at))
                                           for _, f, r in mine)  # fmt: skip
        else:
            stayed += 1
            for kind, fired, resolved in mine:
                if fired <= end and (resolved is None or resolved >= judged_from):
                    false_alarms[kind] += 1
    months = stayed * 12
    return {"delays": delays, "lapses": lapses, "fades": fades,
            "false_alarms": {k: 100 * false_alarms[k] / months for k in WARNINGS}, "partner_months": months}  # fmt: skip


def run_pipeline(sim: simulator.Simulation, work: Path) -> tuple[list[Episode], list[tuple]]:
    """The contract's alerts from the real pipeline, and the daily snapshots it wrote."""
    scoring = work / "scoring.yaml"
    scoring.write_text("watermark:\n  idle_partition_seconds: 2\n")
    with embedded_broker() as bootstrap:
        ensure_topics(bootstrap, 4)
        took = produce(bootstrap, sim.records)
        print(f"produced {len(sim.records):,} records in {took:.1f} s")
        settings = dataclasses.replace(config.load({"PARTNERPULSE_DATA_DIR": str(work)}), kafka=bootstrap,
                                       session_timeout=6.0)  # fmt: skip
        final = midnight_at_or_before(sim.end - timedelta(hours=1))
        t = time.perf_counter()
        with PipelineProcess(settings, work / "pipeline.log", {"PARTNERPULSE_SCORING": str(scoring)}) as running:
            while (last := running.status()["last_evaluated"]) is None or parse_iso(last) < final:
                time.sleep(0.5)
            alerts = running.get("/api/alerts", timeout=120)
        print(f"pipeline: stored and evaluated two years in {time.perf_counter() - t:.1f} s")
    episodes = [(a["partner_id"], a["kind"], parse_iso(a["fired_at"]),
                 parse_iso(a["resolved_at"]) if a["resolved_at"] else None) for a in alerts]  # fmt: skip
    client = connect(settings.clickhouse)
    try:
        rows = client.query(
            "SELECT partner_id, as_of, score, days_since_last, first_engagement_at, trend, baseline_minutes_30d "
            "FROM partner_health FINAL"
        ).result_rows
    finally:
        client.close()
    return episodes, [(p, aware(t), s, d, aware(f), tr, b) for p, t, s, d, f, tr, b in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sim = simulator.judged_population(args.partners, args.seed)
    last_engagement: dict[str, datetime] = {}
    for e in simulator.events_of(sim):
        if e["type"] != "partner.profile":
            at = parse_iso(e["time"])
            last_engagement[e["subject"]] = max(at, last_engagement.get(e["subject"], at))
    lapsed = sum(p.lapsed_at is not None for p in sim.partners)
    faded = sum(p.faded_at is not None for p in sim.partners)
    print(f"{args.partners} partners (seed {args.seed}), {sim.engagements:,} engagements over two years; "
          f"judged year from {sim.start + timedelta(days=365):%Y-%m-%d}: {lapsed} lapse, {faded} fade")  # fmt: skip
    with scratch("pp-early-") as work:
        episodes, snapshots = run_pipeline(sim, work)
    results = {"contract rules": judge(episodes, sim, last_engagement),
               "first rules": judge(first_rules(snapshots), sim, last_engagement)}  # fmt: skip
    print(f"\n{'':16}{'rhythm':>8}{'lapse→warning':>15}{'lapses caught':>15}{'fades caught':>14}")
    for name, r in results.items():
        for rhythm in simulator.RHYTHM_GROUPS:
            delays = r["delays"][rhythm]
            caught, total = r["lapses"][rhythm]
            f_caught, f_total = r["fades"][rhythm]
            median = f"{statistics.median(delays):.1f} d" if delays else "—"
            print(f"{name:16}{rhythm:>6.0f} d{median:>15}{f'{caught}/{total}':>15}{f'{f_caught}/{f_total}':>14}")
        all_delays = [d for ds in r["delays"].values() for d in ds]
        caught = sum(c for c, _ in r["lapses"].values()), sum(t for _, t in r["lapses"].values())
        f_caught = sum(c for c, _ in r["fades"].values()), sum(t for _, t in r["fades"].values())
        median = f"{statistics.median(all_delays):.1f} d" if all_delays else "—"
        print(f"{name:16}{'all':>8}{median:>15}{f'{caught[0]}/{caught[1]}':>15}{f'{f_caught[0]}/{f_caught[1]}':>14}\n")
    print(f"false alarms per 100 partner-months on partners that stayed ({results['first rules']['partner_months']:,} "
          "partner-months in the judged year):")  # fmt: skip
    for name, r in results.items():
        fa = r["false_alarms"]
        print(f"  {name:16} total {sum(fa.values()):5.1f}   " + "   ".join(f"{k} {fa[k]:.1f}" for k in WARNINGS))
    print(
        "goals: ≤ 5 false alarms per 100 partner-months; weekly lapses caught in ≤ 18 days median; "
        "every lapse and ≥ 85% of fades caught"
    )


if __name__ == "__main__":
    main()

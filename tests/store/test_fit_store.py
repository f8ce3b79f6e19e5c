"""Fit from stored profiles (real chDB): the latest profile with fit fields by event time,
`health` rows with fit, gaps and quadrant, and alert priority decided by the evaluation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import yaml

from streams.reporting.health_rows import health
from streams.rules.fit import DEFAULT_IDEAL, load_ideal, quadrant
from streams.rules.scoring import load_scoring
from streams.rules.watermark import midnights_between
from streams.store import profiles
from streams.store.alerts import read_alerts
from streams.store.evaluations import Evaluator
from streams.store.rows import Origin
from streams.store.writes import classify, write_batch
from tests import oracle
from tests.rules.test_alerts import EXPECTED, FINAL, FIRST

EVENTS = oracle.scenario()
RIGHT = {"business_model": "var", "employees": 80, "customer_segments": ["enterprise"],
         "certifications": ["storage-expert"], "specializations": ["data-protection"], "regions": ["emea"]}  # fmt: skip
WRONG = {"business_model": "distributor", "employees": 400}


def profile(pid: str, at: datetime, fields: dict, n: int) -> dict:
    return {"specversion": "1.0", "id": f"profile-{pid}-{n}", "source": "crm", "type": "partner.profile",
            "time": oracle._iso(at), "subject": pid, "data": {"name": pid.title(), **fields}}  # fmt: skip


def load(client, events) -> None:
    origin = Origin("engagement-events", 0, 0, datetime.now(UTC))
    write_batch(client, classify([(orjson.dumps(e), origin._replace(offset=i)) for i, e in enumerate(events)]))


def test_fit_in_health_follows_the_latest_profile_by_event_time(client):
    start = oracle.parse(EVENTS[0]["time"])
    later = start + timedelta(days=100)
    load(client, [
        *EVENTS,
        profile("steady", start, RIGHT, 1),
        profile("steady", later, {**RIGHT, "employees": 5}, 2),  # shrank below the must-have
        profile("steady", later + timedelta(days=1), {"tier": "gold"}, 3),  # no fit fields: changes nothing
        profile("decliner", start, WRONG, 1),
        profile("listener", start, {"tier": "silver"}, 1),  # a profile, but nothing about fit
    ])  # fmt: skip
    ideal = yaml.safe_load(DEFAULT_IDEAL.read_text())
    before = {r["partner_id"]: r for r in health(client, as_of=oracle._iso(later - timedelta(days=1)))}
    after = {r["partner_id"]: r for r in health(client, as_of=oracle._iso(later + timedelta(days=5)))}
    assert before["steady"]["fit"] == oracle.fit(RIGHT, ideal) == 100.0
    assert after["steady"]["fit"] == 0.0
    assert after["steady"]["fit_gaps"][0] == "must: employees is 5, wanted at least 10"
    assert after["decliner"]["fit"] == 0.0 and after["decliner"]["fit_gaps"][0].startswith("must: business_model is")
    for rows in (before, after):
        assert rows["listener"]["fit"] is None and rows["listener"]["quadrant"] is None
        assert rows["comeback"]["fit"] is None and rows["comeback"]["fit_gaps"] == []
        for r in rows.values():
            assert r["quadrant"] == quadrant(r["fit"], r["score"])
    invest = health(client, as_of=oracle._iso(later - timedelta(days=1)), quadrant="invest")
    assert all(r["quadrant"] == "invest" for r in invest)


def test_alerts_fired_for_a_right_partner_have_high_priority(client):
    load(client, [*EVENTS, profile("fader", FIRST, RIGHT, 1), profile("decliner", FIRST, WRONG, 1)])
    evaluator = Evaluator(load_scoring(), timedelta(hours=1), [], timedelta(seconds=30), load_ideal(DEFAULT_IDEAL))
    midnights = midnights_between(FIRST - timedelta(days=1), FINAL)
    for i in range(0, len(midnights), 30):
        evaluator.evaluate(client, midnights[i : i + 30])
    alerts = read_alerts(client)
    assert sorted((a["partner_id"], a["kind"], a["fired_at"][:10]) for a in alerts) == sorted(
        (p, k, oracle._iso(f)[:10]) for p, k, f, _ in EXPECTED
    )
    by_partner = {(a["partner_id"], a["priority"]) for a in alerts}
    assert {p for p, prio in by_partner if prio == "high"} == {"fader"}
    assert ("decliner", "normal") in by_partner


def test_fit_from_a_month_on_answers_as_the_whole_history_does(client):
    """A catch-up reads, of the profiles before its month, only each partner's latest: the
    last of those at the same time (by source and id), as the whole history answers."""
    start = oracle.parse(EVENTS[0]["time"])
    since, until = start + timedelta(days=60), start + timedelta(days=90)

    def at(pid, when, fields, n, source="crm"):
        return {**profile(pid, when, fields, n), "source": source}

    load(client, [
        at("steady", start, WRONG, 1), at("steady", start + timedelta(days=10), RIGHT, 2),
        at("steady", start + timedelta(days=10), WRONG, 3, source="erp"),  # same time: erp > crm, the last
        at("steady", since + timedelta(days=5), RIGHT, 4),  # within the month
        at("decliner", start, RIGHT, 1), at("decliner", start, WRONG, 2),  # same time and source: id 2 last
        at("fader", since + timedelta(days=20), RIGHT, 1),  # none before the month
    ])  # fmt: skip
    ideal = load_ideal(DEFAULT_IDEAL)
    whole = profiles.fit_history(client, until, ideal)
    from_month = profiles.fit_history(client, until, ideal, since=since)
    assert {p: len(times) for p, (times, _) in from_month.items()} == {"steady": 2, "decliner": 1, "fader": 1}
    for day in range(31):
        t = since + timedelta(days=day)
        assert profiles.as_of(from_month, t) == profiles.as_of(whole, t)
    assert profiles.as_of(from_month, since)["steady"].fit == 0.0  # erp's WRONG, not crm's RIGHT
    assert profiles.as_of(from_month, since)["decliner"].fit == 0.0
    assert profiles.as_of(from_month, since + timedelta(days=6))["steady"].fit == 100.0

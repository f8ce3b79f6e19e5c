"""A plain-Python reading of ../shared/CONTRACT.md §2–§3, written apart from the product
code, to check what the pipeline computes. Also generates varied, seeded events."""

from __future__ import annotations

import itertools
import math
import random
from datetime import UTC, datetime, timedelta

DAY = timedelta(days=1)
WEIGHTS = {
    ("partner.webinar", "host"): 1.5, ("partner.webinar", "cohost"): 1.25, ("partner.webinar", "attendee"): 1.0,
    ("partner.joint_event", "organizer"): 1.5, ("partner.joint_event", "speaker"): 1.25,
    ("partner.joint_event", "exhibitor"): 1.25, ("partner.joint_event", "participant"): 1.0,
}  # fmt: skip
TYPE_WEIGHTS = {"partner.solution": 2.0, "partner.meeting": 1.0, "partner.training": 0.75}
ROLES = {
    "partner.webinar": ("role", ["host", "cohost", "attendee"]),
    "partner.joint_event": ("role", ["organizer", "speaker", "exhibitor", "participant"]),
    "partner.solution": ("stage", ["proposed", "building", "launched"]),
    "partner.meeting": ("kind", ["business_review", "enablement", "planning", "other"]),
}


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def quality(event: dict) -> float:
    data = event["data"]
    role_field = ROLES.get(event["type"], ("", []))[0]
    w = WEIGHTS.get((event["type"], data.get(role_field))) or TYPE_WEIGHTS[event["type"]]
    return data["duration_minutes"] * w


def health(events: list[dict], t: datetime) -> dict[str, dict]:
    """Every metric, the score and the status per partner as of t."""
    by_partner: dict[str, list[dict]] = {}
    for e in events:
        if e["type"] != "partner.profile" and parse(e["time"]) <= t:
            by_partner.setdefault(e["subject"], []).append(e)
    out = {}
    for partner, evs in by_partner.items():

        def within(lo: timedelta, hi: timedelta, evs=evs):
            return [e for e in evs if t - lo < parse(e["time"]) <= t - hi]

        q30 = sum(map(quality, within(30 * DAY, 0 * DAY)))
        prev = sum(map(quality, within(60 * DAY, 30 * DAY)))
        base = sum(map(quality, within(120 * DAY, 30 * DAY))) / 3
        last90 = within(90 * DAY, 0 * DAY)
        n90 = len(last90)
        share = sum(e["data"]["initiated_by"] == "partner" for e in last90) / n90 if n90 else None
        types = len({e["type"] for e in last90})
        eco = len(
            {p for e in last90 if e["type"] == "partner.solution" for p in e["data"].get("ecosystem_partners", [])}
        )
        times = [parse(e["time"]) for e in evs]
        last, first = max(times), min(times)
        days = (t - last).total_seconds() / 86400
        qc, bc = min(q30, 600), min(base, 600)
        trend = (qc - bc) / max(bc, 1)
        comps = {
            "quality": min(1, q30 / 600),
            "recency": 0.5 ** (days / 14),
            "reciprocity": 0.0 if share is None else 1 - 2 * abs(share - 0.5),
            "breadth": (types / 5 + min(1, eco / 3)) / 2,
            "momentum": max(0, min(1, 0.5 + trend / 2)),
        }
        raw_score = sum(w * comps[c] for c, w in
                        {"quality": 40, "recency": 20, "reciprocity": 15, "breadth": 15, "momentum": 10}.items())  # fmt: skip
        score = round(raw_score + 1e-9, 1)
        # The partner's own rhythm: the 90th percentile of the gaps between engagement dates.
        dates = sorted({parse(e["time"]).date() for e in within(365 * DAY, 0 * DAY)})
        gaps = sorted((b - a).days for a, b in itertools.pairwise(dates))
        if len(gaps) < 3:
            gap = None
        else:
            pos = 0.9 * (len(gaps) - 1)
            lo = int(pos)
            gap = gaps[lo] + (pos - lo) * (gaps[min(lo + 1, len(gaps) - 1)] - gaps[lo])
        limit = 30 if gap is None else min(180, max(30, 3 * gap))
        n60 = len(within(60 * DAY, 0 * DAY))
        usual60 = len(within(240 * DAY, 60 * DAY)) / 3
        drop = None if usual60 < 3 else poisson_at_most(n60, usual60)
        if days >= limit:
            status = "disengaged"
        elif first > t - 30 * DAY:
            status = "new"
        elif score < 65 or trend <= -0.5:
            status = "at_risk"
        else:
            status = "healthy"
        out[partner] = {
            "quality_minutes_30d": q30, "quality_minutes_prev_30d": prev, "baseline_minutes_30d": base,
            "engagements_90d": n90, "last_engagement_at": last, "days_since_last": days,
            "partner_initiated_share": share, "distinct_types_90d": types, "ecosystem_partners_90d": eco,
            "first_engagement_at": first, "trend": trend, "components": comps, "score": score, "status": status,
            "usual_gap_days": gap, "silence_limit_days": limit, "engagements_60d": n60,
            "usual_engagements_60d": usual60, "drop_probability": drop,
        }  # fmt: skip
    return out


def poisson_at_most(k: int, mean: float) -> float:
    """P(N ≤ k), N ~ Poisson(mean), by its terms."""
    term = total = math.exp(-mean)
    for i in range(1, k + 1):
        term *= mean / i
        total += term
    return min(1.0, total)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def generate(seed: int = 7, partners: int = 12, start: datetime = datetime(2026, 3, 1, tzinfo=UTC),
             days: int = 200) -> list[dict]:  # fmt: skip
    """Varied partners: steady, fading, newcomers, one-sided, bursty; odd times included."""
    rng = random.Random(seed)
    events = []
    types = ["partner.webinar", "partner.joint_event", "partner.solution", "partner.meeting", "partner.training"]
    for p in range(partners):
        pid = f"p{p:02d}-{['steady', 'fader', 'newbie', 'listener', 'bursty', 'builder'][p % 6]}"
        kind = p % 6
        span_from = start + (timedelta(days=days - 25) if kind == 2 else timedelta())
        span_to = start + timedelta(days=days - (60 if kind == 1 else 0))
        n = rng.randint(15, 45)
        for i in range(n):
            at = span_from + (span_to - span_from) * rng.random()
            at = at.replace(microsecond=rng.randrange(1000) * 1000)
            if i % 10 == 0:
                at = at.replace(hour=0, minute=0, second=0, microsecond=0)  # exactly on a midnight
            type_ = rng.choice(types[2:3] if kind == 5 and i % 2 else types)
            data = {"duration_minutes": rng.choice([15, 30, 45, 60, 90, 120, 240, 0.5]),
                    "initiated_by": "vendor" if kind == 3 else rng.choice(["partner", "vendor"])}  # fmt: skip
            if type_ in ROLES:
                field, values = ROLES[type_]
                data[field] = rng.choice(values)
            if type_ == "partner.solution":
                data["solution_id"] = f"sol-{p}-{i % 3}"
                data["ecosystem_partners"] = rng.sample(
                    ["isv-a", "isv-b", "tech-c", "tech-d", "si-e"], rng.randint(0, 3)
                )
                data["duration_minutes"] = rng.choice([0, 60, 600, 2400])
            if type_ == "partner.training":
                data["course"] = "Course " + str(i % 4)
            events.append({"specversion": "1.0", "id": f"{pid}-{i}", "source": "test/oracle", "type": type_,
                           "time": _iso(at), "subject": pid, "data": data})  # fmt: skip
    events.sort(key=lambda e: e["time"])
    return events


KINDS = ("quiet", "disengaged", "declining", "one_sided")


def _quiet(h: dict) -> bool:
    gap = h["usual_gap_days"]
    return h["status"] != "new" and gap is not None and h["days_since_last"] >= max(7, 2 * gap)


def _fires(kind: str, h: dict) -> bool:
    share = h["partner_initiated_share"]
    if kind == "quiet":
        return _quiet(h)
    if kind == "disengaged":
        return h["status"] == "disengaged"
    if kind == "declining":
        return h["status"] != "new" and h["drop_probability"] is not None and h["drop_probability"] < 0.05
    return h["engagements_90d"] >= 6 and share is not None and (share <= 0.2 or share >= 0.8)


def _resolves(kind: str, h: dict) -> bool:
    share = h["partner_initiated_share"]
    if kind == "quiet":
        return not _quiet(h)
    if kind == "disengaged":
        return h["status"] != "disengaged" and h["score"] >= 45
    if kind == "declining":
        return h["drop_probability"] is None or h["drop_probability"] > 0.25
    return h["engagements_90d"] < 6 or (share is not None and 0.3 <= share <= 0.7)


def episodes(events: list[dict], first: datetime, last: datetime) -> list[tuple[str, str, datetime, datetime | None]]:
    """(partner, kind, fired_at, resolved_at) from evaluating §4 at every midnight in [first, last]."""
    open_: dict[tuple[str, str], datetime] = {}
    out = []
    m = first
    while m <= last:
        for partner, h in health(events, m).items():
            for kind in KINDS:
                if (partner, kind) in open_:
                    if _resolves(kind, h):
                        out.append((partner, kind, open_.pop((partner, kind)), m))
                elif _fires(kind, h):
                    open_[(partner, kind)] = m
        m += DAY
    out.extend((p, k, fired, None) for (p, k), fired in open_.items())
    return sorted(out)


def scenario(seed: int = 11, start: datetime = datetime(2026, 1, 5, tzinfo=UTC), days: int = 240) -> list[dict]:
    """Partners with a story: steady, fading out, coming back, only listening, declining."""
    rng = random.Random(seed)
    events = []

    def add(pid: str, at: datetime, type_: str, minutes: float, by: str, **data) -> None:
        at = at.replace(microsecond=rng.randrange(1000) * 1000)
        events.append({"specversion": "1.0", "id": f"{pid}-{len(events)}", "source": "test/scenario",
                       "type": type_, "time": _iso(at), "subject": pid,
                       "data": {"duration_minutes": minutes, "initiated_by": by, **data}})  # fmt: skip

    for day in range(days):
        at = start + timedelta(days=day, hours=rng.randint(8, 17), minutes=rng.randint(0, 59))
        if day % 3 == 0:  # steady: balanced, varied, every third day
            add("steady", at, rng.choice(["partner.meeting", "partner.training"]), 90, ["partner", "vendor"][day % 2],
                kind="planning", course="c")  # fmt: skip
        if day % 4 == 0 and day < 110:  # fader: engaged, then silent from day 110
            add("fader", at, "partner.webinar", 120, ["partner", "vendor"][(day // 4) % 2], role="host")
        if day % 4 == 1 and not 80 <= day < 140:  # comeback: silent for 60 days, then back
            add("comeback", at, "partner.joint_event", 150, ["partner", "vendor"][(day // 4) % 2], role="organizer")
        if day % 5 == 2:  # listener: only attends what the vendor organises
            add("listener", at, "partner.webinar", 60, "vendor", role="attendee")
        if day % (8 if 120 <= day < 190 else 2) == 0:  # decliner: a quarter of its rate from day 120 to 190
            minutes = 150
            add(
                "decliner",
                at,
                "partner.meeting",
                minutes,
                ["partner", "vendor"][(day // 2) % 2],
                kind="business_review",
            )
    return sorted(events, key=lambda e: e["time"])


def fit(profile: dict | None, ideal: dict) -> float | None:
    """§8 from the ideal partner file as plain YAML data (not the product's parser)."""
    if not profile:
        return None

    def holds(c: dict) -> bool:
        have = profile.get(c["field"])
        if have is None:
            return False
        if "at_least" in c:
            return have >= c["at_least"]
        if "at_most" in c:
            return have <= c["at_most"]
        if "in" in c:
            return have in c["in"]
        if "includes" in c:
            return c["includes"] in have
        return any(v in have for v in c["overlaps"])

    if not all(holds(c) for c in ideal.get("must_have") or []):
        return 0.0
    nice = ideal.get("nice_to_have") or []
    total = sum(c.get("weight", 1) for c in nice)
    if not total:
        return 100.0
    share = 100 * sum(c.get("weight", 1) for c in nice if holds(c)) / total
    return math.floor(share * 10 + 0.5 + 1e-9) / 10

"""A realistic, seeded partner population: the demo's data, also used by tests and
benchmarks. Pure: it returns records, it sends nothing.

Archetypes: steady partners, faders who go quiet, comebacks after a silence,
listeners who only attend what the vendor organises (one-sided), newcomers, ecosystem
builders who co-build solutions with app/tech partners, sporadic ones and decliners.
A sprinkle of duplicates, late events and malformed records comes on top.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson

ARCHETYPES = ("steady", "fader", "comeback", "listener", "newcomer", "builder", "sporadic", "decliner")
_FIRST = ["Acme", "Northwind", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne",
          "Soylent", "Hooli", "Vandelay", "Pied Piper", "Aperture", "Oscorp", "Gringotts", "Monarch", "Nakatomi",
          "Dunder", "Prestige", "Massive", "Virtucon", "Gekko", "Blue Sun", "Zorg", "Ollivander", "Duff", "Krusty",
          "Sirius", "Altair", "Vega", "Orion", "Lyra", "Cygnus", "Draco", "Polaris", "Rigel", "Deneb", "Antares"]  # fmt: skip
_SECOND = ["Reseller", "Systems", "Partners", "IT Services", "Solutions", "Consulting", "Networks", "Digital",
           "Cloud", "Integrators"]  # fmt: skip
_ECOSYSTEM = ["datadog-isv", "snowflake-tech", "okta-isv", "twilio-tech", "hashicorp-isv", "elastic-tech",
              "mongodb-isv", "stripe-tech"]  # fmt: skip
_MANAGERS = ["Dana Whit", "Lee Park", "Ravi Rao", "Sofia Lind", "Marco Bell"]


@dataclass(frozen=True)
class Simulated:
    partner_id: str
    name: str
    archetype: str


@dataclass
class Simulation:
    records: list[tuple[bytes | None, bytes]]  # (key, value) in send order
    partners: list[Simulated]
    start: datetime
    end: datetime
    engagements: int = 0  # distinct valid engagement events
    duplicates: int = 0
    late: int = 0
    malformed: int = 0
    by_archetype: dict[str, list[str]] = field(default_factory=dict)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


class _Partner:
    def __init__(self, rng: random.Random, index: int, archetype: str, start: datetime, days: int):
        self.rng, self.archetype, self.start, self.days = rng, archetype, start, days
        first = _FIRST[index % len(_FIRST)]
        self.name = f"{first} {rng.choice(_SECOND)}"
        self.partner_id = f"{first.lower().replace(' ', '-')}-{index:03d}"

    def active(self, day: int) -> bool:
        a, d = self.archetype, self.days
        if a == "fader":
            return day < d * 0.6
        if a == "comeback":
            return not (d * 0.35 <= day < d * 0.35 + 50)
        if a == "newcomer":
            return day >= d - 20
        return True

    def rate(self, day: int) -> float:
        """Expected engagements per day."""
        a, d = self.archetype, self.days
        return {
            "steady": 0.3, "fader": 0.3, "comeback": 0.3, "listener": 0.25, "newcomer": 0.5,
            "builder": 0.35, "sporadic": 0.05, "decliner": 0.45 if day < d * 0.6 else 0.12,
        }[a]  # fmt: skip

    def engagement(self, at: datetime, n: int) -> dict:
        rng, a = self.rng, self.archetype
        by = "vendor" if a == "listener" else rng.choice(["partner", "vendor"])
        if a == "listener":
            type_ = rng.choice(["partner.webinar", "partner.webinar", "partner.joint_event", "partner.training"])
        elif a == "builder" and rng.random() < 0.35:
            type_ = "partner.solution"
        else:
            type_ = rng.choices(
                ["partner.webinar", "partner.joint_event", "partner.meeting", "partner.training", "partner.solution"],
                weights=[4, 1, 4, 2, 0.5],
            )[0]
        if type_ == "partner.webinar":
            role = "attendee" if a == "listener" else rng.choice(["host", "cohost", "attendee"])
            data = {"role": role, "duration_minutes": rng.choice([30, 45, 60, 60, 90]), "attendees": rng.randint(8, 300),
                    "title": rng.choice(["Zero trust in 30 minutes", "Q3 roadmap", "Cloud cost clinic", "AI for SMBs"])}  # fmt: skip
        elif type_ == "partner.joint_event":
            role = (
                "participant" if a == "listener" else rng.choice(["organizer", "speaker", "exhibitor", "participant"])
            )
            data = {"role": role, "duration_minutes": rng.choice([120, 240, 480]), "leads": rng.randint(0, 60),
                    "event_name": rng.choice(["IT Expo", "Cloud Summit", "Partner Day", "Security Forum"])}  # fmt: skip
        elif type_ == "partner.solution":
            data = {"solution_id": f"{self.partner_id}-sol-{n % 3}", "stage": rng.choice(["proposed", "building", "launched"]),
                    "duration_minutes": rng.choice([300, 600, 1200, 2400]),
                    "ecosystem_partners": rng.sample(_ECOSYSTEM, rng.randint(1, 3) if a == "builder" else 1)}  # fmt: skip
        elif type_ == "partner.meeting":
            data = {"kind": rng.choice(["business_review", "enablement", "planning", "other"]),
                    "duration_minutes": rng.choice([30, 45, 60, 90])}  # fmt: skip
        else:
            data = {"course": rng.choice(["Security Specialist", "Platform Admin", "Sales Essentials"]),
                    "duration_minutes": rng.choice([60, 120, 240]), "certified": rng.random() < 0.4}  # fmt: skip
        data["initiated_by"] = by
        return {
            "specversion": "1.0", "id": f"sim-{self.partner_id}-{n}", "source": _SOURCES[type_], "type": type_,
            "time": _iso(at), "subject": self.partner_id, "datacontenttype": "application/json", "data": data,
        }  # fmt: skip


_SOURCES = {
    "partner.webinar": "zoom/webinars", "partner.joint_event": "events/hub", "partner.solution": "crm/solutions",
    "partner.meeting": "crm/activities", "partner.training": "lms/courses",
}  # fmt: skip


def simulate(partners: int = 40, days: int = 180, seed: int = 7, end: datetime | None = None) -> Simulation:
    rng = random.Random(seed)
    end = (end or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    start = end - timedelta(days=days)
    population = [_Partner(rng, i, ARCHETYPES[i % len(ARCHETYPES)], start, days) for i in range(partners)]
    events: list[dict] = []
    for p in population:
        n = 0
        for day in range(days):
            if not p.active(day):
                continue
            for _ in range(_poisson(rng, p.rate(day))):
                at = start + timedelta(
                    days=day, seconds=rng.randint(8 * 3600, 18 * 3600), milliseconds=rng.randint(0, 999)
                )
                if at <= end:
                    events.append(p.engagement(at, n))
                    n += 1
    events.sort(key=lambda e: e["time"])

    profiles = []
    for p in population:
        profile = {"specversion": "1.0", "id": f"sim-profile-{p.partner_id}", "source": "crm/accounts",
                   "type": "partner.profile", "time": _iso(start), "subject": p.partner_id,
                   "data": {"name": p.name, "tier": rng.choice(["platinum", "gold", "gold", "silver", "registered"]),
                            "region": rng.choice(["EMEA", "NA", "APAC", "LATAM"]),
                            "segment": rng.choice(["smb", "mid-market", "enterprise"]),
                            "account_manager": rng.choice(_MANAGERS)}}  # fmt: skip
        profiles.append(profile)

    sim = Simulation(records=[], partners=[Simulated(p.partner_id, p.name, p.archetype) for p in population],
                     start=start, end=end, engagements=len(events))  # fmt: skip
    for p in population:
        sim.by_archetype.setdefault(p.archetype, []).append(p.partner_id)

    # Send order: event time with a jitter well inside the allowed lateness (1 h); a few
    # events held back and sent at the very end (late); some re-sent (duplicates).
    late_ids = {e["id"] for e in rng.sample(events, max(1, len(events) // 100))} if events else set()
    on_time = [e for e in events if e["id"] not in late_ids]
    keyed = sorted(on_time, key=lambda e: e["time"][:19] + f"{rng.randint(0, 20):02d}")
    stream = [(p["subject"].encode(), orjson.dumps(p)) for p in profiles]
    for e in keyed:
        raw = orjson.dumps(e)
        stream.append((e["subject"].encode(), raw))
        if rng.random() < 0.02:
            stream.append((e["subject"].encode(), raw))
            sim.duplicates += 1
        if rng.random() < 0.01:
            stream.append((e["subject"].encode(), _malformed(rng, e)))
            sim.malformed += 1
    for e in events:
        if e["id"] in late_ids:
            stream.append((e["subject"].encode(), orjson.dumps(e)))
            sim.late += 1
    sim.records = stream
    return sim


def _malformed(rng: random.Random, event: dict) -> bytes:
    """A broken copy of a real event, as a misconfigured exporter would send it."""
    broken = orjson.loads(orjson.dumps(event))
    broken["id"] = broken["id"] + "-bad"
    kind = rng.randrange(5)
    if kind == 0:
        broken["data"]["duration_minutes"] = 0 if broken["type"] != "partner.solution" else -1
    elif kind == 1:
        broken["time"] = broken["time"][:10]  # a date, no time
    elif kind == 2:
        del broken["data"]["initiated_by"]
    elif kind == 3:
        broken["subject"] = broken["subject"] + " (EMEA)"
    else:
        return orjson.dumps(broken)[:-7]  # truncated JSON
    return orjson.dumps(broken)


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method: fine for the small rates used here.
    limit, k, p = pow(2.718281828459045, -lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def events_of(sim: Simulation) -> list[dict]:
    """The distinct valid events of a simulation (what should end up stored)."""
    from streams.rules.validation import Accepted, validate

    seen, out = set(), []
    for _, raw in sim.records:
        result = validate(raw)
        if isinstance(result, Accepted) and (result.event["source"], result.event["id"]) not in seen:
            seen.add((result.event["source"], result.event["id"]))
            out.append(result.event)
    return out

"""A realistic, seeded partner population: the demo's data, also used by tests and
benchmarks. Pure: it returns records, it sends nothing.

Each partner has a rhythm: engagements come every ~N days (gamma-distributed gaps,
neither clockwork nor pure chance), with natural pauses in summer and at year-end.
Archetypes: steady partners, faders who lapse for good, comebacks after a silence,
listeners who only attend what the vendor organises (one-sided), newcomers, ecosystem
builders who co-build solutions with app/tech partners, sporadic ones and decliners
who fade to a third of their rate. The ground truth (rhythm, when a partner lapsed or
began to fade) comes with each partner. A sprinkle of duplicates, late events and
malformed records comes on top.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson

from streams.formats import json_bytes

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
    rhythm_days: float  # the mean gap between its engagements, before any fade
    lapsed_at: datetime | None = None  # it stopped for good from then (ground truth)
    faded_at: datetime | None = None  # it engages at a third of its rate from then


# Mean days between engagements, by archetype.
_RHYTHMS = {"steady": 5.0, "fader": 5.0, "comeback": 4.0, "listener": 5.0, "newcomer": 2.0, "builder": 3.5,
            "sporadic": 21.0, "decliner": 3.0}  # fmt: skip
# Natural pauses: (month, day) to (month, day), inclusive; few engagements then.
PAUSES = (((8, 1), (8, 18)), ((12, 22), (1, 4)))
PAUSE_KEEP = 0.4  # the share of engagements that still happen in a pause
GAP_SHAPE = 4.0  # gamma shape of the gaps: coefficient of variation 0.5


def in_pause(t: datetime) -> bool:
    md = (t.month, t.day)
    return any(start <= md <= end if start <= end else (md >= start or md <= end) for start, end in PAUSES)


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
    def __init__(self, rng: random.Random, index: int, archetype: str, start: datetime, days: int,
                 rhythm: float | None = None, lapse_day: float | None = None, fade_day: float | None = None):  # fmt: skip
        self.rng, self.archetype, self.start, self.days = rng, archetype, start, days
        first = _FIRST[index % len(_FIRST)]
        self.name = f"{first} {rng.choice(_SECOND)}"
        self.partner_id = f"{first.lower().replace(' ', '-')}-{index:03d}"
        self.rhythm = rhythm or _RHYTHMS[archetype]
        self.lapse_day = lapse_day if lapse_day is not None else days * 0.6 if archetype == "fader" else None
        self.fade_day = fade_day if fade_day is not None else days * 0.6 if archetype == "decliner" else None

    def active(self, day: int) -> bool:
        a, d = self.archetype, self.days
        if self.lapse_day is not None and day >= self.lapse_day:
            return False
        if a == "comeback":
            return not (d * 0.35 <= day < d * 0.35 + 50)
        if a == "newcomer":
            return day >= d - 20
        return True

    def gap(self, day: int) -> float:
        """Days until the next engagement, drawn around this partner's rhythm."""
        faded = self.fade_day is not None and day >= self.fade_day
        return self.rng.gammavariate(GAP_SHAPE, self.rhythm * (3 if faded else 1) / GAP_SHAPE)

    def truth(self) -> Simulated:
        def at(day: float | None) -> datetime | None:
            return None if day is None else self.start + timedelta(days=day)

        return Simulated(self.partner_id, self.name, self.archetype, self.rhythm, lapsed_at=at(self.lapse_day),
                         faded_at=at(self.fade_day))  # fmt: skip

    def engagement(self, at: datetime, n: int) -> dict:
        rng, a = self.rng, self.archetype
        # Partners take turns with the vendor, mostly: a relationship, not a coin toss.
        by = "vendor" if a == "listener" else ("partner", "vendor")[(n + (rng.random() < 0.25)) % 2]
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
    """The demo's population: the archetypes in turn, with noise on top."""
    rng = random.Random(seed)
    end = (end or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    start = end - timedelta(days=days)
    population = [_Partner(rng, i, ARCHETYPES[i % len(ARCHETYPES)], start, days) for i in range(partners)]
    return _simulation(rng, population, start, end, noise=True)


RHYTHM_GROUPS = (5.0, 10.0, 21.0, 45.0)


def judged_population(partners: int = 400, seed: int = 1, end: datetime | None = None) -> Simulation:
    """Two years for judging alert rules (benchmarks/early_warning.py): a year of history,
    then a judged year. Partners engage every ~5, 10, 21 or 45 days with the natural
    pauses; in the first half of the judged year 15% lapse for good and 15% fade to a third
    of their rate, at a random day (so that even a 45-day partner's silence can be judged
    before the year ends; the ground truth is in `Simulation.partners`); the rest stay."""
    rng = random.Random(seed)
    days = 730
    end = (end or datetime(2026, 11, 1, tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)
    start = end - timedelta(days=days)
    population = []
    for i in range(partners):
        fate = rng.random()
        when = rng.uniform(365, 365 + 182)
        population.append(_Partner(rng, i, "steady", start, days, rhythm=RHYTHM_GROUPS[i % len(RHYTHM_GROUPS)],
                                   lapse_day=when if fate < 0.15 else None,
                                   fade_day=when if 0.15 <= fate < 0.30 else None))  # fmt: skip
    return _simulation(rng, population, start, end, noise=False)


def _simulation(rng: random.Random, population: list[_Partner], start: datetime, end: datetime,
                noise: bool) -> Simulation:  # fmt: skip
    events: list[dict] = []
    for p in population:
        events += _engagements(rng, p, start, end)
    events.sort(key=lambda e: e["time"])
    profiles = [_profile(rng, p, start) for p in population]
    sim = Simulation(records=[], partners=[p.truth() for p in population], start=start, end=end,
                     engagements=len(events))  # fmt: skip
    for p in population:
        sim.by_archetype.setdefault(p.archetype, []).append(p.partner_id)
    stream = [(p["subject"].encode(), json_bytes(p)) for p in profiles]
    if not noise:
        sim.records = stream + [(e["subject"].encode(), json_bytes(e)) for e in events]
        return sim
    # Send order: event time with a jitter well inside the allowed lateness (1 h); a few
    # events held back and sent at the very end (late); some re-sent (duplicates).
    late_ids = {e["id"] for e in rng.sample(events, max(1, len(events) // 100))} if events else set()
    on_time = [e for e in events if e["id"] not in late_ids]
    keyed = sorted(on_time, key=lambda e: e["time"][:19] + f"{rng.randint(0, 20):02d}")
    for e in keyed:
        raw = json_bytes(e)
        stream.append((e["subject"].encode(), raw))
        if rng.random() < 0.02:
            stream.append((e["subject"].encode(), raw))
            sim.duplicates += 1
        if rng.random() < 0.01:
            stream.append((e["subject"].encode(), _malformed(rng, e)))
            sim.malformed += 1
    for e in events:
        if e["id"] in late_ids:
            stream.append((e["subject"].encode(), json_bytes(e)))
            sim.late += 1
    sim.records = stream
    return sim


def _profile(rng: random.Random, p: _Partner, start: datetime) -> dict:
    return {"specversion": "1.0", "id": f"sim-profile-{p.partner_id}", "source": "crm/accounts",
            "type": "partner.profile", "time": _iso(start), "subject": p.partner_id,
            "data": {"name": p.name, "tier": rng.choice(["platinum", "gold", "gold", "silver", "registered"]),
                     "region": rng.choice(["EMEA", "NA", "APAC", "LATAM"]),
                     "segment": rng.choice(["smb", "mid-market", "enterprise"]),
                     "account_manager": rng.choice(_MANAGERS), **_fit_fields(p)}}  # fmt: skip


def _fit_fields(p: _Partner) -> dict:
    """The profile's fit fields (§8): about half the partners close to the default ideal
    partner (schemas/ideal_partner.yaml), half far from it, independent of how engaged
    they are, so all four quadrants fill. Their own random stream: the engagements and the
    noise stay what they were for a seed."""
    r = random.Random(f"fit-{p.partner_id}")
    if r.random() < 0.55:
        return {"employees": r.choice([25, 60, 120, 400]), "business_model": r.choice(["var", "msp", "si", "reseller"]),
                "customer_segments": r.sample(["midmarket", "enterprise", "public", "smb"], 2),
                "regions": r.sample(["emea", "dach", "nordics", "na"], 2),
                "certifications": ["storage-expert"] if r.random() < 0.8 else ["backup-associate"],
                "specializations": r.sample(["data-protection", "cloud-migration", "networking", "security"], 2)}  # fmt: skip
    return {"employees": r.choice([3, 8, 40]), "business_model": r.choice(["distributor", "reseller", "isv", "other"]),
            "customer_segments": ["smb"], "regions": [r.choice(["latam", "apac", "na"])], "certifications": [],
            "specializations": [r.choice(["networking", "security"])]}  # fmt: skip


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


def _engagements(rng: random.Random, p: _Partner, start: datetime, end: datetime) -> list[dict]:
    """One partner's engagements: a renewal process at its rhythm, within its active
    days, thinned in the natural pauses, each at a working hour."""
    out = []
    t = start + timedelta(days=rng.uniform(0, p.rhythm))
    while t <= end:
        day = (t - start).days
        if p.active(day) and (not in_pause(t) or rng.random() < PAUSE_KEEP):
            at = datetime.combine(t.date(), datetime.min.time(), UTC) + timedelta(
                seconds=rng.randint(8 * 3600, 18 * 3600), milliseconds=rng.randint(0, 999)
            )
            if at <= end:
                out.append(p.engagement(at, len(out)))
        t += timedelta(days=p.gap(day))
    return out


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

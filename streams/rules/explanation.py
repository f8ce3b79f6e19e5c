"""Why did the score move (../shared/CONTRACT.md §7): the score's change split by
component, and the sentences a channel manager reads first.

Pure: it takes the two assessments (T0 and T), the engagements that entered or left the
30-day window and the partner's alert transitions, all computed elsewhere."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from streams.formats import iso
from streams.rules.scoring import COMPONENTS, Health, Scoring

MAX_DRIVERS = 20
# A contribution smaller than this is not named in the summary.
WORTH_SAYING = 0.05
NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


@dataclass(frozen=True)
class Driver:
    """An engagement that entered the window (T−30d, T] or left it since (T0−30d, T0]."""

    id: str
    source: str
    type: str
    time: datetime
    quality_minutes: float
    effect: str  # entered | left


@dataclass(frozen=True)
class Transition:
    kind: str
    transition: str  # fired | resolved
    at: datetime
    priority: str


def links(partner: str, as_of: datetime) -> dict[str, str]:
    """How to ask why `partner`'s score is where it is at `as_of` (the 30 days before it):
    the command line, and the path on a running pipeline's read API. Alerts carry them."""
    return {
        "command": f"partnerpulse explain {partner} --as-of {iso(as_of)}",
        "api": "/api/explain?" + urlencode({"partner": partner, "as_of": iso(as_of)}),
    }


def contributions(then: Health | None, now: Health, scoring: Scoring) -> dict[str, float]:
    """Each component's weight × (now − then), in score points (then absent: from zero)."""
    weights = scoring.raw["score_weights"]
    before = then.components if then is not None else dict.fromkeys(COMPONENTS, 0.0)
    return {c: round(weights[c] * (now.components[c] - before[c]), 2) for c in COMPONENTS}


def ranked(drivers: list[Driver]) -> list[Driver]:
    """Largest quality minutes first, at most MAX_DRIVERS; ties: newest first."""
    ordered = sorted(drivers, key=lambda d: (-d.quality_minutes, -d.time.timestamp(), d.source, d.id))
    return ordered[:MAX_DRIVERS]


def _date(t: datetime, year_of: datetime) -> str:
    return t.strftime("%-d %b") if t.year == year_of.year else t.strftime("%-d %b %Y")


def _count(n: int) -> str:
    return NUMBER_WORDS[n] if n < len(NUMBER_WORDS) else f"{n:,}"


def _things(drivers: list[Driver], adjective: str = "") -> str:
    """ "three webinars", "one new meeting", "four engagements" (mixed types)."""
    types = {d.type for d in drivers}
    noun = next(iter(types)).removeprefix("partner.").replace("_", " ") if len(types) == 1 else "engagement"
    return f"{_count(len(drivers))} {adjective}{noun}{'' if len(drivers) == 1 else 's'}"


def _quality_reason(drivers: list[Driver]) -> str:
    entered = [d for d in drivers if d.effect == "entered"]
    left = [d for d in drivers if d.effect == "left"]
    if left and not entered:
        return f"{_things(left)} left the window, nothing new"
    if entered and not left:
        return f"{_things(entered, 'new ')}, none left the window"
    if not entered and not left:
        return "the same engagements in the window"
    return f"{_things(entered, 'new ')}, {_things(left)} left the window"


def _reason(component: str, then: Health | None, now: Health, drivers: list[Driver]) -> str:
    m = now.metrics
    if component == "quality":
        return _quality_reason(drivers)
    if component == "recency":
        days = f"silent {m.days_since_last:.0f} days"
        usual = m.usual_gap_days
        return days + (f", usually every {usual:.0f}" if usual is not None else "")
    if component == "reciprocity":
        share = m.partner_initiated_share
        before = then.metrics.partner_initiated_share if then is not None else None
        shown = [f"{s:.0%}" if s is not None else "none" for s in (before, share)]
        return f"partner-initiated {shown[0]} → {shown[1]}"
    if component == "breadth":
        types = then.metrics.distinct_types_90d if then is not None else 0
        partners = then.metrics.ecosystem_partners_90d if then is not None else 0
        return (f"engagement types {types} → {m.distinct_types_90d} of 5, "
                f"ecosystem partners {partners} → {m.ecosystem_partners_90d}")  # fmt: skip
    before = f"{then.trend:+.2f}" if then is not None else "none"
    return f"trend {before} → {now.trend:+.2f}"


def summary(
    then: Health | None,
    now: Health,
    parts: dict[str, float],
    drivers: list[Driver],
    transitions: list[Transition],
    since: datetime,
) -> str:
    """One or two sentences: the score's move and its two largest causes, then the alerts."""
    when = _date(since, now.metrics.as_of)
    if then is None:
        first = (f"New since {when}: no engagement before then; score now {now.score:.1f} "
                 f"({now.status.replace('_', ' ')}).")  # fmt: skip
    else:
        named = sorted((c for c in parts if abs(parts[c]) >= WORTH_SAYING), key=lambda c: -abs(parts[c]))[:2]
        labels = {"quality": "quality time"}
        causes = ", ".join(f"{labels.get(c, c)} {parts[c]:+.1f} ({_reason(c, then, now, drivers)})" for c in named)
        move = f"Score {then.score:.1f} → {now.score:.1f} since {when}"
        first = f"{move}: {causes}." if causes else f"{move}: no component moved it by {WORTH_SAYING} points or more."
    if not transitions:
        return _minus(first)
    said = "; ".join(f"{t.kind.replace('_', '-')} {t.transition} {_date(t.at, now.metrics.as_of)}" for t in transitions)
    return _minus(f"{first} Alerts: {said}.")


def _minus(text: str) -> str:
    """Signed numbers with a real minus sign, as people write them."""
    return re.sub(r"(^|[ (])-(?=\d)", "\\1−", text)


def explanation(
    then: Health | None,
    now: Health,
    drivers: list[Driver],
    transitions: list[Transition],
    since: datetime,
    scoring: Scoring,
) -> dict[str, Any]:
    """Everything of §7 but the two health objects (the caller renders those)."""
    parts = contributions(then, now, scoring)
    in_order = sorted(transitions, key=lambda t: (t.at, t.kind, t.transition))
    return {
        "score_delta": round(now.score - (then.score if then is not None else 0.0), 1),
        "contributions": parts,
        "drivers": ranked(drivers),
        "alerts": in_order,
        "summary": summary(then, now, parts, drivers, in_order, since),
    }

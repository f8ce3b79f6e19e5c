"""Alert rules of ../shared/CONTRACT.md §4 (pure).

At each evaluated midnight, a partner's health and its open episodes give the
transitions: which kinds fire, which resolve. Firing and resolving thresholds differ on
purpose (hysteresis) and exclude each other, so re-evaluating a midnight is harmless.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from streams.formats import iso, iso_or_none
from streams.rules.explanation import links
from streams.rules.fit import priority
from streams.rules.scoring import Health, Scoring

KINDS = ("quiet", "disengaged", "declining", "one_sided")
_NAMESPACE = uuid.UUID("6f1c1f0e-9a55-4c39-8d0e-70a27b8e5c11")


@dataclass(frozen=True)
class Transition:
    partner_id: str
    kind: str
    state: str  # "firing" or "resolved"
    at: datetime  # the midnight whose evaluation decided it
    reason: str


def alert_id(partner_id: str, kind: str, fired_at: datetime) -> str:
    """Deterministic: the same episode always has the same id (re-evaluation is idempotent)."""
    return str(uuid.uuid5(_NAMESPACE, f"{partner_id}\x1f{kind}\x1f{fired_at.isoformat()}"))


def quiet_after(h: Health, s: Scoring) -> float | None:
    """Days of silence after which this partner is quiet; None without a rhythm."""
    gap = h.metrics.usual_gap_days
    if gap is None:
        return None
    return max(s.alert_rule("quiet", "min_days"), s.alert_rule("quiet", "gap_factor") * gap)


def _is_quiet(h: Health, s: Scoring) -> bool:
    after = quiet_after(h, s)
    return h.status != "new" and after is not None and h.metrics.days_since_last >= after


def fires(kind: str, h: Health, s: Scoring) -> bool:
    m = h.metrics
    if kind == "quiet":
        return _is_quiet(h, s)
    if kind == "disengaged":
        return h.status == "disengaged"
    if kind == "declining":
        return (
            h.status != "new"
            and h.drop_probability is not None
            and h.drop_probability < s.alert_rule("declining", "fire_probability_below")
        )
    share = m.partner_initiated_share
    return (
        m.engagements_90d >= s.alert_rule("one_sided", "min_engagements")
        and share is not None
        and (
            share <= s.alert_rule("one_sided", "fire_share_at_most")
            or share >= s.alert_rule("one_sided", "fire_share_at_least")
        )
    )


def resolves(kind: str, h: Health, s: Scoring) -> bool:
    m = h.metrics
    if kind == "quiet":
        return not _is_quiet(h, s)
    if kind == "disengaged":
        return h.status != "disengaged" and h.score >= s.alert_rule("disengaged", "resolve_score_at_least")
    if kind == "declining":
        return h.drop_probability is None or h.drop_probability > s.alert_rule("declining", "resolve_probability_above")
    share = m.partner_initiated_share
    return m.engagements_90d < s.alert_rule("one_sided", "min_engagements") or (
        share is not None
        and s.alert_rule("one_sided", "resolve_share_from") <= share <= s.alert_rule("one_sided", "resolve_share_to")
    )


def _days(value: float) -> str:
    n = round(value)
    return f"{n} day" if n == 1 else f"{n} days"


def _chance(p: float) -> str:
    return "under 1%" if p < 0.005 else f"{p:.0%}"


def reason(kind: str, h: Health) -> str:
    """Why, in a sentence a channel manager can act on, with its numbers."""
    m = h.metrics
    gap = m.usual_gap_days
    if kind == "quiet":
        return f"usually every {_days(gap)}, silent for {_days(m.days_since_last)} — reach out"
    if kind == "disengaged":
        usual = f"usually every {_days(gap)}" if gap is not None else "no usual rhythm yet"
        return (f"no engagement for {_days(m.days_since_last)} ({usual}; counts as disengaged after "
                f"{_days(h.silence_limit_days)})")  # fmt: skip
    if kind == "declining":
        return (f"{m.engagements_60d} engagements in 60 days where {m.usual_engagements_60d:.0f} are usual: "
                f"{_chance(h.drop_probability)} likely by chance")  # fmt: skip
    share = m.partner_initiated_share or 0.0
    side = "the partner" if share >= 0.5 else "the vendor"
    return f"{max(share, 1 - share):.0%} of {m.engagements_90d} engagements in 90 days started by {side}"


def resolved_reason(kind: str, h: Health) -> str:
    m = h.metrics
    if kind == "quiet":
        if m.usual_gap_days is None:
            return "no usual rhythm to judge by any more"
        return f"engaged {_days(m.days_since_last)} ago (usually every {_days(m.usual_gap_days)})"
    if kind == "disengaged":
        return f"back to {h.status} (score {h.score:.1f})"
    if kind == "declining":
        if h.drop_probability is None:
            return f"too few usual engagements to judge ({m.usual_engagements_60d:.1f} in 60 days)"
        return (f"{m.engagements_60d} engagements in 60 days where {m.usual_engagements_60d:.0f} are usual "
                f"({_chance(h.drop_probability)} likely by chance)")  # fmt: skip
    if m.engagements_90d < 6:
        return f"only {m.engagements_90d} engagements in 90 days"
    return f"balanced again: {m.partner_initiated_share:.0%} partner-initiated"


def transitions(h: Health, open_kinds: set[str], at: datetime, s: Scoring) -> list[Transition]:
    """What changes for one partner at one midnight, given its open episodes' kinds."""
    out = []
    for kind in KINDS:
        if kind in open_kinds:
            if resolves(kind, h, s):
                out.append(Transition(h.metrics.partner_id, kind, "resolved", at, resolved_reason(kind, h)))
        elif fires(kind, h, s):
            out.append(Transition(h.metrics.partner_id, kind, "firing", at, reason(kind, h)))
    return out


def metrics_snapshot(h: Health) -> dict[str, Any]:
    """The metrics behind a decision, as stored with the alert (times as ISO text)."""
    values = {name: iso(v) if isinstance(v, datetime) else v for name, v in h.metric_values().items()}
    return {"score": h.score, "status": h.status, **values, "components": dict(h.components)}


@dataclass(frozen=True)
class Alert:
    """One alert episode in one state: a version of its `partner_alerts` row (the
    resolved version replaces the firing one; both have the episode's id)."""

    id: str
    partner_id: str
    kind: str
    state: str  # "firing" or "resolved"
    fired_at: datetime
    resolved_at: datetime | None
    reason: str
    resolved_reason: str
    metrics: dict[str, Any]
    resolved_metrics: dict[str, Any] | None
    priority: str = "normal"  # "high" when the partner's fit was ≥ 60 when it fired (§8)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "partner_id": self.partner_id, "kind": self.kind, "state": self.state,
            "fired_at": iso(self.fired_at), "resolved_at": iso_or_none(self.resolved_at), "reason": self.reason,
            "resolved_reason": self.resolved_reason, "metrics": self.metrics, "resolved_metrics": self.resolved_metrics,
            "priority": self.priority,
            # Why the score is where it is when this version was decided (§7).
            "explain": links(self.partner_id, self.resolved_at if self.state == "resolved" else self.fired_at),
        }  # fmt: skip

    def cloudevent(self) -> dict[str, Any]:
        """As sent to the `partner-alerts` topic and webhooks: one event per state."""
        return {
            "specversion": "1.0",
            "id": f"{self.id}:{self.state}",
            "source": "partnerpulse/alerts",
            "type": f"partner.alert.{self.kind}",
            "time": iso(self.resolved_at if self.state == "resolved" else self.fired_at),
            "subject": self.partner_id,
            "datacontenttype": "application/json",
            "data": self.as_json(),
        }


Episodes = dict[tuple[str, str], Alert]  # (partner, kind) -> its open (firing) episode


def decide(
    healths: list[Health], episodes: Episodes, at: datetime, s: Scoring, fits: dict[str, float | None] | None = None
) -> list[Alert]:
    """The alert versions decided at midnight `at`; `episodes` follows them (opened, closed).
    `fits`: each partner's fit at `at` (§8); an alert fired for fit ≥ 60 has priority high."""
    fits = fits or {}
    open_kinds: dict[str, set[str]] = {}
    for partner, kind in episodes:
        open_kinds.setdefault(partner, set()).add(kind)
    changed = []
    for h in healths:
        partner = h.metrics.partner_id
        for t in transitions(h, open_kinds.get(partner, set()), at, s):
            if t.state == "firing":
                alert = Alert(alert_id(partner, t.kind, at), partner, t.kind, "firing", at, None, t.reason, "",
                              metrics_snapshot(h), None, priority(fits.get(partner)))  # fmt: skip
                episodes[(partner, t.kind)] = alert
            else:
                alert = replace(episodes.pop((partner, t.kind)), state="resolved", resolved_at=at,
                                resolved_reason=t.reason, resolved_metrics=metrics_snapshot(h))  # fmt: skip
            changed.append(alert)
    return changed

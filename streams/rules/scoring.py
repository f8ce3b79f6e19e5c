"""Relationship health: the components, score and status of ../shared/CONTRACT.md §3.

`assess` is a pure function of a partner's metrics and the scoring config. The metrics
themselves are computed by ClickHouse (`streams.store.metrics`); the config is
`schemas/scoring.yaml`, optionally overridden key by key by the file named in
PARTNERPULSE_SCORING.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property, lru_cache
from operator import attrgetter, mul
from pathlib import Path
from typing import Any

import yaml

from streams.config import scoring_file
from streams.errors import ScoringError
from streams.paths import SCHEMAS_DIR

DEFAULT_SCORING = SCHEMAS_DIR / "scoring.yaml"
STATUSES = ("disengaged", "at_risk", "new", "healthy")
COMPONENTS = ("quality", "recency", "reciprocity", "breadth", "momentum")
# The metrics of ../shared/CONTRACT.md §3, in the order they are shown: health JSON and
# CSV, the `partner_health` columns and the metrics stored with an alert all follow it.
METRICS = (
    "quality_minutes_30d", "quality_minutes_prev_30d", "baseline_minutes_30d", "engagements_90d",
    "last_engagement_at", "days_since_last", "partner_initiated_share", "distinct_types_90d",
    "ecosystem_partners_90d", "first_engagement_at", "trend", "usual_gap_days", "silence_limit_days",
    "engagements_60d", "usual_engagements_60d", "drop_probability",
)  # fmt: skip
# Metrics of the assessment (they need the config); the others are measured.
_ASSESSED = frozenset({"trend", "silence_limit_days", "drop_probability"})
# Every metric of METRICS from a Health, in order, in one call (a catch-up reads them for
# hundreds of thousands of snapshots).
_METRIC_ROW = attrgetter(*(name if name in _ASSESSED else f"metrics.{name}" for name in METRICS))


@dataclass(frozen=True, slots=True)
class Numbers:
    """The numbers `assess` reads for every partner at every midnight, converted once
    per config (a catch-up assesses hundreds of thousands of times)."""

    monthly_minutes: float
    half_life_days: float
    engagement_types: float
    ecosystem_partners: float
    score_weights: tuple[float, ...]  # in COMPONENTS order
    silence_min_days: float
    silence_max_days: float
    silence_factor: float
    min_usual_engagements: float
    new_for: timedelta
    at_risk_below: float
    at_risk_trend: float


@dataclass(frozen=True)
class Scoring:
    raw: dict[str, Any]

    @cached_property
    def numbers(self) -> Numbers:
        return Numbers(
            self.target("monthly_quality_minutes"), self.target("recency_half_life_days"),
            self.target("engagement_types"), self.target("ecosystem_partners"),
            tuple(float(self.raw["score_weights"][name]) for name in COMPONENTS),
            self.rhythm("silence_min_days"), self.rhythm("silence_max_days"), self.rhythm("silence_factor"),
            self.decline("min_usual_engagements"), timedelta(days=self.status_rule("new_days")),
            self.status_rule("at_risk_below"), self.status_rule("at_risk_trend"),
        )  # fmt: skip

    @property
    def weights(self) -> dict[str, float | dict[str, float]]:
        return self.raw["weights"]

    def window(self, name: str) -> timedelta:
        return timedelta(days=self.raw["windows_days"][name])

    def target(self, name: str) -> float:
        return float(self.raw["targets"][name])

    def status_rule(self, name: str) -> float:
        return float(self.raw["status"][name])

    def alert_rule(self, kind: str, name: str) -> float:
        return float(self.raw["alerts"][kind][name])

    def rhythm(self, name: str) -> float:
        return float(self.raw["rhythm"][name])

    def decline(self, name: str) -> float:
        return float(self.raw["decline"][name])

    def weight_sql(self) -> str:
        """SQL for an engagement's weight from its `type` and `role` columns, as literals.

        Each column is looked up on its own (on a LowCardinality column ClickHouse maps
        each distinct value once, not every row), then a type × role table is indexed:
        row 0 and column 0 are "unknown", which weighs 0 unless the type has one weight."""
        # "" ends each list: ClickHouse cannot type an empty array literal.
        types = [*self.weights, ""]
        roles = [*sorted({role for w in self.weights.values() if isinstance(w, dict) for role in w}), ""]
        stride = len(roles) + 1
        table = [0.0] * stride
        for weight in self.weights.values():
            if isinstance(weight, dict):
                table += [0.0, *(float(weight.get(role, 0.0)) for role in roles)]
            else:
                table += [float(weight)] * stride
        table += [0.0] * stride

        def index(column: str, values: list[str]) -> str:
            names = ", ".join(sql_string(v) for v in values)
            return f"transform({column}, [{names}], [{', '.join(str(i) for i in range(1, len(values) + 1))}], 0)"

        return f"[{', '.join(map(repr, table))}][{index('type', types)} * {stride} + {index('role', roles)} + 1]"

    def weight(self, type_name: str, role: str) -> float:
        weight = self.weights.get(type_name, 0.0)
        return float(weight.get(role, 0.0) if isinstance(weight, dict) else weight)


def sql_string(value: str) -> str:
    """A ClickHouse string literal (what Grafana's :sqlstring format produces)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _merge(base: dict, override: dict, where: str = "") -> dict:
    merged = dict(base)
    for key, value in override.items():
        if key not in base:
            raise ScoringError(f"unknown setting '{where}{key}' (known: {', '.join(base)})")
        if isinstance(base[key], dict) and isinstance(value, dict) and key != "weights":
            merged[key] = _merge(base[key], value, f"{where}{key}.")
        elif key == "weights" and isinstance(value, dict):
            merged[key] = {**base[key], **value}
        else:
            merged[key] = value
    return merged


def load_scoring(path: str | Path | None = None) -> Scoring:
    """The defaults, with the user's file (argument or PARTNERPULSE_SCORING) laid over them.
    Read on every call, so an edited file counts at once; parsed once per content."""
    path = path or scoring_file()
    try:
        text = Path(path).read_text() if path else None
    except OSError as exc:
        raise ScoringError(f"cannot read the scoring file {path}: {exc.strerror}") from exc
    return _scoring(DEFAULT_SCORING.read_text(), text, str(path))


# Parsing the YAML took ~4 ms, as long as `health`'s scoring of a thousand partners.
@lru_cache(maxsize=16)
def _scoring(defaults: str, text: str | None, path: str) -> Scoring:
    raw = yaml.safe_load(defaults)
    if text is not None:
        try:
            override = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ScoringError(f"the scoring file {path} is not valid YAML: {exc}") from exc
        if not isinstance(override, dict):
            raise ScoringError(f"the scoring file {path} must be a mapping of settings")
        raw = _merge(raw, override)
    return Scoring(raw)


@dataclass(slots=True)
class Metrics:
    """A partner's metrics as of T (§3); times are aware UTC datetimes. (Not frozen: a
    catch-up makes hundreds of thousands, and a frozen dataclass is slow to build.)"""

    partner_id: str
    as_of: datetime
    quality_minutes_30d: float
    quality_minutes_prev_30d: float
    baseline_minutes_30d: float
    engagements_90d: int
    partner_initiated_90d: int
    distinct_types_90d: int
    ecosystem_partners_90d: int
    first_engagement_at: datetime
    last_engagement_at: datetime
    engagements_60d: int = 0  # in the decline window (T−60d, T]
    usual_engagements_60d: float = 0.0  # the usual count in such a window, before it
    usual_gap_days: float | None = None  # the partner's own rhythm; None with too few gaps

    @property
    def days_since_last(self) -> float:
        return (self.as_of - self.last_engagement_at).total_seconds() / 86400

    @property
    def partner_initiated_share(self) -> float | None:
        return self.partner_initiated_90d / self.engagements_90d if self.engagements_90d else None


@dataclass(slots=True)
class Health:
    metrics: Metrics
    trend: float
    components: dict[str, float]
    score: float
    status: str
    silence_limit_days: float
    drop_probability: float | None

    def metric(self, name: str) -> Any:
        """One metric of METRICS by name (times as aware datetimes)."""
        return getattr(self, name) if name in _ASSESSED else getattr(self.metrics, name)

    def metric_row(self) -> tuple:
        """Every metric of METRICS, in its order."""
        return _METRIC_ROW(self)

    def metric_values(self) -> dict[str, Any]:
        return dict(zip(METRICS, _METRIC_ROW(self), strict=True))


def clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    # Comparisons, not max(low, min(high, value)): `assess` clamps three times per partner
    # and the two built-in calls were a quarter of its time (health: 10k partners).
    return low if value <= low else high if value >= high else value


def round_score(value: float) -> float:
    # Half-up to 0.1, with a nudge so that 64.95 computed as 64.94999… still rounds up.
    return math.floor(value * 10 + 0.5 + 1e-9) / 10


def trend(quality_30d: float, baseline_30d: float, scoring: Scoring) -> float:
    cap = scoring.numbers.monthly_minutes
    q = quality_30d if quality_30d < cap else cap  # (as `clamp`: comparisons, for speed)
    b = baseline_30d if baseline_30d < cap else cap
    return (q - b) / (b if b > 1.0 else 1.0)


def silence_limit(usual_gap_days: float | None, scoring: Scoring) -> float:
    """How long this partner may stay silent before it counts as disengaged (§3)."""
    n = scoring.numbers
    if usual_gap_days is None:
        return n.silence_min_days
    return min(n.silence_max_days, max(n.silence_min_days, n.silence_factor * usual_gap_days))


@lru_cache(maxsize=1 << 16)
def poisson_cdf(k: int, mean: float) -> float:
    """P(N ≤ k) for N ~ Poisson(mean). Summed from the term at k outwards, where the terms
    only shrink (down to 0 when k < mean; else the upper tail, above k, is summed and
    subtracted), until they no longer change the sum: a few dozen multiplications instead
    of a logarithm per term (health assesses every partner), and no overflow at any count.
    Remembered: the mean is a count over the usual windows, so the same pairs recur across
    partners and from one midnight to the next (95% of the calls in a catch-up)."""
    if k < 0:
        return 0.0
    if mean <= 0:
        return 1.0
    below = k < mean
    i = k if below else k + 1
    term = math.exp(i * math.log(mean) - mean - math.lgamma(i + 1))
    total = 0.0
    while term > total * 1e-17 and (i >= 0 if below else True):
        total += term
        term *= i / mean if below else mean / (i + 1)
        i += -1 if below else 1
    return min(1.0, total) if below else max(0.0, 1.0 - total)


def drop_probability(recent: int, usual: float, scoring: Scoring) -> float | None:
    """How likely so few engagements are by chance for this partner; None when its usual
    count is too small to judge."""
    if usual < scoring.numbers.min_usual_engagements:
        return None
    return poisson_cdf(recent, usual)


def gap_quantile(gaps: list[float], scoring: Scoring) -> float | None:
    """usual_gap_days from the gaps (days between consecutive engagement dates): the
    configured quantile with linear interpolation at position q·(n−1); None below min_gaps.
    (The store computes the same in SQL at scale; this is its reference.)"""
    if len(gaps) < scoring.rhythm("min_gaps") or not gaps:
        return None
    ordered = sorted(gaps)
    position = scoring.rhythm("quantile") * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def assess(m: Metrics, scoring: Scoring) -> Health:
    n = scoring.numbers
    since = m.days_since_last
    t = trend(m.quality_minutes_30d, m.baseline_minutes_30d, scoring)
    share = m.partner_initiated_share
    components = {
        "quality": clamp(m.quality_minutes_30d / n.monthly_minutes),
        "recency": 0.5 ** (max(since, 0.0) / n.half_life_days),
        "reciprocity": 0.0 if share is None else clamp(1 - 2 * abs(share - 0.5)),
        "breadth": (
            m.distinct_types_90d / n.engagement_types + min(1.0, m.ecosystem_partners_90d / n.ecosystem_partners)
        )
        / 2,
        "momentum": clamp(0.5 + t / 2),
    }
    score = round_score(sum(map(mul, n.score_weights, components.values())))
    limit = silence_limit(m.usual_gap_days, scoring)
    drop = drop_probability(m.engagements_60d, m.usual_engagements_60d, scoring)
    return Health(m, t, components, score, status(m, since, score, t, limit, n), limit, drop)


def status(m: Metrics, since: float, score: float, trend_value: float, silence_limit_days: float, n: Numbers) -> str:
    """The first rule that holds (§3), `since` being days_since_last. A low score alone
    never makes a partner disengaged: disengaged means it stopped coming, by its own rhythm."""
    if since >= silence_limit_days:
        return "disengaged"
    if m.first_engagement_at > m.as_of - n.new_for:
        return "new"
    if score < n.at_risk_below or trend_value <= n.at_risk_trend:
        return "at_risk"
    return "healthy"

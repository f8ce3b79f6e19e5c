"""Scoring rules of ../shared/CONTRACT.md §3, against hand-computed cases (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streams.rules.scoring import Metrics, ScoringError, assess, clamp, load_scoring, round_score, trend

T = datetime(2026, 11, 20, tzinfo=UTC)
SCORING = load_scoring()


def metrics(**overrides) -> Metrics:
    base = dict(
        partner_id="p", as_of=T, quality_minutes_30d=600.0, quality_minutes_prev_30d=600.0,
        baseline_minutes_30d=600.0, engagements_90d=10, partner_initiated_90d=5, distinct_types_90d=5,
        ecosystem_partners_90d=3, first_engagement_at=T - timedelta(days=365), last_engagement_at=T,
    )  # fmt: skip
    base.update(overrides)
    return Metrics(**base)


def test_a_perfect_partner_scores_100_and_is_healthy():
    h = assess(metrics(), SCORING)
    assert h.components == {"quality": 1.0, "recency": 1.0, "reciprocity": 1.0, "breadth": 1.0, "momentum": 0.5}
    assert h.score == 95.0 and h.status == "healthy"


def test_each_component_by_hand():
    h = assess(
        metrics(quality_minutes_30d=150, baseline_minutes_30d=300, engagements_90d=8, partner_initiated_90d=2,
                distinct_types_90d=2, ecosystem_partners_90d=1, last_engagement_at=T - timedelta(days=7)),
        SCORING,
    )  # fmt: skip
    assert h.components["quality"] == 0.25  # 150 / 600
    assert h.components["recency"] == pytest.approx(0.5**0.5)  # 7 days at a 14-day half-life
    assert h.components["reciprocity"] == pytest.approx(0.5)  # share 0.25 → 1 − 2·0.25
    assert h.components["breadth"] == pytest.approx((2 / 5 + 1 / 3) / 2)
    assert h.trend == pytest.approx(-0.5)  # (150 − 300) / 300
    assert h.components["momentum"] == pytest.approx(0.25)
    expected = 40 * 0.25 + 20 * 0.5**0.5 + 15 * 0.5 + 15 * (2 / 5 + 1 / 3) / 2 + 10 * 0.25
    assert h.score == round(expected, 1) == 39.6
    assert h.status == "at_risk"  # score < 40 alone does not make it disengaged: it still comes


def test_trend_is_capped_at_the_monthly_target():
    assert trend(900, 1200, SCORING) == 0.0  # both above 600: not a decline
    assert trend(300, 1200, SCORING) == -0.5  # (300 − 600) / 600
    assert trend(50, 0, SCORING) == 50.0  # baseline below 1 minute counts as 1
    assert trend(0, 0, SCORING) == 0.0


def test_momentum_and_quality_clamp():
    h = assess(metrics(quality_minutes_30d=5000, baseline_minutes_30d=10), SCORING)
    assert h.components["quality"] == 1.0 and h.components["momentum"] == 1.0
    h = assess(metrics(quality_minutes_30d=0, baseline_minutes_30d=500), SCORING)
    assert h.trend == -1.0 and h.components["momentum"] == 0.0


def test_clamp_keeps_a_value_within_its_bounds_and_gives_the_bound_itself_at_or_beyond():
    assert [clamp(v) for v in (-0.5, 0.0, 0.3, 1.0, 1.5)] == [0.0, 0.0, 0.3, 1.0, 1.0]
    assert str(clamp(-0.0)) == "0.0"  # the bound, not a negative zero shown as -0.0
    assert clamp(7, 2, 5) == 5 and clamp(1, 2, 5) == 2
    assert trend(600, 600, SCORING) == 0.0 and trend(0.5, 0.5, SCORING) == 0.0  # at the cap; under 1 minute


def test_reciprocity_extremes_and_no_engagements():
    assert assess(metrics(partner_initiated_90d=10), SCORING).components["reciprocity"] == 0.0
    assert assess(metrics(partner_initiated_90d=0), SCORING).components["reciprocity"] == 0.0
    quiet = assess(metrics(engagements_90d=0, partner_initiated_90d=0, last_engagement_at=T - timedelta(days=100)),
                   SCORING)  # fmt: skip
    assert quiet.metrics.partner_initiated_share is None and quiet.components["reciprocity"] == 0.0


def test_breadth_caps_ecosystem_at_three():
    assert assess(metrics(distinct_types_90d=5, ecosystem_partners_90d=9), SCORING).components["breadth"] == 1.0
    assert assess(metrics(distinct_types_90d=0, ecosystem_partners_90d=0), SCORING).components["breadth"] == 0.0


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"last_engagement_at": T - timedelta(days=30)}, "disengaged"),  # 30 days silent, even if new
        ({"last_engagement_at": T - timedelta(days=30), "first_engagement_at": T - timedelta(days=31)}, "disengaged"),
        ({"last_engagement_at": T - timedelta(days=29, hours=23)}, "healthy"),  # not yet 30 days; score 79.5
        ({"first_engagement_at": T - timedelta(days=29)}, "new"),
        ({"first_engagement_at": T - timedelta(days=30)}, "healthy"),  # exactly 30 days: no longer new
        ({"first_engagement_at": T - timedelta(days=5), "quality_minutes_30d": 0}, "new"),  # new beats low score
        ({"quality_minutes_30d": 0, "engagements_90d": 0, "partner_initiated_90d": 0}, "at_risk"),  # score < 40
        # Its own rhythm: every 20 days → may be silent 60 days; every 5 → the 30-day floor.
        ({"usual_gap_days": 20.0, "last_engagement_at": T - timedelta(days=59)}, "healthy"),
        ({"usual_gap_days": 20.0, "last_engagement_at": T - timedelta(days=60)}, "disengaged"),
        ({"usual_gap_days": 5.0, "last_engagement_at": T - timedelta(days=30)}, "disengaged"),
        ({"usual_gap_days": 90.0, "last_engagement_at": T - timedelta(days=179)}, "healthy"),  # within its limit
        ({"usual_gap_days": 90.0, "last_engagement_at": T - timedelta(days=180)}, "disengaged"),  # capped at 180
        ({"quality_minutes_30d": 300}, "at_risk"),  # trend −0.5 (and a lower score)
        ({"quality_minutes_30d": 310, "baseline_minutes_30d": 300}, "healthy"),
        ({"quality_minutes_30d": 299.9, "baseline_minutes_30d": 600, "distinct_types_90d": 5}, "at_risk"),
    ],
)
def test_status_first_rule_that_holds(changes, status):
    assert assess(metrics(**changes), SCORING).status == status


def test_at_risk_from_trend_alone_with_a_good_score():
    h = assess(metrics(quality_minutes_30d=290, baseline_minutes_30d=590), SCORING)
    assert h.score >= 65 and h.trend <= -0.5 and h.status == "at_risk"


def test_score_rounds_half_up_to_a_tenth():
    assert round_score(64.95) == 65.0
    assert round_score(64.94999999) == 64.9
    assert round_score(39.96) == 40.0


def test_user_scoring_file_overrides_defaults(tmp_path):
    path = tmp_path / "scoring.yaml"
    path.write_text("weights:\n  partner.training: 2.0\ntargets:\n  monthly_quality_minutes: 300\n")
    custom = load_scoring(path)
    assert custom.weight("partner.training", "") == 2.0
    assert custom.weight("partner.webinar", "host") == 1.5  # untouched defaults stay
    assert assess(metrics(quality_minutes_30d=300), custom).components["quality"] == 1.0


def test_an_edited_scoring_file_counts_at_the_next_call(tmp_path):
    """Parsed once per content (health reads the file on every call), read every time."""
    path = tmp_path / "scoring.yaml"
    path.write_text("targets:\n  monthly_quality_minutes: 300\n")
    first = load_scoring(path)
    assert load_scoring(path) is first
    path.write_text("targets:\n  monthly_quality_minutes: 400\n")  # same size, same instant
    assert load_scoring(path).target("monthly_quality_minutes") == 400.0
    path.write_text("weights: [1, 2\n")
    with pytest.raises(ScoringError, match="not valid YAML"):
        load_scoring(path)
    path.write_text("targets:\n  monthly_quality_minutes: 300\n")
    assert load_scoring(path) is first


def test_bad_scoring_files_are_explained(tmp_path):
    path = tmp_path / "scoring.yaml"
    path.write_text("targets:\n  monthly_minutes: 300\n")
    with pytest.raises(ScoringError, match=r"unknown setting 'targets\.monthly_minutes'"):
        load_scoring(path)
    path.write_text("weights: [1, 2\n")
    with pytest.raises(ScoringError, match="not valid YAML"):
        load_scoring(path)
    with pytest.raises(ScoringError, match="cannot read"):
        load_scoring(tmp_path / "missing.yaml")


def test_sql_weights_equal_the_python_weights(client, tmp_path):
    """`Scoring.weight_sql()` (dashboards, health) weighs every (type, role) as `Scoring.weight`
    does, for the defaults and for a file that overrides, adds and drops roles; unknown
    types and roles (and quotes in names) weigh 0."""
    path = tmp_path / "scoring.yaml"
    path.write_text(
        'weights:\n  partner.training: {online: 0.5, "o\'neil": 3.0}\n  partner.webinar: 2.5\n'
        "  partner.meeting: {planning: 1.75}\n"
    )
    names = ["host", "cohost", "attendee", "organizer", "speaker", "planning", "online", "o'neil", "", "x"]
    types = ["partner.webinar", "partner.joint_event", "partner.solution", "partner.meeting", "partner.training", "x"]
    for scoring in (load_scoring(), load_scoring(path)):
        pairs = [(t, r) for t in types for r in names]
        rows = client.query(
            f"SELECT type, role, {scoring.weight_sql()} FROM (SELECT toLowCardinality(p.1) AS type, "
            "toLowCardinality(p.2) AS role FROM (SELECT arrayJoin({pairs:Array(Tuple(String, String))}) AS p))",
            parameters={"pairs": pairs},
        ).result_rows
        assert len(rows) == len(pairs)
        assert {(t, r): w for t, r, w in rows} == {(t, r): scoring.weight(t, r) for t, r in pairs}

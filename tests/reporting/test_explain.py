"""`explain` on a real chDB store, checked against the oracle: contributions add up to
the score's change, `then`/`now` are the health of T0 and T, drivers are exactly the
window's entries and exits, alert transitions those between T0 and T."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from streams.errors import NotFoundError
from streams.reporting.explain import explain, explain_many
from streams.reporting.health_rows import health
from streams.rules.alerting import Alert
from streams.store.alerts import write_alerts
from streams.store.rows import Origin
from streams.store.writes import classify, write_batch
from tests import oracle

EVENTS = oracle.generate()
PARTNERS = sorted({e["subject"] for e in EVENTS})
LAST = oracle.parse(EVENTS[-1]["time"])
# (T0, T): a month back, a season back, across the whole history, T0 on an event's time
# (its window edge exactly), and T after the last event.
PAIRS = [
    (LAST - timedelta(days=30), LAST),
    (oracle.parse("2026-05-01T00:00:00Z"), oracle.parse("2026-08-15T12:00:00Z")),
    (oracle.parse("2026-03-02T00:00:00Z"), LAST + timedelta(days=40)),
    (oracle.parse(EVENTS[150]["time"]), oracle.parse(EVENTS[150]["time"]) + timedelta(days=30)),
]


@pytest.fixture
def loaded(client):
    origin = Origin("engagement-events", 0, 0, datetime.now(UTC))
    write_batch(client, classify([(orjson.dumps(e), origin._replace(offset=i)) for i, e in enumerate(EVENTS)]))
    return client


def expected_drivers(partner: str, then: datetime, now: datetime) -> dict[tuple[str, str], tuple[float, str]]:
    def inside(t: datetime, end: datetime) -> bool:
        return end - timedelta(days=30) < t <= end

    out = {}
    for e in EVENTS:
        t = oracle.parse(e["time"]) if e["type"] != "partner.profile" else None
        if e["subject"] == partner and t is not None and inside(t, now) != inside(t, then):
            out[(e["source"], e["id"])] = (oracle.quality(e), "entered" if inside(t, now) else "left")
    return out


@pytest.mark.parametrize("pair", PAIRS, ids=["month", "season", "history", "edge"])
def test_explain_agrees_with_health_and_the_oracle_for_every_partner(loaded, pair):
    then_t, now_t = pair
    then_rows = {r["partner_id"]: r for r in health(loaded, as_of=oracle._iso(then_t))}
    now_rows = {r["partner_id"]: r for r in health(loaded, as_of=oracle._iso(now_t))}
    explained = 0
    for partner in PARTNERS:
        if partner not in now_rows:
            with pytest.raises(ValueError, match="no engagement at or before"):
                explain(loaded, partner, as_of=oracle._iso(now_t), since=oracle._iso(then_t))
            continue
        answer = explain(loaded, partner, as_of=oracle._iso(now_t), since=oracle._iso(then_t))
        explained += 1
        assert answer["now"] == now_rows[partner]
        assert answer["then"] == then_rows.get(partner)
        assert answer["now"]["score"] == oracle.health(EVENTS, now_t)[partner]["score"]
        assert sum(answer["contributions"].values()) == pytest.approx(answer["score_delta"], abs=0.2)
        want = expected_drivers(partner, then_t, now_t)
        got = {(d["source"], d["id"]): (d["quality_minutes"], d["effect"]) for d in answer["drivers"]}
        if len(want) <= 20:
            assert got == {k: (round(q, 1), eff) for k, (q, eff) in want.items()}
        else:
            assert len(got) == 20 and all(k in want for k in got)
            assert min(q for q, _ in got.values()) >= max(round(want[k][0], 1) for k in want if k not in got)
        minutes = [d["quality_minutes"] for d in answer["drivers"]]
        assert minutes == sorted(minutes, reverse=True)
    assert explained >= 8
    # All at once (the report's way): the same answers, partners without engagement left out.
    many = explain_many(loaded, PARTNERS, as_of=oracle._iso(now_t), since=oracle._iso(then_t))
    assert list(many) == [p for p in PARTNERS if p in now_rows]
    assert many == {p: explain(loaded, p, as_of=oracle._iso(now_t), since=oracle._iso(then_t)) for p in many}


def test_alert_transitions_are_those_between_t0_and_t(loaded):
    partner = PARTNERS[0]
    day = oracle.parse("2026-07-01T00:00:00Z")

    def episode(kind: str, fired: int, resolved: int | None) -> Alert:
        fired_at = day + timedelta(days=fired)
        resolved_at = day + timedelta(days=resolved) if resolved is not None else None
        return Alert(f"{kind}-{fired}", partner, kind, "resolved" if resolved_at else "firing", fired_at,
                     resolved_at, "why", "over" if resolved_at else "", {}, {} if resolved_at else None)  # fmt: skip

    write_alerts(loaded, [episode("quiet", 2, 9), episode("declining", 12, None), episode("one_sided", -20, 5)])
    answer = explain(loaded, partner, as_of="2026-07-20", since="2026-07-05")
    # quiet fired on 3 Jul and one-sided on 11 Jun, before T0: only their resolutions count.
    assert [(a["kind"], a["transition"], a["at"]) for a in answer["alerts"]] == [
        ("one_sided", "resolved", "2026-07-06T00:00:00Z"), ("quiet", "resolved", "2026-07-10T00:00:00Z"),
        ("declining", "fired", "2026-07-13T00:00:00Z"),
    ]  # fmt: skip
    assert answer["summary"].endswith(
        "Alerts: one-sided resolved 6 Jul; quiet resolved 10 Jul; declining fired 13 Jul."
    )


def test_clear_errors(loaded):
    with pytest.raises(ValueError, match="no partner 'nobody' is known"):
        explain(loaded, "nobody")
    with pytest.raises(NotFoundError):  # the API's 404 (ingest.openapi.yaml)
        explain(loaded, "nobody")
    with pytest.raises(ValueError, match="--since 2026-08-01T00:00:00Z must be before --as-of 2026-07-01T00:00:00Z"):
        explain(loaded, PARTNERS[0], as_of="2026-07-01", since="2026-08-01")
    with pytest.raises(ValueError, match="--since 'soon' is neither a date"):
        explain(loaded, PARTNERS[0], since="soon")
    for empty in ({"as_of": ""}, {"since": ""}):  # `as_of=` in a URL is not "now" (schemathesis found it)
        with pytest.raises(ValueError, match="'' is neither a date"):
            explain(loaded, PARTNERS[0], **empty)
    first = min(oracle.parse(e["time"]) for e in EVENTS if e["subject"] == PARTNERS[0])
    with pytest.raises(ValueError, match=f"partner '{PARTNERS[0]}' has no engagement at or before"):
        explain(loaded, PARTNERS[0], as_of=oracle._iso(first - timedelta(days=1)))
    new = explain(loaded, PARTNERS[0], as_of=oracle._iso(first + timedelta(days=3)))
    assert new["then"] is None and new["summary"].startswith("New since ")


def test_the_json_is_stable(loaded):
    answer = explain(loaded, PARTNERS[1], as_of="2026-09-01", since="2026-08-01")
    assert list(answer) == ["partner_id", "name", "since", "as_of", "summary", "then", "now", "score_delta",
                            "contributions", "drivers", "alerts"]  # fmt: skip
    assert list(answer["contributions"]) == ["quality", "recency", "reciprocity", "breadth", "momentum"]
    assert all(list(d) == ["id", "source", "type", "time", "quality_minutes", "effect"] for d in answer["drivers"])
    assert orjson.dumps(answer) == orjson.dumps(explain(loaded, PARTNERS[1], as_of="2026-09-01", since="2026-08-01"))

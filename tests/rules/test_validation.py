"""The validator, class by class (pure: no broker, no store)."""

from __future__ import annotations

import orjson
import pytest
from jsonschema import Draft202012Validator

from streams.paths import SCHEMAS_DIR
from streams.rules.validation import Accepted, Rejected, known_types, validate
from tests import badinput
from tests.conftest import EXAMPLES


def event(**changes):
    base = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "zoom/webinars",
        "type": "partner.webinar",
        "time": "2026-11-20T15:00:00Z",
        "subject": "acme-reseller",
        "data": {"role": "host", "duration_minutes": 60, "initiated_by": "partner", "attendees": 41},
    }
    base.update(changes)
    return base


def check(obj) -> Accepted | Rejected:
    return validate(orjson.dumps(obj))


@pytest.mark.parametrize(("what", "code", "raw"), badinput.bad_records(), ids=[c[0] for c in badinput.bad_records()])
def test_each_bad_class_is_rejected_with_its_code(what, code, raw):
    result = validate(raw)
    assert isinstance(result, Rejected), what
    assert result.code == code
    assert len(result.reason) > 10


def test_every_shipped_example_is_accepted():
    lines = (EXAMPLES / "events.jsonl").read_bytes().splitlines()
    results = [validate(line) for line in lines]
    assert all(isinstance(r, Accepted) for r in results), [r for r in results if isinstance(r, Rejected)]
    assert {r.event["type"] for r in results} == set(known_types())


def test_every_shipped_invalid_example_is_rejected():
    lines = (EXAMPLES / "invalid.jsonl").read_bytes().splitlines()
    assert [validate(line).code for line in lines] == ["out_of_range", "unknown_type", "bad_time", "invalid_json"]


def test_schemas_are_valid_and_cover_the_contract_types():
    for path in (SCHEMAS_DIR / "events").glob("*.json"):
        Draft202012Validator.check_schema(orjson.loads(path.read_bytes()))
    assert known_types() == [
        "partner.joint_event",
        "partner.meeting",
        "partner.profile",
        "partner.solution",
        "partner.training",
        "partner.webinar",
    ]


def test_unknown_attributes_and_data_fields_are_kept():
    result = check(
        event(
            traceparent="00-abc",
            data={"role": "host", "duration_minutes": 5, "initiated_by": "vendor", "mood": "great"},
        )
    )
    assert isinstance(result, Accepted)
    assert result.event["traceparent"] == "00-abc"
    assert result.event["data"]["mood"] == "great"


def test_time_with_any_offset_is_converted_to_utc():
    result = check(event(time="2026-11-20T15:00:00.250+02:00"))
    assert result.time.isoformat() == "2026-11-20T13:00:00.250000+00:00"
    assert check(event(time="2026-11-20t15:00:00z")).time.hour == 15


@pytest.mark.parametrize(
    ("type_", "data", "ok"),
    [
        ("partner.meeting", {"kind": "other", "duration_minutes": 1440, "initiated_by": "vendor"}, True),
        ("partner.meeting", {"kind": "other", "duration_minutes": 1440.5, "initiated_by": "vendor"}, False),
        ("partner.meeting", {"kind": "other", "duration_minutes": -5, "initiated_by": "vendor"}, False),
        ("partner.meeting", {"kind": "other", "duration_minutes": True, "initiated_by": "vendor"}, False),
        (
            "partner.solution",
            {"solution_id": "s", "stage": "launched", "duration_minutes": 0, "initiated_by": "partner"},
            True,
        ),
        (
            "partner.solution",
            {"solution_id": "s", "stage": "launched", "duration_minutes": 10080, "initiated_by": "partner"},
            True,
        ),
        (
            "partner.solution",
            {"solution_id": "s", "stage": "launched", "duration_minutes": 10081, "initiated_by": "partner"},
            False,
        ),
        (
            "partner.solution",
            {"solution_id": "s", "stage": "shipped", "duration_minutes": 5, "initiated_by": "partner"},
            False,
        ),
        (
            "partner.solution",
            {
                "solution_id": "s",
                "stage": "building",
                "duration_minutes": 5,
                "initiated_by": "partner",
                "ecosystem_partners": ["isv-1", "bad id"],
            },
            False,
        ),
        (
            "partner.training",
            {"course": "c", "duration_minutes": 30, "initiated_by": "partner", "certified": "yes"},
            False,
        ),
        (
            "partner.training",
            {"course": "c", "duration_minutes": 30, "initiated_by": "partner", "certified": True},
            True,
        ),
        ("partner.joint_event", {"role": "speaker", "duration_minutes": 30, "initiated_by": "vendor"}, True),
        ("partner.joint_event", {"role": "host", "duration_minutes": 30, "initiated_by": "vendor"}, False),
        ("partner.webinar", {"role": "attendee", "duration_minutes": 30}, False),
        ("partner.profile", {}, True),
        ("partner.profile", {"name": "Acme", "tier": "gold", "crm_id": 17}, True),
    ],
)
def test_ranges_and_required_fields_by_type(type_, data, ok):
    assert isinstance(check(event(type=type_, data=data)), Accepted) is ok


def test_partner_id_rules():
    assert isinstance(check(event(subject="a" * 128)), Accepted)
    assert isinstance(check(event(subject="A.b_c:d-9")), Accepted)
    for bad in ["a" * 129, "", "acme reseller", "acmé", "a/b"]:
        result = check(event(subject=bad))
        assert isinstance(result, Rejected) and result.code == "bad_subject", bad


def test_reasons_name_the_field_and_the_rule():
    result = check(event(data={"role": "host", "duration_minutes": 2000, "initiated_by": "partner"}))
    assert result.reason == "data.duration_minutes must be ≤ 1440, got 2000"
    result = check({k: v for k, v in event().items() if k != "source"})
    assert result.reason == "missing required attribute 'source'"
    result = check(event(data={"role": "host", "initiated_by": "partner"}))
    assert result.reason == "missing required field 'data.duration_minutes'"
    assert result.event_id == "e-1" and result.source == "zoom/webinars"


def test_oversize_limit_is_256_kib_exactly():
    base = orjson.dumps(event(data={"role": "host", "duration_minutes": 5, "initiated_by": "partner", "pad": ""}))
    room = 256 * 1024 - len(base)
    fits = orjson.dumps(
        event(data={"role": "host", "duration_minutes": 5, "initiated_by": "partner", "pad": "x" * room})
    )
    assert len(fits) == 256 * 1024 and isinstance(validate(fits), Accepted)
    over = orjson.dumps(
        event(data={"role": "host", "duration_minutes": 5, "initiated_by": "partner", "pad": "x" * (room + 1)})
    )
    assert validate(over).code == "oversize"


def test_nan_and_whitespace_only_are_rejected():
    assert validate(b"   \n").code == "empty"
    assert validate(b'{"duration_minutes": NaN}').code == "invalid_json"


def test_partner_id_with_a_trailing_newline_is_rejected():
    # Python's `$` matches before a final newline; the partner id must match exactly.
    assert check(event(subject="acme\n")).code == "bad_subject"


def test_fast_and_explaining_validators_agree():
    """The compiled fast path and jsonschema (which explains rejections) must accept
    exactly the same events."""
    from streams.demo import simulator
    from streams.rules import validation

    schemas = validation._schemas()
    candidates = [orjson.loads(r) for _, r in simulator.simulate(partners=24, days=60, seed=3).records
                  if r.strip().startswith(b"{") and r.rstrip().endswith(b"}")]  # fmt: skip
    candidates += [
        orjson.loads(raw)
        for _, code, raw in badinput.bad_records()
        if code not in ("invalid_json", "invalid_utf8", "empty", "not_object")
    ]
    mutations = [("duration_minutes", 0), ("duration_minutes", True), ("duration_minutes", "5"),
                 ("initiated_by", "Partner"), ("role", None), ("ecosystem_partners", ["ok", 5])]  # fmt: skip
    for e in list(candidates[:40]):
        for field, value in mutations:
            candidates.append({**e, "data": {**e["data"], field: value}})
    assert len(candidates) > 200
    for e in candidates:
        slow_ok = (
            not list(schemas.envelope.iter_errors(e))
            and e.get("type") in schemas.by_type
            and not list(schemas.by_type[e["type"]][1].iter_errors(e["data"]))
        )
        assert validation._fast_ok(schemas, e) == slow_ok, e

"""One record for each class of bad input the pipeline must dead-letter.

Used by the demo (to show the dead-letter path) and by the tests (to prove each class
lands in the dead letters with the right reason). Pure data.
"""

from __future__ import annotations

import orjson


def _event(**changes) -> dict:
    event = {
        "specversion": "1.0",
        "id": "bad-0",
        "source": "demo/bad-producer",
        "type": "partner.meeting",
        "time": "2026-11-20T10:00:00Z",
        "subject": "acme-reseller",
        "data": {"kind": "planning", "duration_minutes": 30, "initiated_by": "partner"},
    }
    for name, value in changes.items():
        if value is _DROP:
            event.pop(name)
        else:
            event[name] = value
    return event


_DROP = object()


def bad_records() -> list[tuple[str, str, bytes]]:
    """(what it is, expected rejection code, raw bytes)."""
    valid_data = {"kind": "planning", "duration_minutes": 30, "initiated_by": "partner"}
    cases = [
        ("not JSON", "invalid_json", b"this is not json"),
        ("not an object", "not_object", b"[1, 2, 3]"),
        ("empty message", "empty", b""),
        ("invalid UTF-8", "invalid_utf8", b'{"id": "\xff\xfe"}'),
        ("missing attribute", "missing_field", orjson.dumps(_event(id="bad-1", subject=_DROP))),
        ("ill-typed attribute", "wrong_type", orjson.dumps(_event(id=42))),
        (
            "missing data field",
            "missing_field",
            orjson.dumps(_event(id="bad-3", data={"kind": "planning", "duration_minutes": 30})),
        ),
        (
            "ill-typed data field",
            "wrong_type",
            orjson.dumps(_event(id="bad-4", data={**valid_data, "duration_minutes": "thirty"})),
        ),
        ("unknown type", "unknown_type", orjson.dumps(_event(id="bad-5", type="partner.lunch"))),
        (
            "out-of-range duration",
            "out_of_range",
            orjson.dumps(_event(id="bad-6", data={**valid_data, "duration_minutes": 1441})),
        ),
        ("zero duration", "out_of_range", orjson.dumps(_event(id="bad-7", data={**valid_data, "duration_minutes": 0}))),
        ("bad timestamp", "bad_time", orjson.dumps(_event(id="bad-8", time="2026-13-45T25:00:00Z"))),
        ("timestamp without offset", "bad_time", orjson.dumps(_event(id="bad-9", time="2026-11-20T10:00:00"))),
        ("bad partner id", "bad_subject", orjson.dumps(_event(id="bad-10", subject="acme reseller!"))),
        ("wrong specversion", "bad_specversion", orjson.dumps(_event(id="bad-11", specversion="0.3"))),
        ("data not an object", "wrong_type", orjson.dumps(_event(id="bad-12", data="lunch"))),
        (
            "bad initiator",
            "invalid_value",
            orjson.dumps(_event(id="bad-13", data={**valid_data, "initiated_by": "nobody"})),
        ),
        (
            "oversize payload",
            "oversize",
            orjson.dumps(_event(id="bad-14", data={**valid_data, "notes": "x" * (256 * 1024)})),
        ),
    ]
    return cases

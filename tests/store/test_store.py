"""Migrations and the idempotent sink, against a real chDB engine."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from streams.store import connection as store
from streams.store import reads as queries
from streams.store.rows import Origin
from streams.store.writes import classify, write_batch

ORIGIN = Origin("engagement-events", 0, 0, datetime(2026, 11, 26, tzinfo=UTC))


def raw(id_="e-1", source="zoom/webinars", subject="acme", **data) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": id_,
            "source": source,
            "type": "partner.webinar",
            "time": "2026-11-20T15:00:00Z",
            "subject": subject,
            "data": {"role": "host", "duration_minutes": 60, "initiated_by": "partner", **data},
        }
    )


def profile(id_, time, **fields) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": id_,
            "source": "crm",
            "type": "partner.profile",
            "time": time,
            "subject": "acme",
            "data": fields,
        }
    )


def write(client, *records: bytes):
    return write_batch(client, classify((r, ORIGIN) for r in records))


def test_migrations_are_recorded_and_idempotent(client):
    versions = [v for v, _, _ in store.migration_files()]
    recorded = [r[0] for r in client.query("SELECT version FROM schema_migrations ORDER BY version").result_rows]
    assert recorded == versions and versions[0] == 1
    assert store.apply_migrations(client) == []
    tables = {r[0] for r in client.query("SHOW TABLES").result_rows}
    assert {"engagement_events", "partners", "dead_letters", "schema_migrations"} <= tables


def test_same_source_and_id_is_stored_once_within_and_across_batches(client):
    first = write(client, raw("a"), raw("a"), raw("b"), raw("a", source="other"))
    assert (first.engagements, first.duplicates) == (3, 1)
    again = write(client, raw("a"), raw("b", subject="someone-else"), raw("c"))
    assert (again.engagements, again.duplicates) == (1, 2)
    assert queries.counts(client)["engagement_events"] == 4
    rows = client.query("SELECT source, id FROM engagement_events ORDER BY source, id").result_rows
    assert rows == [("other", "a"), ("zoom/webinars", "a"), ("zoom/webinars", "b"), ("zoom/webinars", "c")]


def test_stored_row_keeps_the_whole_event_and_utc_time(client):
    write(client, raw("x", mood="great"))
    row = client.query("SELECT time, role, duration_minutes, initiated_by, event FROM engagement_events").result_rows[0]
    assert row[0] == datetime(2026, 11, 20, 15, 0)
    assert row[1:4] == ("host", 60.0, "partner")
    assert orjson.loads(row[4])["data"]["mood"] == "great"


def test_dead_letters_are_identified_by_origin_and_keep_raw_bytes_and_reason(client):
    bad = b'{"id": "\xff\xfe"}'
    at = [ORIGIN._replace(offset=n) for n in range(3)]
    written = write_batch(client, classify([(bad, at[0]), (bad, at[1]), (b"[1]", at[2])]))
    assert written.dead_letters == 3  # equal bytes from two offsets: two dead letters, never merged
    assert write_batch(client, classify([(bad, at[0])])).dead_letters == 0  # the same record again: one
    letters = queries.dead_letters(client)
    assert sorted(d["code"] for d in letters) == ["invalid_utf8", "invalid_utf8", "not_object"]
    utf8 = next(d for d in letters if d["code"] == "invalid_utf8")
    assert utf8["payload"] == '{"id": "\\xff\\xfe"}'
    import base64

    assert base64.b64decode(utf8["payload_base64"]) == bad
    assert queries.dead_letter_reasons(client) == [
        {"code": "invalid_utf8", "count": 2},
        {"code": "not_object", "count": 1},
    ]


def test_profile_updates_merge_field_by_field_in_event_time_order(client):
    write(client, profile("p2", "2026-10-01T00:00:00Z", tier="gold"))
    write(client, profile("p1", "2026-09-01T00:00:00Z", name="Acme", tier="silver", region="EMEA"))
    write(client, profile("p1", "2026-09-01T00:00:00Z", name="Acme", tier="silver"))  # duplicate
    assert queries.counts(client)["partners"] == 2
    row = client.query("SELECT name, tier, region FROM partner_profiles WHERE partner_id = 'acme'").result_rows
    assert row == [("Acme", "gold", "EMEA")]


def test_unusable_dsn_gives_an_actionable_error():
    with pytest.raises(store.StoreError, match="http\\(s\\)://user:pass@host:port/db"):
        store.parse_dsn("postgres://u:secret@h/db")
    with pytest.raises(store.StoreError) as info:
        store.parse_dsn("ftp://user:hunter2@host/db")
    assert "hunter2" not in str(info.value)
    target = store.parse_dsn("https://u:p@ch.example:8443/analytics")
    assert (target.dsn, target.database) == ("https://u:p@ch.example:8443", "analytics")
    assert store.parse_dsn("http://localhost:8123").database == "partnerpulse"


def test_split_statements_ignores_comments():
    sql = "-- a comment; with a semicolon\nCREATE TABLE a (x UInt8) ENGINE = Memory;\n\nSELECT 1;\n"
    assert store.split_statements(sql) == ["CREATE TABLE a (x UInt8) ENGINE = Memory", "SELECT 1"]

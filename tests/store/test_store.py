"""Migrations and the idempotent sink, against a real chDB engine."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from streams.formats import json_bytes
from streams.rules.scoring import load_scoring
from streams.rules.watermark import midnights_between
from streams.store import connection as store
from streams.store import metrics, rows, windows
from streams.store import reads as queries
from streams.store.rows import Origin
from streams.store.writes import classify, write_batch
from tests import oracle
from tests.conftest import ROOT

ORIGIN = Origin("engagement-events", 0, 0, datetime(2026, 11, 26, tzinfo=UTC))


def raw(id_="e-1", source="zoom/webinars", subject="acme", time="2026-11-20T15:00:00Z", **data) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": id_,
            "source": source,
            "type": "partner.webinar",
            "time": time,
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


def test_a_classified_batch_keeps_each_row_right_sized():
    # Batches wait in flight as classified rows: with orjson's own buffers (4 KB and more
    # behind each result) 20,000 of them held ~80 MB, right-sized ~15 MB.
    records = [bytes(memoryview(raw(f"e-{i}", subject=f"p{i % 50}"))) for i in range(2_000)]
    tracemalloc.start()
    try:
        batch = classify((r, ORIGIN) for r in records)
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(batch.engagements) == len(records)
    assert held / len(records) < 1_500
    assert json_bytes({"a": [1, 2.5, None]}) == orjson.dumps({"a": [1, 2.5, None]})


def test_migrations_are_recorded_and_idempotent(client):
    versions = [v for v, _, _ in store.migration_files()]
    recorded = [r[0] for r in client.query("SELECT version FROM schema_migrations ORDER BY version").result_rows]
    assert recorded == versions and versions[0] == 1
    assert store.apply_migrations(client) == []
    tables = {r[0] for r in client.query("SHOW TABLES").result_rows}
    assert {"engagement_events", "partners", "dead_letters", "schema_migrations"} <= tables


def _by_time(client) -> list:
    return client.query("SELECT source, id, time, partner_id FROM engagement_events_by_time ORDER BY id").result_rows


def test_an_earlier_store_gets_its_raw_events_in_time_order_once_and_kept_current(store_before):
    # Migration 0014 replaces the `by_time` projection with a table of its own.
    client = store_before(14)
    write(client, *(raw(f"e-{i}", subject=f"p{i}", time=f"2026-11-{10 + i}T15:00:00Z") for i in range(5)))
    assert store.apply_migrations(client)[0] == 14
    stored = client.query("SELECT source, id, time, partner_id FROM engagement_events ORDER BY id").result_rows
    assert len(stored) == 5 and _by_time(client) == stored
    projections = client.query("SELECT name FROM system.projections WHERE database = currentDatabase() "
                               "AND table = 'engagement_events'").result_rows  # fmt: skip
    assert projections == []

    write(client, raw("e-5", subject="p5", time="2026-11-25T15:00:00Z"), raw("e-0"))  # one new, one again
    path = next(p for v, _, p in store.migration_files() if v == 14)
    for statement in store.split_statements(path.read_text()):  # a re-run after a crash copies nothing
        client.command(statement)
    assert len(_by_time(client)) == 6
    assert _by_time(client) == client.query("SELECT source, id, time, partner_id FROM engagement_events "
                                            "ORDER BY id").result_rows  # fmt: skip


def test_an_event_stored_twice_past_the_sink_is_merged_away_in_time_order_too(client):
    # The sink never inserts a duplicate; both tables drop one that got past it, at a merge.
    row = classify([(raw("e-1"), ORIGIN)]).engagements[0][1]
    for _ in range(2):
        client.raw_insert("engagement_events", rows.ENGAGEMENT_COLUMNS, row + b"\n", fmt="JSONCompactEachRow",
                          settings={"date_time_input_format": "best_effort"})  # fmt: skip
    assert len(_by_time(client)) == 2
    client.command("OPTIMIZE TABLE engagement_events FINAL")
    client.command("OPTIMIZE TABLE engagement_events_by_time FINAL")
    assert queries.counts(client)["engagement_events"] == 1 and len(_by_time(client)) == 1


def test_a_client_that_inserts_leaves_pandas_arrow_and_numpy_unimported(tmp_path):
    # clickhouse-connect imports pandas (~67 MB resident) on a first insert unless told not
    # to, and chDB pyarrow and numpy (~37 MB) when opened; imported on purpose, they work.
    code = ("import sys; from datetime import datetime, UTC; from streams.store.connection import connect; "
            f"c = connect('chdb://{tmp_path}/store'); "
            "c.insert('stream_progress', [('watermark', datetime.now(UTC))], column_names=['name', 'watermark']); "
            "print(*(m in sys.modules for m in ('pandas', 'pyarrow', 'numpy', 'chdb')), "
            "c.query('SELECT count() FROM stream_progress').result_rows[0][0]); "
            "import pyarrow; print(pyarrow.array([1, 2]).sum())")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "False", "True", "1", "3"]


@pytest.mark.parametrize("table", ["engagement_events", "engagement_events_by_time"])
def test_raw_events_merge_at_most_four_parts_at_once_column_by_column(client, table):
    # A merge's memory grows with the parts it merges (a buffer per column per part), and
    # with the columns it merges at once (migrations 0013-0015).
    engine = client.query("SELECT engine_full FROM system.tables WHERE database = currentDatabase() "
                          "AND name = {t:String}", parameters={"t": table}).result_rows[0][0]  # fmt: skip
    assert "max_parts_to_merge_at_once = 4" in engine
    assert "vertical_merge_algorithm_min_columns_to_activate = 1" in engine


def test_a_batch_is_looked_up_then_given_back_then_inserted(client):
    seen = []
    written = write_batch(client, classify((raw(f"e-{i}"), ORIGIN) for i in range(3)),
                          between=lambda c: seen.append(queries.counts(c)["engagement_events"]))  # fmt: skip
    assert seen == [0] and written.engagements == 3  # once, after the lookups, before the inserts
    assert queries.counts(client)["engagement_events"] == 3


def test_what_a_batch_holds_from_some_partitions_is_what_they_alone_classify_to():
    # After a rebalance a worker stores what came from the partitions it kept; the records
    # themselves are gone by then (streams.worker.ingest_loop).
    profile = orjson.dumps({"specversion": "1.0", "id": "pr-1", "source": "crm", "type": "partner.profile",
                            "time": "2026-11-20T15:00:00Z", "subject": "acme", "data": {"name": "Acme"}})  # fmt: skip
    values = [raw(f"e-{i}", subject=f"p{i}", time=f"2026-11-{10 + i}T15:00:00Z") for i in range(9)]
    values += [b"{not json", profile, raw("e-0")]  # a dead letter, a profile, a duplicate
    records = [(v, ORIGIN._replace(partition=i % 3, offset=i)) for i, v in enumerate(values)]
    kept = classify(records).only({0, 2})
    assert kept == classify([r for r in records if r[1].partition in {0, 2}])
    assert (len(kept.engagements), len(kept.profiles), len(kept.rejected), sorted(kept.latest)) == (7, 0, 1, [0, 2])


def test_same_source_and_id_is_stored_once_within_and_across_batches(client):
    first = write(client, raw("a"), raw("a"), raw("b"), raw("a", source="other"))
    assert (first.engagements, first.duplicates) == (3, 1)
    again = write(client, raw("a"), raw("b", subject="someone-else"), raw("c"))
    assert (again.engagements, again.duplicates) == (1, 2)
    assert queries.counts(client)["engagement_events"] == 4
    rows = client.query("SELECT source, id FROM engagement_events ORDER BY source, id").result_rows
    assert rows == [("other", "a"), ("zoom/webinars", "a"), ("zoom/webinars", "b"), ("zoom/webinars", "c")]


def test_a_large_batch_finds_exactly_what_is_stored_among_its_keys(client):
    # 30,000 keys (as a constant array ClickHouse took minutes beyond ~15k: the lookup sends
    # them as a subquery); ids are compared in ClickHouse, sources here: "e1" from another
    # source is another event.
    first = write(client, *(raw(f"e{i}") for i in range(0, 30_000, 2)), raw("e1", source="elsewhere"))
    assert first.engagements == 15_001
    again = write(client, *(raw(f"e{i}") for i in range(30_000)))
    assert (again.engagements, again.duplicates) == (15_000, 15_000)
    assert queries.counts(client)["engagement_events"] == 30_001


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


def day_counts(client) -> list[tuple]:
    """Engagements per partner and day as `partner_day_counts` holds them (parts merged)."""
    return client.query(
        "SELECT partner_id, d, sum(c) FROM partner_day_counts ARRAY JOIN days.1 AS d, days.2 AS c "
        "GROUP BY partner_id, d ORDER BY partner_id, d"
    ).result_rows


def test_the_day_counts_hold_every_event_once_however_the_batches_fall(client):
    """The rhythm's and the decline's series: a batch per event puts the same partner and
    day in many parts; the counts still add up, and the rhythm sees each day once."""
    events = [e for e in oracle.generate(partners=4, days=120) if e["type"] != "partner.profile"][:400]
    client.command("SYSTEM STOP MERGES partner_day_counts")  # parts as inserted, as between merges
    for e in events:  # one part per event
        write(client, orjson.dumps(e))
    parts = client.query("SELECT count() FROM partner_day_counts").result_rows[0][0]
    merged = client.query("SELECT count() FROM (SELECT DISTINCT partner_id, month FROM partner_day_counts)")
    assert parts > merged.result_rows[0][0]  # the same partner and month in several parts
    expected: dict[tuple, int] = {}
    for e in events:
        key = (e["subject"], oracle.parse(e["time"]).date())
        expected[key] = expected.get(key, 0) + 1
    assert day_counts(client) == sorted((p, d, n) for (p, d), n in expected.items())
    t = oracle.parse(events[-1]["time"])
    want = oracle.health(events, t)
    for m in metrics.compute_metrics(client, t, load_scoring()):
        assert m.usual_gap_days == pytest.approx(want[m.partner_id]["usual_gap_days"]), m.partner_id
        assert m.engagements_60d == want[m.partner_id]["engagements_60d"], m.partner_id
        assert m.usual_engagements_60d == pytest.approx(want[m.partner_id]["usual_engagements_60d"]), m.partner_id


def test_the_day_counts_are_backfilled_once_from_what_was_stored_before(client):
    """A store from before migration 0010: its events are counted when it is upgraded, and
    applying the migration again (as after a crash before it was recorded) adds nothing."""
    write(client, raw("a", time="2026-11-20T09:00:00Z"), raw("b"), raw("c", subject="globex"))
    client.command("DROP VIEW partner_day_counts_mv")
    client.command("DROP TABLE partner_day_counts")
    client.command("DELETE FROM schema_migrations WHERE version = 10")
    assert store.apply_migrations(client) == [10]
    rows = [("acme", datetime(2026, 11, 20).date(), 2), ("globex", datetime(2026, 11, 20).date(), 1)]
    assert day_counts(client) == rows
    migration = next(path for version, _, path in store.migration_files() if version == 10)
    for statement in store.split_statements(migration.read_text()):
        client.command(statement)
    assert day_counts(client) == rows
    write(client, raw("d", subject="globex"))  # and kept current from then on
    assert day_counts(client)[-1] == ("globex", datetime(2026, 11, 20).date(), 2)


def test_the_rhythm_counts_the_day_of_its_year_edge_once(client):
    """An event exactly on T − 365 d (a midnight) makes that day read raw: the whole days
    must leave it out, or it is counted twice (a gap of 0 days) — with another event later
    that day ("both") and without ("edge-only": then the day is outside the year)."""
    scoring = load_scoring()
    t = datetime(2026, 11, 1, tzinfo=UTC)
    edge = t - timedelta(days=scoring.rhythm("history_days"))

    def event(partner: str, at: datetime, n: int) -> dict:
        return orjson.loads(raw(f"{partner}-{n}", subject=partner, time=at.isoformat()))

    events = []
    for partner, later in (("both", True), ("edge-only", False)):
        # 1..26 days, each once: one gap more or less moves the quantile.
        gaps = [7, 3, 12, 1, 19, 5, 24, 9, 15, 2, 21, 11, 26, 4, 17, 8, 23, 6, 14, 10, 25, 13, 18, 16, 20, 22]
        days = [edge + timedelta(days=sum(gaps[: i + 1]), hours=15) for i in range(len(gaps))]
        events += [event(partner, at, n) for n, at in enumerate([edge, *([edge + timedelta(hours=9)] if later else []),
                                                                  *days])]  # fmt: skip
    write(client, *(orjson.dumps(e) for e in events))
    raw_days = metrics._read_raw(client, windows.frames_at([t], scoring))[0]
    assert raw_days[windows.EDGES.index("rhythm_from")] == edge.date()  # the edge's day is read raw
    want = oracle.health(events, t)
    found = {m.partner_id: m for m in metrics.compute_metrics(client, t, scoring)}
    for partner in ("both", "edge-only"):
        assert found[partner].usual_gap_days == pytest.approx(want[partner]["usual_gap_days"]), partner


def test_midnights_read_whole_days_unless_an_event_sits_on_an_edge(client):
    """The daily evaluation's times: an edge on a midnight reads whole days of the rollup,
    unless an event is stored exactly on it (the oracle's population has events at
    00:00:00.000), when its day is read raw as any other edge's. Either way every metric
    equals the oracle's, at every midnight of the population."""
    events = [e for e in oracle.generate() if e["type"] != "partner.profile"]
    write(client, *(orjson.dumps(e) for e in events))
    first, last = oracle.parse(events[0]["time"]), max(oracle.parse(e["time"]) for e in events)
    midnights = midnights_between(first, last + timedelta(days=130))
    by_time = metrics.compute_metrics_at(client, midnights, load_scoring())
    raw = metrics._read_raw(client, windows.frames_at(midnights, load_scoring()))
    whole = sum(not any(days) for days in raw)
    assert 20 < whole < len(midnights) - 20  # frames with no day read raw, and with some
    for t, found in by_time.items():
        assert_oracle(found, events, t)


def assert_oracle(found: list[metrics.Metrics], events: list[dict], t: datetime, partners=None) -> None:
    """Every metric of each partner (those asked for) as the oracle computes it as of T."""
    want = {p: w for p, w in oracle.health(events, t).items() if partners is None or p in partners}
    assert {m.partner_id for m in found} == set(want), t
    for m in found:
        w = want[m.partner_id]
        assert (m.engagements_90d, m.distinct_types_90d, m.ecosystem_partners_90d, m.engagements_60d) == (
            w["engagements_90d"], w["distinct_types_90d"], w["ecosystem_partners_90d"], w["engagements_60d"]
        ), (t, m.partner_id)  # fmt: skip
        for name in ("quality_minutes_30d", "quality_minutes_prev_30d", "baseline_minutes_30d",
                     "usual_engagements_60d", "usual_gap_days"):  # fmt: skip
            expected = None if w[name] is None else pytest.approx(w[name], rel=1e-9, abs=1e-9)
            assert getattr(m, name) == expected, (t, m.partner_id, name)
        assert (m.first_engagement_at, m.last_engagement_at) == (w["first_engagement_at"], w["last_engagement_at"])
        assert m.as_of == t and m.first_engagement_at.tzinfo is UTC


def test_the_partners_asked_for_read_their_raw_rows_and_get_what_everyone_gets(client):
    """`explain`, the report and one partner's health ask for a few partners: their metrics
    come from their raw rows alone, every window by time. At midnights (with and without an
    event on an edge), at event times, between, before a partner's first engagement and
    long after the last: the oracle's metrics, those the query for every partner gives."""
    events = [e for e in oracle.generate() if e["type"] != "partner.profile"]
    write(client, *(orjson.dumps(e) for e in events))
    scoring = load_scoring()
    first, last = oracle.parse(events[0]["time"]), max(oracle.parse(e["time"]) for e in events)
    at_events = [oracle.parse(events[i]["time"]) for i in range(0, len(events), max(1, len(events) // 12))]
    times = [*midnights_between(first, last + timedelta(days=130))[::9], *at_events,
             *(t + timedelta(hours=7, milliseconds=1) for t in at_events), first - timedelta(days=1)]  # fmt: skip
    everyone = metrics.compute_metrics_at(client, times, scoring)
    partners = sorted({e["subject"] for e in events})
    for asked in (partners[:2], partners[-1], ["nobody"]):
        found = metrics.compute_metrics_at(client, times, scoring, asked)
        wanted = [asked] if isinstance(asked, str) else asked
        assert found.keys() == everyone.keys()
        for t in times:
            t = windows.to_millis(t)
            assert found[t] == [m for m in everyone[t] if m.partner_id in wanted], (asked, t)
            assert_oracle(found[t], events, t, wanted)
    assert any(found for found in everyone.values()) and not everyone[windows.to_millis(first - timedelta(days=1))]


def test_first_and_last_engagement_before_short_windows_stop_at_t(client, tmp_path):
    """Before its windows the health query reads only first and last engagement, by whole
    months where it may: with windows of a few days, the month they start in goes on past
    T, and an event after T must not be anyone's last engagement."""
    path = tmp_path / "scoring.yaml"
    path.write_text("windows_days:\n  month: 3\n  baseline_months: 1\n  activity: 5\n")
    t = datetime(2026, 11, 20, 12, tzinfo=UTC)  # windows from Nov 14: that month ends after T
    write(client, raw("a1", time="2026-11-02T08:00:00Z"), raw("a2", time="2026-11-25T08:00:00Z"),
          raw("b1", subject="globex", time="2026-10-10T08:00:00Z"),
          raw("b2", subject="globex", time="2026-11-21T08:00:00Z"))  # fmt: skip
    for scoring, start in ((load_scoring(path), "2026-11-14"), (load_scoring(), "2026-07-23")):
        assert min(windows.frames_at([t], scoring)[0][1:5]).date().isoformat() == start
        got = {m.partner_id: (m.first_engagement_at, m.last_engagement_at)
               for m in metrics.compute_metrics(client, t, scoring)}  # fmt: skip
        assert got == {
            "acme": (datetime(2026, 11, 2, 8, tzinfo=UTC),) * 2,
            "globex": (datetime(2026, 10, 10, 8, tzinfo=UTC),) * 2,
        }

"""The daily evaluation on a real store (chDB): a catch-up that reads the next midnights'
metrics ahead (another thread and client) decides exactly what one that reads them in
turn decides, and evaluates from what was read ahead only for the midnights it was read for."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, datetime, timedelta

from streams.rules.fit import DEFAULT_IDEAL, load_ideal
from streams.rules.scoring import load_scoring
from streams.store.alerts import read_alerts
from streams.store.evaluations import Evaluator
from streams.store.progress import record_progress
from tests import oracle
from tests.rules.test_alerts import EXPECTED
from tests.store.test_fit_store import EVENTS, load

NOW = datetime.now(UTC)
LATEST = oracle.parse(EVENTS[-1]["time"])


def evaluator(read_ahead=None) -> Evaluator:
    return Evaluator(load_scoring(), timedelta(hours=1), [], timedelta(seconds=30), load_ideal(DEFAULT_IDEAL),
                     read_ahead=read_ahead)  # fmt: skip


def catch_up(client, e: Evaluator, limit: int) -> list[datetime]:
    done = []
    while step := e.advance(client, NOW, limit):
        done += step
    return done


def decided(client) -> tuple[list, list]:
    snapshots = client.query("SELECT * EXCEPT computed_at FROM partner_health FINAL ORDER BY day, partner_id")
    alerts = sorted((a["id"], a["state"], a["reason"], a["resolved_reason"]) for a in read_alerts(client))
    return snapshots.result_rows, alerts


def forget_decisions(client) -> None:
    for table in ("evaluations", "partner_health", "partner_alerts", "alert_deliveries"):
        client.command(f"TRUNCATE TABLE {table}")


def test_a_catch_up_reading_ahead_decides_what_one_reading_in_turn_decides(client, store_thread):
    load(client, EVENTS)
    record_progress(client, [("engagement-events", 0, LATEST, NOW)])
    in_turn = catch_up(client, evaluator(), limit=30)
    expected = decided(client)

    forget_decisions(client)
    asked: list[list[datetime]] = []

    def reading(fn, midnights, *args):
        asked.append(midnights)
        return store_thread.read_ahead(fn, midnights, *args)

    ahead = catch_up(client, evaluator(reading), limit=30)
    assert ahead == in_turn
    # Every batch after the first was read ahead, as the one before it was decided.
    batches = [in_turn[i : i + 30] for i in range(0, len(in_turn), 30)]
    assert asked == batches[1:] and len(asked) >= 3
    assert decided(client) == expected
    fired = sorted((a["partner_id"], a["kind"], a["fired_at"][:10]) for a in read_alerts(client))
    assert fired == sorted((p, k, oracle._iso(f)[:10]) for p, k, f, _ in EXPECTED)


def test_what_was_read_ahead_is_used_only_for_the_midnights_it_was_read_for(client):
    load(client, EVENTS)
    record_progress(client, [("engagement-events", 0, LATEST, NOW)])
    asked: list[list[datetime]] = []

    def nobody(fn, midnights, *args):
        """A read that found no partner at all: what is evaluated from it writes no snapshot."""
        asked.append(midnights)
        done: Future = Future()
        done.set_result({m: [] for m in midnights})
        return done

    e = evaluator(nobody)
    first = e.advance(client, NOW, 7)
    assert len(first) == 7 and asked == [
        [first[-1] + timedelta(days=d) for d in range(1, 8)]
    ]  # a full batch: the next one is read ahead
    second = e.advance(client, NOW, 7)
    assert second == asked[0]
    per_day = dict(client.query("SELECT day, count() FROM partner_health FINAL GROUP BY day").result_rows)
    assert all(per_day.get(m.date(), 0) == 0 for m in second)  # from the read ahead: nobody
    assert sum(per_day.get(m.date(), 0) for m in first) > 0  # read in turn: the partners
    # A catch-up cut shorter than what was read ahead (ingest got busy) reads in turn again.
    third = e.advance(client, NOW, 3)
    assert third == asked[1][:3]
    per_day = dict(client.query("SELECT day, count() FROM partner_health FINAL GROUP BY day").result_rows)
    assert sum(per_day.get(m.date(), 0) for m in third) > 0

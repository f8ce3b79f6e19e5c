"""Evaluation as event time crosses each UTC midnight: health snapshots (and, on the
same tick, alerts). Runs on the store thread; state of record is the `evaluations`
table, so a restarted worker resumes at the next midnight, none skipped or repeated."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from streams.formats import aware
from streams.rules import alerting
from streams.rules.alerting import Episodes
from streams.rules.fit import Ideal, load_ideal
from streams.rules.scoring import COMPONENTS, METRICS, Health, Metrics, Scoring, assess
from streams.rules.watermark import midnight_at_or_before, midnights_between, watermark
from streams.store import outbox, profiles
from streams.store.alerts import firing_episodes, write_alerts
from streams.store.metrics import compute_metrics_at
from streams.store.outbox import Target
from streams.store.progress import read_progress

log = logging.getLogger(__name__)
ByMidnight = dict[datetime, list[Metrics]]

HEALTH_COLUMNS = ["day", "as_of", "partner_id", "score", "status", *COMPONENTS, *METRICS]


def health_row(midnight: datetime, h: Health) -> tuple:
    """A `partner_health` snapshot row, in HEALTH_COLUMNS order."""
    return (midnight.date(), midnight, h.metrics.partner_id, h.score, h.status,
            *(h.components[c] for c in COMPONENTS), *h.metric_row())  # fmt: skip


class Evaluator:
    def __init__(self, scoring: Scoring, lateness: timedelta, targets: list[Target], idle: timedelta,
                 ideal: Ideal | None = None, read_ahead: Callable[..., Future] | None = None):  # fmt: skip
        self.scoring = scoring
        self.ideal = ideal or load_ideal()  # a bad file stops the worker at start, naming its line
        self.lateness = lateness
        self.idle = idle
        self.targets = targets
        # Caches of what the store holds, (re)loaded from it when None.
        self._last: datetime | None = None  # the last midnight evaluated
        self._saved: datetime | None = None  # the watermark saved in stream_progress
        self._open: Episodes | None = None  # (partner, kind) -> firing episode
        # While catching up, the next midnights' metrics are read (by `read_ahead`, e.g.
        # StoreExecutor.read_ahead: another thread and client) as this batch is decided:
        # the query runs in ClickHouse while Python assesses. Only midnights already due
        # are read, so every event within the allowed lateness is stored before the read.
        self._read_ahead = read_ahead
        self._ahead: tuple[list[datetime], Future] | None = None

    @property
    def last_evaluated(self) -> datetime | None:
        """The last midnight evaluated, by this worker or an earlier one (once known)."""
        return self._last

    def _resume_point(self, client: Client) -> datetime | None:
        if self._saved is None:
            count, saved = client.query(
                "SELECT count(), max(watermark) FROM stream_progress WHERE name = 'watermark'"
            ).result_rows[0]
            self._saved = aware(saved) if count else None
        if self._last is None:
            count, last = client.query("SELECT count(), max(midnight) FROM evaluations").result_rows[0]
            if count:
                self._last = aware(last)
            else:
                count, first = client.query("SELECT count(), min(time) FROM engagement_events").result_rows[0]
                if not count:
                    return None
                # Start early enough for an event up to the allowed lateness before the
                # first one stored (it may still arrive): at worst a midnight with no rows.
                self._last = midnight_at_or_before(aware(first) - self.lateness - timedelta(milliseconds=1))
        return self._last

    def forget(self) -> None:
        """Drop the caches: another worker may have evaluated in the meantime."""
        self._last = self._open = self._saved = self._ahead = None

    def watermark(self, client: Client, now: datetime) -> datetime | None:
        return watermark(read_progress(client), now, self.lateness, self.idle)

    def advance(self, client: Client, now: datetime, limit: int = 7) -> list[datetime]:
        """Evaluate, in order, the midnights the stream's watermark has crossed since the
        last one, at most `limit` per call (so ingest and queries get the store thread in
        between). The watermark saved by an earlier run counts too: it never moves back."""
        mark = self.watermark(client, now)
        last = self._resume_point(client)
        if last is None:
            return []
        crossed = mark is not None and mark >= last + timedelta(days=1)
        if crossed and (self._saved is None or mark > self._saved):
            client.insert("stream_progress", [("watermark", mark)], column_names=["name", "watermark"])
            self._saved = mark
        if self._saved is None:
            return []
        due = midnights_between(last, self._saved)[:limit]
        if due:
            try:
                metrics = self._metrics(client, due)
                if self._read_ahead is not None and len(due) == limit:  # a catch-up: read the next ones
                    following = midnights_between(due[-1], self._saved)[:limit]
                    if following:
                        self._ahead = (following, self._read_ahead(compute_metrics_at, following, self.scoring))
                self.evaluate(client, due, metrics)
            except Exception:
                self._last = self._open = self._ahead = None  # the store is the truth: reload it next time
                raise
            self._last = due[-1]
        return due

    def _metrics(self, client: Client, midnights: list[datetime]) -> ByMidnight:
        """Every partner's metrics at these midnights: as read ahead (waiting for the read
        if it still runs), or read now."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == midnights:
            try:
                return ahead[1].result()
            except Exception as exc:  # read again here: a lasting fault raises from there
                log.warning("reading ahead failed, reading again: %s", type(exc).__name__)
        return compute_metrics_at(client, midnights, self.scoring)

    def open_episodes(self, client: Client) -> Episodes:
        if self._open is None:
            self._open = firing_episodes(client)
        return self._open

    def evaluate(self, client: Client, midnights: list[datetime], metrics: ByMidnight | None = None) -> int:
        """Snapshots and alert transitions for consecutive midnights, in order (from their
        metrics if given); rows written."""
        by_midnight = compute_metrics_at(client, midnights, self.scoring) if metrics is None else metrics
        rows, changed = [], []
        episodes = self.open_episodes(client)
        history = profiles.fit_history(client, midnights[-1], self.ideal, since=midnights[0])
        for midnight in midnights:
            healths = [assess(m, self.scoring) for m in by_midnight[midnight]]
            rows += [health_row(midnight, h) for h in healths]
            fits = {pid: f.fit for pid, f in profiles.as_of(history, midnight).items()}
            changed += alerting.decide(healths, episodes, midnight, self.scoring, fits)
        if rows:
            client.insert("partner_health", rows, column_names=HEALTH_COLUMNS)
        if changed:
            write_alerts(client, changed)
            client.insert(
                "alert_deliveries", outbox.outbox_rows(changed, self.targets, datetime.now(UTC)),
                column_names=outbox.DELIVERY_COLUMNS,
            )  # fmt: skip
        # Recorded last: a crash before this line re-evaluates these midnights, which
        # replaces the same snapshots (ReplacingMergeTree on partner and day) and the
        # same alert versions (ids are deterministic; the resolved version wins).
        client.insert(
            "evaluations",
            [(m, len(by_midnight[m])) for m in midnights],
            column_names=["midnight", "partners"],
        )
        return len(rows)

"""Evaluation as event time crosses each UTC midnight: health snapshots (and, on the
same tick, alerts). Runs on the store thread; state of record is the `evaluations`
table, so a restarted worker resumes at the next midnight, none skipped or repeated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from streams.health import assess_all
from streams.scoring import Scoring
from streams.watermark import midnight_at_or_before, midnights_between

HEALTH_COLUMNS = [
    "day", "as_of", "partner_id", "score", "status", "quality", "recency", "reciprocity", "breadth", "momentum",
    "quality_minutes_30d", "quality_minutes_prev_30d", "baseline_minutes_30d", "engagements_90d",
    "partner_initiated_share", "distinct_types_90d", "ecosystem_partners_90d", "first_engagement_at",
    "last_engagement_at", "days_since_last", "trend",
]  # fmt: skip


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class Evaluator:
    def __init__(self, scoring: Scoring, lateness: timedelta):
        self.scoring = scoring
        self.lateness = lateness
        self._last: datetime | None = None  # the last midnight evaluated (cached from the store)

    def _resume_point(self, client: Client) -> datetime | None:
        if self._last is None:
            count, last = client.query("SELECT count(), max(midnight) FROM evaluations").result_rows[0]
            if count:
                self._last = _aware(last)
            else:
                count, first = client.query("SELECT count(), min(time) FROM engagement_events").result_rows[0]
                if not count:
                    return None
                # Start early enough for an event up to the allowed lateness before the
                # first one stored (it may still arrive): at worst a midnight with no rows.
                self._last = midnight_at_or_before(_aware(first) - self.lateness - timedelta(milliseconds=1))
        return self._last

    def advance(self, client: Client, watermark: datetime | None) -> list[datetime]:
        """Evaluate, in order, every midnight the watermark has crossed since the last one."""
        if watermark is None:
            return []
        if self._last is not None and watermark < self._last + timedelta(days=1):
            return []
        last = self._resume_point(client)
        if last is None:
            return []
        done = []
        for midnight in midnights_between(last, watermark):
            self.evaluate(client, midnight)
            self._last = midnight
            done.append(midnight)
        return done

    def evaluate(self, client: Client, midnight: datetime) -> int:
        healths = assess_all(client, midnight, self.scoring)
        rows = []
        for h in healths:
            m, c = h.metrics, h.components
            rows.append((
                midnight.date(), midnight, m.partner_id, h.score, h.status, c["quality"], c["recency"],
                c["reciprocity"], c["breadth"], c["momentum"], m.quality_minutes_30d, m.quality_minutes_prev_30d,
                m.baseline_minutes_30d, m.engagements_90d, m.partner_initiated_share, m.distinct_types_90d,
                m.ecosystem_partners_90d, m.first_engagement_at, m.last_engagement_at, m.days_since_last, h.trend,
            ))  # fmt: skip
        if rows:
            client.insert("partner_health", rows, column_names=HEALTH_COLUMNS)
        # Recorded last: a crash before this line re-evaluates the midnight, which
        # replaces the same snapshots (ReplacingMergeTree on partner and day).
        client.insert("evaluations", [(midnight, len(rows))], column_names=["midnight", "partners"])
        return len(rows)

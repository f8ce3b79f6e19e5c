"""Evaluation as event time crosses each UTC midnight: health snapshots (and, on the
same tick, alerts). Runs on the store thread; state of record is the `evaluations`
table, so a restarted worker resumes at the next midnight, none skipped or repeated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from streams.formats import aware, iso, parse_iso
from streams.rules import alerting
from streams.rules.scoring import Scoring, assess
from streams.rules.watermark import PartitionProgress, midnight_at_or_before, midnights_between, watermark
from streams.store import outbox as delivery
from streams.store.metrics import compute_metrics_at, parse_as_of
from streams.store.outbox import Target

HEALTH_COLUMNS = [
    "day", "as_of", "partner_id", "score", "status", "quality", "recency", "reciprocity", "breadth", "momentum",
    "quality_minutes_30d", "quality_minutes_prev_30d", "baseline_minutes_30d", "engagements_90d",
    "partner_initiated_share", "distinct_types_90d", "ecosystem_partners_90d", "first_engagement_at",
    "last_engagement_at", "days_since_last", "trend",
]  # fmt: skip


class Evaluator:
    def __init__(self, scoring: Scoring, lateness: timedelta, targets: list[Target], idle: timedelta):
        self.scoring = scoring
        self.lateness = lateness
        self.idle = idle
        self.targets = targets
        # Caches of what the store holds, (re)loaded from it when None.
        self._last: datetime | None = None  # the last midnight evaluated
        self._saved: datetime | None = None  # the watermark saved in stream_progress
        self._open: dict[tuple[str, str], dict[str, Any]] | None = None  # (partner, kind) -> firing alert

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
        self._last = self._open = self._saved = None

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
                self.evaluate(client, due)
            except Exception:
                self._last = self._open = None  # the store is the truth: reload it next time
                raise
            self._last = due[-1]
        return due

    def open_episodes(self, client: Client) -> dict[tuple[str, str], dict[str, Any]]:
        if self._open is None:
            self._open = {
                (a["partner_id"], a["kind"]): a for a in read_alerts(client, state="firing", with_deliveries=False)
            }
        return self._open

    def evaluate(self, client: Client, midnights: list[datetime]) -> int:
        """Snapshots and alert transitions for consecutive midnights, in order; rows written."""
        by_midnight = compute_metrics_at(client, midnights, self.scoring)
        rows, changed = [], []
        for midnight in midnights:
            healths = [assess(m, self.scoring) for m in by_midnight[midnight]]
            for h in healths:
                m, c = h.metrics, h.components
                rows.append((
                    midnight.date(), midnight, m.partner_id, h.score, h.status, c["quality"], c["recency"],
                    c["reciprocity"], c["breadth"], c["momentum"], m.quality_minutes_30d, m.quality_minutes_prev_30d,
                    m.baseline_minutes_30d, m.engagements_90d, m.partner_initiated_share, m.distinct_types_90d,
                    m.ecosystem_partners_90d, m.first_engagement_at, m.last_engagement_at, m.days_since_last, h.trend,
                ))  # fmt: skip
            changed += self._transitions(client, healths, midnight)
        if rows:
            client.insert("partner_health", rows, column_names=HEALTH_COLUMNS)
        if changed:
            client.insert("partner_alerts", [_alert_row(a) for a in changed], column_names=ALERT_COLUMNS)
            client.insert(
                "alert_deliveries",
                delivery.outbox_rows(changed, self.targets, datetime.now(UTC)),
                column_names=delivery.DELIVERY_COLUMNS,
            )
        # Recorded last: a crash before this line re-evaluates these midnights, which
        # replaces the same snapshots (ReplacingMergeTree on partner and day) and the
        # same alert versions (ids are deterministic; the resolved version wins).
        client.insert(
            "evaluations",
            [(m, len(by_midnight[m])) for m in midnights],
            column_names=["midnight", "partners"],
        )
        return len(rows)

    def _transitions(self, client: Client, healths, midnight: datetime) -> list[dict[str, Any]]:
        """The alert versions decided at `midnight` (the open episodes cache follows them)."""
        episodes = self.open_episodes(client)
        open_kinds: dict[str, set[str]] = {}
        for partner, kind in episodes:
            open_kinds.setdefault(partner, set()).add(kind)
        changed = []
        for h in healths:
            partner = h.metrics.partner_id
            for t in alerting.transitions(h, open_kinds.get(partner, set()), midnight, self.scoring):
                if t.state == "firing":
                    alert = {
                        "id": alerting.alert_id(partner, t.kind, midnight), "partner_id": partner, "kind": t.kind,
                        "state": "firing", "fired_at": iso(midnight), "resolved_at": None, "reason": t.reason,
                        "resolved_reason": "", "metrics": alerting.metrics_snapshot(h), "resolved_metrics": None,
                    }  # fmt: skip
                    episodes[(partner, t.kind)] = alert
                else:
                    alert = {
                        **episodes.pop((partner, t.kind)), "state": "resolved", "resolved_at": iso(midnight),
                        "resolved_reason": t.reason, "resolved_metrics": alerting.metrics_snapshot(h),
                    }  # fmt: skip
                changed.append(alert)
        return changed


ALERT_COLUMNS = [
    "id", "partner_id", "kind", "state", "fired_at", "resolved_at", "reason", "resolved_reason", "metrics",
    "resolved_metrics", "version",
]  # fmt: skip


def _parse(text: str | None) -> datetime | None:
    return parse_iso(text) if text else None


def _alert_row(a: dict[str, Any]) -> tuple:
    return (
        a["id"], a["partner_id"], a["kind"], a["state"], _parse(a["fired_at"]), _parse(a["resolved_at"]),
        a["reason"], a["resolved_reason"], orjson.dumps(a["metrics"]).decode(),
        orjson.dumps(a["resolved_metrics"]).decode() if a["resolved_metrics"] is not None else "",
        1 if a["state"] == "firing" else 2,
    )  # fmt: skip


def read_alerts(
    client: Client,
    since: str | datetime | None = None,
    state: str | None = None,
    partner: str | None = None,
    kind: str | None = None,
    with_deliveries: bool = True,
) -> list[dict[str, Any]]:
    """Alert episodes, newest transition first, each with the metrics that triggered it."""
    where, params = [], {}
    if since:
        when = since if isinstance(since, datetime) else parse_as_of(since)
        where.append("(fired_at >= {since:DateTime64(3, 'UTC')} OR resolved_at >= {since:DateTime64(3, 'UTC')})")
        params["since"] = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    for name, value in (("state", state), ("partner_id", partner), ("kind", kind)):
        if value:
            where.append(f"{name} = {{{name}:String}}")
            params[name] = value
    result = client.query(
        "SELECT id, partner_id, kind, state, fired_at, resolved_at, reason, resolved_reason, metrics, resolved_metrics "
        "FROM partner_alerts FINAL " + ("WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY greatest(fired_at, ifNull(resolved_at, fired_at)) DESC, partner_id, kind",
        parameters=params,
    )  # fmt: skip
    alerts = []
    for row in result.named_results():
        row["fired_at"] = iso(row["fired_at"])
        row["resolved_at"] = iso(row["resolved_at"]) if row["resolved_at"] is not None else None
        row["metrics"] = orjson.loads(row["metrics"])
        row["resolved_metrics"] = orjson.loads(row["resolved_metrics"]) if row["resolved_metrics"] else None
        alerts.append(row)
    if with_deliveries and alerts:
        names = dict(client.query("SELECT partner_id, name FROM partner_profiles").result_rows)
        sent = delivery.deliveries_by_alert(client, [a["id"] for a in alerts])
        for a in alerts:
            a["name"] = names.get(a["partner_id"])
            a["deliveries"] = sent.get(a["id"], [])
    return alerts


def read_progress(client: Client, topic: str = "engagement-events") -> list[PartitionProgress]:
    result = client.query(
        "SELECT partition, max(latest), max(active_at), max(owned_at) FROM partition_progress "
        "WHERE topic = {topic:String} GROUP BY partition ORDER BY partition",
        parameters={"topic": topic},
    )
    return [
        PartitionProgress(p, aware(latest) if latest else None, aware(active), aware(owned))
        for p, latest, active, owned in result.result_rows
    ]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def record_progress(client: Client, rows: list[tuple[str, int, datetime | None, datetime]]) -> None:
    """(topic, partition, latest event time or None, wall clock now) per partition read or
    assigned: activity, and ownership too."""
    if rows:
        client.insert(
            "partition_progress",
            [(t, p, latest, now, now) for t, p, latest, now in rows],
            column_names=["topic", "partition", "latest", "active_at", "owned_at"],
        )


def record_ownership(client: Client, topic: str, partitions: list[int], now: datetime) -> None:
    """The owner's heartbeat: it still reads these partitions (no activity implied)."""
    if partitions:
        client.insert(
            "partition_progress",
            [(topic, p, None, _EPOCH, now) for p in partitions],
            column_names=["topic", "partition", "latest", "active_at", "owned_at"],
        )

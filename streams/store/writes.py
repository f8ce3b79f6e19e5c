"""Writing a batch: raw records in, each stored exactly once.

Delivery from Kafka is at-least-once (the embedded broker has no transactions), so
writing is idempotent: before inserting, it drops every (source, id) that is already
stored, or that appears earlier in the same batch. It runs on the store thread
(`streams.store.executor`), which makes check-then-insert atomic within the worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from streams.formats import json_bytes
from streams.rules.bindings import from_kafka
from streams.rules.validation import Accepted, Rejected, validate
from streams.store import rows
from streams.store.progress import record_progress
from streams.store.rows import Origin


@dataclass
class Classified:
    """A batch split by destination; pure data."""

    # Engagements already as their row, a JSON line, keyed by (source, id), with the
    # partition they came from: built on the classifying thread, and neither the parsed
    # event nor the record is kept while the batch waits.
    engagements: list[tuple[tuple[str, str], bytes, int]] = field(default_factory=list)
    profiles: list[tuple[Accepted, int]] = field(default_factory=list)  # (profile, partition)
    rejected: list[tuple[Rejected, bytes, Origin]] = field(default_factory=list)
    latest: dict[int, datetime] = field(default_factory=dict)  # partition -> latest accepted event time
    active: dict[tuple[str, int], datetime] = field(default_factory=dict)  # (topic, partition) -> when read

    def only(self, partitions: set[int]) -> Classified:
        """What came from `partitions` (of the one topic a worker reads): what is left to
        store once a rebalance took the other partitions."""
        return Classified(
            engagements=[e for e in self.engagements if e[2] in partitions],
            profiles=[p for p in self.profiles if p[1] in partitions],
            rejected=[r for r in self.rejected if r[2].partition in partitions],
            latest={p: at for p, at in self.latest.items() if p in partitions},
            active={key: at for key, at in self.active.items() if key[1] in partitions},
        )


@dataclass(frozen=True)
class Written:
    engagements: int
    profiles: int
    dead_letters: int
    duplicates: int


def classify(batch: Iterable[tuple[bytes, Origin]]) -> Classified:
    out = Classified()
    for raw, origin in batch:
        out.active[(origin.topic, origin.partition)] = origin.received_at
        # Every binding mode as the structured event; a dead letter keeps what arrived.
        result = validate(from_kafka(raw, origin.headers) if origin.headers else raw)
        if isinstance(result, Rejected):
            out.rejected.append((result, raw, origin))
            continue
        if result.kind == "profile":
            out.profiles.append((result, origin.partition))
        else:
            out.engagements.append((rows.key(result), json_bytes(rows.engagement_row(result)), origin.partition))
        if origin.partition not in out.latest or result.time > out.latest[origin.partition]:
            out.latest[origin.partition] = result.time
    return out


def _json_literal(value) -> tuple[str, dict, dict]:
    """A large value for a query as (SQL expression, parameters, settings).

    It travels as one hex-encoded heredoc: clickhouse-connect escapes bound strings one
    character at a time in Python (slower than the lookup itself), hex holds nothing an
    id could break out of, and the query body has no URL-length limit."""
    data = orjson.dumps(value).hex().encode()
    return "unhex($json$)", {"$json$": data}, {"max_query_size": len(data) + 65536}


def _insert_json(client: Client, table: str, columns: list[str], lines: list[bytes]) -> None:
    """Insert rows given as JSON lines (see `classify`). orjson wrote them in C and
    ClickHouse parses them in C++: clickhouse-connect's Native encoder would run in
    Python on the store thread, which is the worker's bottleneck. Sent in chunks of
    `_LINES_PER_CHUNK`: the batch's lines are never joined into one more copy of
    themselves (~9 MB for 20k rows, held through the insert: step 29)."""
    chunks = (b"\n".join(lines[i : i + _LINES_PER_CHUNK]) + b"\n" for i in range(0, len(lines), _LINES_PER_CHUNK))
    client.raw_insert(table, columns, chunks, fmt="JSONCompactEachRow", settings=_JSON_INSERT)


_LINES_PER_CHUNK = 1000  # ~0.5 MB: few writes (a server receives them as HTTP chunks)


# orjson writes times as RFC 3339 with an offset, which needs the best-effort parser.
# The rollup views (and the tables' projections) are independent of each other: built in
# parallel they use the second core (the store step of a batch: −10%). One batch's lines
# parsed on one thread: in parallel ClickHouse first reads them into segments of 10 MB,
# which took more memory (~8 MB) and more time (53 against 40 ms for 20k rows, step 29).
_JSON_INSERT = {"date_time_input_format": "best_effort", "parallel_view_processing": 1,
                "input_format_parallel_parsing": 0}  # fmt: skip


def already_stored(client: Client, table: str, keys: list) -> set:
    """Which of `keys` `table` holds: (source, id) pairs, or plain ids (`dead_letters`).

    The ids travel as one set (`IN` a subquery: as a constant array ClickHouse took
    minutes beyond ~15k keys) and only `id` is compared in ClickHouse; the source is then
    checked here, for the few rows found (redeliveries). A batch's keys fall in nearly
    every granule, so this reads the table's `id` column once: about a third of what
    comparing (source, id) there read (0.19 against 0.55 s per 10k keys at 10M events).
    The aliases are for memory: unnamed, a constant is named by its own text, and the
    names travel with every step of the query (~35 → ~28 MB for 20k keys, step 29)."""
    pairs = bool(keys) and isinstance(keys[0], tuple)
    literal, parameters, settings = _json_literal([k[1] for k in keys] if pairs else keys)
    query = (f"SELECT {'source, id' if pairs else 'id'} FROM {table} "
             f"WHERE id IN (SELECT arrayJoin(JSONExtract({literal} AS keys, 'Array(String)')) AS key)")  # fmt: skip
    found = client.query(query, parameters=parameters, settings=settings).result_rows
    return {tuple(row) if pairs else row[0] for row in found} & set(keys)


def _missing(client: Client, table: str, keyed: Iterable[tuple[Any, Any]]) -> list:
    """The first item of each key not stored in `table` yet."""
    first: dict[Any, Any] = {}
    for k, item in keyed:
        first.setdefault(k, item)
    if not first:
        return []
    stored = already_stored(client, table, list(first))
    return [item for k, item in first.items() if k not in stored]


def write_batch(
    client: Client, batch: Classified, between: Callable[[Client], object] = lambda client: None
) -> Written:
    """Store what `batch` holds that is not stored yet. `between(client)` runs after the
    lookups and before the inserts: a worker gives the lookups' memory back there, so the
    two working sets do not add up (an embedded worker's peak: −17 MB a batch, step 29)."""
    engagements = _missing(client, "engagement_events", ((key, row) for key, row, _ in batch.engagements))
    profiles = _missing(client, "partners", ((rows.key(p), p) for p, _ in batch.profiles))
    dead = _missing(client, "dead_letters", ((rows.dead_letter_id(r[2]), r) for r in batch.rejected))
    between(client)
    # Dead letters first, events last: if the worker dies in between, the redelivered
    # batch finds the first inserts stored and skips them.
    if dead:
        client.insert("dead_letters", [rows.dead_letter_row(*d) for d in dead], column_names=rows.DEAD_LETTER_COLUMNS)
    if profiles:
        client.insert("partners", [rows.profile_row(p) for p in profiles], column_names=rows.PROFILE_COLUMNS)
    if engagements:
        _insert_json(client, "engagement_events", rows.ENGAGEMENT_COLUMNS, engagements)
    if batch.active:
        record_progress(client, [(topic, p, batch.latest.get(p), at) for (topic, p), at in batch.active.items()])
    accepted = len(batch.engagements) + len(batch.profiles)
    return Written(
        engagements=len(engagements),
        profiles=len(profiles),
        dead_letters=len(dead),
        duplicates=accepted - len(engagements) - len(profiles),
    )

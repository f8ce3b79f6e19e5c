-- Raw events in time order, as a table of their own kept current by a materialized view,
-- in place of the `by_time` projection (0005): the health query reads the days that hold
-- a window edge from raw rows by time. On a ReplacingMergeTree a projection is rebuilt
-- whole at every merge that may drop a row: that merge held ~175 MB more than the same
-- merge without it (1.9M rows), and grew with history (benchmarks/README.md, step 32).
-- This table merges block by block, like any other (+54 MB for the same rows, and
-- column by column as below: 0015).
-- The sink never inserts a duplicate; should one get past it (two workers on a partition
-- for a moment), it is the same event at the same time, and a merge here drops it as it
-- does in `engagement_events`.
CREATE TABLE IF NOT EXISTS engagement_events_by_time
(
    time                DateTime64(3, 'UTC'),
    partner_id          String,
    source              String,
    id                  String,
    type                LowCardinality(String),
    role                LowCardinality(String),
    duration_minutes    Float64,
    initiated_by        LowCardinality(String),
    ecosystem_partners  Array(String)
)
ENGINE = ReplacingMergeTree
PRIMARY KEY time
ORDER BY (time, partner_id, source, id)
SETTINGS max_parts_to_merge_at_once = 4, vertical_merge_algorithm_min_columns_to_activate = 1;

-- Backfill what was stored before this migration (only into an empty table, so a re-run
-- after a crash cannot count anything twice), then keep it current. On one thread, in
-- parts of 65,536 rows: with the defaults an embedded worker upgrading a store of 10M
-- events peaked at 1,148 MB for 11 s, so at ~350 MB for 12 s (step 32).
INSERT INTO engagement_events_by_time
SELECT time, partner_id, source, id, type, role, duration_minutes, initiated_by, ecosystem_partners
FROM engagement_events
WHERE (SELECT count() FROM engagement_events_by_time) = 0
SETTINGS max_threads = 1, max_insert_threads = 1, min_insert_block_size_rows = 65536, min_insert_block_size_bytes = 16777216;

CREATE MATERIALIZED VIEW IF NOT EXISTS engagement_events_by_time_mv TO engagement_events_by_time AS
SELECT time, partner_id, source, id, type, role, duration_minutes, initiated_by, ecosystem_partners
FROM engagement_events;

ALTER TABLE engagement_events DROP PROJECTION IF EXISTS by_time;

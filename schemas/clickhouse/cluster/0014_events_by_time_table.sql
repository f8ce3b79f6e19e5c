-- Cluster variant of ../0014_events_by_time_table.sql (selected by PARTNERPULSE_CLICKHOUSE_CLUSTER):
-- each node keeps its own rows in time order (the view reads its `engagement_events_local`).
CREATE TABLE IF NOT EXISTS engagement_events_by_time_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/engagement_events_by_time_local', '{replica}')
PRIMARY KEY time
ORDER BY (time, partner_id, source, id)
SETTINGS max_parts_to_merge_at_once = 4, vertical_merge_algorithm_min_columns_to_activate = 1;

CREATE TABLE IF NOT EXISTS engagement_events_by_time ON CLUSTER '{cluster}' AS engagement_events_by_time_local
ENGINE = Distributed('{cluster}', currentDatabase(), engagement_events_by_time_local, cityHash64(partner_id));

INSERT INTO engagement_events_by_time
SELECT time, partner_id, source, id, type, role, duration_minutes, initiated_by, ecosystem_partners
FROM engagement_events
WHERE (SELECT count() FROM engagement_events_by_time) = 0
SETTINGS max_threads = 1, max_insert_threads = 1, min_insert_block_size_rows = 65536, min_insert_block_size_bytes = 16777216;

CREATE MATERIALIZED VIEW IF NOT EXISTS engagement_events_by_time_mv ON CLUSTER '{cluster}' TO engagement_events_by_time_local AS
SELECT time, partner_id, source, id, type, role, duration_minutes, initiated_by, ecosystem_partners
FROM engagement_events_local;

ALTER TABLE engagement_events_local ON CLUSTER '{cluster}' DROP PROJECTION IF EXISTS by_time;

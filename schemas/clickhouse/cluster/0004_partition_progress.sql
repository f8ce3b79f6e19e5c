-- Cluster variant of ../0004_partition_progress.sql (selected by PARTNERPULSE_CLICKHOUSE_CLUSTER).
-- Each table is a Replicated*MergeTree `<name>_local` on every node, plus a Distributed
-- table with the usual name in front of it, sharded by partner id, so every query of
-- the product stays the same. Coordination tables (evaluations, progress) live on the
-- first shard (sharding key 0). Needs the server macros {cluster}, {shard}, {replica}.


CREATE TABLE IF NOT EXISTS partition_progress_local ON CLUSTER '{cluster}'
(
    topic      LowCardinality(String),
    partition  Int32,
    latest     SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    active_at  SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    owned_at   SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/partition_progress_local', '{replica}')
ORDER BY (topic, partition);

CREATE TABLE IF NOT EXISTS partition_progress ON CLUSTER '{cluster}' AS partition_progress_local
ENGINE = Distributed('{cluster}', currentDatabase(), partition_progress_local, 0);

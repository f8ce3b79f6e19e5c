-- Event-time progress of each input partition, written by whichever worker reads it:
-- the latest event time seen and when (wall clock) it last had a record or was
-- assigned, and when a live worker last said it owns it (a heartbeat). The group
-- leader derives the watermark from all partitions.
CREATE TABLE IF NOT EXISTS partition_progress
(
    topic      LowCardinality(String),
    partition  Int32,
    latest     SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    active_at  SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    owned_at   SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (topic, partition);

-- Cluster variant of ../0002_health.sql (selected by PARTNERPULSE_CLICKHOUSE_CLUSTER).
-- Each table is a Replicated*MergeTree `<name>_local` on every node, plus a Distributed
-- table with the usual name in front of it, sharded by partner id, so every query of
-- the product stays the same. Coordination tables (evaluations, progress) live on the
-- first shard (sharding key 0). Needs the server macros {cluster}, {shard}, {replica}.

CREATE TABLE IF NOT EXISTS partner_daily_local ON CLUSTER '{cluster}'
(
    partner_id          String,
    day                 Date,
    type                LowCardinality(String),
    role                LowCardinality(String),
    initiated_by        LowCardinality(String),
    engagements         SimpleAggregateFunction(sum, UInt64),
    duration_minutes    SimpleAggregateFunction(sum, Float64),
    first_time          SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_time           SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    ecosystem_partners  SimpleAggregateFunction(groupUniqArrayArray, Array(String))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/partner_daily_local', '{replica}')
ORDER BY (partner_id, day, type, role, initiated_by);

CREATE TABLE IF NOT EXISTS partner_daily ON CLUSTER '{cluster}' AS partner_daily_local
ENGINE = Distributed('{cluster}', currentDatabase(), partner_daily_local, cityHash64(partner_id));

-- No backfill on a cluster: create the cluster before any data arrives.

CREATE MATERIALIZED VIEW IF NOT EXISTS partner_daily_mv ON CLUSTER '{cluster}' TO partner_daily_local AS
SELECT partner_id, toDate(time) AS day, type, role, initiated_by,
       count() AS engagements, sum(duration_minutes) AS duration_minutes,
       min(time) AS first_time, max(time) AS last_time,
       groupUniqArrayArray(ecosystem_partners) AS ecosystem_partners
FROM engagement_events_local
GROUP BY partner_id, day, type, role, initiated_by;

CREATE TABLE IF NOT EXISTS partner_health_local ON CLUSTER '{cluster}'
(
    day                       Date,
    as_of                     DateTime64(3, 'UTC'),
    partner_id                String,
    score                     Float64,
    status                    LowCardinality(String),
    quality                   Float64,
    recency                   Float64,
    reciprocity               Float64,
    breadth                   Float64,
    momentum                  Float64,
    quality_minutes_30d       Float64,
    quality_minutes_prev_30d  Float64,
    baseline_minutes_30d      Float64,
    engagements_90d           UInt32,
    partner_initiated_share   Nullable(Float64),
    distinct_types_90d        UInt8,
    ecosystem_partners_90d    UInt32,
    first_engagement_at       DateTime64(3, 'UTC'),
    last_engagement_at        DateTime64(3, 'UTC'),
    days_since_last           Float64,
    trend                     Float64,
    computed_at               DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/partner_health_local', '{replica}', computed_at)
ORDER BY (partner_id, day);

CREATE TABLE IF NOT EXISTS partner_health ON CLUSTER '{cluster}' AS partner_health_local
ENGINE = Distributed('{cluster}', currentDatabase(), partner_health_local, cityHash64(partner_id));

CREATE TABLE IF NOT EXISTS evaluations_local ON CLUSTER '{cluster}'
(
    midnight      DateTime64(3, 'UTC'),
    partners      UInt32,
    evaluated_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/evaluations_local', '{replica}', evaluated_at)
ORDER BY midnight;

CREATE TABLE IF NOT EXISTS evaluations ON CLUSTER '{cluster}' AS evaluations_local
ENGINE = Distributed('{cluster}', currentDatabase(), evaluations_local, 0);

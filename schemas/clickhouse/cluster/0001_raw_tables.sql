-- Cluster variant of ../0001_raw_tables.sql (selected by PARTNERPULSE_CLICKHOUSE_CLUSTER).
-- Each table is a Replicated*MergeTree `<name>_local` on every node, plus a Distributed
-- table with the usual name in front of it, sharded by partner id, so every query of
-- the product stays the same. Coordination tables (evaluations, progress) live on the
-- first shard (sharding key 0). Needs the server macros {cluster}, {shard}, {replica}.

CREATE TABLE IF NOT EXISTS engagement_events_local ON CLUSTER '{cluster}'
(
    partner_id          String,
    time                DateTime64(3, 'UTC'),
    type                LowCardinality(String),
    source              String,
    id                  String,
    role                LowCardinality(String) COMMENT 'role, kind or stage: what the weight depends on',
    duration_minutes    Float64,
    initiated_by        LowCardinality(String),
    ecosystem_partners  Array(String),
    solution_id         String,
    event               String COMMENT 'the whole CloudEvent as received, unknown fields included',
    ingested_at         DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_id id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/engagement_events_local', '{replica}')
ORDER BY (partner_id, source, id);

CREATE TABLE IF NOT EXISTS engagement_events ON CLUSTER '{cluster}' AS engagement_events_local
ENGINE = Distributed('{cluster}', currentDatabase(), engagement_events_local, cityHash64(partner_id));

CREATE TABLE IF NOT EXISTS partners_local ON CLUSTER '{cluster}'
(
    partner_id       String,
    updated_at       DateTime64(3, 'UTC') COMMENT 'event time of the profile update',
    source           String,
    id               String,
    name             Nullable(String),
    tier             Nullable(String),
    region           Nullable(String),
    segment          Nullable(String),
    account_manager  Nullable(String),
    event            String,
    ingested_at      DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_id id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/partners_local', '{replica}')
ORDER BY (partner_id, source, id);

CREATE TABLE IF NOT EXISTS partners ON CLUSTER '{cluster}' AS partners_local
ENGINE = Distributed('{cluster}', currentDatabase(), partners_local, cityHash64(partner_id));

CREATE VIEW IF NOT EXISTS partner_profiles ON CLUSTER '{cluster}' AS
SELECT
    partner_id,
    argMaxIf(name, updated_at, name IS NOT NULL)                       AS name,
    argMaxIf(tier, updated_at, tier IS NOT NULL)                       AS tier,
    argMaxIf(region, updated_at, region IS NOT NULL)                   AS region,
    argMaxIf(segment, updated_at, segment IS NOT NULL)                 AS segment,
    argMaxIf(account_manager, updated_at, account_manager IS NOT NULL) AS account_manager,
    max(updated_at)                                                    AS last_updated_at
FROM partners
GROUP BY partner_id;

CREATE TABLE IF NOT EXISTS dead_letters_local ON CLUSTER '{cluster}'
(
    id           String COMMENT 'sha256 of the raw payload: identical bytes are one dead letter',
    received_at  DateTime64(3, 'UTC'),
    code         LowCardinality(String),
    reason       String,
    event_id     String,
    source       String,
    event_type   LowCardinality(String),
    topic        LowCardinality(String),
    partition    Int32,
    offset       Int64,
    size         UInt32,
    payload      String COMMENT 'the raw bytes as received'
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/dead_letters_local', '{replica}')
ORDER BY id;

CREATE TABLE IF NOT EXISTS dead_letters ON CLUSTER '{cluster}' AS dead_letters_local
ENGINE = Distributed('{cluster}', currentDatabase(), dead_letters_local, cityHash64(id));

-- Raw tables: every accepted engagement, every profile version, every dead letter.
-- The sink inserts a (source, id) only if it is not stored yet, so counts are exact
-- without waiting for merges; ReplacingMergeTree is the second line of defence.

CREATE TABLE IF NOT EXISTS engagement_events
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
ENGINE = ReplacingMergeTree
ORDER BY (partner_id, source, id);

CREATE TABLE IF NOT EXISTS partners
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
ENGINE = ReplacingMergeTree
ORDER BY (partner_id, source, id);

-- The latest known value of each profile field (fields missing from an update keep
-- their earlier value).
CREATE VIEW IF NOT EXISTS partner_profiles AS
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

CREATE TABLE IF NOT EXISTS dead_letters
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
ENGINE = ReplacingMergeTree
ORDER BY id;

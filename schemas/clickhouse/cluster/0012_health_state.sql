-- Cluster variant of ../0012_health_state.sql: sharded by partner id like the rollups.

CREATE TABLE IF NOT EXISTS partner_state_local ON CLUSTER '{cluster}'
(
    midnight          DateTime64(3, 'UTC'),
    partner_id        String,
    scoring           String COMMENT 'fingerprint of the scoring file it was built with',
    events            UInt64 COMMENT 'events up to the midnight when built: one stored later makes it stale',
    partners          UInt32 COMMENT 'rows of this build: fewer visible means a build not complete',
    q_month           Float64,
    q_prev            Float64,
    q_baseline        Float64 COMMENT 'a sum, before it is divided by baseline_months',
    n_activity        UInt64,
    n_partner         UInt64,
    n_recent          UInt64,
    n_usual           UInt64 COMMENT 'a sum, before it is divided by usual_windows',
    type_counts       Map(String, UInt64) COMMENT 'engagements per type in the activity window',
    eco_counts        Map(String, UInt64) COMMENT 'solution events naming each ecosystem partner, same window',
    days              UInt32 COMMENT 'days with an engagement in the rhythm year',
    first_day         Date,
    last_day          Date,
    gaps              Array(Int32) COMMENT 'between those days (in days), sorted',
    first_gap         Int32 COMMENT 'the gap after the first of those days',
    first_day_events  UInt64 COMMENT 'engagements of the year''s first day inside the year',
    first_time        DateTime64(3, 'UTC'),
    last_time         DateTime64(3, 'UTC'),
    built_at          DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/partner_state_local', '{replica}', built_at)
ORDER BY partner_id;

CREATE TABLE IF NOT EXISTS partner_state ON CLUSTER '{cluster}' AS partner_state_local
ENGINE = Distributed('{cluster}', currentDatabase(), partner_state_local, cityHash64(partner_id));

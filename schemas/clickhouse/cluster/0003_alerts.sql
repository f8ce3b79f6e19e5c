-- Cluster variant of ../0003_alerts.sql (selected by PARTNERPULSE_CLICKHOUSE_CLUSTER).
-- Each table is a Replicated*MergeTree `<name>_local` on every node, plus a Distributed
-- table with the usual name in front of it, sharded by partner id, so every query of
-- the product stays the same. Coordination tables (evaluations, progress) live on the
-- first shard (sharding key 0). Needs the server macros {cluster}, {shard}, {replica}.

CREATE TABLE IF NOT EXISTS partner_alerts_local ON CLUSTER '{cluster}'
(
    id                String,
    partner_id        String,
    kind              LowCardinality(String),
    state             LowCardinality(String),
    fired_at          DateTime64(3, 'UTC') COMMENT 'the midnight (event time) whose evaluation fired it',
    resolved_at       Nullable(DateTime64(3, 'UTC')),
    reason            String,
    resolved_reason   String,
    metrics           String COMMENT 'JSON: the metrics that triggered it',
    resolved_metrics  String,
    version           UInt8 COMMENT '1 firing, 2 resolved',
    updated_at        DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/partner_alerts_local', '{replica}', version)
ORDER BY (partner_id, kind, fired_at);

CREATE TABLE IF NOT EXISTS partner_alerts ON CLUSTER '{cluster}' AS partner_alerts_local
ENGINE = Distributed('{cluster}', currentDatabase(), partner_alerts_local, cityHash64(partner_id));

CREATE TABLE IF NOT EXISTS alert_deliveries_local ON CLUSTER '{cluster}'
(
    event_id         String COMMENT 'the CloudEvent id: <alert id>:<state>',
    target           String COMMENT 'kafka, or webhook:<hash of the URL>',
    target_display   String COMMENT 'where, without credentials',
    alert_id         String,
    partner_id       String,
    payload          String COMMENT 'the CloudEvent JSON',
    state            LowCardinality(String) COMMENT 'pending or delivered',
    attempts         UInt32,
    last_error       String,
    next_attempt_at  DateTime64(3, 'UTC'),
    created_at       DateTime64(3, 'UTC'),
    version          UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/alert_deliveries_local', '{replica}', version)
ORDER BY (event_id, target);

CREATE TABLE IF NOT EXISTS alert_deliveries ON CLUSTER '{cluster}' AS alert_deliveries_local
ENGINE = Distributed('{cluster}', currentDatabase(), alert_deliveries_local, cityHash64(partner_id));

CREATE TABLE IF NOT EXISTS stream_progress_local ON CLUSTER '{cluster}'
(
    name        String,
    watermark   DateTime64(3, 'UTC'),
    updated_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/stream_progress_local', '{replica}', updated_at)
ORDER BY name;

CREATE TABLE IF NOT EXISTS stream_progress ON CLUSTER '{cluster}' AS stream_progress_local
ENGINE = Distributed('{cluster}', currentDatabase(), stream_progress_local, 0);

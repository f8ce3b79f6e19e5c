-- One row per alert episode (partner, kind, fired_at). Resolving inserts the same key
-- with a higher version; reads take the latest version (FINAL or argMax).
CREATE TABLE IF NOT EXISTS partner_alerts
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
ENGINE = ReplacingMergeTree(version)
ORDER BY (partner_id, kind, fired_at);

-- Outbox: every alert transition to every target (the partner-alerts topic, each
-- webhook), retried with backoff until delivered. The latest version of a row wins.
CREATE TABLE IF NOT EXISTS alert_deliveries
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
ENGINE = ReplacingMergeTree(version)
ORDER BY (event_id, target);

-- How far event time has advanced (the watermark), saved before the midnights it
-- crosses are evaluated, so a restarted worker finishes them even with no new events.
CREATE TABLE IF NOT EXISTS stream_progress
(
    name        String,
    watermark   DateTime64(3, 'UTC'),
    updated_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY name;

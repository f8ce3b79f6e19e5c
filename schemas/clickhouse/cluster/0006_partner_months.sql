-- Cluster variant of ../0006_partner_months.sql (selected by PARTNERPULSE_CLICKHOUSE_CLUSTER).
-- Each table is a Replicated*MergeTree `<name>_local` on every node, plus a Distributed
-- table with the usual name in front of it, sharded by partner id, so every query of
-- the product stays the same. Needs the server macros {cluster}, {shard}, {replica}.

CREATE TABLE IF NOT EXISTS partner_months_local ON CLUSTER '{cluster}'
(
    partner_id  String,
    month       Date,
    first_time  SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_time   SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/partner_months_local', '{replica}')
ORDER BY (partner_id, month);

CREATE TABLE IF NOT EXISTS partner_months ON CLUSTER '{cluster}' AS partner_months_local
ENGINE = Distributed('{cluster}', currentDatabase(), partner_months_local, cityHash64(partner_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS partner_months_mv ON CLUSTER '{cluster}' TO partner_months_local AS
SELECT partner_id, toStartOfMonth(time) AS month, min(time) AS first_time, max(time) AS last_time
FROM engagement_events_local
GROUP BY partner_id, month;

-- What was stored before the view existed (idempotent: min and max; the same shard,
-- as both tables shard by partner id).
INSERT INTO partner_months
SELECT partner_id, toStartOfMonth(time) AS month, min(time), max(time)
FROM engagement_events
GROUP BY partner_id, month;

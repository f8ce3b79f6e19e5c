-- Cluster variant of ../0010_partner_day_counts.sql (selected by PARTNERPULSE_CLICKHOUSE_CLUSTER).
-- Each table is a Replicated*MergeTree `<name>_local` on every node, plus a Distributed
-- table with the usual name in front of it, sharded by partner id, so every query of
-- the product stays the same. Needs the server macros {cluster}, {shard}, {replica}.

CREATE TABLE IF NOT EXISTS partner_day_counts_local ON CLUSTER '{cluster}'
(
    partner_id  String,
    month       Date,
    days        SimpleAggregateFunction(sumMap, Tuple(Array(Date), Array(UInt64)))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/partner_day_counts_local', '{replica}')
ORDER BY (partner_id, month);

CREATE TABLE IF NOT EXISTS partner_day_counts ON CLUSTER '{cluster}' AS partner_day_counts_local
ENGINE = Distributed('{cluster}', currentDatabase(), partner_day_counts_local, cityHash64(partner_id));

-- What was stored before (only into an empty table: sums must not see an event twice),
-- from the daily rollup, sharded as it is; migrations run before the workers ingest.
INSERT INTO partner_day_counts
SELECT partner_id, toStartOfMonth(day) AS month, sumMap([day], [toUInt64(engagements)])
FROM partner_daily
WHERE (SELECT count() FROM partner_day_counts) = 0
GROUP BY partner_id, month;

CREATE MATERIALIZED VIEW IF NOT EXISTS partner_day_counts_mv ON CLUSTER '{cluster}' TO partner_day_counts_local AS
SELECT partner_id, toStartOfMonth(time) AS month, sumMap([toDate(time)], [toUInt64(1)]) AS days
FROM engagement_events_local
GROUP BY partner_id, month;

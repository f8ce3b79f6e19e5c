-- Cluster variant of ../0011_rollup_by_day.sql (selected by PARTNERPULSE_CLICKHOUSE_CLUSTER):
-- the projections live on each node's `partner_daily_local`.
ALTER TABLE partner_daily_local ON CLUSTER '{cluster}'
    MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';

ALTER TABLE partner_daily_local ON CLUSTER '{cluster}' ADD PROJECTION IF NOT EXISTS day_totals
(
    SELECT day, type, role, initiated_by, sum(engagements), sum(duration_minutes)
    GROUP BY day, type, role, initiated_by
);

ALTER TABLE partner_daily_local ON CLUSTER '{cluster}' ADD PROJECTION IF NOT EXISTS by_type_day
(
    SELECT partner_id, day, type, ecosystem_partners
    ORDER BY type, day
);

ALTER TABLE partner_daily_local ON CLUSTER '{cluster}' MATERIALIZE PROJECTION day_totals;

ALTER TABLE partner_daily_local ON CLUSTER '{cluster}' MATERIALIZE PROJECTION by_type_day;

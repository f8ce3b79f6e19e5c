-- Cluster variant of ../0005_events_by_time.sql (selected by PARTNERPULSE_CLICKHOUSE_CLUSTER):
-- the projection lives on each node's `engagement_events_local`.
ALTER TABLE engagement_events_local ON CLUSTER '{cluster}'
    MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';

ALTER TABLE engagement_events_local ON CLUSTER '{cluster}' ADD PROJECTION IF NOT EXISTS by_time
(
    SELECT partner_id, time, type, role, duration_minutes, initiated_by, ecosystem_partners
    ORDER BY time
);

ALTER TABLE engagement_events_local ON CLUSTER '{cluster}' MATERIALIZE PROJECTION by_time;

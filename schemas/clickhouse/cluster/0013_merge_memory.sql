-- Cluster variant of ../0013_merge_memory.sql (selected by PARTNERPULSE_CLICKHOUSE_CLUSTER):
-- merges run on each node's `engagement_events_local`.
ALTER TABLE engagement_events_local ON CLUSTER '{cluster}' MODIFY SETTING max_parts_to_merge_at_once = 4;

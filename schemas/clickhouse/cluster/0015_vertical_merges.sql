-- Cluster variant of ../0015_vertical_merges.sql (selected by PARTNERPULSE_CLICKHOUSE_CLUSTER):
-- merges run on each node's `engagement_events_local`.
ALTER TABLE engagement_events_local ON CLUSTER '{cluster}'
    MODIFY SETTING vertical_merge_algorithm_min_columns_to_activate = 1;

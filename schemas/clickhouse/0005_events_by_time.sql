-- Raw events in time order as well, for reads by event time: the health query reads the
-- days that hold a window edge from raw rows, and the table's own order (by partner,
-- for dedup and per-partner reads) would make that a scan of every stored event.
-- ClickHouse picks the projection by itself and keeps it current on every insert; after
-- a ReplacingMergeTree merge drops a duplicate, the projection is rebuilt to match.
ALTER TABLE engagement_events MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';

ALTER TABLE engagement_events ADD PROJECTION IF NOT EXISTS by_time
(
    SELECT partner_id, time, type, role, duration_minutes, initiated_by, ecosystem_partners
    ORDER BY time
);

-- Events stored before this migration (in the background on a server).
ALTER TABLE engagement_events MATERIALIZE PROJECTION by_time;

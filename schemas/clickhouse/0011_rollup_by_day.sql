-- The overview's trend panels read the rollup by day for every partner (180 days by
-- default), while its order (by partner, for health) makes that a scan of all of it.
-- Two projections, which ClickHouse picks by itself and keeps current on every insert:
-- totals per day, type, role and initiator (a few dozen rows a day: quality by type,
-- who starts the engagements), and the rows in type and day order (the co-built
-- solutions). A panel filtered to some partners reads the table as before.
-- After a merge aggregates rows, each projection is rebuilt to match.
ALTER TABLE partner_daily MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';

ALTER TABLE partner_daily ADD PROJECTION IF NOT EXISTS day_totals
(
    SELECT day, type, role, initiated_by, sum(engagements), sum(duration_minutes)
    GROUP BY day, type, role, initiated_by
);

ALTER TABLE partner_daily ADD PROJECTION IF NOT EXISTS by_type_day
(
    SELECT partner_id, day, type, ecosystem_partners
    ORDER BY type, day
);

-- What was stored before this migration (in the background on a server).
ALTER TABLE partner_daily MATERIALIZE PROJECTION day_totals;

ALTER TABLE partner_daily MATERIALIZE PROJECTION by_type_day;

-- Each partner's engagements per day, a month to a row: a map of days to counts. The
-- rhythm (a year of engagement days) and the decline counts (§3) read a dozen rows per
-- partner here instead of a year of the daily rollup, whose rows are per day, type, role
-- and initiator (as many as the events themselves for a busy partner).
CREATE TABLE IF NOT EXISTS partner_day_counts
(
    partner_id  String,
    month       Date,
    days        SimpleAggregateFunction(sumMap, Tuple(Array(Date), Array(UInt64)))
)
ENGINE = AggregatingMergeTree
ORDER BY (partner_id, month);

-- Backfill what was stored before (only into an empty table: sums must not see an event
-- twice, so a re-run after a crash adds nothing), then keep it current. Migrations run
-- before the worker ingests, so nothing arrives between the two.
INSERT INTO partner_day_counts
SELECT partner_id, toStartOfMonth(day) AS month, sumMap([day], [toUInt64(engagements)])
FROM partner_daily
WHERE (SELECT count() FROM partner_day_counts) = 0
GROUP BY partner_id, month;

CREATE MATERIALIZED VIEW IF NOT EXISTS partner_day_counts_mv TO partner_day_counts AS
SELECT partner_id, toStartOfMonth(time) AS month, sumMap([toDate(time)], [toUInt64(1)]) AS days
FROM engagement_events
GROUP BY partner_id, month;

-- First and last engagement per partner and month: what the health query needs from the
-- days before its windows (first engagement ever, and the last one of a partner silent
-- for longer than every window), without reading the whole daily rollup.
CREATE TABLE IF NOT EXISTS partner_months
(
    partner_id  String,
    month       Date,
    first_time  SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_time   SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (partner_id, month);

CREATE MATERIALIZED VIEW IF NOT EXISTS partner_months_mv TO partner_months AS
SELECT partner_id, toStartOfMonth(time) AS month, min(time) AS first_time, max(time) AS last_time
FROM engagement_events
GROUP BY partner_id, month;

-- What was stored before the view existed. min and max do not mind seeing an event
-- twice, so this runs after the view and again after a crash without harm.
INSERT INTO partner_months
SELECT partner_id, toStartOfMonth(time) AS month, min(time), max(time)
FROM engagement_events
GROUP BY partner_id, month;

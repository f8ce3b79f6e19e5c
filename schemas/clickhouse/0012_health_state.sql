-- Every partner's window sums, counts by type, ecosystem partner and day, and first and
-- last engagement as of the last midnight evaluated: `health` as of a time T later that
-- day adds the events since that midnight and takes away those that left each window,
-- instead of reading every window again. Written after an evaluation that caught up; one
-- version per partner is kept (the latest build replaces the rows before it).
CREATE TABLE IF NOT EXISTS partner_state
(
    midnight          DateTime64(3, 'UTC'),
    partner_id        String,
    scoring           String COMMENT 'fingerprint of the scoring file it was built with',
    events            UInt64 COMMENT 'events up to the midnight when built: one stored later makes it stale',
    partners          UInt32 COMMENT 'rows of this build: fewer visible means a build not complete',
    q_month           Float64,
    q_prev            Float64,
    q_baseline        Float64 COMMENT 'a sum, before it is divided by baseline_months',
    n_activity        UInt64,
    n_partner         UInt64,
    n_recent          UInt64,
    n_usual           UInt64 COMMENT 'a sum, before it is divided by usual_windows',
    type_counts       Map(String, UInt64) COMMENT 'engagements per type in the activity window',
    eco_counts        Map(String, UInt64) COMMENT 'solution events naming each ecosystem partner, same window',
    days              UInt32 COMMENT 'days with an engagement in the rhythm year',
    first_day         Date,
    last_day          Date,
    gaps              Array(Int32) COMMENT 'between those days (in days), sorted',
    first_gap         Int32 COMMENT 'the gap after the first of those days',
    first_day_events  UInt64 COMMENT 'engagements of the year''s first day inside the year',
    first_time        DateTime64(3, 'UTC'),
    last_time         DateTime64(3, 'UTC'),
    built_at          DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(built_at)
ORDER BY partner_id;

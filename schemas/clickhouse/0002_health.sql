-- Daily rollup per partner, day, type, role and initiator, kept current by a
-- materialized view. Weights are applied at query time (schemas/scoring.yaml can
-- change without rewriting history). The sink never inserts a duplicate, so the
-- rollup counts each event once; reads still GROUP BY, as parts merge lazily.
CREATE TABLE IF NOT EXISTS partner_daily
(
    partner_id          String,
    day                 Date,
    type                LowCardinality(String),
    role                LowCardinality(String),
    initiated_by        LowCardinality(String),
    engagements         SimpleAggregateFunction(sum, UInt64),
    duration_minutes    SimpleAggregateFunction(sum, Float64),
    first_time          SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_time           SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    ecosystem_partners  SimpleAggregateFunction(groupUniqArrayArray, Array(String))
)
ENGINE = AggregatingMergeTree
ORDER BY (partner_id, day, type, role, initiated_by);

-- Backfill what was stored before this migration (only into an empty rollup, so a
-- re-run after a crash cannot count anything twice), then keep it current.
INSERT INTO partner_daily
SELECT partner_id, toDate(time) AS day, type, role, initiated_by, count(), sum(duration_minutes),
       min(time), max(time), groupUniqArrayArray(ecosystem_partners)
FROM engagement_events
WHERE (SELECT count() FROM partner_daily) = 0
GROUP BY partner_id, day, type, role, initiated_by;

CREATE MATERIALIZED VIEW IF NOT EXISTS partner_daily_mv TO partner_daily AS
SELECT partner_id, toDate(time) AS day, type, role, initiated_by,
       count() AS engagements, sum(duration_minutes) AS duration_minutes,
       min(time) AS first_time, max(time) AS last_time,
       groupUniqArrayArray(ecosystem_partners) AS ecosystem_partners
FROM engagement_events
GROUP BY partner_id, day, type, role, initiated_by;

-- One health snapshot per partner per UTC day, as of that day's midnight (00:00Z),
-- written when the stream's watermark crosses it. A re-computation replaces the row.
CREATE TABLE IF NOT EXISTS partner_health
(
    day                       Date,
    as_of                     DateTime64(3, 'UTC'),
    partner_id                String,
    score                     Float64,
    status                    LowCardinality(String),
    quality                   Float64,
    recency                   Float64,
    reciprocity               Float64,
    breadth                   Float64,
    momentum                  Float64,
    quality_minutes_30d       Float64,
    quality_minutes_prev_30d  Float64,
    baseline_minutes_30d      Float64,
    engagements_90d           UInt32,
    partner_initiated_share   Nullable(Float64),
    distinct_types_90d        UInt8,
    ecosystem_partners_90d    UInt32,
    first_engagement_at       DateTime64(3, 'UTC'),
    last_engagement_at        DateTime64(3, 'UTC'),
    days_since_last           Float64,
    trend                     Float64,
    computed_at               DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (partner_id, day);

-- The midnights evaluated so far, in order: where a restarted worker resumes.
CREATE TABLE IF NOT EXISTS evaluations
(
    midnight      DateTime64(3, 'UTC'),
    partners      UInt32,
    evaluated_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(evaluated_at)
ORDER BY midnight;

-- Each partner's own rhythm and a count-based decline (../shared/CONTRACT.md §3), in the
-- daily snapshots; an alert's priority (§4). Snapshots written before keep the defaults
-- (no rhythm known, the 30-day limit): history is not rewritten.
ALTER TABLE partner_health
    ADD COLUMN IF NOT EXISTS usual_gap_days Nullable(Float64),
    ADD COLUMN IF NOT EXISTS silence_limit_days Float64 DEFAULT 30,
    ADD COLUMN IF NOT EXISTS engagements_60d UInt32,
    ADD COLUMN IF NOT EXISTS usual_engagements_60d Float64,
    ADD COLUMN IF NOT EXISTS drop_probability Nullable(Float64);

ALTER TABLE partner_alerts
    ADD COLUMN IF NOT EXISTS priority LowCardinality(String) DEFAULT 'normal';

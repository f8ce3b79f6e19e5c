-- Cluster variant of ../0007_rhythm_and_priority.sql: each node's local table and the
-- Distributed table in front of it get the same columns.
ALTER TABLE partner_health_local ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS usual_gap_days Nullable(Float64),
    ADD COLUMN IF NOT EXISTS silence_limit_days Float64 DEFAULT 30,
    ADD COLUMN IF NOT EXISTS engagements_60d UInt32,
    ADD COLUMN IF NOT EXISTS usual_engagements_60d Float64,
    ADD COLUMN IF NOT EXISTS drop_probability Nullable(Float64);

ALTER TABLE partner_health ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS usual_gap_days Nullable(Float64),
    ADD COLUMN IF NOT EXISTS silence_limit_days Float64 DEFAULT 30,
    ADD COLUMN IF NOT EXISTS engagements_60d UInt32,
    ADD COLUMN IF NOT EXISTS usual_engagements_60d Float64,
    ADD COLUMN IF NOT EXISTS drop_probability Nullable(Float64);

ALTER TABLE partner_alerts_local ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS priority LowCardinality(String) DEFAULT 'normal';

ALTER TABLE partner_alerts ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS priority LowCardinality(String) DEFAULT 'normal';

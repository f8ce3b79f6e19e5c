-- Cluster variant of ../0016_health_state_leaving.sql: the local tables and their Distributed one.
TRUNCATE TABLE partner_state_local ON CLUSTER '{cluster}';

ALTER TABLE partner_state_local ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS leaving Array(Tuple(time DateTime64(3, 'UTC'), type LowCardinality(String), initiated_by LowCardinality(String), eco Array(String), q Float64)) COMMENT 'events in the day after each window start, with their quality minutes';

ALTER TABLE partner_state ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS leaving Array(Tuple(time DateTime64(3, 'UTC'), type LowCardinality(String), initiated_by LowCardinality(String), eco Array(String), q Float64)) COMMENT 'events in the day after each window start, with their quality minutes';

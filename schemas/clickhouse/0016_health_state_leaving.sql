-- The health state keeps the events each window's start passes in the day after its
-- midnight: `health` as of T that day reads them from this one array instead of from
-- every part of the raw events (at 10M events those reads took 120 of its ~200 ms in the
-- store; now 70). A state built before lacks them: it is dropped (`health` is computed in
-- full until the worker, at its start, builds the last midnight's again).
TRUNCATE TABLE partner_state;

ALTER TABLE partner_state
    ADD COLUMN IF NOT EXISTS leaving Array(Tuple(time DateTime64(3, 'UTC'), type LowCardinality(String), initiated_by LowCardinality(String), eco Array(String), q Float64)) COMMENT 'events in the day after each window start, with their quality minutes';

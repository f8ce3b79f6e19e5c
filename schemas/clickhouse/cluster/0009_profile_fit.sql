-- Cluster variant of ../0009_profile_fit.sql.
ALTER TABLE partners_local ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS fit String DEFAULT '' COMMENT 'JSON of the fit fields of this profile event';

ALTER TABLE partners ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS fit String DEFAULT '' COMMENT 'JSON of the fit fields of this profile event';

-- Cluster variant of ../0008_dead_letter_headers.sql.
ALTER TABLE dead_letters_local ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS headers String DEFAULT '' COMMENT 'JSON: [[name, value], …]';

ALTER TABLE dead_letters ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS headers String DEFAULT '' COMMENT 'JSON: [[name, value], …]';

-- A dead letter keeps the Kafka headers it came with (binary mode: the event's
-- attributes), so it can be shown whole and replayed. Its id is now where it came from
-- (topic, partition, offset), not its bytes; rows stored before keep theirs.
ALTER TABLE dead_letters
    ADD COLUMN IF NOT EXISTS headers String DEFAULT '' COMMENT 'JSON: [[name, value], …]';

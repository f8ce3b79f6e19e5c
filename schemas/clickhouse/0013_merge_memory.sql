-- Background merges of raw events at most 4 parts at a time. A merge holds a read buffer
-- and a decompressed block per column per part it merges (~1 MB each for the wide
-- `event` column alone): merging 8 or more small parts at once is what lifted an embedded
-- worker's memory ~100 MB above its steady level while it ingested (benchmarks/README.md,
-- step 29). Merges stay as frequent; each row is rewritten a little more often.
ALTER TABLE engagement_events MODIFY SETTING max_parts_to_merge_at_once = 4;

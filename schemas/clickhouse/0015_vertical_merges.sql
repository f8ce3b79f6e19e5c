-- Raw events merge column by column (ClickHouse's vertical merge): the sorting key's
-- columns first, then each other column on its own, instead of every column of every
-- part at once. By default ClickHouse does so only for tables of 11 columns or more
-- beside the key; `engagement_events` has 9 (its time-ordered copy has 5 and is created
-- so in 0014). Merging 1.9M rows in 4 parts, the worker's memory rose 125 MB
-- horizontally, 86 MB vertically, in 2.2 against 1.6 s (benchmarks/README.md, step 33).
-- Small merges (under 131,072 rows) stay horizontal, as before.
ALTER TABLE engagement_events MODIFY SETTING vertical_merge_algorithm_min_columns_to_activate = 1;

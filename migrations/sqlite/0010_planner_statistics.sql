-- Fixed planner statistics (SQLite only).
--
-- SQLite chooses among the listing indexes (§6) by the statistics in sqlite_stat1. Without
-- any it falls back to built-in guesses; with sampled ones (PRAGMA optimize's bounded
-- ANALYZE) a title equality on a million assets was measured at 1.7 s instead of 2 ms, as
-- the sample made the title index look unselective. ANALYZE describes the table as a
-- whole, all stacks mixed, and would shift the plans as a library grows.
--
-- So perma ships the statistics instead (SQLite's "manual control of query plans"): these
-- rows are a full ANALYZE of the library that bench/scale.sh measures (a million assets,
-- each published, tagged and versioned, beside a stack of a hundred). Every database then
-- plans its listings and delivery reads as that library does, whatever its size, and
-- perma never runs ANALYZE. A migration that adds an index adds its row here too (the
-- `planner_statistics` test checks that every index has one).
ANALYZE sqlite_schema;
DELETE FROM sqlite_stat1;
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('asset_counts', 'sqlite_autoindex_asset_counts_1', '2 1 1 1'),
    ('asset_tags', 'asset_tags_by_tag', '1000000 1000000 1000 1'),
    ('asset_tags', 'sqlite_autoindex_asset_tags_1', '1000000 1 1'),
    ('asset_versions', 'sqlite_autoindex_asset_versions_1', '2000001 2 1'),
    ('assets', 'assets_by_stack_parent', '1000001 500001 500001'),
    ('assets', 'assets_live_by_content_type', '1000001 500001 200001'),
    ('assets', 'assets_live_by_created', '1000001 500001 1 1 1'),
    ('assets', 'assets_live_by_filename', '1000001 500001 1'),
    ('assets', 'assets_live_by_lower_filename', '1000001 500001 1'),
    ('assets', 'assets_live_by_lower_title', '1000001 500001 1'),
    ('assets', 'assets_live_by_name', '1000001 500001 500001 1 1'),
    ('assets', 'assets_live_by_parent', '1000001 500001 500001 1 1'),
    ('assets', 'assets_live_by_parent_name', '1000001 500001 500001 500001 1 1'),
    ('assets', 'assets_live_by_size', '1000001 500001 500001'),
    ('assets', 'assets_live_by_title', '1000001 500001 1'),
    ('assets', 'assets_live_by_updated', '1000001 500001 1 1'),
    ('assets', 'sqlite_autoindex_assets_1', '1000001 1'),
    ('files', 'files_by_asset_age', '1000001 1 1 1'),
    ('files', 'files_by_sha256', '1000001 1000001'),
    ('files', 'sqlite_autoindex_files_1', '1000001 1'),
    ('publications', 'publications_by_environment', '1000000 1000000 1'),
    ('publications', 'sqlite_autoindex_publications_1', '1000000 1 1 1'),
    ('published_assets', 'published_by_content_type', '1000000 1000000 1000000 250000'),
    ('published_assets', 'published_by_created', '1000000 1000000 1000000 1 1'),
    ('published_assets', 'published_by_filename', '1000000 1000000 1000000 1'),
    ('published_assets', 'published_by_lower_title', '1000000 1000000 1000000 1'),
    ('published_assets', 'published_by_parent', '1000000 1000000 1000000 1000000 1 1'),
    ('published_assets', 'published_by_size', '1000000 1000000 1000000 1000000'),
    ('published_assets', 'published_by_title', '1000000 1000000 1000000 1'),
    ('published_assets', 'published_by_updated', '1000000 1000000 1000000 1 1'),
    ('published_assets', 'sqlite_autoindex_published_assets_1', '1000000 1000000 1000000 1'),
    ('published_tags', 'published_tags_by_tag', '1000000 1000000 1000000 1000 1'),
    ('published_tags', 'sqlite_autoindex_published_tags_1', '1000000 1000000 1000000 1 1');
-- This connection re-reads them now. The others do when the schema changes, which editing
-- sqlite_stat1 alone does not do: a table made and dropped changes it.
ANALYZE sqlite_schema;
CREATE TABLE perma_statistics_loaded (x);
DROP TABLE perma_statistics_loaded;

-- perma schema v8 (PostgreSQL): the name-order indexes also carry `title`. PostgreSQL
-- reads a query from an index alone only when every column it names is in the index, and
-- `lower(title)` names `title`; without it, a deep page in name order (§6 with
-- `ignore_case`, the web UI's order) fetched every skipped row from the table. SQLite
-- reads these indexes alone already: its migrations have no v8.
DROP INDEX assets_live_by_parent_name;
DROP INDEX assets_live_by_name;
CREATE INDEX assets_live_by_parent_name ON assets (api_key, parent_uid, is_dir DESC, lower(title), uid) INCLUDE (title) WHERE deleted_at IS NULL;
CREATE INDEX assets_live_by_name ON assets (api_key, is_dir DESC, lower(title), uid) INCLUDE (title) WHERE deleted_at IS NULL;

-- perma schema v6: a library in name order, read from an index (§6 with `ignore_case`,
-- the web UI's default order). Folders first, then files, each by lower(title) and uid:
-- the order `asc=title&ignore_case=true` asks for, in a folder and across the stack.
-- Keep in step with migrations/sqlite/0006_name_order.sql.
CREATE INDEX assets_live_by_parent_name ON assets (api_key, parent_uid, is_dir DESC, lower(title), uid) WHERE deleted_at IS NULL;
CREATE INDEX assets_live_by_name ON assets (api_key, is_dir DESC, lower(title), uid) WHERE deleted_at IS NULL;

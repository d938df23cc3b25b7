-- perma schema v22: the index that orders a folder's contents by creation also holds
-- `is_dir`, so a listing of files only (`is_dir = 0`) in a folder, or in the folders a
-- member's role reaches (§14), is an index-only scan.
-- Keep in step with the other backend's 0022_parent_order_covering.sql.
DROP INDEX assets_live_by_parent;
CREATE INDEX assets_live_by_parent ON assets (api_key, parent_uid, created_at, uid) INCLUDE (is_dir) WHERE deleted_at IS NULL;

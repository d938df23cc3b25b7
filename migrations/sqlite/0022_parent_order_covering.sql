-- perma schema v22: the index that orders a folder's contents by creation also holds
-- `is_dir`, so a listing of files only (`is_dir = 0`) in a folder, or in the folders a
-- member's role reaches (§14), walks the index alone: the last page of a 100,000-asset
-- folder reads no table rows. Its planner statistics are shipped as in v10.
-- Keep in step with the other backend's 0022_parent_order_covering.sql.
DROP INDEX assets_live_by_parent;
CREATE INDEX assets_live_by_parent ON assets (api_key, parent_uid, created_at, uid, is_dir) WHERE deleted_at IS NULL;
DELETE FROM sqlite_stat1 WHERE idx = 'assets_live_by_parent';
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('assets', 'assets_live_by_parent', '1000001 500001 500001 1 1 1');

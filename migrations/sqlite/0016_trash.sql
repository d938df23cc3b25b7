-- perma schema v16: the trash (§15). A deleted asset or folder (with all it held) keeps its
-- rows, versions and blobs in its stack's trash until it is emptied or older than the
-- stack's retention; `trash_root` names the item it went with (itself for what was deleted
-- directly), `purged_at` when it left the trash for good (its tombstone stays: its URLs
-- answer 410 and its slug stays reserved). Deletions from before the trash were final.
-- Keep in step with the other backend's 0016_trash.sql.
ALTER TABLE assets ADD COLUMN trash_root TEXT;
ALTER TABLE assets ADD COLUMN purged_at BIGINT;
UPDATE assets SET purged_at = deleted_at WHERE deleted_at IS NOT NULL;
ALTER TABLE stacks ADD COLUMN trash_retention_days BIGINT NOT NULL DEFAULT 14;
CREATE INDEX assets_trash ON assets (api_key, deleted_at, uid) WHERE trash_root = uid AND purged_at IS NULL;
CREATE INDEX assets_by_trash_root ON assets (trash_root) WHERE trash_root IS NOT NULL;
-- Shipped planner statistics for the new indexes (see 0010_planner_statistics.sql): a library
-- of a million assets in two stacks; each trash item holds about ten rows.
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('assets', 'assets_trash', '1000001 500001 1 1'),
    ('assets', 'assets_by_trash_root', '1000001 10');

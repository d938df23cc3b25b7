-- perma schema v20 (§15): restoring a big folder from the trash is a job; `bulk_jobs` gets
-- the progress of a job whose one item is many assets (how many in all, how many done).
-- And the index of what went to the trash with each item keeps only what is still in the
-- trash: rows emptied for good leave it, so lookups and the retention sweep cost what the
-- trash holds, not everything ever deleted.
-- Keep in step with the other backend's 0020_trash_jobs.sql.
ALTER TABLE bulk_jobs ADD COLUMN total BIGINT NOT NULL DEFAULT 0;
ALTER TABLE bulk_jobs ADD COLUMN done BIGINT NOT NULL DEFAULT 0;
DROP INDEX assets_by_trash_root;
CREATE INDEX assets_in_trash ON assets (trash_root, deleted_at) WHERE trash_root IS NOT NULL AND purged_at IS NULL;
DELETE FROM sqlite_stat1 WHERE idx = 'assets_by_trash_root';
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('assets', 'assets_in_trash', '1000001 10 10');

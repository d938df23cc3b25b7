-- perma schema v9: how many live assets each folder of a stack holds, files and folders
-- apart (`parent_key` '' is the root), kept by triggers in the same transaction as every
-- change to `assets`, so that a listing's `include_count` without a filter (§5, §6) reads a
-- few rows instead of counting the stack: its cost no longer grows with the library.
-- Derived data: `perma copy` does not copy it (the target's triggers rebuild it).
-- Keep in step with migrations/postgres/0009_asset_counts.sql.
CREATE TABLE asset_counts (
    api_key TEXT NOT NULL,
    parent_key TEXT NOT NULL,
    is_dir BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (api_key, parent_key, is_dir)
);
INSERT INTO asset_counts (api_key, parent_key, is_dir, n)
    SELECT api_key, COALESCE(parent_uid, ''), is_dir, COUNT(*) FROM assets
    WHERE deleted_at IS NULL GROUP BY api_key, COALESCE(parent_uid, ''), is_dir;
-- The index that unfiltered counts read (schema 2) has no reader left: a condition on
-- `is_dir` alone is served by the name order's index, which starts (api_key, is_dir).
DROP INDEX assets_live_count;
CREATE TRIGGER asset_counts_insert AFTER INSERT ON assets WHEN NEW.deleted_at IS NULL
BEGIN
    INSERT INTO asset_counts (api_key, parent_key, is_dir, n)
        VALUES (NEW.api_key, COALESCE(NEW.parent_uid, ''), NEW.is_dir, 1)
        ON CONFLICT (api_key, parent_key, is_dir) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER asset_counts_delete AFTER DELETE ON assets WHEN OLD.deleted_at IS NULL
BEGIN
    UPDATE asset_counts SET n = n - 1 WHERE api_key = OLD.api_key
        AND parent_key = COALESCE(OLD.parent_uid, '') AND is_dir = OLD.is_dir;
    DELETE FROM asset_counts WHERE api_key = OLD.api_key
        AND parent_key = COALESCE(OLD.parent_uid, '') AND is_dir = OLD.is_dir AND n <= 0;
END;
-- A move, a deletion (a tombstone sets `deleted_at`) or a restore: out of the old place if
-- the asset was live there, into the new one if it is live now.
CREATE TRIGGER asset_counts_update AFTER UPDATE OF api_key, parent_uid, is_dir, deleted_at ON assets
WHEN (OLD.deleted_at IS NULL) IS NOT (NEW.deleted_at IS NULL) OR OLD.parent_uid IS NOT NEW.parent_uid
    OR OLD.is_dir IS NOT NEW.is_dir OR OLD.api_key IS NOT NEW.api_key
BEGIN
    UPDATE asset_counts SET n = n - 1 WHERE OLD.deleted_at IS NULL AND api_key = OLD.api_key
        AND parent_key = COALESCE(OLD.parent_uid, '') AND is_dir = OLD.is_dir;
    DELETE FROM asset_counts WHERE OLD.deleted_at IS NULL AND api_key = OLD.api_key
        AND parent_key = COALESCE(OLD.parent_uid, '') AND is_dir = OLD.is_dir AND n <= 0;
    INSERT INTO asset_counts (api_key, parent_key, is_dir, n)
        SELECT NEW.api_key, COALESCE(NEW.parent_uid, ''), NEW.is_dir, 1 WHERE NEW.deleted_at IS NULL
        ON CONFLICT (api_key, parent_key, is_dir) DO UPDATE SET n = n + 1;
END;

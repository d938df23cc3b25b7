-- perma schema v9 (PostgreSQL): how many live assets each folder of a stack holds, files
-- and folders apart (`parent_key` '' is the root), kept by a trigger in the same
-- transaction as every change to `assets`, so that a listing's `include_count` without a
-- filter (§5, §6) reads a few rows instead of counting the stack.
-- Derived data: `perma copy` does not copy it (the target's trigger rebuilds it).
-- Keep in step with migrations/sqlite/0009_asset_counts.sql.
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
CREATE FUNCTION asset_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Out of the old place if the asset was live there, into the new one if it is live now.
    IF TG_OP <> 'INSERT' AND OLD.deleted_at IS NULL THEN
        UPDATE asset_counts SET n = n - 1 WHERE api_key = OLD.api_key
            AND parent_key = COALESCE(OLD.parent_uid, '') AND is_dir = OLD.is_dir;
        DELETE FROM asset_counts WHERE api_key = OLD.api_key
            AND parent_key = COALESCE(OLD.parent_uid, '') AND is_dir = OLD.is_dir AND n <= 0;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.deleted_at IS NULL THEN
        INSERT INTO asset_counts (api_key, parent_key, is_dir, n)
            VALUES (NEW.api_key, COALESCE(NEW.parent_uid, ''), NEW.is_dir, 1)
            ON CONFLICT (api_key, parent_key, is_dir) DO UPDATE SET n = asset_counts.n + 1;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER asset_counts_insert_delete AFTER INSERT OR DELETE ON assets
    FOR EACH ROW EXECUTE FUNCTION asset_counts_keep();
CREATE TRIGGER asset_counts_update AFTER UPDATE OF api_key, parent_uid, is_dir, deleted_at ON assets
    FOR EACH ROW WHEN ((OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)
        OR OLD.parent_uid IS DISTINCT FROM NEW.parent_uid
        OR OLD.is_dir <> NEW.is_dir OR OLD.api_key <> NEW.api_key)
    EXECUTE FUNCTION asset_counts_keep();

-- perma schema v10 (PostgreSQL): the kept folder totals of v9, kept per statement.
--
-- v9 kept them with a row trigger: each changed asset upserted its folder's total. A
-- statement that changes many assets of one folder then updated one row as many times in
-- one transaction, and PostgreSQL keeps every version of that row until the transaction
-- ends, so each update walked all the earlier ones: inserting 20,000 files into one folder
-- in one statement took 3 s and tombstoning them (deleting the folder) 6 s, quadratic in
-- the folder's size. Statement triggers with transition tables apply one summed change per
-- folder and kind per statement instead. (SQLite updates a row in place: its row triggers
-- of v9 stay.)
DROP TRIGGER asset_counts_insert_delete ON assets;
DROP TRIGGER asset_counts_update ON assets;
DROP FUNCTION asset_counts_keep();
CREATE FUNCTION asset_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO asset_counts AS c (api_key, parent_key, is_dir, n)
            SELECT api_key, COALESCE(parent_uid, ''), is_dir, COUNT(*) FROM new_rows
            WHERE deleted_at IS NULL GROUP BY 1, 2, 3
            ON CONFLICT (api_key, parent_key, is_dir) DO UPDATE SET n = c.n + EXCLUDED.n;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        -- Out of each old place the asset was live in, into each new one; a row whose
        -- place and liveness did not change adds and takes one, and writes nothing.
        INSERT INTO asset_counts AS c (api_key, parent_key, is_dir, n)
            SELECT api_key, parent_key, is_dir, SUM(k) FROM (
                SELECT api_key, COALESCE(parent_uid, '') AS parent_key, is_dir, 1 AS k
                    FROM new_rows WHERE deleted_at IS NULL
                UNION ALL
                SELECT api_key, COALESCE(parent_uid, ''), is_dir, -1
                    FROM old_rows WHERE deleted_at IS NULL
            ) d GROUP BY 1, 2, 3 HAVING SUM(k) <> 0
            ON CONFLICT (api_key, parent_key, is_dir) DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSE
        UPDATE asset_counts c SET n = c.n - d.k FROM (
            SELECT api_key, COALESCE(parent_uid, '') AS parent_key, is_dir, COUNT(*) AS k
            FROM old_rows WHERE deleted_at IS NULL GROUP BY 1, 2, 3
        ) d
        WHERE c.api_key = d.api_key AND c.parent_key = d.parent_key AND c.is_dir = d.is_dir;
    END IF;
    -- A place left empty has no row, as in v9.
    DELETE FROM asset_counts c USING (
        SELECT DISTINCT api_key, COALESCE(parent_uid, '') AS parent_key, is_dir
        FROM old_rows WHERE deleted_at IS NULL
    ) d
    WHERE c.n <= 0 AND c.api_key = d.api_key AND c.parent_key = d.parent_key
        AND c.is_dir = d.is_dir;
    RETURN NULL;
END
$$;
-- A trigger with transition tables serves one event.
CREATE TRIGGER asset_counts_insert AFTER INSERT ON assets
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION asset_counts_apply();
CREATE TRIGGER asset_counts_update AFTER UPDATE ON assets
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION asset_counts_apply();
CREATE TRIGGER asset_counts_delete AFTER DELETE ON assets
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION asset_counts_apply();

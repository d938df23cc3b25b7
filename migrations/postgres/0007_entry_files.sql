-- perma schema v7: an asset's newest files, read from an index (§4: a delivery index entry
-- carries the current file and the newest ones, so that loading it costs the same after a
-- thousand replaces as after none; older version URLs read their file by primary key).
-- Replaces files_by_asset, of which it is a prefix.
-- Keep in step with migrations/sqlite/0007_entry_files.sql.
CREATE INDEX files_by_asset_age ON files (asset_uid, created_at, uid);
DROP INDEX files_by_asset;

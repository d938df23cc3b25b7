-- perma schema v2 (PostgreSQL): listing answered by the database (§6). The current file's
-- name, type and size live on the asset row (kept in step by every write), tags get a
-- table, and partial indexes over live assets serve filters, order, skip and counts.
-- Text that is filtered or sorted compares bytewise (COLLATE "C"), as on SQLite, so both
-- backends order alike and a prefix is a range of an index. Uids keep the database's
-- collation (lowercase hex sorts alike in any), so that joins on them with the other
-- tables' uid columns use those tables' indexes.
-- Keep in step with migrations/sqlite/0002_listing.sql.
ALTER TABLE assets ALTER COLUMN title TYPE TEXT COLLATE "C";
ALTER TABLE assets ADD COLUMN filename TEXT COLLATE "C";
ALTER TABLE assets ADD COLUMN content_type TEXT COLLATE "C";
ALTER TABLE assets ADD COLUMN file_size BIGINT;
UPDATE assets SET
    filename = f.filename, content_type = f.content_type, file_size = f.size
    FROM files f WHERE f.uid = assets.file_uid;
UPDATE assets SET content_type = 'application/vnd.contenstack.folder' WHERE is_dir = 1;
CREATE TABLE asset_tags (
    asset_uid TEXT NOT NULL REFERENCES assets(uid) ON DELETE CASCADE,
    api_key TEXT NOT NULL,
    tag TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (asset_uid, tag)
);
INSERT INTO asset_tags (asset_uid, api_key, tag)
    SELECT DISTINCT a.uid, a.api_key, j.value FROM assets a, json_array_elements_text(a.tags::json) j;
CREATE INDEX asset_tags_by_tag ON asset_tags (api_key, tag, asset_uid);
-- Counts read the narrowest index there is.
CREATE INDEX assets_live_count ON assets (api_key, is_dir) WHERE deleted_at IS NULL;
CREATE INDEX assets_live_by_created ON assets (api_key, created_at, uid, is_dir) WHERE deleted_at IS NULL;
CREATE INDEX assets_live_by_parent ON assets (api_key, parent_uid, created_at, uid) WHERE deleted_at IS NULL;
CREATE INDEX assets_live_by_updated ON assets (api_key, updated_at, uid) WHERE deleted_at IS NULL;
CREATE INDEX assets_live_by_title ON assets (api_key, title) WHERE deleted_at IS NULL;
CREATE INDEX assets_live_by_lower_title ON assets (api_key, lower(title)) WHERE deleted_at IS NULL;
CREATE INDEX assets_live_by_filename ON assets (api_key, filename) WHERE deleted_at IS NULL;
CREATE INDEX assets_live_by_lower_filename ON assets (api_key, lower(filename)) WHERE deleted_at IS NULL;
CREATE INDEX assets_live_by_content_type ON assets (api_key, content_type) WHERE deleted_at IS NULL;
CREATE INDEX assets_live_by_size ON assets (api_key, file_size) WHERE deleted_at IS NULL;
CREATE INDEX publications_by_environment ON publications (environment_uid, asset_uid);

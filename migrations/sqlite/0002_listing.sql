-- perma schema v2 (SQLite): listing answered by the database (§6). The current file's name,
-- type and size live on the asset row (kept in step by every write), tags get a table, and
-- partial indexes over live assets serve filters, order, skip and counts.
-- Keep in step with migrations/postgres/0002_listing.sql.
ALTER TABLE assets ADD COLUMN filename TEXT;
ALTER TABLE assets ADD COLUMN content_type TEXT;
ALTER TABLE assets ADD COLUMN file_size BIGINT;
UPDATE assets SET
    filename = (SELECT f.filename FROM files f WHERE f.uid = assets.file_uid),
    content_type = COALESCE((SELECT f.content_type FROM files f WHERE f.uid = assets.file_uid),
                            CASE WHEN is_dir = 1 THEN 'application/vnd.contenstack.folder' END),
    file_size = (SELECT f.size FROM files f WHERE f.uid = assets.file_uid);
CREATE TABLE asset_tags (
    asset_uid TEXT NOT NULL REFERENCES assets(uid) ON DELETE CASCADE,
    api_key TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (asset_uid, tag)
);
INSERT INTO asset_tags (asset_uid, api_key, tag)
    SELECT DISTINCT a.uid, a.api_key, j.value FROM assets a, json_each(a.tags) j;
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

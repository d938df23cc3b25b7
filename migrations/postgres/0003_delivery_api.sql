-- perma schema v3 (PostgreSQL): the read side for websites (§12). What is published to each
-- environment and locale is kept as rows shaped like `assets` (the published version's
-- metadata), so the Content Delivery API lists it with the same query builder and indexes
-- as the management list; and every publish, unpublish and delete of a publication is a
-- row in `sync_events`, numbered per stack in commit order, which the sync API reads.
-- Keep in step with migrations/sqlite/0003_delivery_api.sql.
CREATE TABLE published_assets (
    environment_uid TEXT NOT NULL REFERENCES environments(uid) ON DELETE CASCADE,
    locale TEXT NOT NULL,
    uid TEXT NOT NULL REFERENCES assets(uid) ON DELETE CASCADE,
    api_key TEXT NOT NULL,
    is_dir BIGINT NOT NULL DEFAULT 0,
    parent_uid TEXT,
    title TEXT COLLATE "C" NOT NULL,
    description TEXT NOT NULL,
    tags TEXT NOT NULL,
    file_uid TEXT,
    version BIGINT NOT NULL,
    permanent_slug TEXT,
    filename TEXT COLLATE "C",
    content_type TEXT COLLATE "C",
    file_size BIGINT,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT,
    published_by TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    PRIMARY KEY (environment_uid, locale, uid)
);
CREATE TABLE published_tags (
    environment_uid TEXT NOT NULL,
    locale TEXT NOT NULL,
    asset_uid TEXT NOT NULL,
    tag TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (environment_uid, locale, asset_uid, tag),
    FOREIGN KEY (environment_uid, locale, asset_uid)
        REFERENCES published_assets (environment_uid, locale, uid) ON DELETE CASCADE
);
CREATE INDEX published_tags_by_tag ON published_tags (environment_uid, locale, tag, asset_uid);
CREATE INDEX published_by_created ON published_assets (environment_uid, locale, created_at, uid);
CREATE INDEX published_by_updated ON published_assets (environment_uid, locale, updated_at, uid);
CREATE INDEX published_by_title ON published_assets (environment_uid, locale, title);
CREATE INDEX published_by_lower_title ON published_assets (environment_uid, locale, lower(title));
CREATE INDEX published_by_filename ON published_assets (environment_uid, locale, filename);
CREATE INDEX published_by_content_type ON published_assets (environment_uid, locale, content_type);
CREATE INDEX published_by_size ON published_assets (environment_uid, locale, file_size);
CREATE INDEX published_by_parent ON published_assets (environment_uid, locale, parent_uid, created_at, uid);
INSERT INTO published_assets (environment_uid, locale, uid, api_key, parent_uid, title,
        description, tags, file_uid, version, filename, content_type, file_size, created_by,
        updated_by, created_at, updated_at, published_by, published_at)
    SELECT p.environment_uid, p.locale, a.uid, a.api_key, v.parent_uid, v.title,
        v.description, v.tags, v.file_uid, v.version, f.filename, f.content_type, f.size,
        a.created_by, v.created_by, a.created_at, v.created_at, p.published_by, p.published_at
    FROM publications p
    JOIN assets a ON a.uid = p.asset_uid
    JOIN asset_versions v ON v.asset_uid = p.asset_uid AND v.version = p.version
    LEFT JOIN files f ON f.uid = v.file_uid;
INSERT INTO published_tags (environment_uid, locale, asset_uid, tag)
    SELECT DISTINCT p.environment_uid, p.locale, p.uid, j.value
    FROM published_assets p, json_array_elements_text(p.tags::json) j;

ALTER TABLE stacks ADD COLUMN sync_seq BIGINT NOT NULL DEFAULT 0;
CREATE TABLE sync_events (
    api_key TEXT NOT NULL REFERENCES stacks(api_key) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    environment_uid TEXT NOT NULL REFERENCES environments(uid) ON DELETE CASCADE,
    locale TEXT NOT NULL,
    asset_uid TEXT NOT NULL,
    kind TEXT NOT NULL,
    version BIGINT,
    by_uid TEXT NOT NULL,
    event_at BIGINT NOT NULL,
    PRIMARY KEY (api_key, seq)
);
CREATE INDEX sync_events_by_asset ON sync_events (environment_uid, locale, asset_uid, seq);

-- Bulk publishing (§5): one job per request, one item per asset.
CREATE TABLE bulk_jobs (
    uid TEXT PRIMARY KEY,
    api_key TEXT NOT NULL REFERENCES stacks(api_key) ON DELETE CASCADE,
    action TEXT NOT NULL,
    environments TEXT NOT NULL,
    locales TEXT NOT NULL,
    status TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE bulk_job_items (
    job_uid TEXT NOT NULL REFERENCES bulk_jobs(uid) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    asset_uid TEXT NOT NULL,
    version BIGINT,
    status TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (job_uid, position)
);

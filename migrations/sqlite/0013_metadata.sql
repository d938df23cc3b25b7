-- perma schema v13: a stack's extensions (records only: perma hosts no extension UI) and
-- asset metadata (Contentstack's Metadata API: per asset, extension and locale, changed
-- without a new asset version), with what of it is published per environment and locale.
-- Keep in step with the other backend's 0013_metadata.sql.
CREATE TABLE extensions (
    uid TEXT PRIMARY KEY,
    api_key TEXT NOT NULL REFERENCES stacks(api_key) ON DELETE CASCADE,
    title TEXT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX extensions_by_stack ON extensions (api_key, created_at);
CREATE TABLE asset_metadata (
    uid TEXT PRIMARY KEY,
    api_key TEXT NOT NULL REFERENCES stacks(api_key) ON DELETE CASCADE,
    entity_uid TEXT NOT NULL,
    extension_uid TEXT NOT NULL,
    locale TEXT NOT NULL,
    body TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX asset_metadata_one ON asset_metadata (api_key, entity_uid, extension_uid, locale);
CREATE INDEX asset_metadata_by_stack ON asset_metadata (api_key, created_at);
CREATE TABLE asset_metadata_published (
    metadata_uid TEXT NOT NULL REFERENCES asset_metadata(uid) ON DELETE CASCADE,
    entity_uid TEXT NOT NULL,
    environment_uid TEXT NOT NULL,
    locale TEXT NOT NULL,
    body TEXT NOT NULL,
    version BIGINT NOT NULL,
    published_by TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    PRIMARY KEY (metadata_uid, environment_uid, locale)
);
CREATE INDEX asset_metadata_published_by_entity ON asset_metadata_published (entity_uid, environment_uid, locale);

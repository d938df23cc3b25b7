-- perma schema v14: asset metadata as flat values, so that `query` (§6) can filter on
-- them in the database: one row per leaf of a metadata body (objects joined by '.', arrays
-- looked through), for the metadata as it is (environment_uid '') and as published to each
-- environment and locale. Derived from asset_metadata and asset_metadata_published; filled
-- by perma after this migration. Keep in step with the other backend's
-- 0014_metadata_values.sql.
CREATE TABLE metadata_values (
    metadata_uid TEXT NOT NULL,
    api_key TEXT NOT NULL,
    entity_uid TEXT NOT NULL,
    extension_uid TEXT NOT NULL,
    environment_uid TEXT NOT NULL,
    locale TEXT NOT NULL,
    path TEXT NOT NULL,
    text_value TEXT,
    num_value DOUBLE PRECISION
);
CREATE INDEX metadata_values_text ON metadata_values (api_key, environment_uid, extension_uid, path, text_value);
CREATE INDEX metadata_values_num ON metadata_values (api_key, environment_uid, extension_uid, path, num_value);
CREATE INDEX metadata_values_of ON metadata_values (metadata_uid, environment_uid, locale);
CREATE INDEX metadata_values_by_entity ON metadata_values (entity_uid, environment_uid);

-- perma schema v4: image renditions (§11). A rendition is a (source file bytes, canonical
-- transform, output format) rendered once and stored as a blob of its own; the row says
-- where, how big it is, and when it was last served, for the size budget's
-- least-recently-used eviction. Keyed by `key`: the SHA-256 of the source blob's SHA-256 and
-- the canonical transform, so a replace (new bytes) gets new renditions and version URLs
-- keep theirs. Keep in step with the other backend's 0004_renditions.sql.
CREATE TABLE renditions (
    key TEXT PRIMARY KEY,
    source_sha256 TEXT NOT NULL,
    canonical TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    width BIGINT NOT NULL,
    height BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL
);
CREATE INDEX renditions_by_last_used ON renditions (last_used_at, key);
CREATE INDEX renditions_by_sha256 ON renditions (sha256);

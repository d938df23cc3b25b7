-- perma schema v23: resumable uploads (§16, tus 1.0.0). One row per unfinished upload:
-- whose it is (stack and user or token), its announced length, how many bytes were
-- acknowledged (durable in its file), the SHA-256 state after them (so that the finished
-- file is never read again to hash it), the Upload-Metadata it was created with, and when
-- it expires (pushed back by every PATCH). A finished upload that became an asset, a
-- terminated one and an expired one lose their row and their file.
-- Keep in step with the other backend's 0023_uploads.sql.
CREATE TABLE uploads (
    uid TEXT PRIMARY KEY,
    api_key TEXT NOT NULL,
    owner_uid TEXT NOT NULL,
    length BIGINT NOT NULL,
    received BIGINT NOT NULL,
    hash_state TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX uploads_by_owner ON uploads (owner_uid);
CREATE INDEX uploads_by_expiry ON uploads (expires_at);

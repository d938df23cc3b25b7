-- perma schema v25: direct uploads to S3 (§16). An upload whose parts a client sends
-- straight to the bucket keeps the id of its multipart upload there and its part size;
-- tus uploads have neither (NULL, 0). Its `received` stays 0 until perma has assembled
-- the parts and read the object once to learn its SHA-256 (then `hash_state` holds it).
-- Keep in step with the other backend's 0025_direct_uploads.sql.
ALTER TABLE uploads ADD COLUMN multipart_id TEXT;
ALTER TABLE uploads ADD COLUMN part_size BIGINT NOT NULL DEFAULT 0;

-- perma schema v18: the audit log (§14). One row per change, written in the transaction of
-- the change: who (a user or a management token, and their name then), what (module, event,
-- the asset or folder and its versions before and after, `details` as JSON), when, from where
-- (client address) and the request id the access log also carries. Rows are never changed;
-- they leave only when older than the retention (`PERMA_AUDIT_RETENTION_DAYS`) or with their
-- stack. Keep in step with the other backend's 0018_audit_log.sql.
CREATE TABLE audit_log (
    uid TEXT PRIMARY KEY,
    api_key TEXT NOT NULL REFERENCES stacks(api_key) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    module TEXT NOT NULL,
    event_type TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_uid TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    item_uid TEXT,
    item_title TEXT,
    version_before BIGINT,
    version_after BIGINT,
    remote_addr TEXT,
    request_id TEXT,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_by_time ON audit_log (api_key, created_at, uid);
CREATE INDEX audit_log_by_item ON audit_log (api_key, item_uid, created_at, uid);
CREATE INDEX audit_log_expiry ON audit_log (created_at);

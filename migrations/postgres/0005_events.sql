-- perma schema v5: events (§13). Every change that other systems may care about writes a
-- row to `outbox` in the same transaction as the change itself, so no event is lost
-- whatever happens after the commit. A dispatcher turns each outbox row into jobs — one
-- per matching webhook, one per purge target — and sends them, at least once, with
-- retries; a job is kept with every attempt, as the webhook's executions.
-- Keep in step with the other backend's 0005_events.sql.
CREATE TABLE webhooks (
    uid TEXT PRIMARY KEY,
    api_key TEXT NOT NULL REFERENCES stacks(api_key) ON DELETE CASCADE,
    name TEXT NOT NULL,
    destinations TEXT NOT NULL,
    channels TEXT NOT NULL,
    retry_policy TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    concise_payload BIGINT NOT NULL DEFAULT 0,
    secret TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhooks_by_stack ON webhooks (api_key, created_at);
CREATE TABLE outbox (
    seq BIGSERIAL PRIMARY KEY,
    api_key TEXT NOT NULL,
    action TEXT NOT NULL,
    asset_uid TEXT NOT NULL,
    version BIGINT NOT NULL,
    environment_uid TEXT,
    locale TEXT,
    by_uid TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE TABLE event_jobs (
    uid TEXT PRIMARY KEY,
    api_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    webhook_uid TEXT REFERENCES webhooks(uid) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until BIGINT NOT NULL DEFAULT 0,
    log TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX event_jobs_due ON event_jobs (status, next_attempt_at);
CREATE INDEX event_jobs_by_webhook ON event_jobs (webhook_uid, created_at);
-- Redirect mode (§13): a permanent URL answers 302 to the current version URL.
ALTER TABLE stacks ADD COLUMN permanent_url_mode TEXT NOT NULL DEFAULT 'serve';
-- Signed URLs (§13): each stack's HMAC keys; the newest two are active, so a key can be
-- rotated without breaking URLs signed with the one before.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    api_key TEXT NOT NULL REFERENCES stacks(api_key) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    active BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX signing_keys_by_stack ON signing_keys (api_key, active, created_at);

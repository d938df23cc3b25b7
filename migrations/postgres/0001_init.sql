-- perma schema v1 (PostgreSQL). Times are milliseconds since the Unix epoch; booleans are 0/1;
-- lists are JSON text. Keep in step with migrations/sqlite/0001_init.sql.
CREATE TABLE organizations (
    uid TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    is_default BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE TABLE users (
    uid TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    org_uid TEXT NOT NULL REFERENCES organizations(uid),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_uid TEXT NOT NULL REFERENCES users(uid) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE stacks (
    api_key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    master_locale TEXT NOT NULL,
    org_uid TEXT NOT NULL REFERENCES organizations(uid),
    owner_uid TEXT NOT NULL REFERENCES users(uid),
    secure_asset_urls BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE stack_members (
    api_key TEXT NOT NULL REFERENCES stacks(api_key) ON DELETE CASCADE,
    user_uid TEXT NOT NULL REFERENCES users(uid) ON DELETE CASCADE,
    PRIMARY KEY (api_key, user_uid)
);
CREATE TABLE environments (
    uid TEXT PRIMARY KEY,
    api_key TEXT NOT NULL REFERENCES stacks(api_key) ON DELETE CASCADE,
    name TEXT NOT NULL,
    urls TEXT NOT NULL DEFAULT '[]',
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (api_key, name)
);
CREATE TABLE locales (
    uid TEXT PRIMARY KEY,
    api_key TEXT NOT NULL REFERENCES stacks(api_key) ON DELETE CASCADE,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    fallback_locale TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (api_key, code)
);
CREATE TABLE tokens (
    uid TEXT PRIMARY KEY,
    api_key TEXT NOT NULL REFERENCES stacks(api_key) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    token_hash TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL,
    can_read BIGINT NOT NULL,
    can_write BIGINT NOT NULL,
    environments TEXT NOT NULL DEFAULT '[]',
    expires_at BIGINT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE assets (
    uid TEXT PRIMARY KEY,
    api_key TEXT NOT NULL REFERENCES stacks(api_key) ON DELETE CASCADE,
    is_dir BIGINT NOT NULL,
    parent_uid TEXT,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]',
    file_uid TEXT,
    version BIGINT NOT NULL,
    permanent_slug TEXT,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX assets_by_stack_parent ON assets (api_key, parent_uid);
CREATE TABLE files (
    uid TEXT PRIMARY KEY,
    asset_uid TEXT NOT NULL REFERENCES assets(uid) ON DELETE CASCADE,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    filename TEXT NOT NULL,
    width BIGINT,
    height BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX files_by_asset ON files (asset_uid);
CREATE INDEX files_by_sha256 ON files (sha256);
CREATE TABLE asset_versions (
    asset_uid TEXT NOT NULL REFERENCES assets(uid) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    file_uid TEXT,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    tags TEXT NOT NULL,
    parent_uid TEXT,
    version_name TEXT,
    action TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (asset_uid, version)
);
CREATE TABLE publications (
    asset_uid TEXT NOT NULL REFERENCES assets(uid) ON DELETE CASCADE,
    environment_uid TEXT NOT NULL REFERENCES environments(uid) ON DELETE CASCADE,
    locale TEXT NOT NULL,
    version BIGINT NOT NULL,
    published_by TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    PRIMARY KEY (asset_uid, environment_uid, locale)
);

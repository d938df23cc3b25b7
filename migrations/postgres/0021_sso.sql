-- perma schema v21: single sign-on (§14). A user can be disabled (no sign-in of any kind,
-- their sessions end); an account made by sign-on is linked to the provider's (issuer,
-- subject) and has no password (`password_hash` '!sso', which no password matches and no
-- invitation replaces). A sign-in in progress keeps its PKCE verifier and nonce under the
-- SHA-256 of its `state` for ten minutes; once the provider answered, the browser trades a
-- one-time code (SHA-256 kept) for a session within a minute.
-- Keep in step with the other backend's 0021_sso.sql.
ALTER TABLE users ADD COLUMN disabled BIGINT NOT NULL DEFAULT 0;
CREATE TABLE user_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_uid TEXT NOT NULL REFERENCES users(uid) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_identities_by_user ON user_identities (user_uid);
CREATE TABLE sso_logins (
    state_hash TEXT PRIMARY KEY,
    verifier TEXT NOT NULL,
    nonce TEXT NOT NULL,
    return_to TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    code_hash TEXT,
    user_uid TEXT REFERENCES users(uid) ON DELETE CASCADE
);
CREATE INDEX sso_logins_by_code ON sso_logins (code_hash);

-- perma schema v19: invitations (§14). Sharing a stack with an e-mail that has no account
-- makes an invited user (no password yet: `password_hash` is empty, which no password
-- matches) and an invitation, kept as the SHA-256 of its secret; the person sets their
-- password at their first sign-in with the secret, which ends every invitation of theirs.
-- Keep in step with the other backend's 0019_invitations.sql.
CREATE TABLE invitations (
    token_hash TEXT PRIMARY KEY,
    user_uid TEXT NOT NULL REFERENCES users(uid) ON DELETE CASCADE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX invitations_by_user ON invitations (user_uid);

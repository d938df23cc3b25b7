//! Queries for single sign-on (§14): sign-ins in progress, the one-time codes that end
//! them, accounts linked to a provider's subject, disabled users, and memberships kept in
//! step with the provider's role claim.

use std::collections::BTreeMap;

use sqlx::Row;

use super::audit::{self, AuditEntry};
use super::Db;
use crate::records::User;

/// A sign-in between perma's redirect to the provider and the provider's answer.
#[derive(Debug, Clone)]
pub struct PendingSignIn {
    /// The PKCE code verifier.
    pub verifier: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// Where the browser goes afterwards (a path of perma).
    pub return_to: String,
    /// When it stops being accepted (ms).
    pub expires_at: i64,
}

/// The password hash of an account made by single sign-on: no password matches it, and it
/// is not empty, so no invitation can give the account a password.
pub const SSO_PASSWORD_HASH: &str = "!sso";

impl Db {
    /// Stores a sign-in in progress under the hash of its `state`, and forgets the
    /// sign-ins that were never finished (the table stays as small as the sign-ins of the
    /// last minutes).
    pub async fn insert_pending_sign_in(
        &self,
        state_hash: &str,
        p: &PendingSignIn,
        now: i64,
    ) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM sso_logins WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sso_logins (state_hash, verifier, nonce, return_to, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(state_hash)
        .bind(&p.verifier)
        .bind(&p.nonce)
        .bind(&p.return_to)
        .bind(now)
        .bind(p.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Takes (once) the sign-in started with this `state`.
    pub async fn take_pending_sign_in(
        &self,
        state_hash: &str,
    ) -> sqlx::Result<Option<PendingSignIn>> {
        let row = sqlx::query(
            "DELETE FROM sso_logins WHERE state_hash = $1 AND code_hash IS NULL \
             RETURNING verifier, nonce, return_to, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(&self.write)
        .await?;
        row.map(|r| {
            Ok(PendingSignIn {
                verifier: r.try_get("verifier")?,
                nonce: r.try_get("nonce")?,
                return_to: r.try_get("return_to")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Stores the one-time code (its hash) that the browser trades for a session.
    pub async fn insert_sign_in_code(
        &self,
        code_hash: &str,
        user_uid: &str,
        now: i64,
        expires_at: i64,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO sso_logins (state_hash, verifier, nonce, return_to, created_at, \
             expires_at, code_hash, user_uid) VALUES ($1, '', '', '', $2, $3, $1, $4)",
        )
        .bind(code_hash)
        .bind(now)
        .bind(expires_at)
        .bind(user_uid)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Takes (once) a one-time code still valid at `now`: the user it signs in.
    pub async fn take_sign_in_code(
        &self,
        code_hash: &str,
        now: i64,
    ) -> sqlx::Result<Option<String>> {
        let row = sqlx::query(
            "DELETE FROM sso_logins WHERE code_hash = $1 AND user_uid IS NOT NULL \
             RETURNING user_uid, expires_at",
        )
        .bind(code_hash)
        .fetch_optional(&self.write)
        .await?;
        Ok(match row {
            Some(r) if r.try_get::<i64, _>("expires_at")? > now => Some(r.try_get("user_uid")?),
            _ => None,
        })
    }

    /// The account linked to a provider's subject.
    pub async fn user_by_subject(&self, issuer: &str, subject: &str) -> sqlx::Result<Option<User>> {
        let Some(uid): Option<String> = sqlx::query_scalar(
            "SELECT user_uid FROM user_identities WHERE issuer = $1 AND subject = $2",
        )
        .bind(issuer)
        .bind(subject)
        .fetch_optional(&self.read)
        .await?
        else {
            return Ok(None);
        };
        self.user(&uid).await
    }

    /// Links an account to a provider's subject.
    pub async fn link_subject(
        &self,
        issuer: &str,
        subject: &str,
        user_uid: &str,
        now: i64,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO user_identities (issuer, subject, user_uid, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(issuer)
        .bind(subject)
        .bind(user_uid)
        .bind(now)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Disables or enables an account; disabling ends its sessions in the same transaction.
    /// Returns whether the account exists.
    pub async fn set_user_disabled(
        &self,
        uid: &str,
        disabled: bool,
        now: i64,
    ) -> sqlx::Result<bool> {
        let mut tx = self.write.begin().await?;
        let n = sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE uid = $3")
            .bind(disabled as i64)
            .bind(now)
            .bind(uid)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_uid = $1")
                .bind(uid)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// A user's memberships with their role uids: api_key → roles.
    pub async fn memberships(&self, user_uid: &str) -> sqlx::Result<BTreeMap<String, Vec<String>>> {
        let rows = sqlx::query(
            "SELECT m.api_key, mr.role_uid FROM stack_members m \
             LEFT JOIN member_roles mr ON mr.api_key = m.api_key AND mr.user_uid = m.user_uid \
             WHERE m.user_uid = $1 ORDER BY m.api_key, mr.role_uid",
        )
        .bind(user_uid)
        .fetch_all(&self.read)
        .await?;
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in &rows {
            let roles = out.entry(r.try_get("api_key")?).or_default();
            if let Some(role) = r.try_get::<Option<String>, _>("role_uid")? {
                roles.push(role);
            }
        }
        Ok(out)
    }

    /// Makes a user's memberships the given ones (api_key → role uids; `None` ends the
    /// membership), with their audit entries, in one transaction.
    pub async fn set_memberships(
        &self,
        user_uid: &str,
        changes: &[(String, Option<Vec<String>>)],
        entries: &[AuditEntry],
    ) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        for (api_key, roles) in changes {
            match roles {
                Some(roles) => {
                    sqlx::query(
                        "INSERT INTO stack_members (api_key, user_uid) VALUES ($1, $2) \
                         ON CONFLICT (api_key, user_uid) DO NOTHING",
                    )
                    .bind(api_key)
                    .bind(user_uid)
                    .execute(&mut *tx)
                    .await?;
                    super::roles::set_member_roles_tx(&mut tx, api_key, user_uid, roles).await?;
                }
                None => {
                    sqlx::query("DELETE FROM member_roles WHERE api_key = $1 AND user_uid = $2")
                        .bind(api_key)
                        .bind(user_uid)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("DELETE FROM stack_members WHERE api_key = $1 AND user_uid = $2")
                        .bind(api_key)
                        .bind(user_uid)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        audit::commit_with(tx, entries).await
    }
}

//! Queries for organizations, users, sessions, invitations, stacks and their members.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::audit::{self, AuditEntry};
use super::{flag, Db};
use crate::records::{Organization, Role, Stack, User};

fn org(row: &AnyRow) -> sqlx::Result<Organization> {
    Ok(Organization {
        uid: row.try_get("uid")?,
        name: row.try_get("name")?,
        is_default: flag(row, "is_default")?,
        created_at: row.try_get("created_at")?,
    })
}

fn user(row: &AnyRow) -> sqlx::Result<User> {
    Ok(User {
        uid: row.try_get("uid")?,
        email: row.try_get("email")?,
        first_name: row.try_get("first_name")?,
        last_name: row.try_get("last_name")?,
        org_uid: row.try_get("org_uid")?,
        disabled: flag(row, "disabled")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn stack(row: &AnyRow) -> sqlx::Result<Stack> {
    Ok(Stack {
        api_key: row.try_get("api_key")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        master_locale: row.try_get("master_locale")?,
        org_uid: row.try_get("org_uid")?,
        owner_uid: row.try_get("owner_uid")?,
        secure_asset_urls: flag(row, "secure_asset_urls")?,
        permanent_url_mode: row.try_get("permanent_url_mode")?,
        metadata_extension: row.try_get("metadata_extension")?,
        trash_retention_days: row.try_get("trash_retention_days")?,
        insights: flag(row, "insights")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const STACK_COLS: &str = "api_key, name, description, master_locale, org_uid, owner_uid, \
                          secure_asset_urls, created_at, updated_at, permanent_url_mode, \
                          metadata_extension, trash_retention_days, insights";

impl Db {
    /// The default organization, if created.
    pub async fn default_organization(&self) -> sqlx::Result<Option<Organization>> {
        sqlx::query("SELECT * FROM organizations WHERE is_default = 1")
            .fetch_optional(&self.read)
            .await?
            .map(|r| org(&r))
            .transpose()
    }

    /// Creates an organization.
    pub async fn insert_organization(&self, o: &Organization) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO organizations (uid, name, is_default, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&o.uid)
        .bind(&o.name)
        .bind(o.is_default as i64)
        .bind(o.created_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// One organization by uid.
    pub async fn organization(&self, uid: &str) -> sqlx::Result<Option<Organization>> {
        sqlx::query("SELECT * FROM organizations WHERE uid = $1")
            .bind(uid)
            .fetch_optional(&self.read)
            .await?
            .map(|r| org(&r))
            .transpose()
    }

    /// Inserts a user with an already-hashed password.
    pub async fn insert_user(&self, u: &User, password_hash: &str) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO users (uid, email, password_hash, first_name, last_name, org_uid, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&u.uid)
        .bind(&u.email)
        .bind(password_hash)
        .bind(&u.first_name)
        .bind(&u.last_name)
        .bind(&u.org_uid)
        .bind(u.created_at)
        .bind(u.updated_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// A user and their password hash, by (lowercased) email.
    pub async fn user_by_email(&self, email: &str) -> sqlx::Result<Option<(User, String)>> {
        let row = sqlx::query("SELECT * FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| Ok((user(&r)?, r.try_get("password_hash")?)))
            .transpose()
    }

    /// Stores an invitation (the SHA-256 of its secret) for an invited user.
    pub async fn insert_invitation(
        &self,
        token_hash: &str,
        user_uid: &str,
        by: &str,
        (at, expires_at): (i64, i64),
    ) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO invitations (token_hash, user_uid, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(user_uid)
        .bind(by)
        .bind(at)
        .bind(expires_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Sets the password of an invited user who holds this unexpired invitation, and ends
    /// all their invitations, in one transaction. Returns whether the invitation was valid.
    pub async fn accept_invitation(
        &self,
        user_uid: &str,
        token_hash: &str,
        password_hash: &str,
        now: i64,
    ) -> sqlx::Result<bool> {
        let mut tx = self.write.begin().await?;
        let valid: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM invitations WHERE token_hash = $1 AND user_uid = $2 AND expires_at > $3",
        )
        .bind(token_hash)
        .bind(user_uid)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if valid.is_none() {
            return Ok(false);
        }
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE uid = $3")
            .bind(password_hash)
            .bind(now)
            .bind(user_uid)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM invitations WHERE user_uid = $1")
            .bind(user_uid)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A user by uid.
    pub async fn user(&self, uid: &str) -> sqlx::Result<Option<User>> {
        sqlx::query("SELECT * FROM users WHERE uid = $1")
            .bind(uid)
            .fetch_optional(&self.read)
            .await?
            .map(|r| user(&r))
            .transpose()
    }

    /// Records a login session.
    pub async fn insert_session(
        &self,
        token_hash: &str,
        user_uid: &str,
        now: i64,
        expires_at: i64,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_uid, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_uid)
        .bind(now)
        .bind(expires_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// The user behind a live session token hash.
    pub async fn session_user(&self, token_hash: &str, now: i64) -> sqlx::Result<Option<User>> {
        sqlx::query(
            "SELECT u.* FROM sessions s JOIN users u ON u.uid = s.user_uid \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled = 0",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.read)
        .await?
        .map(|r| user(&r))
        .transpose()
    }

    /// Ends a session. Returns whether one was ended.
    pub async fn delete_session(&self, token_hash: &str) -> sqlx::Result<bool> {
        let r = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.write)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Creates a stack and makes its owner a member, in one transaction.
    pub async fn insert_stack(
        &self,
        s: &Stack,
        roles: &[Role],
        audit: &[AuditEntry],
    ) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO stacks ({STACK_COLS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&s.api_key)
        .bind(&s.name)
        .bind(&s.description)
        .bind(&s.master_locale)
        .bind(&s.org_uid)
        .bind(&s.owner_uid)
        .bind(s.secure_asset_urls as i64)
        .bind(s.created_at)
        .bind(s.updated_at)
        .bind(&s.permanent_url_mode)
        .bind(&s.metadata_extension)
        .bind(s.trash_retention_days)
        .bind(s.insights as i64)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO stack_members (api_key, user_uid) VALUES ($1, $2)")
            .bind(&s.api_key)
            .bind(&s.owner_uid)
            .execute(&mut *tx)
            .await?;
        for r in roles {
            super::roles::insert_role_tx(&mut tx, r).await?;
        }
        let admin: Vec<String> = roles
            .iter()
            .filter(|r| r.kind == "admin")
            .map(|r| r.uid.clone())
            .collect();
        super::roles::set_member_roles_tx(&mut tx, &s.api_key, &s.owner_uid, &admin).await?;
        audit::commit_with(tx, audit).await
    }

    /// One stack by api key.
    pub async fn stack(&self, api_key: &str) -> sqlx::Result<Option<Stack>> {
        sqlx::query(&format!(
            "SELECT {STACK_COLS} FROM stacks WHERE api_key = $1"
        ))
        .bind(api_key)
        .fetch_optional(&self.read)
        .await?
        .map(|r| stack(&r))
        .transpose()
    }

    /// Stacks a user is a member of, oldest first.
    pub async fn stacks_of_user(&self, user_uid: &str) -> sqlx::Result<Vec<Stack>> {
        let rows = sqlx::query(
            "SELECT s.* FROM stacks s JOIN stack_members m ON m.api_key = s.api_key \
             WHERE m.user_uid = $1 ORDER BY s.created_at, s.api_key",
        )
        .bind(user_uid)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(stack).collect()
    }

    /// Updates name, description and the stack settings.
    pub async fn update_stack(&self, s: &Stack, audit: &[AuditEntry]) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "UPDATE stacks SET name = $2, description = $3, secure_asset_urls = $4, \
             updated_at = $5, permanent_url_mode = $6, metadata_extension = $7, \
             trash_retention_days = $8, insights = $9 WHERE api_key = $1",
        )
        .bind(&s.api_key)
        .bind(&s.name)
        .bind(&s.description)
        .bind(s.secure_asset_urls as i64)
        .bind(s.updated_at)
        .bind(&s.permanent_url_mode)
        .bind(&s.metadata_extension)
        .bind(s.trash_retention_days)
        .bind(s.insights as i64)
        .execute(&mut *tx)
        .await?;
        audit::commit_with(tx, audit).await?;
        Ok(())
    }

    /// Deletes a stack and (by cascade) everything in it. Blobs stay for `gc`.
    pub async fn delete_stack(&self, api_key: &str) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        // Explicit order instead of relying on every cascade path.
        for sql in [
            "DELETE FROM publications WHERE asset_uid IN (SELECT uid FROM assets WHERE api_key = $1)",
            "DELETE FROM asset_versions WHERE asset_uid IN (SELECT uid FROM assets WHERE api_key = $1)",
            "DELETE FROM files WHERE asset_uid IN (SELECT uid FROM assets WHERE api_key = $1)",
            "DELETE FROM assets WHERE api_key = $1",
            // Emptied by the triggers already; any row left is stale.
            "DELETE FROM asset_counts WHERE api_key = $1",
            "DELETE FROM tokens WHERE api_key = $1",
            "DELETE FROM environments WHERE api_key = $1",
            "DELETE FROM locales WHERE api_key = $1",
            "DELETE FROM stack_members WHERE api_key = $1",
            "DELETE FROM traffic_hourly WHERE api_key = $1",
            "DELETE FROM traffic_daily WHERE api_key = $1",
            "DELETE FROM traffic_referrers WHERE api_key = $1",
            "DELETE FROM stacks WHERE api_key = $1",
        ] {
            sqlx::query(sql).bind(api_key).execute(&mut *tx).await?;
        }
        tx.commit().await
    }

    /// Whether a user belongs to a stack.
    pub async fn is_member(&self, api_key: &str, user_uid: &str) -> sqlx::Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM stack_members WHERE api_key = $1 AND user_uid = $2",
        )
        .bind(api_key)
        .bind(user_uid)
        .fetch_one(&self.read)
        .await?;
        Ok(n > 0)
    }

    /// Adds a member (no-op when already one).
    pub async fn add_member(&self, api_key: &str, user_uid: &str) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO stack_members (api_key, user_uid) VALUES ($1, $2) \
             ON CONFLICT (api_key, user_uid) DO NOTHING",
        )
        .bind(api_key)
        .bind(user_uid)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Removes a member. Returns whether one was removed.
    pub async fn remove_member(
        &self,
        api_key: &str,
        user_uid: &str,
        audit: &[AuditEntry],
    ) -> sqlx::Result<bool> {
        let mut tx = self.write.begin().await?;
        let r = sqlx::query("DELETE FROM stack_members WHERE api_key = $1 AND user_uid = $2")
            .bind(api_key)
            .bind(user_uid)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        audit::commit_with(tx, audit).await?;
        Ok(true)
    }

    /// Emails of a stack's members.
    pub async fn member_emails(&self, api_key: &str) -> sqlx::Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT u.uid, u.email FROM users u JOIN stack_members m ON m.user_uid = u.uid \
             WHERE m.api_key = $1 ORDER BY u.email",
        )
        .bind(api_key)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("uid")?, r.try_get("email")?)))
            .collect()
    }
}

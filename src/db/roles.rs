//! Queries for roles and the roles of members (§14).

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::audit::{self, AuditEntry};
use super::Db;
use crate::records::Role;

const ROLE_COLS: &str =
    "uid, api_key, name, description, kind, rules, created_by, updated_by, created_at, updated_at";

fn role(row: &AnyRow) -> sqlx::Result<Role> {
    let rules: String = row.try_get("rules")?;
    Ok(Role {
        uid: row.try_get("uid")?,
        api_key: row.try_get("api_key")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        kind: row.try_get("kind")?,
        rules: serde_json::from_str(&rules).unwrap_or_else(|_| serde_json::json!([])),
        created_by: row.try_get("created_by")?,
        updated_by: row.try_get("updated_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a role within a transaction (a new stack's built-in roles go with the stack).
pub(super) async fn insert_role_tx(tx: &mut Transaction<'_, Any>, r: &Role) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO roles ({ROLE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(&r.uid)
    .bind(&r.api_key)
    .bind(&r.name)
    .bind(&r.description)
    .bind(&r.kind)
    .bind(r.rules.to_string())
    .bind(&r.created_by)
    .bind(&r.updated_by)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Gives a member a set of roles within a transaction, replacing the ones they had.
pub(super) async fn set_member_roles_tx(
    tx: &mut Transaction<'_, Any>,
    api_key: &str,
    user_uid: &str,
    role_uids: &[String],
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM member_roles WHERE api_key = $1 AND user_uid = $2")
        .bind(api_key)
        .bind(user_uid)
        .execute(&mut **tx)
        .await?;
    for r in role_uids {
        sqlx::query(
            "INSERT INTO member_roles (api_key, user_uid, role_uid) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(api_key)
        .bind(user_uid)
        .bind(r)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Db {
    /// The roles of a stack, built-in ones first, then by name.
    pub async fn roles(&self, api_key: &str) -> sqlx::Result<Vec<Role>> {
        let rows = sqlx::query(&format!(
            "SELECT {ROLE_COLS} FROM roles WHERE api_key = $1 \
             ORDER BY CASE kind WHEN 'custom' THEN 1 ELSE 0 END, name"
        ))
        .bind(api_key)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(role).collect()
    }

    /// One role of a stack.
    pub async fn role(&self, api_key: &str, uid: &str) -> sqlx::Result<Option<Role>> {
        sqlx::query(&format!(
            "SELECT {ROLE_COLS} FROM roles WHERE api_key = $1 AND uid = $2"
        ))
        .bind(api_key)
        .bind(uid)
        .fetch_optional(&self.read)
        .await?
        .as_ref()
        .map(role)
        .transpose()
    }

    /// Stores a new role; a duplicate name is a unique violation.
    pub async fn insert_role(&self, r: &Role, audit: &[AuditEntry]) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        insert_role_tx(&mut tx, r).await?;
        audit::commit_with(tx, audit).await
    }

    /// Changes a role's name, description and rules.
    pub async fn update_role(&self, r: &Role, audit: &[AuditEntry]) -> sqlx::Result<bool> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "UPDATE roles SET name = $1, description = $2, rules = $3, updated_by = $4, \
             updated_at = $5 WHERE api_key = $6 AND uid = $7",
        )
        .bind(&r.name)
        .bind(&r.description)
        .bind(r.rules.to_string())
        .bind(&r.updated_by)
        .bind(r.updated_at)
        .bind(&r.api_key)
        .bind(&r.uid)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        audit::commit_with(tx, audit).await?;
        Ok(true)
    }

    /// Deletes a custom role no member holds. Returns false when it is held (or gone).
    pub async fn delete_unheld_role(
        &self,
        api_key: &str,
        uid: &str,
        audit: &[AuditEntry],
    ) -> sqlx::Result<bool> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query(
            "DELETE FROM roles WHERE api_key = $1 AND uid = $2 AND kind = 'custom' \
             AND NOT EXISTS (SELECT 1 FROM member_roles m WHERE m.role_uid = roles.uid)",
        )
        .bind(api_key)
        .bind(uid)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        audit::commit_with(tx, audit).await?;
        Ok(true)
    }

    /// Members holding each role of a stack: (role uid, user uid).
    pub async fn role_holders(&self, api_key: &str) -> sqlx::Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT role_uid, user_uid FROM member_roles WHERE api_key = $1 \
             ORDER BY role_uid, user_uid",
        )
        .bind(api_key)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// A member's roles, or `None` when the user is not a member of the stack: one query,
    /// asked on every management request.
    pub async fn member_roles(
        &self,
        api_key: &str,
        user_uid: &str,
    ) -> sqlx::Result<Option<Vec<Role>>> {
        let cols = ROLE_COLS
            .split(", ")
            .map(|c| format!("r.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = sqlx::query(&format!(
            "SELECT m.user_uid AS member, {cols} FROM stack_members m \
             LEFT JOIN member_roles mr ON mr.api_key = m.api_key AND mr.user_uid = m.user_uid \
             LEFT JOIN roles r ON r.uid = mr.role_uid \
             WHERE m.api_key = $1 AND m.user_uid = $2"
        ))
        .bind(api_key)
        .bind(user_uid)
        .fetch_all(&self.read)
        .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut roles = Vec::new();
        for r in &rows {
            if r.try_get::<Option<String>, _>("uid")?.is_some() {
                roles.push(role(r)?);
            }
        }
        Ok(Some(roles))
    }

    /// Adds members with roles (existing members get these roles instead of theirs), in one
    /// transaction.
    pub async fn share_with_roles(
        &self,
        api_key: &str,
        members: &[(String, Vec<String>)],
        audit: &[AuditEntry],
    ) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        for (user_uid, roles) in members {
            sqlx::query(
                "INSERT INTO stack_members (api_key, user_uid) VALUES ($1, $2) \
                 ON CONFLICT (api_key, user_uid) DO NOTHING",
            )
            .bind(api_key)
            .bind(user_uid)
            .execute(&mut *tx)
            .await?;
            set_member_roles_tx(&mut tx, api_key, user_uid, roles).await?;
        }
        audit::commit_with(tx, audit).await
    }
}

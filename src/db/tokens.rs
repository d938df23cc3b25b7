//! Queries for management and delivery tokens (only their hashes are stored).

use sqlx::any::AnyRow;
use sqlx::Row;

use super::audit::{self, AuditEntry};
use super::{flag, json_list, to_json_text, Db};
use crate::records::{Token, TokenKind};

fn token(row: &AnyRow) -> sqlx::Result<Token> {
    let kind: String = row.try_get("kind")?;
    let scope: String = row.try_get("scope")?;
    Ok(Token {
        uid: row.try_get("uid")?,
        api_key: row.try_get("api_key")?,
        kind: if kind == "delivery" {
            TokenKind::Delivery
        } else {
            TokenKind::Management
        },
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        scope: serde_json::from_str(&scope).unwrap_or_default(),
        can_read: flag(row, "can_read")?,
        can_write: flag(row, "can_write")?,
        environments: json_list(row, "environments")?,
        expires_at: row.try_get("expires_at")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Db {
    /// Stores a token (its secret only as a hash).
    pub async fn insert_token(
        &self,
        t: &Token,
        token_hash: &str,
        audit: &[AuditEntry],
    ) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO tokens (uid, api_key, kind, name, description, token_hash, scope, \
             can_read, can_write, environments, expires_at, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&t.uid)
        .bind(&t.api_key)
        .bind(t.kind.as_str())
        .bind(&t.name)
        .bind(&t.description)
        .bind(token_hash)
        .bind(to_json_text(&t.scope))
        .bind(t.can_read as i64)
        .bind(t.can_write as i64)
        .bind(to_json_text(&t.environments))
        .bind(t.expires_at)
        .bind(&t.created_by)
        .bind(t.created_at)
        .execute(&mut *tx)
        .await?;
        audit::commit_with(tx, audit).await?;
        Ok(())
    }

    /// A stack's tokens of one kind.
    pub async fn tokens(&self, api_key: &str, kind: TokenKind) -> sqlx::Result<Vec<Token>> {
        let rows = sqlx::query(
            "SELECT * FROM tokens WHERE api_key = $1 AND kind = $2 ORDER BY created_at, uid",
        )
        .bind(api_key)
        .bind(kind.as_str())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(token).collect()
    }

    /// The token with this secret hash.
    pub async fn token_by_hash(&self, token_hash: &str) -> sqlx::Result<Option<Token>> {
        sqlx::query("SELECT * FROM tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.read)
            .await?
            .map(|r| token(&r))
            .transpose()
    }

    /// Changes a token's name, description, scope or expiry (never its secret).
    pub async fn update_token(&self, t: &Token, audit: &[AuditEntry]) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "UPDATE tokens SET name = $3, description = $4, scope = $5, can_read = $6, \
             can_write = $7, environments = $8, expires_at = $9 WHERE api_key = $1 AND uid = $2",
        )
        .bind(&t.api_key)
        .bind(&t.uid)
        .bind(&t.name)
        .bind(&t.description)
        .bind(to_json_text(&t.scope))
        .bind(t.can_read as i64)
        .bind(t.can_write as i64)
        .bind(to_json_text(&t.environments))
        .bind(t.expires_at)
        .execute(&mut *tx)
        .await?;
        audit::commit_with(tx, audit).await?;
        Ok(())
    }

    /// Deletes a token. Returns whether one was deleted.
    pub async fn delete_token(
        &self,
        api_key: &str,
        kind: TokenKind,
        uid: &str,
        audit: &[AuditEntry],
    ) -> sqlx::Result<bool> {
        let mut tx = self.write.begin().await?;
        let r = sqlx::query("DELETE FROM tokens WHERE api_key = $1 AND kind = $2 AND uid = $3")
            .bind(api_key)
            .bind(kind.as_str())
            .bind(uid)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        audit::commit_with(tx, audit).await?;
        Ok(true)
    }
}

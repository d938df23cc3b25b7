//! Queries for a stack's settings: its environments and locales.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::audit::{self, AuditEntry};
use super::{to_json_text, Db};
use crate::records::{Environment, Locale};

fn environment(row: &AnyRow) -> sqlx::Result<Environment> {
    let urls: String = row.try_get("urls")?;
    Ok(Environment {
        uid: row.try_get("uid")?,
        api_key: row.try_get("api_key")?,
        name: row.try_get("name")?,
        urls: serde_json::from_str(&urls).unwrap_or_default(),
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn locale(row: &AnyRow) -> sqlx::Result<Locale> {
    Ok(Locale {
        uid: row.try_get("uid")?,
        api_key: row.try_get("api_key")?,
        code: row.try_get("code")?,
        name: row.try_get("name")?,
        fallback_locale: row.try_get("fallback_locale")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Db {
    /// Creates an environment; a duplicate name is a unique violation.
    pub async fn insert_environment(
        &self,
        e: &Environment,
        audit: &[AuditEntry],
    ) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO environments (uid, api_key, name, urls, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&e.uid)
        .bind(&e.api_key)
        .bind(&e.name)
        .bind(to_json_text(&e.urls))
        .bind(&e.created_by)
        .bind(e.created_at)
        .bind(e.updated_at)
        .execute(&mut *tx)
        .await?;
        audit::commit_with(tx, audit).await?;
        Ok(())
    }

    /// A stack's environments by name.
    pub async fn environments(&self, api_key: &str) -> sqlx::Result<Vec<Environment>> {
        let rows = sqlx::query("SELECT * FROM environments WHERE api_key = $1 ORDER BY name")
            .bind(api_key)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(environment).collect()
    }

    /// One environment by name.
    pub async fn environment(
        &self,
        api_key: &str,
        name: &str,
    ) -> sqlx::Result<Option<Environment>> {
        self.stack_row("environments", "name", (api_key, name), environment)
            .await
    }

    /// Renames an environment or changes its URLs.
    pub async fn update_environment(
        &self,
        e: &Environment,
        audit: &[AuditEntry],
    ) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("UPDATE environments SET name = $2, urls = $3, updated_at = $4 WHERE uid = $1")
            .bind(&e.uid)
            .bind(&e.name)
            .bind(to_json_text(&e.urls))
            .bind(e.updated_at)
            .execute(&mut *tx)
            .await?;
        audit::commit_with(tx, audit).await?;
        Ok(())
    }

    /// Deletes an environment and its publications.
    pub async fn delete_environment(&self, uid: &str, audit: &[AuditEntry]) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query("DELETE FROM publications WHERE environment_uid = $1")
            .bind(uid)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM environments WHERE uid = $1")
            .bind(uid)
            .execute(&mut *tx)
            .await?;
        audit::commit_with(tx, audit).await
    }

    /// Creates a locale; a duplicate code is a unique violation.
    pub async fn insert_locale(&self, l: &Locale, audit: &[AuditEntry]) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO locales (uid, api_key, code, name, fallback_locale, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&l.uid)
        .bind(&l.api_key)
        .bind(&l.code)
        .bind(&l.name)
        .bind(&l.fallback_locale)
        .bind(l.created_at)
        .bind(l.updated_at)
        .execute(&mut *tx)
        .await?;
        audit::commit_with(tx, audit).await?;
        Ok(())
    }

    /// A stack's locales.
    pub async fn locales(&self, api_key: &str) -> sqlx::Result<Vec<Locale>> {
        let rows =
            sqlx::query("SELECT * FROM locales WHERE api_key = $1 ORDER BY created_at, code")
                .bind(api_key)
                .fetch_all(&self.read)
                .await?;
        rows.iter().map(locale).collect()
    }

    /// One locale by code.
    pub async fn locale(&self, api_key: &str, code: &str) -> sqlx::Result<Option<Locale>> {
        self.stack_row("locales", "code", (api_key, code), locale)
            .await
    }

    /// Renames a locale or changes its fallback.
    pub async fn update_locale(&self, l: &Locale, audit: &[AuditEntry]) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "UPDATE locales SET name = $3, fallback_locale = $4, updated_at = $5 \
             WHERE api_key = $1 AND code = $2",
        )
        .bind(&l.api_key)
        .bind(&l.code)
        .bind(&l.name)
        .bind(&l.fallback_locale)
        .bind(l.updated_at)
        .execute(&mut *tx)
        .await?;
        audit::commit_with(tx, audit).await?;
        Ok(())
    }

    /// Deletes a locale and its publications.
    pub async fn delete_locale(
        &self,
        api_key: &str,
        code: &str,
        audit: &[AuditEntry],
    ) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "DELETE FROM publications WHERE locale = $2 AND asset_uid IN \
             (SELECT uid FROM assets WHERE api_key = $1)",
        )
        .bind(api_key)
        .bind(code)
        .execute(&mut *tx)
        .await?;
        // What the delivery API lists in that locale goes with it (§12).
        for table in ["published_tags", "published_assets"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE locale = $2 AND environment_uid IN \
                 (SELECT uid FROM environments WHERE api_key = $1)"
            ))
            .bind(api_key)
            .bind(code)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM locales WHERE api_key = $1 AND code = $2")
            .bind(api_key)
            .bind(code)
            .execute(&mut *tx)
            .await?;
        audit::commit_with(tx, audit).await
    }
}

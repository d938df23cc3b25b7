//! Queries for an asset's versions: one, all of them (paged), and naming one.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::assets::file_from;
use super::audit::{self, AuditEntry};
use super::{json_list, Db};
use crate::records::Version;

pub(super) fn version(row: &AnyRow) -> sqlx::Result<Version> {
    let file_uid: Option<String> = row.try_get("file_uid")?;
    Ok(Version {
        version: row.try_get("version")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        tags: json_list(row, "tags")?,
        parent_uid: row.try_get("parent_uid")?,
        version_name: row.try_get("version_name")?,
        action: row.try_get("action")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        file: file_from(row, file_uid)?,
    })
}

impl Db {
    /// One version of an asset.
    pub async fn version(&self, asset_uid: &str, n: i64) -> sqlx::Result<Option<Version>> {
        sqlx::query(
            "SELECT v.*, f.sha256 AS f_sha256, f.size AS f_size, f.content_type AS f_content_type, \
             f.filename AS f_filename, f.width AS f_width, f.height AS f_height, \
             f.created_at AS f_created_at FROM asset_versions v \
             LEFT JOIN files f ON f.uid = v.file_uid WHERE v.asset_uid = $1 AND v.version = $2",
        )
        .bind(asset_uid)
        .bind(n)
        .fetch_optional(&self.read)
        .await?
        .map(|r| version(&r))
        .transpose()
    }

    /// Versions of an asset, newest first.
    pub async fn versions(
        &self,
        asset_uid: &str,
        named_only: bool,
        skip: i64,
        limit: i64,
    ) -> sqlx::Result<(Vec<Version>, i64)> {
        let named = if named_only {
            " AND v.version_name IS NOT NULL"
        } else {
            ""
        };
        let rows = sqlx::query(&format!(
            "SELECT v.*, f.sha256 AS f_sha256, f.size AS f_size, f.content_type AS f_content_type, \
             f.filename AS f_filename, f.width AS f_width, f.height AS f_height, \
             f.created_at AS f_created_at FROM asset_versions v \
             LEFT JOIN files f ON f.uid = v.file_uid WHERE v.asset_uid = $1{named} \
             ORDER BY v.version DESC LIMIT $2 OFFSET $3"
        ))
        .bind(asset_uid)
        .bind(limit)
        .bind(skip)
        .fetch_all(&self.read)
        .await?;
        let count: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM asset_versions v WHERE v.asset_uid = $1{named}"
        ))
        .bind(asset_uid)
        .fetch_one(&self.read)
        .await?;
        Ok((
            rows.iter().map(version).collect::<sqlx::Result<_>>()?,
            count,
        ))
    }

    /// Sets or clears a version's name. Returns whether the version exists.
    pub async fn name_version(
        &self,
        asset_uid: &str,
        n: i64,
        name: Option<&str>,
        audit: &[AuditEntry],
    ) -> sqlx::Result<bool> {
        let mut tx = self.write.begin().await?;
        let r = sqlx::query(
            "UPDATE asset_versions SET version_name = $3 WHERE asset_uid = $1 AND version = $2",
        )
        .bind(asset_uid)
        .bind(n)
        .bind(name)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            return Ok(false);
        }
        audit::commit_with(tx, audit).await?;
        Ok(true)
    }
}

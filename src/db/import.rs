//! Writing what `perma import` brings in (§8): an asset or folder with the history an export
//! carried, its files and its publications, in one transaction, under the uids it had.

use std::collections::HashSet;

use super::assets::{insert_asset_row, insert_file, set_tags};
use super::audit::{self, AuditEntry};
use super::publishing::publish_row;
use super::{to_json_text, Db};
use crate::records::{Asset, Version};

/// An asset or folder as an export described it.
#[derive(Debug, Clone)]
pub struct ImportedAsset {
    /// The asset as it stands: its newest version, current file and permanent slug.
    pub asset: Asset,
    /// Every version the export carried (a subset of `1..=asset.version`), oldest first.
    pub versions: Vec<Version>,
    /// Publications: (environment uid, locale, version, by, at).
    pub publications: Vec<(String, String, i64, String, i64)>,
    /// Its audit entries (§14), written in the same transaction.
    pub audit: Vec<AuditEntry>,
}

impl Db {
    /// Inserts an imported asset with its files, versions and publications, atomically:
    /// either all of it is there afterwards or none of it.
    pub async fn import_asset(&self, new: &ImportedAsset) -> sqlx::Result<()> {
        let a = &new.asset;
        let mut tx = self.write.begin().await?;
        insert_asset_row(&mut tx, a).await?;
        let mut files = HashSet::new();
        for f in new
            .versions
            .iter()
            .filter_map(|v| v.file.as_ref())
            .chain(&a.file)
        {
            if files.insert(f.uid.as_str()) {
                insert_file(&mut *tx, &a.uid, f).await?;
            }
        }
        set_tags(&mut tx, &a.uid, &a.api_key, &a.tags).await?;
        for v in &new.versions {
            sqlx::query(
                "INSERT INTO asset_versions (asset_uid, version, file_uid, title, description, \
                 tags, parent_uid, version_name, action, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&a.uid)
            .bind(v.version)
            .bind(v.file.as_ref().map(|f| f.uid.clone()))
            .bind(&v.title)
            .bind(&v.description)
            .bind(to_json_text(&v.tags))
            .bind(&v.parent_uid)
            .bind(&v.version_name)
            .bind(&v.action)
            .bind(&v.created_by)
            .bind(v.created_at)
            .execute(&mut *tx)
            .await?;
        }
        for (env, locale, version, by, at) in &new.publications {
            publish_row(
                &mut tx,
                &a.api_key,
                (&a.uid, env, locale),
                *version,
                by,
                *at,
            )
            .await?;
        }
        audit::commit_with(tx, &new.audit).await
    }

    /// The stack an asset or folder uid belongs to, if any (uids are unique across stacks).
    pub async fn stack_of_asset(&self, uid: &str) -> sqlx::Result<Option<String>> {
        sqlx::query_scalar("SELECT api_key FROM assets WHERE uid = $1")
            .bind(uid)
            .fetch_optional(&self.read)
            .await
    }

    /// Whether a file uid is taken (file uids are unique across stacks).
    pub async fn file_exists(&self, file_uid: &str) -> sqlx::Result<bool> {
        let n: Option<i64> = sqlx::query_scalar("SELECT 1 FROM files WHERE uid = $1")
            .bind(file_uid)
            .fetch_optional(&self.read)
            .await?;
        Ok(n.is_some())
    }
}

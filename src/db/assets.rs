//! Queries for assets, folders, files, versions and publications.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::audit::{self, AuditEntry};
use super::events::{self, Emit};
use super::{flag, json_list, published, to_json_text, Db};
use crate::records::{Asset, FileMeta, SyncKind, FOLDER_CONTENT_TYPE};

/// A new file row (an uploaded byte sequence whose blob is already durable).
#[derive(Debug, Clone)]
pub struct FileInsert {
    /// The file's metadata.
    pub meta: FileMeta,
}

/// A new asset or folder, with its first version.
#[derive(Debug, Clone)]
pub struct AssetInsert {
    /// The asset as it will be stored at version 1.
    pub asset: Asset,
    /// What made version 1 (`upload` or `create_folder`).
    pub action: &'static str,
    /// Its audit log entries (§14), written with it.
    pub audit: Vec<AuditEntry>,
}

/// Assets tombstoned by one statement ([`Db::tombstone`]).
const TOMBSTONE_CHUNK: usize = 500;

/// One folder's kept total (`asset_counts`, schema v9) that differs from a count of its
/// live assets, as `fsck` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Miscount {
    /// The stack.
    pub api_key: String,
    /// The folder's uid, or `""` for the stack's root.
    pub folder: String,
    /// Whether the total is of the folder's subfolders (else of its files).
    pub folders: bool,
    /// The kept total.
    pub kept: i64,
    /// The live assets counted.
    pub counted: i64,
}

/// A compare-and-swap change of an asset: applied only if the asset is still at
/// `expected_version`, producing `expected_version + 1`.
#[derive(Debug, Clone)]
pub struct NewVersion {
    /// Asset uid.
    pub uid: String,
    /// The version the change was computed from.
    pub expected_version: i64,
    /// New title (folder name for folders).
    pub title: String,
    /// New description.
    pub description: String,
    /// New tags.
    pub tags: Vec<String>,
    /// New parent folder.
    pub parent_uid: Option<String>,
    /// New current file.
    pub file_uid: Option<String>,
    /// Slug to set; only ever set when the stored slug is NULL (§3 once-only).
    pub permanent_slug: Option<String>,
    /// A new file row to insert in the same transaction (replace).
    pub new_file: Option<FileInsert>,
    /// What made this version (`update`, `replace`, `permanent_url`, `restore`, `move`).
    pub action: &'static str,
    /// Who.
    pub by: String,
    /// When (ms).
    pub at: i64,
    /// Its audit log entries (§14), written with it when it lands.
    pub audit: Vec<AuditEntry>,
}

pub(super) const ASSET_COLS: &str =
    "a.uid, a.api_key, a.is_dir, a.parent_uid, a.title, a.description, \
    a.tags, a.file_uid, a.version, a.permanent_slug, a.created_by, a.updated_by, a.created_at, \
    a.updated_at, a.deleted_at, f.sha256 AS f_sha256, f.size AS f_size, \
    f.content_type AS f_content_type, f.filename AS f_filename, f.width AS f_width, \
    f.height AS f_height, f.created_at AS f_created_at";

/// The columns a file is read from, for one alias of `files` in a query.
pub(super) struct FileColumns {
    pub(super) sha256: &'static str,
    pub(super) size: &'static str,
    pub(super) content_type: &'static str,
    pub(super) filename: &'static str,
    pub(super) width: &'static str,
    pub(super) height: &'static str,
    pub(super) created_at: &'static str,
}

/// The current file's columns in [`ASSET_COLS`].
const CURRENT_FILE: FileColumns = FileColumns {
    sha256: "f_sha256",
    size: "f_size",
    content_type: "f_content_type",
    filename: "f_filename",
    width: "f_width",
    height: "f_height",
    created_at: "f_created_at",
};

/// The file with `uid` whose other columns are `c`; `None` when the join found none.
pub(super) fn file_at(
    row: &AnyRow,
    uid: Option<String>,
    c: &FileColumns,
) -> sqlx::Result<Option<FileMeta>> {
    let Some(uid) = uid else { return Ok(None) };
    let Some(sha256) = row.try_get::<Option<String>, _>(c.sha256)? else {
        return Ok(None);
    };
    Ok(Some(FileMeta {
        uid,
        sha256,
        size: row.try_get(c.size)?,
        content_type: row.try_get(c.content_type)?,
        filename: row.try_get(c.filename)?,
        width: row.try_get(c.width)?,
        height: row.try_get(c.height)?,
        created_at: row.try_get(c.created_at)?,
    }))
}

pub(super) fn file_from(row: &AnyRow, uid: Option<String>) -> sqlx::Result<Option<FileMeta>> {
    file_at(row, uid, &CURRENT_FILE)
}

pub(super) fn asset_from_row(row: &AnyRow) -> sqlx::Result<Asset> {
    let file_uid: Option<String> = row.try_get("file_uid")?;
    Ok(Asset {
        uid: row.try_get("uid")?,
        api_key: row.try_get("api_key")?,
        is_dir: flag(row, "is_dir")?,
        parent_uid: row.try_get("parent_uid")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        tags: json_list(row, "tags")?,
        version: row.try_get("version")?,
        permanent_slug: row.try_get("permanent_slug")?,
        created_by: row.try_get("created_by")?,
        updated_by: row.try_get("updated_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        deleted_at: row.try_get("deleted_at")?,
        file: file_from(row, file_uid)?,
    })
}

pub(super) async fn insert_file<'c, E>(exec: E, asset_uid: &str, f: &FileMeta) -> sqlx::Result<()>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO files (uid, asset_uid, sha256, size, content_type, filename, width, height, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&f.uid)
    .bind(asset_uid)
    .bind(&f.sha256)
    .bind(f.size)
    .bind(&f.content_type)
    .bind(&f.filename)
    .bind(f.width)
    .bind(f.height)
    .bind(f.created_at)
    .execute(exec)
    .await?;
    Ok(())
}

/// Replaces an asset's rows in `asset_tags` (the indexed form of its tags, §6).
pub(super) async fn set_tags(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    asset_uid: &str,
    api_key: &str,
    tags: &[String],
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM asset_tags WHERE asset_uid = $1")
        .bind(asset_uid)
        .execute(&mut **tx)
        .await?;
    for tag in tags {
        sqlx::query(
            "INSERT INTO asset_tags (asset_uid, api_key, tag) VALUES ($1, $2, $3) \
             ON CONFLICT (asset_uid, tag) DO NOTHING",
        )
        .bind(asset_uid)
        .bind(api_key)
        .bind(tag)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The `assets` row of an asset as it stands (its version, slug and current file's listing
/// columns), for a new asset or an imported one.
pub(super) async fn insert_asset_row(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    a: &Asset,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO assets (uid, api_key, is_dir, parent_uid, title, description, tags, \
         file_uid, version, permanent_slug, created_by, updated_by, created_at, updated_at, \
         filename, content_type, file_size) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(&a.uid)
    .bind(&a.api_key)
    .bind(a.is_dir as i64)
    .bind(&a.parent_uid)
    .bind(&a.title)
    .bind(&a.description)
    .bind(to_json_text(&a.tags))
    .bind(a.file.as_ref().map(|f| f.uid.clone()))
    .bind(a.version)
    .bind(&a.permanent_slug)
    .bind(&a.created_by)
    .bind(&a.updated_by)
    .bind(a.created_at)
    .bind(a.updated_at)
    .bind(a.file.as_ref().map(|f| f.filename.clone()))
    .bind(match &a.file {
        Some(f) => f.content_type.clone(),
        None => FOLDER_CONTENT_TYPE.to_owned(),
    })
    .bind(a.file.as_ref().map(|f| f.size))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Db {
    /// Inserts a new asset (with its file, if any) and version 1, atomically.
    pub async fn insert_asset(&self, new: &AssetInsert) -> sqlx::Result<()> {
        let a = &new.asset;
        let mut tx = self.write.begin().await?;
        insert_asset_row(&mut tx, a).await?;
        if let Some(f) = &a.file {
            insert_file(&mut *tx, &a.uid, f).await?;
        }
        set_tags(&mut tx, &a.uid, &a.api_key, &a.tags).await?;
        sqlx::query(
            "INSERT INTO asset_versions (asset_uid, version, file_uid, title, description, tags, \
             parent_uid, action, created_by, created_at) VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&a.uid)
        .bind(a.file.as_ref().map(|f| f.uid.clone()))
        .bind(&a.title)
        .bind(&a.description)
        .bind(to_json_text(&a.tags))
        .bind(&a.parent_uid)
        .bind(new.action)
        .bind(&a.created_by)
        .bind(a.created_at)
        .execute(&mut *tx)
        .await?;
        {
            // Folders too (§15): their events are the `asset_folders` family.
            events::record_event(
                &mut tx,
                Emit {
                    api_key: &a.api_key,
                    action: "create",
                    asset_uid: &a.uid,
                    version: 1,
                    target: None,
                    by: &a.created_by,
                    at: a.created_at,
                },
            )
            .await?;
        }
        audit::commit_with(tx, &new.audit).await
    }

    /// One asset or folder of a stack, deleted ones included (callers decide 404 vs 410).
    pub async fn asset(&self, api_key: &str, uid: &str) -> sqlx::Result<Option<Asset>> {
        sqlx::query(&format!(
            "SELECT {ASSET_COLS} FROM assets a LEFT JOIN files f ON f.uid = a.file_uid \
             WHERE a.api_key = $1 AND a.uid = $2"
        ))
        .bind(api_key)
        .bind(uid)
        .fetch_optional(&self.read)
        .await?
        .map(|r| asset_from_row(&r))
        .transpose()
    }

    /// Live direct children of a folder: (uid, is a folder). For walking folder trees
    /// (depth checks, cascading deletes), which are at most five levels deep.
    pub async fn folder_children(
        &self,
        api_key: &str,
        folder: &str,
    ) -> sqlx::Result<Vec<(String, bool)>> {
        let rows = sqlx::query(
            "SELECT uid, is_dir FROM assets WHERE api_key = $1 AND parent_uid = $2 \
             AND deleted_at IS NULL",
        )
        .bind(api_key)
        .bind(folder)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("uid")?, flag(r, "is_dir")?)))
            .collect()
    }

    /// The live sub-folders of a folder (not the assets it holds: a folder of a million
    /// assets costs the same as an empty one).
    pub async fn subfolders(&self, api_key: &str, folder: &str) -> sqlx::Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT uid FROM assets WHERE api_key = $1 AND parent_uid = $2 AND is_dir = 1 \
             AND deleted_at IS NULL",
        )
        .bind(api_key)
        .bind(folder)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(|r| r.try_get("uid")).collect()
    }

    /// Applies a [`NewVersion`] if the asset is still at `expected_version` (and, when a slug
    /// is being set, still has none or the same one). Returns `false` when another change won
    /// the race; the caller re-reads and retries. The condition is checked by the database in
    /// the `UPDATE`, not by a read-then-write (§3 Concurrency).
    pub async fn apply_version(&self, change: &NewVersion) -> sqlx::Result<bool> {
        let mut tx = self.write.begin().await?;
        if let Some(f) = &change.new_file {
            insert_file(&mut *tx, &change.uid, &f.meta).await?;
        }
        let updated = sqlx::query(
            "UPDATE assets SET title = $3, description = $4, tags = $5, parent_uid = $6, \
             file_uid = $7, permanent_slug = COALESCE(permanent_slug, $8), version = version + 1, \
             updated_by = $9, updated_at = $10, \
             filename = COALESCE((SELECT f.filename FROM files f WHERE f.uid = $7), filename), \
             content_type = COALESCE((SELECT f.content_type FROM files f WHERE f.uid = $7), content_type), \
             file_size = COALESCE((SELECT f.size FROM files f WHERE f.uid = $7), file_size) \
             WHERE uid = $1 AND version = $2 AND deleted_at IS NULL \
             AND (permanent_slug IS NULL OR $8 IS NULL OR permanent_slug = $8)",
        )
        .bind(&change.uid)
        .bind(change.expected_version)
        .bind(&change.title)
        .bind(&change.description)
        .bind(to_json_text(&change.tags))
        .bind(&change.parent_uid)
        .bind(&change.file_uid)
        .bind(&change.permanent_slug)
        .bind(&change.by)
        .bind(change.at)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let api_key: String = sqlx::query_scalar("SELECT api_key FROM assets WHERE uid = $1")
            .bind(&change.uid)
            .fetch_one(&mut *tx)
            .await?;
        set_tags(&mut tx, &change.uid, &api_key, &change.tags).await?;
        sqlx::query(
            "INSERT INTO asset_versions (asset_uid, version, file_uid, title, description, tags, \
             parent_uid, action, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&change.uid)
        .bind(change.expected_version + 1)
        .bind(&change.file_uid)
        .bind(&change.title)
        .bind(&change.description)
        .bind(to_json_text(&change.tags))
        .bind(&change.parent_uid)
        .bind(change.action)
        .bind(&change.by)
        .bind(change.at)
        .execute(&mut *tx)
        .await?;
        // §13 events for assets (folders have none): the change, and the permanent URL when
        // this change created it.
        let mut actions = Vec::new();
        if matches!(change.action, "update" | "restore" | "replace") {
            actions.push(change.action);
        }
        if change.action == "update_folder" {
            actions.push("update");
        }
        if change.permanent_slug.is_some() && !change.action.ends_with("_folder") {
            actions.push("permanent_url");
        }
        for action in actions {
            events::record_event(
                &mut tx,
                Emit {
                    api_key: &api_key,
                    action,
                    asset_uid: &change.uid,
                    version: change.expected_version + 1,
                    target: None,
                    by: &change.by,
                    at: change.at,
                },
            )
            .await?;
        }
        audit::commit_with(tx, &change.audit).await?;
        Ok(true)
    }

    /// Tombstones assets (their URLs then answer 410, §4) into the trash (§15): as one
    /// item named `root` (a folder with what it held), or each its own item. Returns how
    /// many were live.
    pub async fn tombstone(
        &self,
        uids: &[String],
        by: &str,
        at: i64,
        root: Option<&str>,
        audit: &[AuditEntry],
    ) -> sqlx::Result<u64> {
        let mut tx = self.write.begin().await?;
        let mut n = 0;
        // A statement per chunk, not per asset: each statement changes the kept folder
        // totals once per folder (schema 10), and on PostgreSQL a row changed many times
        // in one transaction costs more each time (deleting a folder of 20,000 files).
        for chunk in uids.chunks(TOMBSTONE_CHUNK) {
            let marks: Vec<String> = (4..4 + chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "UPDATE assets SET deleted_at = $1, updated_by = $2, updated_at = $1, \
                 trash_root = CASE WHEN $3 = '' THEN uid ELSE $3 END \
                 WHERE deleted_at IS NULL AND uid IN ({}) RETURNING uid, api_key, version, is_dir",
                marks.join(", ")
            );
            let mut q = sqlx::query(&sql).bind(at).bind(by).bind(root.unwrap_or(""));
            for uid in chunk {
                q = q.bind(uid);
            }
            let mut done = HashMap::new();
            for row in q.fetch_all(&mut *tx).await? {
                let uid: String = row.try_get(0)?;
                done.insert(
                    uid,
                    (
                        row.try_get::<String, _>(1)?,
                        row.try_get::<i64, _>(2)?,
                        flag(&row, "is_dir")?,
                    ),
                );
            }
            n += done.len() as u64;
            // Events in the order asked for.
            for uid in chunk {
                if let Some((api_key, version, _)) = done.get(uid) {
                    events::record_event(
                        &mut tx,
                        Emit {
                            api_key,
                            action: "delete",
                            asset_uid: uid,
                            version: *version,
                            target: None,
                            by,
                            at,
                        },
                    )
                    .await?;
                }
            }
            // Each publication withdrawn is an `asset_deleted` sync event (§12).
            published::record_removals(&mut tx, chunk, SyncKind::Deleted, (by, at)).await?;
        }
        if n > 0 {
            audit::insert_tx(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    /// The folders whose kept totals (`asset_counts`, schema v9) differ from a count of
    /// their live assets. Empty unless the totals went wrong. For `fsck`; reads every live
    /// asset once.
    pub async fn miscounted_folders(&self) -> sqlx::Result<Vec<Miscount>> {
        let rows = sqlx::query(
            "SELECT COALESCE(c.api_key, t.api_key), COALESCE(c.parent_key, t.parent_key), \
             COALESCE(c.is_dir, t.is_dir), COALESCE(c.n, 0), COALESCE(t.n, 0) \
             FROM (SELECT api_key, COALESCE(parent_uid, '') AS parent_key, is_dir, \
             COUNT(*) AS n FROM assets WHERE deleted_at IS NULL \
             GROUP BY api_key, COALESCE(parent_uid, ''), is_dir) t \
             FULL OUTER JOIN asset_counts c ON c.api_key = t.api_key \
             AND c.parent_key = t.parent_key AND c.is_dir = t.is_dir \
             WHERE COALESCE(c.n, 0) <> COALESCE(t.n, 0)",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Miscount {
                    api_key: r.try_get(0)?,
                    folder: r.try_get(1)?,
                    folders: r.try_get::<i64, _>(2)? != 0,
                    kept: r.try_get(3)?,
                    counted: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Every file row: (file uid, sha256, asset gone for good?): deleted and out of the
    /// trash (§15), so its bytes may be reclaimed. For `fsck` and `gc`.
    pub async fn all_files(&self) -> sqlx::Result<Vec<(String, String, bool)>> {
        let rows = sqlx::query(
            "SELECT f.uid, f.sha256, a.purged_at AS deleted_at FROM files f \
             JOIN assets a ON a.uid = f.asset_uid",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("uid")?,
                    r.try_get("sha256")?,
                    r.try_get::<Option<i64>, _>("deleted_at")?.is_some(),
                ))
            })
            .collect()
    }
}

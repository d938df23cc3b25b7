//! The trash (§15): what a deletion left, listed a page at a time through an index,
//! restored (with all a folder held) in one transaction, and emptied, by hand or when
//! older than the stack's retention. Only emptied items give their blobs up to `gc`.

use sqlx::{Any, Row, Transaction};

use super::assets::{asset_from_row, ASSET_COLS};
use super::audit::{self, AuditEntry};
use super::events::{self, Emit};
use super::Db;
use crate::records::{Asset, BulkItem, BulkJob};

/// Rows changed per statement when restoring a big folder (see `tombstone`).
const RESTORE_CHUNK: usize = 500;

/// One item of the trash: an asset or a folder deleted directly.
#[derive(Debug, Clone)]
pub struct TrashItem {
    /// The asset or folder as it was deleted.
    pub asset: Asset,
    /// Who deleted it.
    pub deleted_by: String,
    /// When (ms).
    pub deleted_at: i64,
    /// Assets and folders that went with it (a folder's contents; 0 for an asset).
    pub contents: i64,
}

/// What a restore brought back.
#[derive(Debug, Clone)]
pub struct Restored {
    /// Every asset and folder restored, the item first.
    pub uids: Vec<String>,
    /// The item's folder was gone: it came back into the stack's root.
    pub moved_to_root: bool,
}

/// Checks that `root` is an item of the stack's trash and, when the folder it was in is
/// gone, moves it to the root. `None` when it is not in the trash; else whether it moved.
async fn take_out(
    tx: &mut Transaction<'_, Any>,
    api_key: &str,
    root: &str,
) -> sqlx::Result<Option<bool>> {
    let parent: Option<Option<String>> = sqlx::query_scalar(
        "SELECT parent_uid FROM assets WHERE api_key = $1 AND uid = $2 \
         AND trash_root = uid AND purged_at IS NULL",
    )
    .bind(api_key)
    .bind(root)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(parent) = parent else {
        return Ok(None);
    };
    let Some(p) = parent else {
        return Ok(Some(false));
    };
    let live: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM assets WHERE api_key = $1 AND uid = $2 AND deleted_at IS NULL",
    )
    .bind(api_key)
    .bind(&p)
    .fetch_optional(&mut **tx)
    .await?;
    if live.is_some() {
        return Ok(Some(false));
    }
    sqlx::query("UPDATE assets SET parent_uid = NULL WHERE uid = $1")
        .bind(root)
        .execute(&mut **tx)
        .await?;
    Ok(Some(true))
}

/// Brings rows (uid, version, is_dir) back out of the trash, each asset with its
/// `restored` event (§13).
async fn restore_rows(
    tx: &mut Transaction<'_, Any>,
    api_key: &str,
    rows: &[(String, i64, bool)],
    (by, at): (&str, i64),
) -> sqlx::Result<()> {
    let marks: Vec<String> = (3..3 + rows.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "UPDATE assets SET deleted_at = NULL, trash_root = NULL, updated_by = $1, \
         updated_at = $2 WHERE uid IN ({})",
        marks.join(", ")
    );
    let mut q = sqlx::query(&sql).bind(by).bind(at);
    for (uid, _, _) in rows {
        q = q.bind(uid.as_str());
    }
    q.execute(&mut **tx).await?;
    // Folders too: theirs are the `asset_folders` webhook events.
    for (uid, version, _) in rows {
        events::record_event(
            tx,
            Emit {
                api_key,
                action: "restored",
                asset_uid: uid,
                version: *version,
                target: None,
                by,
                at,
            },
        )
        .await?;
    }
    Ok(())
}

fn trio(r: &sqlx::any::AnyRow) -> sqlx::Result<(String, i64, bool)> {
    Ok((
        r.try_get("uid")?,
        r.try_get("version")?,
        super::flag(r, "is_dir")?,
    ))
}

impl Db {
    /// A page of a stack's trash, most recently deleted first, and how many items it has.
    pub async fn trash_page(
        &self,
        api_key: &str,
        (skip, limit): (i64, i64),
    ) -> sqlx::Result<(Vec<TrashItem>, i64)> {
        let rows = sqlx::query(&format!(
            "SELECT {ASSET_COLS} FROM assets a LEFT JOIN files f ON f.uid = a.file_uid \
             WHERE a.api_key = $1 AND a.trash_root = a.uid AND a.purged_at IS NULL \
             ORDER BY a.deleted_at DESC, a.uid DESC LIMIT $2 OFFSET $3"
        ))
        .bind(api_key)
        .bind(limit)
        .bind(skip)
        .fetch_all(&self.read)
        .await?;
        let assets = rows
            .iter()
            .map(asset_from_row)
            .collect::<sqlx::Result<Vec<_>>>()?;
        // What each folder of the page holds: one grouped count over the in-trash index.
        let folders: Vec<&str> = assets
            .iter()
            .filter(|a| a.is_dir)
            .map(|a| a.uid.as_str())
            .collect();
        let mut held: std::collections::HashMap<String, i64> = Default::default();
        if !folders.is_empty() {
            let marks: Vec<String> = (1..=folders.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT trash_root, COUNT(*) FROM assets WHERE trash_root IN ({}) \
                 AND trash_root IS NOT NULL AND purged_at IS NULL AND uid <> trash_root \
                 GROUP BY trash_root",
                marks.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for f in &folders {
                q = q.bind(*f);
            }
            for r in q.fetch_all(&self.read).await? {
                held.insert(r.try_get(0)?, r.try_get(1)?);
            }
        }
        let items = assets
            .into_iter()
            .map(|asset| TrashItem {
                deleted_by: asset.updated_by.clone(),
                deleted_at: asset.deleted_at.unwrap_or(asset.updated_at),
                contents: held.get(&asset.uid).copied().unwrap_or(0),
                asset,
            })
            .collect();
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM assets WHERE api_key = $1 AND trash_root = uid \
             AND purged_at IS NULL",
        )
        .bind(api_key)
        .fetch_one(&self.read)
        .await?;
        Ok((items, count))
    }

    /// How many assets and folders went to the trash with `root` and are still there.
    pub async fn trash_contents(&self, root: &str) -> sqlx::Result<i64> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM assets WHERE trash_root = $1 AND uid <> $1 \
             AND purged_at IS NULL",
        )
        .bind(root)
        .fetch_one(&self.read)
        .await
    }

    /// One item of a stack's trash.
    pub async fn trash_item(&self, api_key: &str, uid: &str) -> sqlx::Result<Option<Asset>> {
        sqlx::query(&format!(
            "SELECT {ASSET_COLS} FROM assets a LEFT JOIN files f ON f.uid = a.file_uid \
             WHERE a.api_key = $1 AND a.uid = $2 AND a.trash_root = a.uid \
             AND a.purged_at IS NULL"
        ))
        .bind(api_key)
        .bind(uid)
        .fetch_optional(&self.read)
        .await?
        .map(|r| asset_from_row(&r))
        .transpose()
    }

    /// Brings an item of the trash back with everything that went with it, unpublished,
    /// in one transaction: into the stack's root when its folder is no longer there. Each
    /// asset restored is a `restored` event (§13: webhooks, and purges of the 410s CDNs
    /// kept). `None` when the item is not in the trash (any more).
    pub async fn restore_trash(
        &self,
        api_key: &str,
        root: &str,
        (by, at): (&str, i64),
        audit: AuditEntry,
    ) -> sqlx::Result<Option<Restored>> {
        let mut tx = self.write.begin().await?;
        let Some(moved_to_root) = take_out(&mut tx, api_key, root).await? else {
            return Ok(None);
        };
        let uids: Vec<(String, i64, bool)> = sqlx::query(
            "SELECT uid, version, is_dir FROM assets WHERE trash_root = $1 \
             AND purged_at IS NULL ORDER BY CASE WHEN uid = $1 THEN 0 ELSE 1 END, uid",
        )
        .bind(root)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(trio)
        .collect::<sqlx::Result<_>>()?;
        for chunk in uids.chunks(RESTORE_CHUNK) {
            restore_rows(&mut tx, api_key, chunk, (by, at)).await?;
        }
        let entry = audit.details(serde_json::json!({
            "items": uids.len(),
            "moved_to_root": moved_to_root,
        }));
        audit::commit_with(tx, &[entry]).await?;
        Ok(Some(Restored {
            uids: uids.into_iter().map(|(u, _, _)| u).collect(),
            moved_to_root,
        }))
    }

    /// Starts restoring a big item as a job (§15): in one transaction, the item itself
    /// comes back (into the root when its folder is gone), the job is stored with the
    /// number of what went with it, and the audit entry is written. What went with it
    /// then comes back a chunk at a time ([`Db::restore_trash_chunk`]), resumed after a
    /// restart. `None` when the item is not in the trash; else whether it moved to the root.
    pub async fn start_restore_job(
        &self,
        api_key: &str,
        root: &str,
        (by, at): (&str, i64),
        (job, item): (&BulkJob, &BulkItem),
        audit: AuditEntry,
    ) -> sqlx::Result<Option<bool>> {
        let mut tx = self.write.begin().await?;
        let Some(moved_to_root) = take_out(&mut tx, api_key, root).await? else {
            return Ok(None);
        };
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM assets WHERE trash_root = $1 AND purged_at IS NULL",
        )
        .bind(root)
        .fetch_one(&mut *tx)
        .await?;
        let me: Vec<(String, i64, bool)> =
            sqlx::query("SELECT uid, version, is_dir FROM assets WHERE uid = $1")
                .bind(root)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(trio)
                .collect::<sqlx::Result<_>>()?;
        restore_rows(&mut tx, api_key, &me, (by, at)).await?;
        let job = BulkJob {
            total,
            done: 1,
            ..job.clone()
        };
        super::bulk::insert_bulk_job_tx(&mut tx, &job, std::slice::from_ref(item)).await?;
        let entry = audit.details(serde_json::json!({
            "items": total,
            "moved_to_root": moved_to_root,
            "job_id": job.uid,
        }));
        audit::commit_with(tx, &[entry]).await?;
        Ok(Some(moved_to_root))
    }

    /// Restores the next chunk of what went to the trash with `root`, and counts it on the
    /// job, in one transaction. Returns the uids restored (none: the job is done).
    pub async fn restore_trash_chunk(
        &self,
        api_key: &str,
        root: &str,
        job_uid: &str,
        (by, at): (&str, i64),
        limit: usize,
    ) -> sqlx::Result<Vec<String>> {
        let mut tx = self.write.begin().await?;
        let rows: Vec<(String, i64, bool)> = sqlx::query(&format!(
            "SELECT uid, version, is_dir FROM assets WHERE trash_root = $1 \
             AND purged_at IS NULL AND uid <> $1 ORDER BY uid LIMIT {}",
            limit.max(1)
        ))
        .bind(root)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(trio)
        .collect::<sqlx::Result<_>>()?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        restore_rows(&mut tx, api_key, &rows, (by, at)).await?;
        sqlx::query("UPDATE bulk_jobs SET done = done + $1, updated_at = $2 WHERE uid = $3")
            .bind(rows.len() as i64)
            .bind(at)
            .bind(job_uid)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|(u, _, _)| u).collect())
    }

    /// Empties items of a stack's trash for good: one (`Some(uid)`), or all of them, with
    /// a `purged` event for each asset (§13). Returns how many assets and folders left the
    /// trash.
    pub async fn purge_trash(
        &self,
        api_key: &str,
        root: Option<&str>,
        at: i64,
        audit: AuditEntry,
    ) -> sqlx::Result<u64> {
        let q = sqlx::query(
            "UPDATE assets SET purged_at = $1 WHERE api_key = $2 AND purged_at IS NULL \
             AND trash_root IS NOT NULL AND ($3 = '' OR trash_root = $3) \
             AND EXISTS (SELECT 1 FROM assets r WHERE r.uid = assets.trash_root \
             AND r.trash_root = r.uid) \
             RETURNING uid, api_key, version, is_dir, trash_root, title",
        )
        .bind(at)
        .bind(api_key)
        .bind(root.unwrap_or(""));
        self.purged(q, at, Some(audit)).await
    }

    /// Empties, in every stack, what has been in the trash longer than the stack's
    /// retention, with a `purged` event for each asset. Returns how many assets and
    /// folders left the trash.
    pub async fn purge_expired_trash(&self, now: i64) -> sqlx::Result<u64> {
        let q = sqlx::query(
            "UPDATE assets SET purged_at = $1 WHERE purged_at IS NULL \
             AND trash_root IS NOT NULL AND deleted_at < $1 - 86400000 * \
             (SELECT s.trash_retention_days FROM stacks s WHERE s.api_key = assets.api_key) \
             AND EXISTS (SELECT 1 FROM assets r WHERE r.uid = assets.trash_root \
             AND r.trash_root = r.uid) \
             RETURNING uid, api_key, version, is_dir, trash_root, title",
        )
        .bind(now);
        self.purged(q, now, None).await
    }

    /// Runs a purge that returns (uid, api_key, version, is_dir) and records the events of
    /// its assets, in one transaction.
    async fn purged<'q>(
        &self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        at: i64,
        audit: Option<AuditEntry>,
    ) -> sqlx::Result<u64> {
        let mut tx = self.write.begin().await?;
        let rows = q.fetch_all(&mut *tx).await?;
        // The audit log (§14): an entry per item of the trash that left it, by the user who
        // emptied it or by the retention.
        let mut held: std::collections::HashMap<String, usize> = Default::default();
        for r in &rows {
            *held.entry(r.try_get("trash_root")?).or_default() += 1;
        }
        let mut entries = Vec::new();
        for r in &rows {
            let (uid, root): (String, String) = (r.try_get("uid")?, r.try_get("trash_root")?);
            if uid != root {
                continue;
            }
            let is_dir = super::flag(r, "is_dir")?;
            let base = match &audit {
                Some(e) => AuditEntry {
                    uid: crate::ids::new_uid(),
                    ..e.clone()
                },
                None => AuditEntry {
                    created_at: at,
                    ..AuditEntry::system(
                        &r.try_get::<String, _>("api_key")?,
                        "trash",
                        "purged",
                        "trash retention",
                    )
                },
            };
            let title: String = r.try_get("title")?;
            entries.push(
                AuditEntry {
                    module: if is_dir { "folder" } else { "asset" }.into(),
                    event_type: "purged".into(),
                    ..base
                }
                .item(&uid, &title, Some(r.try_get("version")?))
                .details(serde_json::json!({
                    "items": held.get(&root).copied().unwrap_or(1) - 1,
                    "reason": if audit.is_some() { "emptied" } else { "retention" },
                })),
            );
        }
        audit::insert_tx(&mut tx, &entries).await?;
        for r in &rows {
            let uid: String = r.try_get("uid")?;
            let api_key: String = r.try_get("api_key")?;
            events::record_event(
                &mut tx,
                Emit {
                    api_key: &api_key,
                    action: "purged",
                    asset_uid: &uid,
                    version: r.try_get("version")?,
                    target: None,
                    by: "system",
                    at,
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}

//! The trash (§15): deleting an asset or a folder moves it here with its versions, blobs
//! and reserved slug; it can be restored (with its uid, versions, permanent URL, tags and
//! folder, unpublished) until it is emptied by hand or by the stack's retention.

use crate::db::trash::{Restored, TrashItem};
use crate::db::Db;
use crate::delivery::Changes;
use crate::error::{Error, Result};
use crate::identity::StackAccess;
use crate::permissions::{Action, Area};
use crate::records::{Asset, BulkItem, BulkJob};
use crate::time::now_ms;

/// Restores at most this many assets one by one in the delivery caches; past it, the
/// caches start over (a big folder).
const FORGET_ONE_BY_ONE: usize = 1000;

/// A page of the stack's trash, most recently deleted first, and how many items it holds.
pub async fn list(
    db: &Db,
    access: &StackAccess,
    skip: u64,
    limit: u64,
) -> Result<(Vec<TrashItem>, i64)> {
    access.require_read()?;
    // The trash shows titles from every folder: for those who may read everything.
    if !access.grants.everywhere(Action::Read) {
        return Err(Error::Forbidden(
            "You don't have permission to see this stack's trash: it needs read access to every asset.".into(),
        ));
    }
    Ok(db
        .trash_page(&access.stack.api_key, (skip as i64, limit as i64))
        .await?)
}

/// When a restore is a job, and how much a job restores per transaction.
#[derive(Debug, Clone, Copy)]
pub struct RestoreLimits {
    /// Most assets and folders an item may hold to come back in one transaction.
    pub inline_max: u64,
    /// Assets and folders a job restores per transaction (and holds in memory).
    pub chunk: usize,
}

/// What a restore did.
#[derive(Debug)]
pub enum Restore {
    /// Everything came back at once: the asset as it is now, and what was restored.
    Done(Asset, Restored),
    /// A big folder: it is back, and what it held follows in a background job (§15).
    Started {
        /// The folder as it is now.
        asset: Asset,
        /// The job (`GET /v3/bulk/jobs/{uid}` shows its progress).
        job: BulkJob,
        /// Its folder was gone: it came back into the stack's root.
        moved_to_root: bool,
    },
}

/// Brings an item back with everything a folder held with it: in one transaction when it
/// holds at most `inline_max` assets and folders, else as a job that restores a chunk at a
/// time (bounded in memory, resumed after a restart). 404 when the item is not in the
/// trash.
pub async fn restore(
    db: &Db,
    changes: &Changes,
    access: &StackAccess,
    uid: &str,
    limits: RestoreLimits,
) -> Result<Restore> {
    access.require_write()?;
    let api_key = &access.stack.api_key;
    // Restoring undoes a delete: it needs the right to delete the item.
    let item = db.asset(api_key, uid).await?;
    if let Some(item) = &item {
        access.require(db, Action::Delete, item).await?;
    }
    let entry = match &item {
        Some(a) => access.audit_asset("restored", a),
        None => access.audit("trash", "restored"),
    };
    let by = (access.actor.uid(), now_ms());
    let contents = db.trash_contents(uid).await?;
    if contents as u64 > limits.inline_max {
        let job = BulkJob {
            uid: crate::ids::new_uid(),
            api_key: api_key.clone(),
            action: "restore".into(),
            environments: Vec::new(),
            locales: Vec::new(),
            status: "in_progress".into(),
            created_by: access.actor.uid().to_owned(),
            created_at: by.1,
            updated_at: by.1,
            total: 0,
            done: 0,
        };
        let item = BulkItem {
            asset_uid: uid.to_owned(),
            version: None,
            status: "pending".into(),
            error: None,
        };
        let moved_to_root = db
            .start_restore_job(api_key, uid, by, (&job, &item), entry)
            .await?
            .ok_or(Error::NotFound("Trash item"))?;
        changes.changed(Some(uid)).await;
        spawn_restore(db.clone(), changes.clone(), job.clone(), limits.chunk);
        let asset = super::get_folder(db, api_key, uid).await?;
        return Ok(Restore::Started {
            asset,
            job,
            moved_to_root,
        });
    }
    let restored = db
        .restore_trash(api_key, uid, by, entry)
        .await?
        .ok_or(Error::NotFound("Trash item"))?;
    if restored.uids.len() > FORGET_ONE_BY_ONE {
        changes.changed(None).await;
    } else {
        for u in &restored.uids {
            changes.changed(Some(u)).await;
        }
    }
    let asset = match db.asset(api_key, uid).await? {
        Some(a) if a.is_dir => super::get_folder(db, api_key, uid).await?,
        _ => super::get_live(db, api_key, uid).await?,
    };
    Ok(Restore::Done(asset, restored))
}

/// Runs (or, after a restart, resumes) a folder restore job: a chunk at a time, each in
/// its own transaction with the job's count, until nothing of the folder is left in the
/// trash.
pub(super) fn spawn_restore(db: Db, changes: Changes, job: BulkJob, chunk: usize) {
    tokio::spawn(async move {
        let root = match db.bulk_items(&job.uid).await {
            Ok(items) => items.into_iter().next().map(|i| i.asset_uid),
            Err(e) => {
                tracing::error!(job = %job.uid, "restore job: {e}");
                return;
            }
        };
        let Some(root) = root else { return };
        loop {
            match db
                .restore_trash_chunk(
                    &job.api_key,
                    &root,
                    &job.uid,
                    (&job.created_by, now_ms()),
                    chunk,
                )
                .await
            {
                Ok(uids) if uids.is_empty() => break,
                Ok(uids) => {
                    for u in &uids {
                        changes.changed(Some(u)).await;
                    }
                }
                Err(e) => {
                    // Left in progress: the next start resumes it.
                    tracing::error!(job = %job.uid, "restore job stopped, resumed at the next start: {e}");
                    return;
                }
            }
        }
        let finished = async {
            db.finish_bulk_item(&job.uid, &root, None).await?;
            db.set_bulk_status(&job.uid, "completed", now_ms()).await
        };
        if let Err(e) = finished.await {
            tracing::error!(job = %job.uid, "restore job: {e}");
        }
    });
}

/// Empties one item of the trash for good (`Some`), or the whole trash: its bytes are then
/// `gc`'s to reclaim, and its URLs keep answering 410. Returns how many assets and folders
/// left the trash; 404 for an item that is not there.
pub async fn empty(db: &Db, access: &StackAccess, uid: Option<&str>) -> Result<u64> {
    access.require_write()?;
    access.require_area(Area::Administration)?;
    let api_key = &access.stack.api_key;
    if let Some(u) = uid {
        db.trash_item(api_key, u)
            .await?
            .ok_or(Error::NotFound("Trash item"))?;
    }
    // The actor's part of the entries the purge writes, one per item.
    let actor = access.audit("trash", "purged");
    Ok(db.purge_trash(api_key, uid, now_ms(), actor).await?)
}

/// Empties what has been in any stack's trash longer than its retention.
pub async fn sweep(db: &Db) -> Result<u64> {
    Ok(db.purge_expired_trash(now_ms()).await?)
}

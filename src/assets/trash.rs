//! The trash (§15): deleting an asset or a folder moves it here with its versions, blobs
//! and reserved slug; it can be restored (with its uid, versions, permanent URL, tags and
//! folder, unpublished) until it is emptied by hand or by the stack's retention.

use crate::db::trash::{Restored, TrashItem};
use crate::db::Db;
use crate::delivery::Changes;
use crate::error::{Error, Result};
use crate::identity::StackAccess;
use crate::permissions::{Action, Area};
use crate::records::Asset;
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

/// Brings an item back (everything a folder held with it): the asset as it is now, and
/// what was restored. 404 when the item is not in the trash.
pub async fn restore(
    db: &Db,
    changes: &Changes,
    access: &StackAccess,
    uid: &str,
) -> Result<(Asset, Restored)> {
    access.require_write()?;
    let api_key = &access.stack.api_key;
    // Restoring undoes a delete: it needs the right to delete the item.
    let item = db.asset(api_key, uid).await?;
    if let Some(item) = &item {
        access.require(db, Action::Delete, item).await?;
    }
    let entry = match &item {
        Some(a) => access.audit_asset("restore", a),
        None => access.audit("trash", "restore"),
    };
    let restored = db
        .restore_trash(api_key, uid, (access.actor.uid(), now_ms()), entry)
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
    Ok((asset, restored))
}

/// Empties one item of the trash for good (`Some`), or the whole trash: its bytes are then
/// `gc`'s to reclaim, and its URLs keep answering 410. Returns how many assets and folders
/// left the trash; 404 for an item that is not there.
pub async fn empty(db: &Db, access: &StackAccess, uid: Option<&str>) -> Result<u64> {
    access.require_write()?;
    access.require_area(Area::Administration)?;
    let api_key = &access.stack.api_key;
    let mut entry = access.audit("trash", "purge");
    if let Some(u) = uid {
        let item = db
            .trash_item(api_key, u)
            .await?
            .ok_or(Error::NotFound("Trash item"))?;
        entry = entry.item(u, &item.title, None);
    }
    Ok(db.purge_trash(api_key, uid, now_ms(), entry).await?)
}

/// Empties what has been in any stack's trash longer than its retention.
pub async fn sweep(db: &Db) -> Result<u64> {
    Ok(db.purge_expired_trash(now_ms()).await?)
}

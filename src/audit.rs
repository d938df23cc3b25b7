//! Reading the audit log (§14). Entries are written by the changes themselves, in their
//! transactions (`db::audit`); here they are read: the whole log by Admins and Developers,
//! one asset's or folder's by whoever may read it (the panel's "who replaced this file").

use crate::db::audit::{AuditEntry, AuditFilter};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::identity::StackAccess;
use crate::permissions::{Action, Area};

/// Most entries in one page.
pub const MAX_PAGE: i64 = 100;

/// A page of the stack's audit log, newest first, and the number of matches when asked.
pub async fn list(
    db: &Db,
    access: &StackAccess,
    filter: &AuditFilter,
    (skip, limit): (i64, i64),
    count: bool,
) -> Result<(Vec<AuditEntry>, Option<i64>)> {
    require_reader(db, access, filter.item_uid.as_deref()).await?;
    if filter.from.zip(filter.to).is_some_and(|(f, t)| f >= t) {
        return Err(Error::field("from", "must be before to"));
    }
    Ok(db
        .audit_page(
            &access.stack.api_key,
            filter,
            (skip, limit.clamp(1, MAX_PAGE)),
            count,
        )
        .await?)
}

/// One entry, or 404.
pub async fn get(db: &Db, access: &StackAccess, uid: &str) -> Result<AuditEntry> {
    let entry = db
        .audit_entry(&access.stack.api_key, uid)
        .await?
        .ok_or(Error::NotFound("Audit log entry"))?;
    require_reader(db, access, entry.item_uid.as_deref()).await?;
    Ok(entry)
}

/// The whole log is for Admins and Developers (and tokens that may change settings); the
/// entries of one asset or folder are for whoever may read it.
async fn require_reader(db: &Db, access: &StackAccess, item: Option<&str>) -> Result<()> {
    if access.grants.manages(Area::AuditLog) {
        return Ok(());
    }
    match item {
        Some(uid) => match db.asset(&access.stack.api_key, uid).await? {
            Some(a) => access.require(db, Action::Read, &a).await,
            None => access.require_area(Area::AuditLog),
        },
        None => access.require_area(Area::AuditLog),
    }
}

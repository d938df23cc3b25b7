//! Assets, folders, versions and publishing (§1, §3, §5): the rules, independent of HTTP.
//! The domain takes typed inputs ([`Metadata`], [`AssetUpdate`], [`ListParams`]) and returns
//! [`records`](crate::records); the HTTP layer parses and renders the CMA wire format.
//!
//! Every change of an asset is one compare-and-swap on its `_version` ([`Db::apply_version`]):
//! the new state is computed from what was read, and written only if nobody changed the
//! asset meanwhile; otherwise it is recomputed. That is how the §3 once-only rule and the
//! "exactly one slug wins" race are enforced by the database.
//!
//! * `change`: create, update (metadata, replace, restore, permanent URL), delete;
//! * `versions`: the version list, version names, publishing;
//! * `folders`: folders (depth, cycles, cascading delete);
//! * `list`: listing and queries (§6);
//! * `published`: the Content Delivery API's reads (§12), `sync`: its sync log;
//! * `bulk`: bulk publish, unpublish and delete jobs (§5);
//! * `metadata`: asset metadata (Contentstack's Metadata API), without new versions;
//! * `import`: `perma import contentstack` (§8), an export brought in with its uids and URLs.

mod bulk;
mod change;
mod folders;
pub(crate) mod import;
mod list;
pub mod metadata;
mod published;
mod signed;
mod sync;
pub mod trash;
mod versions;

pub use bulk::{bulk_job, resume_bulk_jobs, start_bulk_job, BulkAction, BulkRequest};
pub use published::{fetch_published, list_published};
pub use signed::{signed_url, UrlKind};
pub use sync::{sync, SyncItem, SyncPage, SyncRequest, ENTRY_SYNC_TYPES};

/// Entry points for the fuzz targets in `fuzz/`; not part of perma's API.
#[doc(hidden)]
pub mod fuzzing {
    /// Sync and pagination tokens on arbitrary text.
    pub fn sync_token(text: &str) {
        super::sync::fuzz_token(text);
    }

    /// The Contentstack export reader on an export made of arbitrary bytes, with links out.
    pub fn export(data: &[u8]) {
        super::import::export_fuzz::check(data);
    }
}

pub use change::{create, delete, parse_permanent_value, update};
pub use folders::{create_folder, delete_folder, update_folder};
pub use import::{import_contentstack, Counts, ImportOptions, ImportReport, Skip};
pub use list::{list, Kind, ListParams};
pub use versions::{name_version, publish, publish_targets, publish_to, versions};

use crate::db::Db;
use crate::error::{Error, Result};
use crate::identity::StackAccess;
use crate::ingest::Ingested;
use crate::records::Asset;

/// Deepest folder nesting (§5).
pub const MAX_FOLDER_DEPTH: usize = 5;
/// How often a change is recomputed after losing a race before giving up with 409.
pub(crate) const MAX_RETRIES: usize = 50;

/// Metadata fields a client may set on upload or update.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// New folder: `Some(None)` moves to the root.
    pub parent_uid: Option<Option<String>>,
}

/// Everything a `PUT /v3/assets/{uid}` may ask for (§5), already parsed from JSON or multipart.
#[derive(Debug, Default)]
pub struct AssetUpdate {
    /// Metadata changes.
    pub meta: Metadata,
    /// A permanent URL or bare slug to generate (§3).
    pub permanent_url: Option<String>,
    /// Restore this version's file and metadata as a new version.
    pub restore_version: Option<i64>,
    /// A replacement file, already durable in the blob store.
    pub upload: Option<Ingested>,
}

/// Parses tags from a comma-separated string.
pub fn tags_from_csv(s: &str) -> Vec<String> {
    normalize_tags(s.split(',').map(str::to_owned).collect())
}

/// Trims, drops empties and duplicates, keeps order.
pub fn normalize_tags(tags: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = t.trim().to_owned();
        if !t.is_empty() && !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

pub(crate) fn check_text(field: &str, value: &str, max: usize) -> Result<()> {
    if value.chars().count() > max {
        return Err(Error::field(
            field,
            format!("is too long (maximum is {max} characters)"),
        ));
    }
    Ok(())
}

pub(crate) fn check_meta(meta: &Metadata) -> Result<()> {
    if let Some(t) = &meta.title {
        check_text("title", t, 1000)?;
    }
    if let Some(d) = &meta.description {
        check_text("description", d, 10_000)?;
    }
    if let Some(tags) = &meta.tags {
        if tags.len() > 100 || tags.iter().any(|t| t.chars().count() > 255) {
            return Err(Error::field(
                "tags",
                "at most 100 tags of at most 255 characters",
            ));
        }
    }
    Ok(())
}

/// A live asset (not a folder) of the stack, or 404; 404 also for deleted ones in the CMA.
pub async fn get_live(db: &Db, api_key: &str, uid: &str) -> Result<Asset> {
    match db.asset(api_key, uid).await? {
        Some(a) if a.deleted_at.is_none() && !a.is_dir => Ok(a),
        _ => Err(Error::NotFound("Asset")),
    }
}

/// A live folder of the stack, or 404.
pub async fn get_folder(db: &Db, api_key: &str, uid: &str) -> Result<Asset> {
    match db.asset(api_key, uid).await? {
        Some(a) if a.deleted_at.is_none() && a.is_dir => Ok(a),
        _ => Err(Error::NotFound("Folder")),
    }
}

/// A live folder the actor may read (`GET /v3/assets/folders/{uid}`).
pub async fn fetch_folder(db: &Db, access: &StackAccess, uid: &str) -> Result<Asset> {
    access.require_read()?;
    let folder = get_folder(db, &access.stack.api_key, uid).await?;
    access
        .require(db, crate::permissions::Action::Read, &folder)
        .await?;
    Ok(folder)
}

/// An asset, or the asset as of `version`.
pub async fn fetch(
    db: &Db,
    access: &StackAccess,
    uid: &str,
    version: Option<i64>,
) -> Result<Asset> {
    access.require_read()?;
    let asset = get_live(db, &access.stack.api_key, uid).await?;
    access
        .require(db, crate::permissions::Action::Read, &asset)
        .await?;
    match version {
        None => Ok(asset),
        Some(n) => match db.version(uid, n).await? {
            Some(v) => Ok(asset.at_version(v)),
            None => Err(Error::NotFound("Asset version")),
        },
    }
}

/// Depth of a folder (1 = in the root); `None` for the root itself.
pub(crate) async fn folder_depth(db: &Db, api_key: &str, folder: Option<&str>) -> Result<usize> {
    let mut depth = 0;
    let mut cur = folder.map(str::to_owned);
    while let Some(uid) = cur {
        depth += 1;
        if depth > MAX_FOLDER_DEPTH + 1 {
            break;
        }
        cur = get_folder(db, api_key, &uid).await?.parent_uid;
    }
    Ok(depth)
}

/// Resolves a requested parent folder: must be a live folder of this stack.
pub(crate) async fn check_parent(
    db: &Db,
    api_key: &str,
    parent: Option<&str>,
) -> Result<Option<String>> {
    match parent.filter(|p| !p.is_empty() && *p != "cs_root") {
        None => Ok(None),
        Some(p) => match db.asset(api_key, p).await? {
            Some(f) if f.is_dir && f.deleted_at.is_none() => Ok(Some(f.uid)),
            _ => Err(Error::field("parent_uid", "is not a folder of this stack")),
        },
    }
}

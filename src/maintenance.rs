//! `perma fsck` and `perma gc` (§8 Maintenance): rows versus blobs.
//!
//! The invariant (STYLE rule 7) is that no row points at a missing blob; a crash may only
//! leave blobs without rows, and temporary files, which `gc` removes.

use std::collections::HashSet;

use anyhow::Context;
use std::time::Duration;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::blob::{BlobInfo, BlobStore};
use crate::db::{Db, Miscount};

/// What `fsck` found.
#[derive(Debug, Default)]
pub struct FsckReport {
    /// File rows checked.
    pub files: usize,
    /// Blobs present.
    pub blobs: usize,
    /// Rows whose blob is missing: (file uid, sha256). Must be empty.
    pub missing: Vec<(String, String)>,
    /// Blobs whose bytes do not hash to their name (only with `verify`).
    pub corrupt: Vec<String>,
    /// Blobs no live row references (harmless; `gc` removes them).
    pub unreferenced: usize,
    /// Leftover temporary upload files.
    pub temp_files: usize,
    /// Folders whose kept totals (what an unfiltered `include_count` answers) differ from
    /// a count of their assets. Must be empty.
    pub miscounted: Vec<Miscount>,
}

impl FsckReport {
    /// True when every row has its blob (and, if verified, every blob its bytes) and every
    /// folder's kept totals are right.
    pub fn is_healthy(&self) -> bool {
        self.missing.is_empty() && self.corrupt.is_empty() && self.miscounted.is_empty()
    }
}

/// Checks every file row against the blob store (with `verify`, rehashes every blob) and
/// every folder's kept totals against a count of its assets.
pub async fn fsck(db: &Db, store: &BlobStore, verify: bool) -> anyhow::Result<FsckReport> {
    let files = db.all_files().await.context("listing file rows")?;
    let infos = store.list().await.context("listing blobs")?;
    let blobs: HashSet<String> = infos.iter().map(|b| b.sha256.clone()).collect();
    let mut report = FsckReport {
        files: files.len(),
        blobs: blobs.len(),
        temp_files: store.temp_files()?.len(),
        miscounted: db
            .miscounted_folders()
            .await
            .context("checking the kept totals")?,
        ..Default::default()
    };
    let mut live = HashSet::new();
    for (uid, sha, deleted) in &files {
        if !deleted {
            live.insert(sha.clone());
            if !blobs.contains(sha) {
                report.missing.push((uid.clone(), sha.clone()));
            }
        }
    }
    // Renditions (§11) reference their blobs too.
    for (_, _, sha) in db.all_renditions().await.context("listing renditions")? {
        live.insert(sha);
    }
    report.unreferenced = blobs.difference(&live).count();
    if verify {
        for b in &infos {
            if hash_blob(store, b).await? != b.sha256 {
                report.corrupt.push(b.sha256.clone());
            }
        }
    }
    Ok(report)
}

/// SHA-256 of a blob's bytes, streamed.
async fn hash_blob(store: &BlobStore, b: &BlobInfo) -> anyhow::Result<String> {
    let mut h = Sha256::new();
    let mut s = store.read_range(&b.sha256, 0, b.size, 1 << 20).await?;
    while let Some(chunk) = s.next().await {
        h.update(&chunk?);
    }
    Ok(hex::encode(h.finalize()))
}

/// Copies every blob of `from` that `to` lacks, checking each one's SHA-256 on the way
/// (a corrupt source blob stops the copy). Returns how many were copied.
pub async fn copy_blobs(from: &BlobStore, to: &BlobStore) -> anyhow::Result<usize> {
    let mut n = 0;
    for b in from.list().await? {
        if to.exists(&b.sha256).await? {
            continue;
        }
        let stream = from.read_range(&b.sha256, 0, b.size, 1 << 20).await?;
        let mut got = crate::ingest::ingest(to, stream, Some("blob"), None, u64::MAX)
            .await
            .map_err(|e| anyhow::anyhow!("copying blob {}: {e}", b.sha256))?;
        // Checked before it lands: a corrupt blob is never stored under its name.
        anyhow::ensure!(
            got.sha256 == b.sha256,
            "blob {} is corrupt (its bytes hash to {})",
            b.sha256,
            got.sha256
        );
        got.commit(to)
            .await
            .map_err(|e| anyhow::anyhow!("storing blob {}: {e}", b.sha256))?;
        n += 1;
    }
    Ok(n)
}

/// Whether the parts perma needs answer (`/readyz`): each `None` when it does, or what
/// failed.
#[derive(Debug, Default)]
pub struct Readiness {
    /// The metadata database.
    pub database: Option<String>,
    /// The blob store.
    pub storage: Option<String>,
}

impl Readiness {
    /// Both answer.
    pub fn is_ready(&self) -> bool {
        self.database.is_none() && self.storage.is_none()
    }
}

/// Checks the database (`SELECT 1`) and the blob store (a lookup of a blob that does not
/// exist), each within `limit`.
pub async fn readiness(db: &Db, blobs: &BlobStore, limit: Duration) -> Readiness {
    let database = match tokio::time::timeout(limit, db.ping()).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("{e}")),
        Err(_) => Some("no answer in time".to_owned()),
    };
    let probe = "0".repeat(64);
    let storage = match tokio::time::timeout(limit, blobs.exists(&probe)).await {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(format!("{e}")),
        Err(_) => Some("no answer in time".to_owned()),
    };
    Readiness { database, storage }
}

/// What `gc` removed.
#[derive(Debug, Default)]
pub struct GcReport {
    /// Blobs deleted.
    pub blobs_removed: usize,
    /// Bytes freed by them.
    pub bytes_freed: u64,
    /// Temporary files deleted.
    pub temp_removed: usize,
    /// Renditions of files that are gone, deleted.
    pub renditions_removed: usize,
}

/// Removes blobs that no live file row references and leftover temporary files, both only
/// when older than `min_age` (so uploads in flight on a running server are never touched).
pub async fn gc(db: &Db, blobs: &BlobStore, min_age: Duration) -> anyhow::Result<GcReport> {
    let mut live: HashSet<String> = db
        .all_files()
        .await?
        .into_iter()
        .filter(|(_, _, deleted)| !deleted)
        .map(|(_, sha, _)| sha)
        .collect();
    let mut report = GcReport::default();
    // Renditions (§11) live as long as their source file; theirs are live blobs too.
    let mut renditions = Vec::new();
    for (key, source, sha) in db.all_renditions().await? {
        if live.contains(&source) {
            renditions.push(sha);
        } else {
            db.delete_rendition(&key).await?;
            report.renditions_removed += 1;
        }
    }
    live.extend(renditions);
    for b in blobs.list().await? {
        let age = b.modified.elapsed().unwrap_or_default();
        if live.contains(&b.sha256) || age < min_age {
            continue;
        }
        blobs.delete(&b.sha256).await?;
        report.blobs_removed += 1;
        report.bytes_freed += b.size;
    }
    for (path, age) in blobs.temp_files()? {
        if age >= min_age {
            std::fs::remove_file(&path)?;
            report.temp_removed += 1;
        }
    }
    Ok(report)
}

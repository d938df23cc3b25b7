//! `perma fsck` and `perma gc` (§8 Maintenance): rows versus blobs.
//!
//! The invariant (STYLE rule 7) is that no row points at a missing blob; a crash may only
//! leave blobs without rows, and temporary files, which `gc` removes.

use std::collections::HashSet;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::app::App;
use crate::blob::BlobStore;

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
}

impl FsckReport {
    /// True when every row has its blob (and, if verified, every blob its bytes).
    pub fn is_healthy(&self) -> bool {
        self.missing.is_empty() && self.corrupt.is_empty()
    }
}

/// Checks every file row against the blob store; with `verify`, rehashes every blob.
pub async fn fsck(app: &App, verify: bool) -> anyhow::Result<FsckReport> {
    let files = app.db.all_files().await?;
    let blobs: HashSet<String> = app.blobs.list()?.into_iter().collect();
    let mut report = FsckReport {
        files: files.len(),
        blobs: blobs.len(),
        temp_files: app.blobs.temp_files()?.len(),
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
    report.unreferenced = blobs.difference(&live).count();
    if verify {
        for sha in &blobs {
            let store = app.blobs.clone();
            let sha2 = sha.clone();
            let ok = tokio::task::spawn_blocking(move || hash_file(&store, &sha2)).await??;
            if !ok {
                report.corrupt.push(sha.clone());
            }
        }
    }
    Ok(report)
}

fn hash_file(store: &BlobStore, sha: &str) -> std::io::Result<bool> {
    let mut f = std::fs::File::open(store.path(sha))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()) == sha)
}

/// Copies every blob of `from` that `to` lacks, checking each one's SHA-256 on the way
/// (a corrupt source blob stops the copy). Returns how many were copied.
pub async fn copy_blobs(from: &BlobStore, to: &BlobStore) -> anyhow::Result<usize> {
    let mut n = 0;
    for sha in from.list()? {
        if to.exists(&sha) {
            continue;
        }
        let bytes = tokio::fs::File::open(from.path(&sha)).await?;
        let stream = tokio_util::io::ReaderStream::with_capacity(bytes, 1 << 20);
        let got = crate::ingest::ingest(to, stream, Some("blob"), None, u64::MAX)
            .await
            .map_err(|e| anyhow::anyhow!("copying blob {sha}: {e}"))?;
        anyhow::ensure!(
            got.sha256 == sha,
            "blob {sha} is corrupt (its bytes hash to {})",
            got.sha256
        );
        n += 1;
    }
    Ok(n)
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
}

/// Removes blobs that no live file row references and leftover temporary files, both only
/// when older than `min_age` (so uploads in flight on a running server are never touched).
pub async fn gc(app: &App, min_age: Duration) -> anyhow::Result<GcReport> {
    let live: HashSet<String> = app
        .db
        .all_files()
        .await?
        .into_iter()
        .filter(|(_, _, deleted)| !deleted)
        .map(|(_, sha, _)| sha)
        .collect();
    let mut report = GcReport::default();
    for sha in app.blobs.list()? {
        let path = app.blobs.path(&sha);
        if live.contains(&sha) || BlobStore::age(&path)? < min_age {
            continue;
        }
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        app.blobs.delete(&sha)?;
        report.blobs_removed += 1;
        report.bytes_freed += size;
    }
    for path in app.blobs.temp_files()? {
        if BlobStore::age(&path)? >= min_age {
            std::fs::remove_file(&path)?;
            report.temp_removed += 1;
        }
    }
    Ok(report)
}

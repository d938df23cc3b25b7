//! The local directory backend's file work: committing a temp file under its address
//! (fsync, rename, fsync of the directory), ranged reads with `pread` on the blocking pool,
//! and listing the blobs.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use super::{relative, valid_sha, BlobInfo, TempBlob};

pub(super) async fn commit_local(root: &Path, temp: TempBlob, sha256: &str) -> io::Result<()> {
    let dest = root.join(relative(sha256));
    if tokio::fs::try_exists(&dest).await? {
        drop(temp);
        // Freshen the existing blob so that a concurrent `gc` (which only collects
        // unreferenced blobs older than its minimum age) cannot take it away before the
        // caller's row points at it.
        tokio::task::spawn_blocking(move || {
            std::fs::File::options()
                .append(true)
                .open(&dest)?
                .set_modified(SystemTime::now())
        })
        .await??;
        return Ok(());
    }
    let dir = dest.parent().expect("blob path has a parent").to_owned();
    tokio::fs::create_dir_all(&dir).await?;
    let src = temp.keep();
    if let Err(e) = tokio::fs::rename(&src, &dest).await {
        let _ = tokio::fs::remove_file(&src).await;
        return Err(e);
    }
    // The rename is durable only once the directory entry is.
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all()).await??;
    Ok(())
}

pub(super) fn local_range(
    file: Arc<std::fs::File>,
    start: u64,
    count: u64,
    chunk: usize,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static {
    let end = start + count;
    let read = move |file: Arc<std::fs::File>, off: u64| {
        tokio::task::spawn_blocking(move || -> io::Result<Bytes> {
            use std::os::unix::fs::FileExt;
            let n = usize::try_from(end - off).unwrap_or(usize::MAX).min(chunk);
            let mut buf = vec![0u8; n];
            let mut filled = 0;
            while filled < n {
                match file.read_at(&mut buf[filled..], off + filled as u64)? {
                    0 => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "blob is shorter than its row says",
                        ))
                    }
                    k => filled += k,
                }
            }
            Ok(Bytes::from(buf))
        })
    };
    let first = (start < end).then(|| read(file.clone(), start));
    futures_util::stream::unfold(
        (file, start, first),
        move |(file, off, pending)| async move {
            let bytes = match pending?.await {
                Ok(Ok(b)) => b,
                Ok(Err(e)) => return Some((Err(e), (file, end, None))),
                Err(e) => return Some((Err(io::Error::other(e)), (file, end, None))),
            };
            let next = off + bytes.len() as u64;
            let prefetch = (next < end).then(|| read(file.clone(), next));
            Some((Ok(bytes), (file, next, prefetch)))
        },
    )
}

pub(super) fn list_local(root: &Path) -> anyhow::Result<Vec<BlobInfo>> {
    let mut out = Vec::new();
    for l1 in read_dirs(root)? {
        if l1.file_name().is_some_and(|n| n == ".tmp") {
            continue;
        }
        for l2 in read_dirs(&l1)? {
            for entry in std::fs::read_dir(&l2)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if valid_sha(&name) {
                    let meta = entry.metadata()?;
                    out.push(BlobInfo {
                        sha256: name,
                        size: meta.len(),
                        modified: meta.modified()?,
                    });
                }
            }
        }
    }
    Ok(out)
}

fn read_dirs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            out.push(entry.path());
        }
    }
    Ok(out)
}

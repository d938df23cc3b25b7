//! The blob store (§1, §9): content-addressed files under one directory.
//!
//! Layout: `{root}/ab/cd/{sha256}`; uploads in flight live in `{root}/.tmp/` (the same file
//! system, so the final `rename` is atomic). A blob is only ever created by
//! temp file → fsync → rename → fsync dir (STYLE rule 7), and never changed afterwards, so a
//! reader that has opened one keeps reading the same bytes whatever happens next (§4
//! atomic replace).

use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Handle to the blob directory. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
    tmp: PathBuf,
}

/// A temporary upload file that is removed when dropped unless [`TempBlob::keep`] was
/// called — so an aborted or refused upload (client gone, 413) leaves nothing behind.
#[derive(Debug)]
pub struct TempBlob {
    path: Option<PathBuf>,
}

impl TempBlob {
    /// The temp file's path.
    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("temp blob already consumed")
    }

    fn keep(mut self) -> PathBuf {
        self.path.take().expect("temp blob already consumed")
    }
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn valid_sha(sha: &str) -> bool {
    sha.len() == 64
        && sha
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

impl BlobStore {
    /// Opens (and creates) the blob directory.
    pub fn open(root: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let root = root.into();
        let tmp = root.join(".tmp");
        std::fs::create_dir_all(&tmp)
            .with_context(|| format!("creating blob directory {}", tmp.display()))?;
        Ok(Self { root, tmp })
    }

    /// The blob directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with this SHA-256 lives.
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.root
            .join(&sha256[..2])
            .join(&sha256[2..4])
            .join(sha256)
    }

    /// Creates a new temporary file for an upload.
    pub async fn temp(&self) -> io::Result<(TempBlob, tokio::fs::File)> {
        let name = format!("upload-{}", crate::ids::new_file_uid());
        let path = self.tmp.join(name);
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await?;
        Ok((TempBlob { path: Some(path) }, file))
    }

    /// Moves a fully written and fsynced temp file to its content address. When the blob
    /// already exists (same bytes uploaded before) the temp file is dropped instead.
    pub async fn commit(&self, temp: TempBlob, sha256: &str) -> io::Result<()> {
        let dest = self.path(sha256);
        if tokio::fs::try_exists(&dest).await? {
            drop(temp);
            // Freshen the existing blob so that a concurrent `gc` (which only collects
            // unreferenced blobs older than its minimum age) cannot take it away before
            // the caller's row points at it.
            let d = dest.clone();
            tokio::task::spawn_blocking(move || {
                std::fs::File::options()
                    .append(true)
                    .open(&d)?
                    .set_modified(std::time::SystemTime::now())
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

    /// Opens a blob for reading.
    pub async fn open_read(&self, sha256: &str) -> io::Result<tokio::fs::File> {
        tokio::fs::File::open(self.path(sha256)).await
    }

    /// Opens a blob for a ranged, streamed read: `count` bytes from `start`, in chunks of
    /// `chunk` bytes. The file is opened now (so the caller holds these exact bytes whatever
    /// happens to the blob afterwards); each chunk is read with `pread` on the blocking pool
    /// while the previous one is being sent, so disk and socket overlap, and at most two
    /// chunks per request are in memory.
    pub async fn read_range(
        &self,
        sha256: &str,
        start: u64,
        count: u64,
        chunk: usize,
    ) -> io::Result<impl futures_util::Stream<Item = io::Result<bytes::Bytes>> + Send + 'static>
    {
        let file = std::sync::Arc::new(self.open_read(sha256).await?.into_std().await);
        let end = start + count;
        let read = move |file: std::sync::Arc<std::fs::File>, off: u64| {
            tokio::task::spawn_blocking(move || -> io::Result<bytes::Bytes> {
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
                Ok(bytes::Bytes::from(buf))
            })
        };
        let first = (start < end).then(|| read(file.clone(), start));
        Ok(futures_util::stream::unfold(
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
        ))
    }

    /// Whether a blob exists.
    pub fn exists(&self, sha256: &str) -> bool {
        self.path(sha256).is_file()
    }

    /// Every blob's SHA-256 (walks the two-level layout).
    pub fn list(&self) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for l1 in read_dirs(&self.root)? {
            if l1.file_name().is_some_and(|n| n == ".tmp") {
                continue;
            }
            for l2 in read_dirs(&l1)? {
                for entry in std::fs::read_dir(&l2)? {
                    let name = entry?.file_name().to_string_lossy().into_owned();
                    if valid_sha(&name) {
                        out.push(name);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Age of a blob or temp file (since its last write).
    pub fn age(path: &Path) -> io::Result<std::time::Duration> {
        let m = std::fs::metadata(path)?.modified()?;
        Ok(m.elapsed().unwrap_or_default())
    }

    /// Deletes a blob. Readers that already opened it finish with the old bytes.
    pub fn delete(&self, sha256: &str) -> io::Result<()> {
        std::fs::remove_file(self.path(sha256))
    }

    /// Leftover temporary files (from uploads cut short by a crash).
    pub fn temp_files(&self) -> io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.tmp)? {
            out.push(entry?.path());
        }
        Ok(out)
    }
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

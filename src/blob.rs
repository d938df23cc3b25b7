//! The blob store (§1, §9): content-addressed bytes, in a local directory (the embedded
//! default) or in any S3-compatible object store (through `object_store`).
//!
//! Layout: `{root or prefix}/ab/cd/{sha256}`. Uploads in flight always live in a local
//! temp directory (`{root}/.tmp` for local storage, `{data_dir}/tmp` for S3). A blob is
//! only ever created by temp file → fsync → rename → fsync dir (local) or by a complete
//! PUT / multipart upload (S3), and never changed afterwards, so a reader that has started
//! reading one keeps getting the same bytes whatever happens next (§4 atomic replace).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectStore, WriteMultipart};
use tokio::io::AsyncReadExt;

mod direct;
mod local;
mod sigv4;

use local::{commit_local, list_local, local_range};

pub use direct::SentPart;

/// Objects larger than this are uploaded to S3 in parts of this size.
const PART: usize = 8 << 20;

/// Handle to the blob store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BlobStore {
    tmp: PathBuf,
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Local(PathBuf),
    S3 {
        store: Arc<dyn ObjectStore>,
        prefix: String,
        url: String,
        direct: Arc<direct::S3Direct>,
    },
}

/// Where and how to reach S3-compatible storage (§9 settings).
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// `s3://bucket[/prefix]`.
    pub url: String,
    /// Endpoint of a non-AWS server (`PERMA_S3_ENDPOINT`); path-style addressing when set.
    pub endpoint: Option<String>,
    /// Region (`PERMA_S3_REGION`).
    pub region: String,
    /// The endpoint in URLs handed to clients (`PERMA_S3_PUBLIC_ENDPOINT`); else `endpoint`.
    pub public_endpoint: Option<String>,
    /// Objects larger than this are copied in parts (`PERMA_S3_COPY_PART_BYTES`).
    pub copy_part_bytes: u64,
    /// Whether clients may send uploads straight to the bucket (`PERMA_DIRECT_UPLOADS`).
    pub direct_uploads: bool,
}

/// One stored blob.
#[derive(Debug, Clone)]
pub struct BlobInfo {
    /// Its SHA-256 (the address).
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// When it was written (or last re-confirmed by a duplicate upload, locally).
    pub modified: SystemTime,
}

/// A temporary upload file that is removed when dropped unless committed — so an aborted
/// or refused upload (client gone, 413) leaves nothing behind.
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

/// The name prefix of resumable uploads' files in the staging directory.
const RESUMABLE_PREFIX: &str = "resumable-";

fn valid_sha(sha: &str) -> bool {
    sha.len() == 64
        && sha
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn io_err(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e),
        other if unreachable_store(&other) => io::Error::new(io::ErrorKind::NotConnected, other),
        other => io::Error::other(other),
    }
}

/// Whether an S3 request failed because the server could not be reached or did not answer
/// in time (after `object_store`'s retries): a transient outage, which clients see as 503
/// with `Retry-After`, not a bug.
fn unreachable_store(e: &object_store::Error) -> bool {
    use object_store::client::HttpErrorKind;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(h) = c.downcast_ref::<object_store::client::HttpError>() {
            return matches!(
                h.kind(),
                HttpErrorKind::Connect
                    | HttpErrorKind::Timeout
                    | HttpErrorKind::Request
                    | HttpErrorKind::Interrupted
            );
        }
        // The library's own error wrapper forwards to the HTTP client's error.
        if let Some(r) = c.downcast_ref::<reqwest::Error>() {
            return r.is_connect() || r.is_timeout() || r.is_request();
        }
        if let Some(io) = c.downcast_ref::<io::Error>() {
            use io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionRefused | ConnectionReset | ConnectionAborted | TimedOut | BrokenPipe
            ) {
                return true;
            }
        }
        cause = c.source();
    }
    false
}

/// How long S3 requests may take and how often they are retried: bounded, so that an
/// outage answers 503 within seconds instead of holding requests for minutes (the
/// library's default is up to 10 retries over 3 minutes).
fn s3_client_limits() -> (object_store::ClientOptions, object_store::RetryConfig) {
    let options = object_store::ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(3))
        .with_timeout(Duration::from_secs(60));
    let retry = object_store::RetryConfig {
        max_retries: 3,
        retry_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    (options, retry)
}

fn relative(sha256: &str) -> String {
    format!("{}/{}/{sha256}", &sha256[..2], &sha256[2..4])
}

impl BlobStore {
    /// A store in a local directory (created if missing).
    pub fn open_local(root: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let root = root.into();
        let tmp = root.join(".tmp");
        std::fs::create_dir_all(&tmp)
            .with_context(|| format!("creating blob directory {}", tmp.display()))?;
        Ok(Self {
            tmp,
            backend: Backend::Local(root),
        })
    }

    /// A store in an S3-compatible bucket; uploads are staged in `tmp`. Credentials come
    /// from the standard `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` variables.
    pub fn open_s3(s: &S3Settings, tmp: impl Into<PathBuf>) -> anyhow::Result<Self> {
        let rest = s
            .url
            .strip_prefix("s3://")
            .with_context(|| format!("{:?} is not an s3:// URL", s.url))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            bail!("{:?} names no bucket", s.url);
        }
        let (options, retry) = s3_client_limits();
        let mut b = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(&s.region)
            .with_client_options(options)
            .with_retry(retry);
        if let Some(ep) = &s.endpoint {
            b = b
                .with_endpoint(ep)
                .with_allow_http(ep.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let store = Arc::new(b.build().context("configuring S3 storage")?);
        let endpoint = |ep: Option<&str>| {
            direct::Endpoint::new(ep, bucket, &s.region)
                .context("an S3 endpoint (PERMA_S3_ENDPOINT, PERMA_S3_PUBLIC_ENDPOINT)")
        };
        let direct = direct::S3Direct {
            s3: store.clone(),
            bucket: bucket.to_owned(),
            region: s.region.clone(),
            internal: endpoint(s.endpoint.as_deref())?,
            public: endpoint(s.public_endpoint.as_deref().or(s.endpoint.as_deref()))?,
            copy_limit: s.copy_part_bytes,
            enabled: s.direct_uploads,
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(3))
                .build()
                .context("an HTTP client for S3")?,
        };
        let tmp = tmp.into();
        std::fs::create_dir_all(&tmp)
            .with_context(|| format!("creating upload directory {}", tmp.display()))?;
        Ok(Self {
            tmp,
            backend: Backend::S3 {
                store,
                prefix: prefix.trim_matches('/').to_owned(),
                url: s.url.clone(),
                direct: Arc::new(direct),
            },
        })
    }

    /// Where the blobs are, for messages.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Local(root) => root.display().to_string(),
            Backend::S3 { url, .. } => url.clone(),
        }
    }

    fn key(prefix: &str, sha256: &str) -> Key {
        if prefix.is_empty() {
            Key::from(relative(sha256))
        } else {
            Key::from(format!("{prefix}/{}", relative(sha256)))
        }
    }

    /// The local file of a blob (local storage only).
    pub fn local_path(&self, sha256: &str) -> Option<PathBuf> {
        match &self.backend {
            Backend::Local(root) => Some(root.join(relative(sha256))),
            Backend::S3 { .. } => None,
        }
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

    /// Makes a fully written and fsynced temp file the blob with this SHA-256. When the
    /// blob already exists (same bytes uploaded before) the temp file is dropped instead.
    pub async fn commit(&self, temp: TempBlob, sha256: &str) -> io::Result<()> {
        match &self.backend {
            Backend::Local(root) => commit_local(root, temp, sha256).await,
            Backend::S3 { store, prefix, .. } => {
                let key = Self::key(prefix, sha256);
                if store.head(&key).await.is_ok() {
                    return Ok(());
                }
                let mut file = tokio::fs::File::open(temp.path()).await?;
                let len = file.metadata().await?.len();
                if len <= PART as u64 {
                    let mut buf = Vec::with_capacity(len as usize);
                    file.read_to_end(&mut buf).await?;
                    store
                        .put(&key, Bytes::from(buf).into())
                        .await
                        .map_err(io_err)?;
                } else {
                    // Multipart: at most two parts in flight, so memory stays bounded.
                    let upload = store.put_multipart(&key).await.map_err(io_err)?;
                    let mut w = WriteMultipart::new_with_chunk_size(upload, PART);
                    let mut buf = vec![0u8; PART];
                    loop {
                        let n = read_full(&mut file, &mut buf).await?;
                        if n == 0 {
                            break;
                        }
                        w.wait_for_capacity(2).await.map_err(io_err)?;
                        w.write(&buf[..n]);
                    }
                    w.finish().await.map_err(io_err)?;
                }
                drop(temp);
                Ok(())
            }
        }
    }

    /// Stores bytes produced in memory (a rendition) under their SHA-256, which it returns.
    pub async fn put(&self, bytes: &[u8]) -> io::Result<String> {
        use sha2::Digest as _;
        let sha = hex::encode(sha2::Sha256::digest(bytes));
        let (temp, mut file) = self.temp().await?;
        tokio::io::AsyncWriteExt::write_all(&mut file, bytes).await?;
        file.sync_all().await?;
        drop(file);
        self.commit(temp, &sha).await?;
        Ok(sha)
    }

    /// Stores bytes under an address without checking them (maintenance and tests only).
    pub async fn put_unchecked(&self, sha256: &str, bytes: Bytes) -> io::Result<()> {
        let (temp, mut file) = self.temp().await?;
        tokio::io::AsyncWriteExt::write_all(&mut file, &bytes).await?;
        file.sync_all().await?;
        drop(file);
        self.commit(temp, sha256).await
    }

    /// The whole blob (small files).
    pub async fn read_all(&self, sha256: &str) -> io::Result<Bytes> {
        match &self.backend {
            Backend::Local(root) => Ok(Bytes::from(
                tokio::fs::read(root.join(relative(sha256))).await?,
            )),
            Backend::S3 { store, prefix, .. } => {
                let r = store
                    .get(&Self::key(prefix, sha256))
                    .await
                    .map_err(io_err)?;
                r.bytes().await.map_err(io_err)
            }
        }
    }

    /// A ranged, streamed read: `count` bytes from `start`, in chunks of about `chunk`
    /// bytes. Locally the file is opened now (so the caller holds these exact bytes whatever
    /// happens to the blob afterwards) and each chunk is read with `pread` on the blocking
    /// pool while the previous one is being sent, so at most two chunks per request are in
    /// memory. On S3 it is one ranged GET, streamed.
    pub async fn read_range(
        &self,
        sha256: &str,
        start: u64,
        count: u64,
        chunk: usize,
    ) -> io::Result<BoxStream<'static, io::Result<Bytes>>> {
        match &self.backend {
            Backend::Local(root) => {
                let file = tokio::fs::File::open(root.join(relative(sha256))).await?;
                Ok(local_range(Arc::new(file.into_std().await), start, count, chunk).boxed())
            }
            Backend::S3 { store, prefix, .. } => {
                if count == 0 {
                    return Ok(futures_util::stream::empty().boxed());
                }
                let options = GetOptions {
                    range: Some(GetRange::Bounded(start..start + count)),
                    ..Default::default()
                };
                let r = store
                    .get_opts(&Self::key(prefix, sha256), options)
                    .await
                    .map_err(io_err)?;
                Ok(r.into_stream().map_err(io_err).boxed())
            }
        }
    }

    /// Whether a blob exists.
    pub async fn exists(&self, sha256: &str) -> io::Result<bool> {
        match &self.backend {
            Backend::Local(root) => tokio::fs::try_exists(root.join(relative(sha256))).await,
            Backend::S3 { store, prefix, .. } => match store.head(&Self::key(prefix, sha256)).await
            {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(io_err(e)),
            },
        }
    }

    /// Every blob.
    pub async fn list(&self) -> anyhow::Result<Vec<BlobInfo>> {
        match &self.backend {
            Backend::Local(root) => {
                let root = root.clone();
                tokio::task::spawn_blocking(move || list_local(&root)).await?
            }
            Backend::S3 { store, prefix, .. } => {
                let prefix = (!prefix.is_empty()).then(|| Key::from(prefix.as_str()));
                let mut out = Vec::new();
                let mut s = store.list(prefix.as_ref());
                while let Some(meta) = s.next().await {
                    let meta = meta.context("listing blobs")?;
                    let Some(name) = meta.location.filename() else {
                        continue;
                    };
                    if valid_sha(name) {
                        out.push(BlobInfo {
                            sha256: name.to_owned(),
                            size: meta.size,
                            modified: meta.last_modified.into(),
                        });
                    }
                }
                Ok(out)
            }
        }
    }

    /// Deletes a blob. Readers that already started finish with the old bytes.
    pub async fn delete(&self, sha256: &str) -> io::Result<()> {
        match &self.backend {
            Backend::Local(root) => tokio::fs::remove_file(root.join(relative(sha256))).await,
            Backend::S3 { store, prefix, .. } => store
                .delete(&Self::key(prefix, sha256))
                .await
                .map_err(io_err),
        }
    }

    /// The file of a resumable upload (§16): in the staging directory, under a name that
    /// `gc` and `fsck` leave alone (the upload's row says whether it is still wanted).
    pub fn resumable_path(&self, upload_uid: &str) -> PathBuf {
        self.tmp.join(format!("{RESUMABLE_PREFIX}{upload_uid}"))
    }

    /// The resumable upload files present: the upload's id and the file's age.
    pub fn resumable_files(&self) -> io::Result<Vec<(String, Duration)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.tmp)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(uid) = name.strip_prefix(RESUMABLE_PREFIX) {
                let age = entry.metadata()?.modified()?.elapsed().unwrap_or_default();
                out.push((uid.to_owned(), age));
            }
        }
        Ok(out)
    }

    /// Stages a finished file for [`BlobStore::commit`] without copying it: a new name
    /// (hard link) in the staging directory, removed when dropped; the original stays.
    pub async fn stage_link(&self, file: &Path) -> io::Result<TempBlob> {
        let path = self
            .tmp
            .join(format!("upload-{}", crate::ids::new_file_uid()));
        tokio::fs::hard_link(file, &path).await?;
        Ok(TempBlob { path: Some(path) })
    }

    /// Leftover temporary files (from uploads cut short by a crash), with their age.
    /// Resumable uploads' files are not among them.
    pub fn temp_files(&self) -> io::Result<Vec<(PathBuf, Duration)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.tmp)? {
            let entry = entry?;
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(RESUMABLE_PREFIX)
            {
                continue;
            }
            let age = entry.metadata()?.modified()?.elapsed().unwrap_or_default();
            out.push((entry.path(), age));
        }
        Ok(out)
    }
}

async fn read_full(file: &mut tokio::fs::File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

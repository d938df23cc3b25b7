//! The upload pipeline (§5 "Uploads", STYLE rule 7): size limit → SHA-256 while streaming
//! to a temp file → sniff type and image size from the first bytes → fsync. The bytes stay
//! staged in the temp file until the caller has validated the whole request and calls
//! [`Ingested::commit`] (rename to the content address, or upload to S3) right before it
//! writes the row that points at the blob. A request refused after the file arrived (bad
//! folder, second file part, truncated body, a different slug) drops the staged file, so it
//! leaves nothing behind; and a committed blob is never deleted by a refusal, since another
//! upload of the same bytes may share it.
//!
//! Memory per upload is one write buffer plus the sniffing head, whatever the file size.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncWriteExt, BufWriter};

use crate::blob::{BlobStore, TempBlob};
use crate::error::{Error, Result};
use crate::filename::Filename;

/// How many leading bytes are kept for content sniffing and image dimensions.
pub const HEAD_BYTES: usize = 256 * 1024;

/// An uploaded file: durable in a staged temp file (removed when this is dropped) until
/// [`Ingested::commit`] makes it a blob.
#[derive(Debug)]
pub struct Ingested {
    /// Hex SHA-256 of the bytes (the blob's address).
    pub sha256: String,
    /// Length in bytes.
    pub size: u64,
    /// Content type: sniffed, else from the extension, else the client's claim (§5).
    pub content_type: String,
    /// Sanitised file name.
    pub filename: Filename,
    /// The name as the client gave it (path stripped, control characters removed): the
    /// default title, which is text and need not be URL-safe.
    pub display_name: String,
    /// Image width in pixels, for images.
    pub width: Option<u64>,
    /// Image height in pixels, for images.
    pub height: Option<u64>,
    /// The staged bytes, until committed.
    staged: Option<Staged>,
}

/// Where bytes wait until they become a blob.
#[derive(Debug)]
pub enum Staged {
    /// A file in the staging directory (removed when dropped).
    File(TempBlob),
    /// The staged object of a direct upload (§16), by the upload's id; it stays until the
    /// upload is used up.
    Object(String),
}

impl Ingested {
    /// Makes the staged bytes the blob at `sha256` (once; later calls do nothing). Call it
    /// after every check of the request and right before writing the row.
    pub async fn commit(&mut self, blobs: &BlobStore) -> Result<()> {
        match self.staged.take() {
            Some(Staged::File(temp)) => blobs.commit(temp, &self.sha256).await?,
            Some(Staged::Object(upload)) => {
                blobs
                    .commit_staged(&upload, &self.sha256, self.size)
                    .await?
            }
            None => {}
        }
        Ok(())
    }

    /// Whether the bytes are still only staged.
    pub fn is_staged(&self) -> bool {
        self.staged.is_some()
    }
}

/// Streams `body` into a staged file of the blob store. Refuses (and keeps nothing) past
/// `max_bytes` or when the body fails (the caller maps its stream errors to the right
/// client error).
pub async fn ingest<S, E>(
    blobs: &BlobStore,
    mut body: S,
    claimed_name: Option<&str>,
    claimed_type: Option<&str>,
    max_bytes: u64,
) -> Result<Ingested>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: Into<Error>,
{
    let (temp, file) = blobs.temp().await?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut hasher = Sha256::new();
    let mut head: Vec<u8> = Vec::new();
    let mut size: u64 = 0;
    while let Some(chunk) = body.next().await {
        // `temp` is dropped on every early return, which removes the partial file.
        let chunk = chunk.map_err(Into::into)?;
        size += chunk.len() as u64;
        if size > max_bytes {
            return Err(Error::TooLarge(max_bytes));
        }
        if head.len() < HEAD_BYTES {
            let take = (HEAD_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await?;
    }
    out.flush().await?;
    let file = out.into_inner();
    file.sync_all().await?;
    drop(file);

    let sha256 = hex::encode(hasher.finalize());
    Ok(Ingested::staged(
        Staged::File(temp),
        sha256,
        size,
        &head,
        claimed_name,
        claimed_type,
    ))
}

impl Ingested {
    /// An upload whose bytes are already staged in `temp` (fsynced), with their SHA-256 and
    /// size known and their first bytes in `head` (a finished resumable upload, §16): the
    /// name, title, content type and image size are worked out as for any upload.
    pub fn staged(
        staged: Staged,
        sha256: String,
        size: u64,
        head: &[u8],
        claimed_name: Option<&str>,
        claimed_type: Option<&str>,
    ) -> Ingested {
        let head = &head[..head.len().min(HEAD_BYTES)];
        let filename = Filename::sanitize(claimed_name.unwrap_or("file"));
        let display_name = display_name(claimed_name.unwrap_or(""), &filename);
        let content_type = content_type(head, &filename, claimed_type);
        let (width, height) = if content_type.starts_with("image/") {
            match imagesize::blob_size(head) {
                Ok(d) => (Some(d.width as u64), Some(d.height as u64)),
                Err(_) => (None, None),
            }
        } else {
            (None, None)
        };
        Ingested {
            sha256,
            size,
            content_type,
            filename,
            display_name,
            width,
            height,
            staged: Some(staged),
        }
    }
}

fn display_name(raw: &str, fallback: &Filename) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim();
    if clean.is_empty() || clean.chars().all(|c| c == '.') {
        fallback.as_str().to_owned()
    } else {
        clean.chars().take(255).collect()
    }
}

/// §5 "Content type: sniffed from the bytes first, then the extension, then the client's claim."
pub fn content_type(head: &[u8], filename: &Filename, claimed: Option<&str>) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_owned();
    }
    if looks_like_html(head) {
        return "text/html".to_owned();
    }
    if let Some(ext) = filename.extension() {
        if let Some(m) = mime_guess::from_ext(&ext).first() {
            return m.essence_str().to_owned();
        }
    }
    match claimed
        .map(str::trim)
        .filter(|c| !c.is_empty() && c.contains('/'))
    {
        Some(c) => c.split(';').next().unwrap_or(c).trim().to_ascii_lowercase(),
        None => "application/octet-stream".to_owned(),
    }
}

/// Markup that a browser would render as HTML, whatever the name says: such a file must get
/// the sandbox CSP of §4.
fn looks_like_html(head: &[u8]) -> bool {
    let start: Vec<u8> = head
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take(15)
        .map(|b| b.to_ascii_lowercase())
        .collect();
    [
        &b"<!doctype html"[..],
        b"<html",
        b"<script",
        b"<head",
        b"<body",
    ]
    .iter()
    .any(|p| start.starts_with(p))
}

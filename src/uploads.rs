//! Resumable uploads (§16, the tus 1.0.0 protocol): an upload is created with its length,
//! receives its bytes in any number of `PATCH` requests, each starting at the offset the
//! server acknowledged, and once complete becomes a new asset or a new version of one.
//!
//! Durability: bytes are appended to the upload's own file in the staging directory; the
//! acknowledged offset (with the SHA-256 state after it) is written to the upload's row
//! only after the file is synced, at the end of each `PATCH`, when a `PATCH` breaks off,
//! and every [`CHECKPOINT`] bytes within a long one. After a crash, bytes past the
//! acknowledged offset are cut off at the next `PATCH`, and the client resumes at the
//! offset `HEAD` reports. The file is hashed as it arrives, so the finished file is never
//! read again to learn its address.
//!
//! One request at a time writes an upload: a new request for an upload still being
//! written (a client resuming before the server noticed its old connection was gone) asks
//! the old one to stop, which saves what it has; it gets 423 if the old one does not let
//! go within seconds.

mod direct;
mod finish;
pub mod sha;
pub mod tus;
mod writer;

pub use direct::{Direct, PartUrl};
pub use finish::Claim;

use std::collections::HashMap;
use std::io::SeekFrom;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};

use crate::blob::BlobStore;
use crate::db::uploads::UploadRow;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::identity::StackAccess;
use sha::ResumableSha256;

/// Bytes a long `PATCH` may receive between two acknowledged offsets: what a crash in the
/// middle of it can cost the client.
pub const CHECKPOINT: u64 = 32 << 20;
/// How long a `PATCH` body may send nothing before the server saves what it has and ends
/// the request.
pub const IDLE: Duration = Duration::from_secs(60);
/// How long a request waits for another one that writes the same upload to let go.
const HOLD_WAIT: Duration = Duration::from_secs(5);
/// How long a request asked to let go still takes bytes that keep coming...
const DRAIN: Duration = Duration::from_secs(1);
/// ...as long as no gap between them is longer than this.
const DRAIN_GAP: Duration = Duration::from_millis(100);

/// The limits of resumable uploads (settings, §16).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest `Upload-Length`.
    pub max_bytes: u64,
    /// How long an unfinished upload is kept after its last bytes (ms).
    pub expiry_ms: i64,
    /// Unfinished uploads one user or token may have.
    pub max_open: u64,
    /// Bytes one user or token may have announced in unfinished uploads.
    pub max_in_flight: u64,
}

/// An unfinished upload.
#[derive(Debug, Clone)]
pub struct Upload {
    /// Its id: the last segment of its `Location`.
    pub uid: String,
    /// The announced length.
    pub length: u64,
    /// Bytes acknowledged.
    pub received: u64,
    /// `Upload-Metadata` as given at creation.
    pub metadata: Vec<(String, Vec<u8>)>,
    /// When it expires unless more bytes arrive (ms).
    pub expires_at: i64,
    /// A direct upload's multipart upload in the object store; `None` for tus.
    pub multipart_id: Option<String>,
    /// A direct upload's part size (0 for tus).
    pub part_size: u64,
    hash: ResumableSha256,
}

impl Upload {
    fn from_row(r: UploadRow) -> Result<Upload> {
        let hash = ResumableSha256::load(&r.hash_state).ok_or_else(|| {
            Error::Internal(anyhow::anyhow!("upload {}: unreadable hash state", r.uid))
        })?;
        Ok(Upload {
            metadata: tus::parse_metadata(Some(&r.metadata)).unwrap_or_default(),
            uid: r.uid,
            length: r.length as u64,
            received: r.received as u64,
            expires_at: r.expires_at,
            multipart_id: r.multipart_id,
            part_size: r.part_size as u64,
            hash,
        })
    }

    /// The file name the client gave (`filename` or `name` in the metadata).
    pub fn filename(&self) -> Option<String> {
        tus::metadata_text(&self.metadata, &["filename", "name"])
    }

    /// The SHA-256 of the bytes received so far (of the file, once finished).
    pub fn hash_hex(&self) -> String {
        self.hash.finish_hex()
    }

    /// The content type the client claimed (`filetype`, `type` or `contentType`).
    pub fn filetype(&self) -> Option<String> {
        tus::metadata_text(&self.metadata, &["filetype", "type", "contentType"])
    }
}

/// Where a `PATCH` body goes: the offset the client says it starts at, and the SHA-256 it
/// must have (`Upload-Checksum`), if given.
#[derive(Debug, Clone, Copy)]
pub struct At {
    /// `Upload-Offset`.
    pub offset: u64,
    /// `Upload-Checksum` (sha256).
    pub checksum: Option<[u8; 32]>,
}

/// Resumable uploads in this process: their limits, and which are being written now.
#[derive(Debug)]
pub struct Uploads {
    /// The limits (settings).
    pub limits: Limits,
    busy: Mutex<HashMap<String, Arc<Busy>>>,
}

#[derive(Debug, Default)]
struct Busy {
    stop: tokio::sync::Notify,
}

/// The right to write one upload, until dropped.
#[derive(Debug)]
pub struct Held<'a> {
    uploads: &'a Uploads,
    uid: String,
    busy: Arc<Busy>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut map = self.uploads.busy.lock().unwrap_or_else(|e| e.into_inner());
        if map
            .get(&self.uid)
            .is_some_and(|b| Arc::ptr_eq(b, &self.busy))
        {
            map.remove(&self.uid);
        }
    }
}

async fn remove_file(blobs: &BlobStore, uid: &str) {
    if let Err(e) = tokio::fs::remove_file(blobs.resumable_path(uid)).await {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("removing the file of upload {uid}: {e}");
        }
    }
}

/// Reclaims an upload's bytes: its file (tus), or its parts and staged object (direct).
async fn discard(blobs: &BlobStore, uid: &str, multipart_id: Option<&str>) {
    match multipart_id {
        None => remove_file(blobs, uid).await,
        Some(id) => {
            if let Err(e) = blobs.direct_abort(uid, id).await {
                tracing::warn!("removing the parts of direct upload {uid}: {e}");
            }
        }
    }
}

/// Whether `uid` has the shape of an upload id (32 lowercase hex): anything else is not
/// one, and never becomes part of a path.
pub fn is_upload_uid(uid: &str) -> bool {
    uid.len() == 32
        && uid
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Uploads {
    /// Uploads within these limits.
    pub fn new(limits: Limits) -> Uploads {
        Uploads {
            limits,
            busy: Mutex::default(),
        }
    }

    async fn hold(&self, uid: &str) -> Result<Held<'_>> {
        let deadline = Instant::now() + HOLD_WAIT;
        loop {
            let other = {
                let mut map = self.busy.lock().unwrap_or_else(|e| e.into_inner());
                match map.get(uid) {
                    Some(b) => b.clone(),
                    None => {
                        let busy = Arc::new(Busy::default());
                        map.insert(uid.to_owned(), busy.clone());
                        return Ok(Held {
                            uploads: self,
                            uid: uid.to_owned(),
                            busy,
                        });
                    }
                }
            };
            other.stop.notify_one();
            if Instant::now() >= deadline {
                return Err(Error::UploadLocked);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts an upload of `length` bytes in the stack of `access`, within the limits.
    pub async fn create(
        &self,
        db: &Db,
        blobs: &BlobStore,
        access: &StackAccess,
        length: u64,
        metadata: &[(String, Vec<u8>)],
    ) -> Result<Upload> {
        let row = self.admit(db, access, length, metadata, None).await?;
        // The file first: a row always has its file (a file without a row is swept).
        tokio::fs::File::create(blobs.resumable_path(&row.uid))
            .await?
            .sync_all()
            .await?;
        db.insert_upload(&row).await?;
        Upload::from_row(row)
    }

    /// The row of a new upload of `length` bytes by the user or token of `access`, once the
    /// limits allow it (413, 429). `direct`: the part size of a direct upload.
    async fn admit(
        &self,
        db: &Db,
        access: &StackAccess,
        length: u64,
        metadata: &[(String, Vec<u8>)],
        direct: Option<u64>,
    ) -> Result<UploadRow> {
        access.require_write()?;
        let limits = &self.limits;
        let now = crate::time::now_ms();
        if length > limits.max_bytes {
            return Err(Error::TooLarge(limits.max_bytes));
        }
        let owner = access.actor.uid();
        let open = db.open_uploads(owner, now).await?;
        if open.count as u64 >= limits.max_open {
            return Err(Error::TooManyUploads(format!(
                "You have {} unfinished uploads, the most allowed; finish or delete one first.",
                open.count
            )));
        }
        if open.bytes as u64 + length > limits.max_in_flight {
            return Err(Error::TooManyUploads(format!(
                "Your unfinished uploads already announce {} bytes; with {length} more they would pass the limit of {} bytes. Finish or delete some first.",
                open.bytes, limits.max_in_flight
            )));
        }
        let hash = ResumableSha256::default();
        Ok(UploadRow {
            uid: crate::ids::random_hex(16),
            api_key: access.stack.api_key.clone(),
            owner_uid: owner.to_owned(),
            length: length as i64,
            received: 0,
            hash_state: hash.save(),
            metadata: tus::encode_metadata(metadata),
            created_at: now,
            expires_at: now + limits.expiry_ms,
            multipart_id: None,
            part_size: direct.unwrap_or(0) as i64,
        })
    }

    /// An upload of this stack and this user or token (404 otherwise; 410 once expired,
    /// and then its bytes are reclaimed).
    pub async fn get(
        &self,
        db: &Db,
        blobs: &BlobStore,
        access: &StackAccess,
        uid: &str,
        now: i64,
    ) -> Result<Upload> {
        if !is_upload_uid(uid) {
            return Err(Error::NotFound("Upload"));
        }
        let row = db
            .upload(uid)
            .await?
            .filter(|r| r.api_key == access.stack.api_key && r.owner_uid == access.actor.uid())
            .ok_or(Error::NotFound("Upload"))?;
        if row.expires_at <= now {
            db.delete_upload(uid).await?;
            discard(blobs, uid, row.multipart_id.as_deref()).await;
            return Err(Error::UploadExpired);
        }
        Upload::from_row(row)
    }

    /// An upload's state for `HEAD`: a request still writing it (its client has gone, or
    /// this one would not ask) is made to stop and save what it received first, so that the
    /// offset answered is every byte that arrived, and a client resuming at once sends none
    /// of them again.
    pub async fn status(
        &self,
        db: &Db,
        blobs: &BlobStore,
        access: &StackAccess,
        uid: &str,
    ) -> Result<Upload> {
        self.get(db, blobs, access, uid, crate::time::now_ms())
            .await?;
        drop(self.hold(uid).await?);
        self.get(db, blobs, access, uid, crate::time::now_ms())
            .await
    }

    /// Appends a `PATCH` body at `offset` (which must be the acknowledged offset: 409
    /// otherwise). With `checksum`, the body's SHA-256 must match or none of it is kept
    /// (460). A body that breaks off keeps what arrived (without a checksum). Returns the
    /// upload with its new offset.
    pub async fn append<S, E>(
        &self,
        db: &Db,
        blobs: &BlobStore,
        access: &StackAccess,
        uid: &str,
        at: At,
        mut body: S,
    ) -> Result<Upload>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: Into<Error>,
    {
        access.require_write()?;
        self.get(db, blobs, access, uid, crate::time::now_ms())
            .await?;
        let held = self.hold(uid).await?;
        let mut up = self
            .get(db, blobs, access, uid, crate::time::now_ms())
            .await?;
        if up.multipart_id.is_some() {
            return Err(Error::Conflict(
                "This is a direct upload: its parts go to the URLs of /v3/uploads/direct.".into(),
            ));
        }
        let At { offset, checksum } = at;
        if offset != up.received {
            return Err(Error::Conflict(format!(
                "Upload-Offset is {offset}, but the upload has {} bytes: ask with HEAD and resume from there.",
                up.received
            )));
        }
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(blobs.resumable_path(uid))
            .await?;
        // Bytes written after the last acknowledged offset (a crash) are not the client's.
        file.set_len(up.received).await?;
        file.seek(SeekFrom::Start(up.received)).await?;
        let mut w = writer::Writer {
            out: BufWriter::with_capacity(1 << 20, file),
            db,
            uid,
            expiry_ms: self.limits.expiry_ms,
            acked: up.received,
            syncing: None,
        };
        let mut check = checksum.map(|want| (want, Sha256::new()));
        // Once another request asks for the upload, what has already arrived is still taken
        // (bytes in the connection's buffers, up to its end when the client is gone), for at
        // most DRAIN, then this request stops.
        let mut stop_by: Option<Instant> = None;
        let ending: Result<()> = loop {
            let next = match stop_by {
                None => tokio::select! {
                    biased;
                    _ = held.busy.stop.notified() => {
                        stop_by = Some(Instant::now() + DRAIN);
                        continue;
                    }
                    next = tokio::time::timeout(IDLE, body.next()) => next,
                },
                Some(by) => {
                    let left = by.saturating_duration_since(Instant::now());
                    match tokio::time::timeout(left.min(DRAIN_GAP), body.next()).await {
                        Ok(next) if !left.is_zero() => Ok(next),
                        _ => {
                            break Err(Error::Conflict(
                                "Another request for this upload took over.".into(),
                            ))
                        }
                    }
                }
            };
            let chunk = match next {
                Err(_) => {
                    break Err(Error::Malformed(format!(
                        "No bytes arrived for {} seconds.",
                        IDLE.as_secs()
                    )))
                }
                Ok(None) => break Ok(()),
                Ok(Some(Err(e))) => break Err(e.into()),
                Ok(Some(Ok(chunk))) => chunk,
            };
            if up.received + chunk.len() as u64 > up.length {
                w.roll_back().await;
                return Err(Error::Malformed(format!(
                    "The body goes past Upload-Length ({} bytes); none of it was kept.",
                    up.length
                )));
            }
            if let Err(e) = w.out.write_all(&chunk).await {
                w.roll_back().await;
                return Err(e.into());
            }
            up.hash.update(&chunk);
            if let Some((_, h)) = check.as_mut() {
                h.update(&chunk);
            }
            up.received += chunk.len() as u64;
            let last = w.syncing.as_ref().map_or(w.acked, |(to, _, _)| *to);
            if check.is_none() && up.received - last >= CHECKPOINT {
                w.checkpoint(&up).await?;
            }
        };
        if let Some((want, h)) = check {
            // The body must arrive whole and match, or none of it stays.
            if ending.is_err() || h.finalize().as_slice() != want {
                w.roll_back().await;
                return Err(ending.err().unwrap_or(Error::ChecksumMismatch));
            }
        }
        w.acknowledge(&up).await?;
        up.expires_at = crate::time::now_ms() + self.limits.expiry_ms;
        drop(held);
        ending.map(|()| up)
    }

    /// Ends an upload (`DELETE`, the termination extension): its row and bytes go.
    pub async fn terminate(
        &self,
        db: &Db,
        blobs: &BlobStore,
        access: &StackAccess,
        uid: &str,
    ) -> Result<()> {
        access.require_write()?;
        let up = self
            .get(db, blobs, access, uid, crate::time::now_ms())
            .await?;
        let _held = self.hold(uid).await?;
        db.delete_upload(uid).await?;
        discard(blobs, uid, up.multipart_id.as_deref()).await;
        Ok(())
    }

    /// Reclaims expired uploads (rows and files), and files of uploads that have no row
    /// (a crash between the two) once they are an hour old. Returns how many went.
    pub async fn sweep(&self, db: &Db, blobs: &BlobStore, now: i64) -> Result<u64> {
        let mut removed = 0;
        loop {
            let expired = db.expired_uploads(now, 500).await?;
            if expired.is_empty() {
                break;
            }
            let before = removed;
            for (uid, multipart_id) in &expired {
                if self
                    .busy
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .contains_key(uid)
                {
                    continue;
                }
                if db.delete_upload(uid).await? {
                    removed += 1;
                }
                discard(blobs, uid, multipart_id.as_deref()).await;
            }
            // A full batch asks for the next one, unless none of it could go (all being
            // written right now): the next sweep takes those.
            if expired.len() < 500 || removed == before {
                break;
            }
        }
        let files = blobs.resumable_files()?;
        let old: Vec<String> = files
            .into_iter()
            .filter(|(_, age)| *age > Duration::from_secs(3600))
            .map(|(uid, _)| uid)
            .collect();
        let kept = db.existing_uploads(&old).await?;
        for uid in old.iter().filter(|u| !kept.contains(u)) {
            remove_file(blobs, uid).await;
            removed += 1;
        }
        removed += direct::sweep_staged(db, blobs).await?;
        Ok(removed)
    }
}

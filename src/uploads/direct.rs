//! Direct uploads (§16): on S3 storage a client sends the parts of a large file straight
//! to the bucket through presigned part URLs, so neither perma's bandwidth nor its memory
//! is in the path. perma starts the multipart upload, hands out short-lived URLs for one
//! part each, and when the client reports its parts assembles them, reads the object once
//! to learn its size and SHA-256 (refusing a size other than the announced one, or a
//! SHA-256 other than a declared one), and only then lets an asset have it. On local
//! storage the same request starts a tus upload instead.
//!
//! A direct upload is a row of the same table as a tus upload, so the limits on open
//! uploads and bytes in flight, the expiry and the sweep count both kinds alike.

use std::time::Duration;

use futures_util::StreamExt;

use super::{discard, tus, Upload, Uploads};
use crate::blob::{BlobStore, SentPart};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::identity::StackAccess;
use crate::uploads::sha::ResumableSha256;

/// S3's smallest part (but the last).
pub const MIN_PART: u64 = 5 << 20;
/// S3's largest part.
pub const MAX_PART: u64 = 5 << 30;
/// S3's most parts in one upload.
pub const MAX_PARTS: u64 = 10_000;
/// The part size when the client names none (1,280 parts for 10 GiB): what a broken
/// connection costs at most.
const DEFAULT_PART: u64 = 8 << 20;
/// Part URLs in one answer at most.
pub const MAX_URLS: u32 = 1_000;
/// Staged objects older than this without an upload are removed by the sweep.
const ORPHAN_AGE: Duration = Duration::from_secs(3600);

/// A request to start a direct upload.
#[derive(Debug, Clone)]
pub struct Direct {
    /// The file's size in bytes.
    pub length: u64,
    /// `filename`, `filetype` and, when the client declares it, `sha256` (hex).
    pub metadata: Vec<(String, Vec<u8>)>,
    /// The part size the client wants; else one is chosen.
    pub part_size: Option<u64>,
}

/// Where one part goes.
#[derive(Debug, Clone)]
pub struct PartUrl {
    /// 1-based.
    pub number: u32,
    /// The part's exact size.
    pub size: u64,
    /// The presigned `PUT` URL.
    pub url: String,
}

impl Upload {
    /// A direct upload's number of parts (0 for tus).
    pub fn parts(&self) -> u32 {
        if self.part_size == 0 {
            return 0;
        }
        self.length.div_ceil(self.part_size) as u32
    }

    /// The size of part `n` (1-based) of a direct upload.
    pub fn part_len(&self, n: u32) -> u64 {
        let start = u64::from(n - 1) * self.part_size;
        self.part_size.min(self.length.saturating_sub(start))
    }

    /// The SHA-256 the client declared for the whole file, if it did.
    pub fn declared_sha256(&self) -> Option<String> {
        tus::metadata_text(&self.metadata, &["sha256"])
    }
}

fn part_size(length: u64, asked: Option<u64>) -> Result<u64> {
    let size = match asked {
        Some(p) if !(MIN_PART..=MAX_PART).contains(&p) => {
            return Err(Error::field(
                "part_size",
                format!("must be from {MIN_PART} to {MAX_PART} bytes"),
            ))
        }
        Some(p) => p,
        None => DEFAULT_PART.max(length.div_ceil(MAX_PARTS).next_multiple_of(1 << 20)),
    };
    if length.div_ceil(size) > MAX_PARTS {
        return Err(Error::field(
            "part_size",
            format!("{size} bytes makes more than {MAX_PARTS} parts of {length} bytes"),
        ));
    }
    Ok(size)
}

impl Uploads {
    /// Starts a direct upload in the stack of `access`, within the limits; on local
    /// storage a tus upload (its `multipart_id` is `None`).
    pub async fn create_direct(
        &self,
        db: &Db,
        blobs: &BlobStore,
        access: &StackAccess,
        d: Direct,
    ) -> Result<Upload> {
        if !blobs.takes_direct_uploads() {
            return self.create(db, blobs, access, d.length, &d.metadata).await;
        }
        if d.length == 0 {
            return Err(Error::field(
                "size",
                "must be at least 1 byte (send an empty file with POST /v3/assets)",
            ));
        }
        let size = part_size(d.length, d.part_size)?;
        let mut row = self
            .admit(db, access, d.length, &d.metadata, Some(size))
            .await?;
        let id = blobs.direct_start(&row.uid).await?;
        row.multipart_id = Some(id.clone());
        if let Err(e) = db.insert_upload(&row).await {
            let _ = blobs.direct_abort(&row.uid, &id).await;
            return Err(e.into());
        }
        Upload::from_row(row)
    }

    /// Fresh URLs for `count` parts from part `from` (1-based) of an unfinished direct
    /// upload, valid for `expires`.
    pub async fn part_urls(
        &self,
        blobs: &BlobStore,
        up: &Upload,
        from: u32,
        count: u32,
        expires: Duration,
    ) -> Result<Vec<PartUrl>> {
        let id = direct_id(up)?;
        if up.received == up.length {
            return Err(Error::Conflict(
                "The upload is complete: use it as an asset's file.".into(),
            ));
        }
        let parts = up.parts();
        if from == 0 || from > parts {
            return Err(Error::field(
                "from",
                format!("must be a part number from 1 to {parts}"),
            ));
        }
        let to = from.saturating_add(count.min(MAX_URLS)).min(parts + 1);
        let mut out = Vec::with_capacity((to - from) as usize);
        for number in from..to {
            out.push(PartUrl {
                number,
                size: up.part_len(number),
                url: blobs.direct_part_url(&up.uid, id, number, expires).await?,
            });
        }
        Ok(out)
    }

    /// Assembles a direct upload from the parts its client reports (every part, in
    /// order, with the `ETag` the store answered for it), then reads the object once:
    /// a size other than the announced one or a SHA-256 other than the declared one voids
    /// the upload (422). A complete upload is answered as it is.
    pub async fn complete_direct(
        &self,
        db: &Db,
        blobs: &BlobStore,
        access: &StackAccess,
        uid: &str,
        parts: &[SentPart],
    ) -> Result<Upload> {
        access.require_write()?;
        self.get(db, blobs, access, uid, crate::time::now_ms())
            .await?;
        let _held = self.hold(uid).await?;
        let mut up = self
            .get(db, blobs, access, uid, crate::time::now_ms())
            .await?;
        let id = direct_id(&up)?.to_owned();
        if up.received == up.length {
            return Ok(up);
        }
        check_parts(&up, parts)?;
        blobs
            .direct_complete(uid, &id, parts)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidInput => Error::field("parts", e.to_string()),
                _ => e.into(),
            })?;
        let void = |field: &'static str, message: String| async move {
            db.delete_upload(uid).await?;
            discard(blobs, uid, Some(&id)).await;
            Err(Error::field(
                field,
                format!("{message}: the upload is void, start a new one"),
            ))
        };
        let mut hash = ResumableSha256::default();
        let mut bytes = blobs.staged_stream(uid).await?;
        while let Some(chunk) = bytes.next().await {
            hash.update(&chunk?);
        }
        if hash.len() != up.length {
            let message = format!(
                "the parts hold {} bytes, not the announced {}",
                hash.len(),
                up.length
            );
            return void("parts", message).await;
        }
        let sha = hash.finish_hex();
        if let Some(want) = up.declared_sha256().filter(|w| *w != sha) {
            return void("sha256", format!("the file's SHA-256 is {sha}, not {want}")).await;
        }
        let expires_at = crate::time::now_ms() + self.limits.expiry_ms;
        let length = up.length as i64;
        if !db
            .advance_upload(uid, 0, length, &hash.save(), expires_at)
            .await?
        {
            return Err(Error::Conflict(
                "Another request completed this upload.".into(),
            ));
        }
        up.received = up.length;
        up.expires_at = expires_at;
        up.hash = hash;
        Ok(up)
    }
}

fn direct_id(up: &Upload) -> Result<&str> {
    up.multipart_id.as_deref().ok_or_else(|| {
        Error::Conflict("This is a tus upload: it takes its bytes with PATCH.".into())
    })
}

/// Every part, numbered 1 to N in order, each with an `ETag` of printable characters.
fn check_parts(up: &Upload, parts: &[SentPart]) -> Result<()> {
    let want = up.parts();
    if parts.len() != want as usize {
        return Err(Error::field(
            "parts",
            format!("lists {} parts; the upload has {want}", parts.len()),
        ));
    }
    for (i, p) in parts.iter().enumerate() {
        if p.number as usize != i + 1 {
            return Err(Error::field(
                "parts",
                format!("entry {} is part {}, not part {}", i + 1, p.number, i + 1),
            ));
        }
        let printable = p.etag.bytes().all(|b| (0x20..0x7f).contains(&b));
        if p.etag.is_empty() || p.etag.len() > 256 || !printable {
            return Err(Error::field(
                "parts",
                format!("part {} has no usable etag", p.number),
            ));
        }
    }
    Ok(())
}

/// Removes staged objects whose upload has gone (a crash between the store and the
/// database), once they are an hour old. Returns how many went.
pub(super) async fn sweep_staged(db: &Db, blobs: &BlobStore) -> Result<u64> {
    let staged = match blobs.staged_objects().await {
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => return Ok(0),
        other => other?,
    };
    let old: Vec<String> = staged
        .into_iter()
        .filter(|(_, age)| *age > ORPHAN_AGE)
        .map(|(uid, _)| uid)
        .collect();
    let kept = db.existing_uploads(&old).await?;
    let mut removed = 0;
    for uid in old.iter().filter(|u| !kept.contains(u)) {
        blobs.delete_staged(uid).await?;
        removed += 1;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes_within_what_s3_allows() {
        assert_eq!(part_size(1, None).unwrap(), DEFAULT_PART);
        assert_eq!(part_size(10 << 30, None).unwrap(), DEFAULT_PART);
        // 1 TiB needs bigger parts to stay within 10,000.
        let big = part_size(1 << 40, None).unwrap();
        assert!((1u64 << 40).div_ceil(big) <= MAX_PARTS && big.is_multiple_of(1 << 20));
        assert_eq!(part_size(100, Some(MIN_PART)).unwrap(), MIN_PART);
        assert!(part_size(100, Some(MIN_PART - 1)).is_err());
        assert!(part_size(100, Some(MAX_PART + 1)).is_err());
        assert!(part_size(MIN_PART * MAX_PARTS + 1, Some(MIN_PART)).is_err());
    }
}

//! Finishing an upload: a complete upload (tus or direct) becomes the bytes of a new asset
//! or version (`asset.upload_uid`, §16), and is forgotten once the asset has them.

use tokio::io::AsyncReadExt;

use super::{discard, is_upload_uid, Held, Uploads};
use crate::blob::BlobStore;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::identity::StackAccess;
use crate::ingest::{Ingested, Staged, HEAD_BYTES};

/// A finished upload handed to an asset change: [`Claim::consumed`] once the asset has
/// it; dropped without that (the change was refused), the upload stays for another try.
#[derive(Debug)]
pub struct Claim<'a> {
    _held: Held<'a>,
    uid: String,
    multipart_id: Option<String>,
}

impl Claim<'_> {
    /// Forgets the upload whose bytes an asset now has.
    pub async fn consumed(self, db: &Db, blobs: &BlobStore) -> Result<()> {
        db.delete_upload(&self.uid).await?;
        discard(blobs, &self.uid, self.multipart_id.as_deref()).await;
        Ok(())
    }
}

impl Uploads {
    /// A finished upload as the bytes of a new asset or version (`asset.upload_uid`):
    /// staged without copying, with its SHA-256 from the hashing done while it arrived. 422
    /// while bytes are missing.
    pub async fn take_finished(
        &self,
        db: &Db,
        blobs: &BlobStore,
        access: &StackAccess,
        uid: &str,
    ) -> Result<(Ingested, Claim<'_>)> {
        let field = |m: String| Error::field("upload_uid", m);
        if !is_upload_uid(uid) {
            return Err(field(format!(
                "{uid:?} is not an upload of yours in this stack"
            )));
        }
        let held = self.hold(uid).await?;
        let up = match self
            .get(db, blobs, access, uid, crate::time::now_ms())
            .await
        {
            Err(Error::NotFound(_)) => {
                return Err(field(format!(
                    "{uid:?} is not an upload of yours in this stack"
                )))
            }
            other => other?,
        };
        if up.received < up.length {
            return Err(field(format!(
                "is not finished: {} of {} bytes received",
                up.received, up.length
            )));
        }
        let staged = match &up.multipart_id {
            None => {
                let path = blobs.resumable_path(uid);
                let mut file = tokio::fs::OpenOptions::new()
                    .write(true)
                    .read(true)
                    .open(&path)
                    .await?;
                if file.metadata().await?.len() != up.length {
                    file.set_len(up.length).await?;
                }
                let mut head = vec![0u8; HEAD_BYTES.min(up.length as usize)];
                file.read_exact(&mut head).await?;
                drop(file);
                (Staged::File(blobs.stage_link(&path).await?), head.into())
            }
            Some(_) => (
                Staged::Object(uid.to_owned()),
                blobs.staged_head(uid, HEAD_BYTES as u64).await?,
            ),
        };
        let ingested = Ingested::staged(
            staged.0,
            up.hash.finish_hex(),
            up.length,
            &staged.1,
            up.filename().as_deref(),
            up.filetype().as_deref(),
        );
        Ok((
            ingested,
            Claim {
                _held: held,
                uid: uid.to_owned(),
                multipart_id: up.multipart_id,
            },
        ))
    }
}

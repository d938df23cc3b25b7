//! The writer behind one `PATCH`: appends the body to the upload's file, makes checkpoints
//! durable while more bytes arrive, and acknowledges offsets only once they are on disk.

use tokio::io::{AsyncWriteExt, BufWriter};

use super::Upload;
use crate::db::Db;
use crate::error::{Error, Result};

/// Writes a `PATCH` body into the upload's file and acknowledges offsets.
pub(super) struct Writer<'a> {
    pub(super) out: BufWriter<tokio::fs::File>,
    pub(super) db: &'a Db,
    pub(super) uid: &'a str,
    pub(super) expiry_ms: i64,
    pub(super) acked: u64,
    /// A checkpoint being made durable while more bytes arrive: the offset and hash state
    /// it will acknowledge, and the `fsync` under way.
    pub(super) syncing: Option<(u64, String, tokio::task::JoinHandle<std::io::Result<()>>)>,
}

impl Writer<'_> {
    /// Records an offset made durable, with the hash state after it.
    async fn advance(&mut self, to: u64, state: &str) -> Result<()> {
        let moved = self
            .db
            .advance_upload(
                self.uid,
                self.acked as i64,
                to as i64,
                state,
                crate::time::now_ms() + self.expiry_ms,
            )
            .await?;
        if !moved {
            return Err(Error::Conflict(
                "The upload changed meanwhile (another process, or it was deleted).".into(),
            ));
        }
        self.acked = to;
        Ok(())
    }

    /// Acknowledges the previous checkpoint once its `fsync` is done, and starts making
    /// what was written since durable, without waiting for the disk: the flush of one
    /// checkpoint overlaps the arrival of the next one's bytes.
    pub(super) async fn checkpoint(&mut self, up: &Upload) -> Result<()> {
        self.out.flush().await?;
        self.settle().await?;
        let file = self.out.get_ref().try_clone().await?;
        let sync = tokio::spawn(async move { file.sync_data().await });
        self.syncing = Some((up.received, up.hash.save(), sync));
        Ok(())
    }

    /// Waits for the checkpoint being made durable, and acknowledges it.
    pub(super) async fn settle(&mut self) -> Result<()> {
        if let Some((to, state, sync)) = self.syncing.take() {
            sync.await
                .map_err(|e| Error::Internal(anyhow::anyhow!("fsync task: {e}")))??;
            self.advance(to, &state).await?;
        }
        Ok(())
    }

    /// Makes everything written durable, then records the new offset and hash state.
    pub(super) async fn acknowledge(&mut self, up: &Upload) -> Result<()> {
        self.settle().await?;
        if up.received == self.acked {
            return Ok(());
        }
        self.out.flush().await?;
        self.out.get_ref().sync_data().await?;
        self.advance(up.received, &up.hash.save()).await
    }

    /// Drops every byte of this request not acknowledged yet (with a checksum: all of
    /// them).
    pub(super) async fn roll_back(&mut self) {
        let _ = self.out.flush().await;
        // A checkpoint under way is still acknowledged: its bytes are the client's.
        if let Err(e) = self.settle().await {
            tracing::warn!("upload {}: {e}", self.uid);
        }
        if let Err(e) = self.out.get_ref().set_len(self.acked).await {
            tracing::warn!("cutting upload {} back to {}: {e}", self.uid, self.acked);
        }
    }
}

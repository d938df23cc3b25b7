//! The storage budget of renditions (`PERMA_RENDITION_BUDGET_BYTES`): when they were
//! served is kept in memory and written in batches, and past the budget the least recently
//! served are deleted (their blobs too, when nothing else uses them).

use std::sync::atomic::Ordering;

use super::Renditions;
use crate::time::now_ms;

impl Renditions {
    /// Writes which renditions were served since the last flush.
    pub async fn flush_usage(&self) {
        let used: Vec<String> = match self.memory.read() {
            Ok(m) => m
                .values()
                .filter(|r| r.used.swap(false, Ordering::Relaxed))
                .map(|r| r.key.clone())
                .collect(),
            Err(_) => return,
        };
        if used.is_empty() {
            return;
        }
        for chunk in used.chunks(500) {
            if let Err(e) = self.db.touch_renditions(chunk, now_ms()).await {
                tracing::warn!("could not record rendition use: {e}");
            }
        }
    }

    /// Deletes the least recently served renditions until the total is within the budget,
    /// sparing `keep` (the rendition a request is about to serve: a budget smaller than one
    /// rendition is exceeded by that one until the next render).
    pub async fn enforce_budget(&self, keep: Option<&str>) {
        let Ok(_one) = self.evicting.try_lock() else {
            return; // another eviction is running
        };
        if let Err(e) = self.evict(keep).await {
            tracing::warn!("rendition eviction failed: {e:#}");
        }
    }

    async fn evict(&self, keep: Option<&str>) -> anyhow::Result<()> {
        let (_, mut bytes) = self.db.rendition_usage().await?;
        if (bytes as u64) <= self.budget {
            return Ok(());
        }
        self.flush_usage().await;
        while (bytes as u64) > self.budget {
            let cold = self.db.coldest_renditions(64).await?;
            if cold.iter().all(|r| Some(r.key.as_str()) == keep) {
                break;
            }
            for r in cold {
                if (bytes as u64) <= self.budget {
                    break;
                }
                if Some(r.key.as_str()) == keep {
                    continue;
                }
                if self.db.delete_rendition(&r.key).await? {
                    bytes -= r.size;
                    self.counters.evicted.add(1);
                    if let Ok(mut m) = self.memory.write() {
                        if let Some(gone) = m.remove(&r.key) {
                            gone.gone.store(true, Ordering::Relaxed);
                        }
                    }
                    if !self.db.blob_in_use(&r.sha256).await? {
                        if let Err(e) = self.blobs.delete(&r.sha256).await {
                            if e.kind() != std::io::ErrorKind::NotFound {
                                return Err(e.into());
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Stored renditions and their bytes (for `/metrics`).
    pub async fn usage(&self) -> anyhow::Result<(i64, i64)> {
        Ok(self.db.rendition_usage().await?)
    }
}

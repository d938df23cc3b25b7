//! Bulk publish jobs (§5 bulk publishing): a job row and one item row per asset, written
//! before the job runs, so a job interrupted by a restart is found and finished.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{json_list, to_json_text, Db};
use crate::records::{BulkItem, BulkJob};

fn job(r: &AnyRow) -> sqlx::Result<BulkJob> {
    Ok(BulkJob {
        uid: r.try_get("uid")?,
        api_key: r.try_get("api_key")?,
        action: r.try_get("action")?,
        environments: json_list(r, "environments")?,
        locales: json_list(r, "locales")?,
        status: r.try_get("status")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        total: r.try_get("total")?,
        done: r.try_get("done")?,
    })
}

fn item(r: &AnyRow) -> sqlx::Result<BulkItem> {
    Ok(BulkItem {
        asset_uid: r.try_get("asset_uid")?,
        version: r.try_get("version")?,
        status: r.try_get("status")?,
        error: r.try_get("error")?,
    })
}

/// Stores a job with its items in a transaction (a folder restore starts its job with the
/// first change it makes).
pub(super) async fn insert_bulk_job_tx(
    tx: &mut Transaction<'_, Any>,
    j: &BulkJob,
    items: &[BulkItem],
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO bulk_jobs (uid, api_key, action, environments, locales, status, \
         created_by, created_at, updated_at, total, done) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&j.uid)
    .bind(&j.api_key)
    .bind(&j.action)
    .bind(to_json_text(&j.environments))
    .bind(to_json_text(&j.locales))
    .bind(&j.status)
    .bind(&j.created_by)
    .bind(j.created_at)
    .bind(j.updated_at)
    .bind(j.total)
    .bind(j.done)
    .execute(&mut **tx)
    .await?;
    for (i, it) in items.iter().enumerate() {
        sqlx::query(
            "INSERT INTO bulk_job_items (job_uid, position, asset_uid, version, status, error) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&j.uid)
        .bind(i as i64)
        .bind(&it.asset_uid)
        .bind(it.version)
        .bind(&it.status)
        .bind(&it.error)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Db {
    /// Stores a new job with its items, all pending.
    pub async fn insert_bulk_job(&self, j: &BulkJob, items: &[BulkItem]) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        insert_bulk_job_tx(&mut tx, j, items).await?;
        tx.commit().await
    }

    /// One job of a stack.
    pub async fn bulk_job(&self, api_key: &str, uid: &str) -> sqlx::Result<Option<BulkJob>> {
        self.stack_row("bulk_jobs", "uid", (api_key, uid), job)
            .await
    }

    /// Jobs not finished (to resume after a restart).
    pub async fn unfinished_bulk_jobs(&self) -> sqlx::Result<Vec<BulkJob>> {
        let rows = sqlx::query(
            "SELECT * FROM bulk_jobs WHERE status IN ('pending', 'in_progress') ORDER BY created_at",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(job).collect()
    }

    /// A job's items in order.
    pub async fn bulk_items(&self, job_uid: &str) -> sqlx::Result<Vec<BulkItem>> {
        let rows = sqlx::query("SELECT * FROM bulk_job_items WHERE job_uid = $1 ORDER BY position")
            .bind(job_uid)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(item).collect()
    }

    /// Records how one item went.
    pub async fn finish_bulk_item(
        &self,
        job_uid: &str,
        asset_uid: &str,
        error: Option<&str>,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "UPDATE bulk_job_items SET status = $3, error = $4 WHERE job_uid = $1 AND asset_uid = $2",
        )
        .bind(job_uid)
        .bind(asset_uid)
        .bind(if error.is_some() { "failed" } else { "success" })
        .bind(error)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Sets a job's status.
    pub async fn set_bulk_status(&self, job_uid: &str, status: &str, at: i64) -> sqlx::Result<()> {
        sqlx::query("UPDATE bulk_jobs SET status = $2, updated_at = $3 WHERE uid = $1")
            .bind(job_uid)
            .bind(status)
            .bind(at)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}

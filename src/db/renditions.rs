//! Rendition rows (§11): which blob holds a rendered (file, transform, format), its size,
//! and when it was last served, for the size budget.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::Db;

/// One stored rendition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionRow {
    /// SHA-256 (hex) of the source blob's SHA-256 and the canonical transform.
    pub key: String,
    /// The source file's blob.
    pub source_sha256: String,
    /// The canonical transform (`images::Transform::canonical`).
    pub canonical: String,
    /// The rendition's own blob.
    pub sha256: String,
    /// Bytes.
    pub size: i64,
    /// Media type of the output.
    pub content_type: String,
    /// Output width in pixels.
    pub width: i64,
    /// Output height in pixels.
    pub height: i64,
    /// Rendered at (ms).
    pub created_at: i64,
    /// Last served at (ms), to within the flush interval.
    pub last_used_at: i64,
}

fn row(r: &AnyRow) -> sqlx::Result<RenditionRow> {
    Ok(RenditionRow {
        key: r.try_get("key")?,
        source_sha256: r.try_get("source_sha256")?,
        canonical: r.try_get("canonical")?,
        sha256: r.try_get("sha256")?,
        size: r.try_get("size")?,
        content_type: r.try_get("content_type")?,
        width: r.try_get("width")?,
        height: r.try_get("height")?,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
    })
}

impl Db {
    /// The rendition stored under `key`.
    pub async fn rendition(&self, key: &str) -> sqlx::Result<Option<RenditionRow>> {
        sqlx::query("SELECT * FROM renditions WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.read)
            .await?
            .map(|r| row(&r))
            .transpose()
    }

    /// Records a rendition (its blob is stored first). A second render of the same key
    /// (another process got there first) keeps the first row.
    pub async fn insert_rendition(&self, r: &RenditionRow) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO renditions (key, source_sha256, canonical, sha256, size, content_type, \
             width, height, created_at, last_used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (key) DO NOTHING",
        )
        .bind(&r.key)
        .bind(&r.source_sha256)
        .bind(&r.canonical)
        .bind(&r.sha256)
        .bind(r.size)
        .bind(&r.content_type)
        .bind(r.width)
        .bind(r.height)
        .bind(r.created_at)
        .bind(r.last_used_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Marks renditions as served at `at` (ms); batched by the caller.
    pub async fn touch_renditions(&self, keys: &[String], at: i64) -> sqlx::Result<()> {
        let mut tx = self.write.begin().await?;
        for k in keys {
            sqlx::query(
                "UPDATE renditions SET last_used_at = $1 WHERE key = $2 AND last_used_at < $1",
            )
            .bind(at)
            .bind(k)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// How many renditions of the source blob `source_sha256` are stored.
    pub async fn renditions_of(&self, source_sha256: &str) -> sqlx::Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM renditions WHERE source_sha256 = $1")
            .bind(source_sha256)
            .fetch_one(&self.read)
            .await
    }

    /// Number of renditions and their total bytes.
    pub async fn rendition_usage(&self) -> sqlx::Result<(i64, i64)> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes FROM renditions",
        )
        .fetch_one(&self.read)
        .await?;
        Ok((r.try_get("n")?, r.try_get("bytes")?))
    }

    /// The `limit` least recently served renditions.
    pub async fn coldest_renditions(&self, limit: i64) -> sqlx::Result<Vec<RenditionRow>> {
        sqlx::query("SELECT * FROM renditions ORDER BY last_used_at, key LIMIT $1")
            .bind(limit)
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(row)
            .collect()
    }

    /// Deletes a rendition row; true when this call deleted it.
    pub async fn delete_rendition(&self, key: &str) -> sqlx::Result<bool> {
        let done = sqlx::query("DELETE FROM renditions WHERE key = $1")
            .bind(key)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether a blob is still referenced by a file row or a rendition row (so evicting a
    /// rendition never deletes bytes that something else uses: blobs are content-addressed).
    pub async fn blob_in_use(&self, sha256: &str) -> sqlx::Result<bool> {
        let r = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM files WHERE sha256 = $1) \
             + (SELECT COUNT(*) FROM renditions WHERE sha256 = $1) AS n",
        )
        .bind(sha256)
        .fetch_one(&self.read)
        .await?;
        let n: i64 = r.try_get("n")?;
        Ok(n > 0)
    }

    /// Every rendition as (key, source blob, rendition blob), for `gc` and `fsck`.
    pub async fn all_renditions(&self) -> sqlx::Result<Vec<(String, String, String)>> {
        sqlx::query("SELECT key, source_sha256, sha256 FROM renditions")
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("key")?,
                    r.try_get("source_sha256")?,
                    r.try_get("sha256")?,
                ))
            })
            .collect()
    }
}

//! Queries for resumable uploads (§16): one row per unfinished upload, its acknowledged
//! offset moved forward only from the offset the writer started at (compare-and-swap), so
//! that two processes never both advance it.

use sqlx::Row;

use super::Db;

/// An unfinished upload as stored.
#[derive(Debug, Clone)]
pub struct UploadRow {
    /// The upload's id (the last segment of its `Location`).
    pub uid: String,
    /// The stack it belongs to.
    pub api_key: String,
    /// The user or token that created it.
    pub owner_uid: String,
    /// The announced length (`Upload-Length`).
    pub length: i64,
    /// Bytes acknowledged (durable in the upload's file).
    pub received: i64,
    /// The SHA-256 state after those bytes (`ResumableSha256::save`).
    pub hash_state: String,
    /// The `Upload-Metadata` it was created with (normalised).
    pub metadata: String,
    /// When it was created (ms).
    pub created_at: i64,
    /// When it expires unless more bytes arrive (ms).
    pub expires_at: i64,
    /// A direct upload's multipart upload in the object store; `None` for tus.
    pub multipart_id: Option<String>,
    /// A direct upload's part size; 0 for tus.
    pub part_size: i64,
}

const COLUMNS: &str = "uid, api_key, owner_uid, length, received, hash_state, metadata, \
     created_at, expires_at, multipart_id, part_size";

fn row(r: sqlx::any::AnyRow) -> sqlx::Result<UploadRow> {
    Ok(UploadRow {
        uid: r.try_get("uid")?,
        api_key: r.try_get("api_key")?,
        owner_uid: r.try_get("owner_uid")?,
        length: r.try_get("length")?,
        received: r.try_get("received")?,
        hash_state: r.try_get("hash_state")?,
        metadata: r.try_get("metadata")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        multipart_id: r.try_get("multipart_id")?,
        part_size: r.try_get("part_size")?,
    })
}

/// What an owner has open: unfinished uploads not expired, and the bytes they announce.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenUploads {
    /// How many.
    pub count: i64,
    /// The sum of their lengths.
    pub bytes: i64,
}

impl Db {
    /// Stores a new upload.
    pub async fn insert_upload(&self, u: &UploadRow) -> sqlx::Result<()> {
        sqlx::query(&format!(
            "INSERT INTO uploads ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&u.uid)
        .bind(&u.api_key)
        .bind(&u.owner_uid)
        .bind(u.length)
        .bind(u.received)
        .bind(&u.hash_state)
        .bind(&u.metadata)
        .bind(u.created_at)
        .bind(u.expires_at)
        .bind(&u.multipart_id)
        .bind(u.part_size)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// One upload by id (from the primary, so that a writer sees the last checkpoint).
    pub async fn upload(&self, uid: &str) -> sqlx::Result<Option<UploadRow>> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM uploads WHERE uid = $1"))
            .bind(uid)
            .fetch_optional(&self.write)
            .await?
            .map(row)
            .transpose()
    }

    /// An owner's unfinished uploads that have not expired at `now`.
    pub async fn open_uploads(&self, owner_uid: &str, now: i64) -> sqlx::Result<OpenUploads> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(length), 0) AS BIGINT) AS bytes FROM uploads \
             WHERE owner_uid = $1 AND expires_at > $2",
        )
        .bind(owner_uid)
        .bind(now)
        .fetch_one(&self.write)
        .await?;
        Ok(OpenUploads {
            count: r.try_get("n")?,
            bytes: r.try_get::<i64, _>("bytes")?,
        })
    }

    /// Moves an upload's acknowledged offset from `from` to `to` with the hash state after
    /// it, and pushes its expiry back. False when the row is gone or another writer moved
    /// it first.
    pub async fn advance_upload(
        &self,
        uid: &str,
        from: i64,
        to: i64,
        hash_state: &str,
        expires_at: i64,
    ) -> sqlx::Result<bool> {
        let done = sqlx::query(
            "UPDATE uploads SET received = $1, hash_state = $2, expires_at = $3 \
             WHERE uid = $4 AND received = $5",
        )
        .bind(to)
        .bind(hash_state)
        .bind(expires_at)
        .bind(uid)
        .bind(from)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets an upload (finished, terminated or expired). True when it was there.
    pub async fn delete_upload(&self, uid: &str) -> sqlx::Result<bool> {
        let done = sqlx::query("DELETE FROM uploads WHERE uid = $1")
            .bind(uid)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Up to `limit` uploads expired at `now`, oldest first: their ids and multipart ids.
    pub async fn expired_uploads(
        &self,
        now: i64,
        limit: i64,
    ) -> sqlx::Result<Vec<(String, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT uid, multipart_id FROM uploads WHERE expires_at <= $1 \
             ORDER BY expires_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.write)
        .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get("uid")?, r.try_get("multipart_id")?)))
            .collect()
    }

    /// Whether these uploads still have rows (the sweep keeps their files).
    pub async fn existing_uploads(&self, uids: &[String]) -> sqlx::Result<Vec<String>> {
        let mut out = Vec::new();
        for uid in uids {
            if let Some(u) = self.upload(uid).await? {
                out.push(u.uid);
            }
        }
        Ok(out)
    }
}

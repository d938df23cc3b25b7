//! An asset's past, for a permanent URL as of a date (RFC 7089 Memento): when it existed,
//! which version was current at an instant, and which was published to an environment
//! then. Each answer is one query on an index (the versions' primary key, the sync log's
//! per-asset index); nothing walks the history in memory.

use sqlx::Row;

use super::versions::version;
use super::Db;
use crate::records::{SyncKind, Version};

/// What was published to an environment and locale at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishedThen {
    /// Never published there before then.
    Never,
    /// Unpublished (or deleted) there at that time, since this instant (ms).
    Withdrawn(i64),
    /// This version, published there at this instant (ms).
    Version(i64, i64),
}

impl Db {
    /// When an asset was created, and when it was deleted (ms); `None` for an unknown one.
    pub async fn asset_lifetime(
        &self,
        asset_uid: &str,
    ) -> sqlx::Result<Option<(i64, Option<i64>)>> {
        sqlx::query_as("SELECT created_at, deleted_at FROM assets WHERE uid = $1")
            .bind(asset_uid)
            .fetch_optional(&self.read)
            .await
    }

    /// The version that was current at `at` (ms), and when it was made: the newest one
    /// made at or before that instant.
    pub async fn version_at(&self, asset_uid: &str, at: i64) -> sqlx::Result<Option<(i64, i64)>> {
        sqlx::query_as(
            "SELECT version, created_at FROM asset_versions WHERE asset_uid = $1 \
             AND created_at <= $2 ORDER BY version DESC LIMIT 1",
        )
        .bind(asset_uid)
        .bind(at)
        .fetch_optional(&self.read)
        .await
    }

    /// What of the asset was published to an environment and locale at `at` (ms): the last
    /// event of the sync log (§12) for it at or before that instant.
    pub async fn published_then(
        &self,
        asset_uid: &str,
        environment_uid: &str,
        locale: &str,
        at: i64,
    ) -> sqlx::Result<PublishedThen> {
        let row = sqlx::query(
            "SELECT kind, version, event_at FROM sync_events WHERE environment_uid = $1 \
             AND locale = $2 AND asset_uid = $3 AND event_at <= $4 ORDER BY seq DESC LIMIT 1",
        )
        .bind(environment_uid)
        .bind(locale)
        .bind(asset_uid)
        .bind(at)
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else {
            return Ok(PublishedThen::Never);
        };
        let kind: String = row.try_get("kind")?;
        let version: Option<i64> = row.try_get("version")?;
        let event_at: i64 = row.try_get("event_at")?;
        Ok(match (kind == SyncKind::Published.as_str(), version) {
            (true, Some(v)) => PublishedThen::Version(v, event_at),
            _ => PublishedThen::Withdrawn(event_at),
        })
    }

    /// A page of the versions published to an environment and locale, oldest first, as
    /// (version, published at ms): one entry each time what was published there changed
    /// (an older version published again is listed again; a version re-announced after
    /// itself, §18, is not).
    pub async fn publish_history(
        &self,
        asset_uid: &str,
        environment_uid: &str,
        locale: &str,
        (skip, limit): (i64, i64),
    ) -> sqlx::Result<Vec<(i64, i64)>> {
        sqlx::query_as(
            "SELECT version, at FROM (SELECT version, event_at AS at, seq, kind, \
             LAG(version) OVER (ORDER BY seq) AS prev_version, \
             LAG(kind) OVER (ORDER BY seq) AS prev_kind \
             FROM sync_events WHERE environment_uid = $1 AND locale = $2 AND asset_uid = $3) e \
             WHERE kind = $4 AND version IS NOT NULL AND (prev_kind IS NULL OR prev_kind <> $4 \
             OR prev_version IS NULL OR prev_version <> version) \
             ORDER BY seq LIMIT $5 OFFSET $6",
        )
        .bind(environment_uid)
        .bind(locale)
        .bind(asset_uid)
        .bind(SyncKind::Published.as_str())
        .bind(limit)
        .bind(skip)
        .fetch_all(&self.read)
        .await
    }

    /// A page of an asset's versions, oldest first (`skip`, `limit`), with their files.
    pub async fn versions_oldest_first(
        &self,
        asset_uid: &str,
        skip: i64,
        limit: i64,
    ) -> sqlx::Result<Vec<Version>> {
        sqlx::query(
            "SELECT v.*, f.sha256 AS f_sha256, f.size AS f_size, f.content_type AS f_content_type, \
             f.filename AS f_filename, f.width AS f_width, f.height AS f_height, \
             f.created_at AS f_created_at FROM asset_versions v \
             LEFT JOIN files f ON f.uid = v.file_uid WHERE v.asset_uid = $1 \
             ORDER BY v.version LIMIT $2 OFFSET $3",
        )
        .bind(asset_uid)
        .bind(limit)
        .bind(skip)
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(version)
        .collect()
    }
}

//! What the delivery index reads (§4): one asset with its stack settings, its current file
//! and its newest files, in one indexed query per asset (a miss), or in batches in key
//! order (the preload). An asset replaced a thousand times costs no more to load than a
//! new one: older files are read one at a time when their version URL is asked for
//! ([`Db::asset_file`]).

use sqlx::any::AnyRow;
use sqlx::Row;

use super::assets::{asset_from_row, file_at, FileColumns, ASSET_COLS};
use super::{flag, Backend, Db};
use crate::records::{Asset, FileMeta};

/// Files an index entry carries besides the current one: the newest, by creation. An
/// entry with more than this many is incomplete (see [`DeliveryEntry::complete`]).
pub const ENTRY_FILES: usize = 16;

/// An asset as delivery needs it: the asset, its stack's `secure_asset_urls` and master
/// locale, and its newest files (version URLs; the current file always among them).
#[derive(Debug, Clone)]
pub struct DeliveryEntry {
    /// The asset (its current file included).
    pub asset: Asset,
    /// The stack's `secure_asset_urls`.
    pub secured: bool,
    /// The stack's `permanent_url_mode` is `redirect` (§13).
    pub redirect: bool,
    /// The stack's master locale.
    pub master_locale: String,
    /// The asset's newest files (at most [`ENTRY_FILES`] + 1) and its current one.
    pub files: Vec<FileMeta>,
}

impl DeliveryEntry {
    /// Whether `files` holds every file of the asset, so that a file uid not among them
    /// is no file of this asset. The query reads one file more than an entry keeps.
    pub fn complete(&self) -> bool {
        self.files.len() <= ENTRY_FILES
    }

    /// Adds the current file when it is older than the newest ones read (a restored
    /// version, say).
    fn with_current(mut self) -> Self {
        if let Some(f) = &self.asset.file {
            if !self.files.iter().any(|x| x.uid == f.uid) {
                self.files.push(f.clone());
            }
        }
        self
    }
}

/// `ORDER BY` of an asset's files, newest first (index `files_by_asset_age`).
pub(super) const NEWEST_FIRST: &str = "ORDER BY r.created_at DESC, r.uid DESC";

/// Joins `df`: the newest [`ENTRY_FILES`] + 1 files of each asset `a`, by the index on
/// `files (asset_uid, created_at, uid)` and the primary key, never every file.
fn newest_files(backend: Backend) -> String {
    let n = ENTRY_FILES + 1;
    match backend {
        // SQLite has no LATERAL; a correlated IN list is evaluated once per asset row.
        Backend::Sqlite => format!(
            "LEFT JOIN files df ON df.uid IN (SELECT r.uid FROM files r \
             WHERE r.asset_uid = a.uid {NEWEST_FIRST} LIMIT {n})"
        ),
        Backend::Postgres => format!(
            "LEFT JOIN LATERAL (SELECT r.* FROM files r WHERE r.asset_uid = a.uid \
             {NEWEST_FIRST} LIMIT {n}) df ON true"
        ),
    }
}

/// Columns of the files joined to each asset row, prefixed `df_`.
const FILE_COLS: &str = "df.uid AS df_uid, df.sha256 AS df_sha256, df.size AS df_size, \
    df.content_type AS df_content_type, df.filename AS df_filename, df.width AS df_width, \
    df.height AS df_height, df.created_at AS df_created_at";

/// Every file's columns, prefixed `df_`.
const EVERY_FILE: FileColumns = FileColumns {
    sha256: "df_sha256",
    size: "df_size",
    content_type: "df_content_type",
    filename: "df_filename",
    width: "df_width",
    height: "df_height",
    created_at: "df_created_at",
};

fn joined_file(row: &AnyRow) -> sqlx::Result<Option<FileMeta>> {
    file_at(row, row.try_get("df_uid")?, &EVERY_FILE)
}

/// Folds rows (one per file, ordered by asset) into entries.
fn entries(rows: &[AnyRow]) -> sqlx::Result<Vec<DeliveryEntry>> {
    let mut out: Vec<DeliveryEntry> = Vec::new();
    for row in rows {
        let uid: String = row.try_get("uid")?;
        if out.last().is_none_or(|e| e.asset.uid != uid) {
            out.push(DeliveryEntry {
                asset: asset_from_row(row)?,
                secured: flag(row, "s_secure")?,
                redirect: row.try_get::<String, _>("s_mode")? == "redirect",
                master_locale: row.try_get("s_locale")?,
                files: Vec::new(),
            });
        }
        if let (Some(file), Some(entry)) = (joined_file(row)?, out.last_mut()) {
            entry.files.push(file);
        }
    }
    Ok(out.into_iter().map(DeliveryEntry::with_current).collect())
}

impl Db {
    /// The delivery entries of these assets (file assets only, live or deleted), in uid
    /// order; uids without one are left out. One query on primary keys.
    pub async fn delivery_entries(
        &self,
        asset_uids: &[String],
    ) -> sqlx::Result<Vec<DeliveryEntry>> {
        if asset_uids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=asset_uids.len()).map(|i| format!("${i}")).collect();
        let text = format!(
            "SELECT {ASSET_COLS}, s.secure_asset_urls AS s_secure, s.master_locale AS s_locale, s.permanent_url_mode AS s_mode, \
             {FILE_COLS} FROM assets a JOIN stacks s ON s.api_key = a.api_key \
             LEFT JOIN files f ON f.uid = a.file_uid {} \
             WHERE a.uid IN ({}) AND a.is_dir = 0 ORDER BY a.uid",
            newest_files(self.backend),
            marks.join(", ")
        );
        let mut q = sqlx::query(&text);
        for uid in asset_uids {
            q = q.bind(uid.as_str());
        }
        entries(&q.fetch_all(&self.read).await?)
    }

    /// Delivery entries of up to `limit` file assets whose uid sorts after `after`, in uid
    /// order (the preload walks the table in batches, so its memory is one batch).
    pub async fn delivery_batch(
        &self,
        after: &str,
        limit: u32,
    ) -> sqlx::Result<Vec<DeliveryEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT {ASSET_COLS}, s.secure_asset_urls AS s_secure, s.master_locale AS s_locale, s.permanent_url_mode AS s_mode, \
             {FILE_COLS} FROM (SELECT * FROM assets WHERE uid > $1 AND is_dir = 0 \
             ORDER BY uid LIMIT {limit}) a JOIN stacks s ON s.api_key = a.api_key \
             LEFT JOIN files f ON f.uid = a.file_uid {} ORDER BY a.uid",
            newest_files(self.backend)
        ))
        .bind(after)
        .fetch_all(&self.read)
        .await?;
        entries(&rows)
    }

    /// One file of an asset, by its uid: a version URL's file that is older than the ones
    /// its index entry keeps. `None` when the asset has no such file.
    pub async fn asset_file(
        &self,
        asset_uid: &str,
        file_uid: &str,
    ) -> sqlx::Result<Option<FileMeta>> {
        let row = sqlx::query(&format!(
            "SELECT {FILE_COLS} FROM files df WHERE df.uid = $1 AND df.asset_uid = $2"
        ))
        .bind(file_uid)
        .bind(asset_uid)
        .fetch_optional(&self.read)
        .await?;
        match row {
            Some(r) => joined_file(&r),
            None => Ok(None),
        }
    }
}

//! What the delivery index reads (§4): one asset with its stack settings, its current file
//! and its newest files, in one indexed query per asset (a miss), or in batches in key
//! order (the preload). An asset replaced a thousand times costs no more to load than a
//! new one: older files are read one at a time when their version URL is asked for
//! ([`Db::asset_file`]).

use sqlx::any::AnyRow;
use sqlx::AnyConnection;
use sqlx::Row;

use super::assets::{file_at, FileColumns};
use super::{flag, Backend, Db};
use crate::records::FileMeta;

/// Files an index entry carries besides the current one: the newest, by creation. An
/// entry with more than this many is incomplete (see [`DeliveryEntry::complete`]).
pub const ENTRY_FILES: usize = 16;

/// An asset as delivery needs it, and nothing more (a miss reads, sends and decodes only
/// this): ids, permanent URL slug, tombstone, its stack's settings, and its current and
/// newest files (version URLs).
#[derive(Debug, Clone)]
pub struct DeliveryEntry {
    /// The asset's uid.
    pub uid: String,
    /// Its stack's api key.
    pub api_key: String,
    /// The permanent URL's slug, once set.
    pub permanent_slug: Option<String>,
    /// Tombstoned (§4: 410).
    pub deleted: bool,
    /// The current file's uid.
    pub file_uid: Option<String>,
    /// The stack's `secure_asset_urls`.
    pub secured: bool,
    /// The stack's `permanent_url_mode` is `redirect` (§13).
    pub redirect: bool,
    /// The stack's master locale.
    pub master_locale: String,
    /// The asset's current file and its newest (at most [`ENTRY_FILES`] + 1), each once.
    pub files: Vec<FileMeta>,
}

impl DeliveryEntry {
    /// Whether `files` holds every file of the asset, so that a file uid not among them
    /// is no file of this asset. The query reads one file more than an entry keeps, and
    /// the current file is either among the newest or older than all of them.
    pub fn complete(&self) -> bool {
        self.files.len() <= ENTRY_FILES
    }

    /// The current file, when the asset has one.
    pub fn current(&self) -> Option<&FileMeta> {
        let uid = self.file_uid.as_deref()?;
        self.files.iter().find(|f| f.uid == uid)
    }
}

/// The entry's own columns: the asset's, then its stack's. `db/direct.rs` reads them by
/// position, in this order, followed by [`FILE_COLS`].
pub(super) const ENTRY_COLS: &str = "a.uid, a.api_key, a.permanent_slug, a.deleted_at, \
    a.file_uid, s.secure_asset_urls, s.permanent_url_mode, s.master_locale";

/// The joined file's columns (`df`), prefixed `df_`, in [`FileMeta`] order.
pub(super) const FILE_COLS: &str = "df.uid AS df_uid, df.sha256 AS df_sha256, \
    df.size AS df_size, df.content_type AS df_content_type, df.filename AS df_filename, \
    df.width AS df_width, df.height AS df_height, df.created_at AS df_created_at";

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

/// Joins `df`, a row per file of each asset `a`, by the primary key and the index on
/// `files (asset_uid, created_at, uid)`, never every file: on SQLite its current file and
/// its newest [`ENTRY_FILES`] + 1; on PostgreSQL the newest only (the current file is
/// among them unless an old version was restored: [`Db::with_current_files`] reads those).
pub(super) fn entry_files(backend: Backend) -> String {
    let n = ENTRY_FILES + 1;
    match backend {
        // SQLite has no LATERAL; a correlated IN list is evaluated once per asset row
        // (and lists each file once).
        Backend::Sqlite => format!(
            "LEFT JOIN files df ON df.uid IN (SELECT a.file_uid UNION ALL SELECT uid FROM \
             (SELECT r.uid FROM files r WHERE r.asset_uid = a.uid \
             ORDER BY r.created_at DESC, r.uid DESC LIMIT {n}))"
        ),
        // One index range per asset: a second probe for the current file would cost a
        // quarter more for what is nearly always among the newest.
        Backend::Postgres => format!(
            "LEFT JOIN LATERAL (SELECT r.* FROM files r WHERE r.asset_uid = a.uid \
             ORDER BY r.created_at DESC, r.uid DESC LIMIT {n}) df ON true"
        ),
    }
}

/// Folds rows (one per file, ordered by asset) into entries.
fn entries(rows: &[AnyRow]) -> sqlx::Result<Vec<DeliveryEntry>> {
    let mut out: Vec<DeliveryEntry> = Vec::new();
    for row in rows {
        let uid: String = row.try_get("uid")?;
        if out.last().is_none_or(|e| e.uid != uid) {
            out.push(DeliveryEntry {
                uid,
                api_key: row.try_get("api_key")?,
                permanent_slug: row.try_get("permanent_slug")?,
                deleted: row.try_get::<Option<i64>, _>("deleted_at")?.is_some(),
                file_uid: row.try_get("file_uid")?,
                secured: flag(row, "secure_asset_urls")?,
                redirect: row.try_get::<String, _>("permanent_url_mode")? == "redirect",
                master_locale: row.try_get("master_locale")?,
                files: Vec::new(),
            });
        }
        if let (Some(file), Some(entry)) = (joined_file(row)?, out.last_mut()) {
            entry.files.push(file);
        }
    }
    Ok(out)
}

impl Db {
    /// The delivery entries of these assets (file assets only, live or deleted), in uid
    /// order; uids without one are left out. One query on primary keys.
    pub async fn delivery_entries(
        &self,
        asset_uids: &[String],
    ) -> sqlx::Result<Vec<DeliveryEntry>> {
        self.delivery_entries_via(&self.read, asset_uids).await
    }

    /// [`Db::delivery_entries`] over a connection of the caller's own.
    pub async fn delivery_entries_on(
        &self,
        conn: &mut AnyConnection,
        asset_uids: &[String],
    ) -> sqlx::Result<Vec<DeliveryEntry>> {
        self.delivery_entries_via(conn, asset_uids).await
    }

    async fn delivery_entries_via<'c, E>(
        &self,
        executor: E,
        asset_uids: &[String],
    ) -> sqlx::Result<Vec<DeliveryEntry>>
    where
        E: sqlx::Executor<'c, Database = sqlx::Any>,
    {
        if asset_uids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=asset_uids.len()).map(|i| format!("${i}")).collect();
        let text = format!(
            "SELECT {ENTRY_COLS}, {FILE_COLS} FROM assets a JOIN stacks s ON s.api_key = a.api_key {} \
             WHERE a.uid IN ({}) AND a.is_dir = 0 ORDER BY a.uid",
            entry_files(self.backend),
            marks.join(", ")
        );
        let mut q = sqlx::query(&text);
        for uid in asset_uids {
            q = q.bind(uid.as_str());
        }
        let rows = q.fetch_all(executor).await?;
        self.with_current_files(entries(&rows)?).await
    }

    /// Delivery entries of up to `limit` file assets whose uid sorts after `after`, in uid
    /// order (the preload walks the table in batches, so its memory is one batch).
    pub async fn delivery_batch(
        &self,
        after: &str,
        limit: u32,
    ) -> sqlx::Result<Vec<DeliveryEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLS}, {FILE_COLS} FROM (SELECT * FROM assets WHERE uid > $1 AND is_dir = 0 \
             ORDER BY uid LIMIT {limit}) a JOIN stacks s ON s.api_key = a.api_key {} \
             ORDER BY a.uid",
            entry_files(self.backend)
        ))
        .bind(after)
        .fetch_all(&self.read)
        .await?;
        self.with_current_files(entries(&rows)?).await
    }

    /// Adds to each entry its current file when the join did not bring it (PostgreSQL,
    /// after an old version was restored): one read by primary key each.
    async fn with_current_files(
        &self,
        mut entries: Vec<DeliveryEntry>,
    ) -> sqlx::Result<Vec<DeliveryEntry>> {
        for e in &mut entries {
            let Some(uid) = e.file_uid.clone() else {
                continue;
            };
            if e.current().is_none() {
                if let Some(f) = self.asset_file(&e.uid, &uid).await? {
                    e.files.push(f);
                }
            }
        }
        Ok(entries)
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

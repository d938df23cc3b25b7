//! Delivery misses on SQLite, read on the calling thread (§4, §6 performance).
//!
//! sqlx runs each SQLite connection on a thread of its own, so a query from a delivery
//! worker wakes three threads and waits for them. When the index budget holds only part of
//! a large stack, most requests miss, and those wake-ups cost more than the read itself.
//! Here each thread that asks keeps its own read-only connection (WAL: it sees every
//! committed write and never blocks the writer) with the statement prepared once, and
//! reads an entry with one indexed point query without leaving the thread.

use std::cell::RefCell;
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags, Row};

use super::assets::ASSET_COLS;
use super::delivery::{DeliveryEntry, FILE_COLS};
use crate::records::{Asset, FileMeta};

/// Reads delivery entries from a SQLite file on the calling thread. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DirectReader {
    path: Arc<str>,
}

/// How long a point read waits for a lock (only a checkpoint or recovery takes one that a
/// WAL reader waits for); past it the caller falls back to the pooled path.
const BUSY_MS: u64 = 200;

thread_local! {
    /// This thread's connection, with the database file it reads.
    static CONNECTION: RefCell<Option<(Arc<str>, Connection)>> = const { RefCell::new(None) };
}

/// One asset with its stack and every file (a row per file), by primary keys and
/// `files (asset_uid)`: the pooled path's query for one uid.
static QUERY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {ASSET_COLS}, s.secure_asset_urls AS s_secure, s.master_locale AS s_locale, \
         s.permanent_url_mode AS s_mode, {FILE_COLS} FROM assets a \
         JOIN stacks s ON s.api_key = a.api_key LEFT JOIN files f ON f.uid = a.file_uid \
         LEFT JOIN files df ON df.asset_uid = a.uid WHERE a.uid = ?1 AND a.is_dir = 0"
    )
});

impl DirectReader {
    pub(super) fn new(path: &str) -> Self {
        DirectReader { path: path.into() }
    }

    /// The delivery entry of a file asset (live or deleted); `None` when there is none.
    /// Opens this thread's connection on first use.
    pub fn entry(&self, asset_uid: &str) -> rusqlite::Result<Option<DeliveryEntry>> {
        CONNECTION.with(|cell| {
            let mut cell = cell.borrow_mut();
            if cell.as_ref().is_none_or(|(p, _)| *p != self.path) {
                *cell = Some((self.path.clone(), open(&self.path)?));
            }
            let Some((_, conn)) = cell.as_ref() else {
                return Ok(None);
            };
            let mut stmt = conn.prepare_cached(&QUERY)?;
            let mut rows = stmt.query([asset_uid])?;
            let mut entry: Option<DeliveryEntry> = None;
            while let Some(row) = rows.next()? {
                let e = match &mut entry {
                    Some(e) => e,
                    None => entry.insert(DeliveryEntry {
                        asset: asset(row)?,
                        secured: row.get::<_, i64>("s_secure")? != 0,
                        redirect: row.get::<_, String>("s_mode")? == "redirect",
                        master_locale: row.get("s_locale")?,
                        files: Vec::new(),
                    }),
                };
                if let Some(f) = file(row, "df_uid", "df_")? {
                    e.files.push(f);
                }
            }
            Ok(entry)
        })
    }
}

fn open(path: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_MS))?;
    conn.set_prepared_statement_cache_capacity(4);
    Ok(conn)
}

fn asset(row: &Row<'_>) -> rusqlite::Result<Asset> {
    let tags: String = row.get("tags")?;
    Ok(Asset {
        uid: row.get("uid")?,
        api_key: row.get("api_key")?,
        is_dir: row.get::<_, i64>("is_dir")? != 0,
        parent_uid: row.get("parent_uid")?,
        title: row.get("title")?,
        description: row.get("description")?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        version: row.get("version")?,
        permanent_slug: row.get("permanent_slug")?,
        created_by: row.get("created_by")?,
        updated_by: row.get("updated_by")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
        deleted_at: row.get("deleted_at")?,
        file: file(row, "file_uid", "f_")?,
    })
}

/// The file whose uid is in `uid_col` and other columns start with `prefix`; `None` when
/// the join found none.
fn file(row: &Row<'_>, uid_col: &str, prefix: &str) -> rusqlite::Result<Option<FileMeta>> {
    let Some(uid) = row.get::<_, Option<String>>(uid_col)? else {
        return Ok(None);
    };
    let col = |name: &str| format!("{prefix}{name}");
    let Some(sha256) = row.get::<_, Option<String>>(col("sha256").as_str())? else {
        return Ok(None);
    };
    Ok(Some(FileMeta {
        uid,
        sha256,
        size: row.get(col("size").as_str())?,
        content_type: row.get(col("content_type").as_str())?,
        filename: row.get(col("filename").as_str())?,
        width: row.get(col("width").as_str())?,
        height: row.get(col("height").as_str())?,
        created_at: row.get(col("created_at").as_str())?,
    }))
}

//! Delivery misses on SQLite, read on the calling thread (§4, §6 performance).
//!
//! sqlx runs each SQLite connection on a thread of its own, so a query from a delivery
//! worker wakes three threads and waits for them. When the index budget holds only part of
//! a large stack, most requests miss, and those wake-ups cost more than the read itself.
//! Here each thread that asks keeps its own read-only connection (WAL: it sees every
//! committed write and never blocks the writer) with the statement prepared once, and
//! reads an entry with one indexed point query without leaving the thread.
//!
//! Beginning and ending a WAL read transaction takes two `fcntl` locks, about a third of
//! a point read's cost. A delivery worker therefore keeps one read transaction across its
//! reads ([`hold_snapshots`]) for as long as the index's generation is unchanged (no
//! change committed since, §4: the index's own rule for what it may store) and at most
//! [`MAX_SNAPSHOT_AGE`]; a timer on the worker ends it ([`release`]) whether the worker is
//! busy or idle, so a snapshot never pins the WAL for long.

use std::cell::{Cell, RefCell};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, Row};

use super::delivery::{entry_files, DeliveryEntry, ENTRY_COLS, FILE_COLS};
use super::Backend;
use crate::records::FileMeta;

/// Reads delivery entries from a SQLite file on the calling thread. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DirectReader {
    path: Arc<str>,
}

/// Longest a held read transaction is reused.
pub const MAX_SNAPSHOT_AGE: Duration = Duration::from_millis(500);

/// How long a point read waits for a lock (only a checkpoint or recovery takes one that a
/// WAL reader waits for); past it the caller falls back to the pooled path.
const BUSY_MS: u64 = 200;

/// SQLite's page cache of each of these connections (one per thread that reads; KiB,
/// SQLite's unit for a negative `cache_size`). The file is not mapped: pages read through
/// a mapping count toward the process's resident size once per connection that maps them,
/// so a mapping per thread would cost that many times its size.
pub const CACHE_KIB: i64 = 8 << 10;

/// A thread's connection, and the read transaction it holds.
struct Local {
    path: Arc<str>,
    conn: Connection,
    /// Index generation and start of the open read transaction.
    snapshot: Option<(u64, Instant)>,
}

thread_local! {
    /// This thread's connection.
    static CONNECTION: RefCell<Option<Local>> = const { RefCell::new(None) };
    /// This thread keeps a read transaction across reads ([`hold_snapshots`]).
    static HOLD: Cell<bool> = const { Cell::new(false) };
}

/// Lets this thread keep one read transaction across point reads (see the module docs).
/// The thread must call [`release`] at least every [`MAX_SNAPSHOT_AGE`].
pub fn hold_snapshots() {
    HOLD.with(|h| h.set(true));
}

/// Ends this thread's read transaction, if it holds one.
pub fn release() {
    // Never while the connection is in use (the borrow would fail; nothing to do then).
    let _ = CONNECTION.try_with(|cell| {
        if let Ok(mut cell) = cell.try_borrow_mut() {
            if let Some(local) = cell.as_mut() {
                end(local);
            }
        }
    });
}

fn end(local: &mut Local) {
    if local.snapshot.take().is_some() && !local.conn.is_autocommit() {
        let _ = local
            .conn
            .prepare_cached("COMMIT")
            .and_then(|mut c| c.execute([]));
    }
}

/// The entry query (see `db/delivery.rs`): one asset with its stack, a row per file (its
/// current file and the newest), by primary keys and `files (asset_uid, created_at, uid)`.
/// Columns are read by position: [`ENTRY_COLS`], then [`FILE_COLS`] from [`FILE_AT`].
static QUERY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {ENTRY_COLS}, {FILE_COLS} FROM assets a \
         JOIN stacks s ON s.api_key = a.api_key {} WHERE a.uid = ?1 AND a.is_dir = 0",
        entry_files(Backend::Sqlite)
    )
});

/// Position of `df.uid`: the file columns follow in [`FileMeta`] order.
const FILE_AT: usize = 8;

impl DirectReader {
    pub(super) fn new(path: &str) -> Self {
        DirectReader { path: path.into() }
    }

    /// The delivery entry of a file asset (live or deleted); `None` when there is none.
    /// `generation` is the index's, read before this call. Opens this thread's
    /// connection on first use.
    pub fn entry(
        &self,
        asset_uid: &str,
        generation: u64,
    ) -> rusqlite::Result<Option<DeliveryEntry>> {
        CONNECTION.with(|cell| {
            let mut cell = cell.borrow_mut();
            if cell.as_ref().is_none_or(|l| l.path != self.path) {
                *cell = Some(Local {
                    path: self.path.clone(),
                    conn: open(&self.path)?,
                    snapshot: None,
                });
            }
            let Some(local) = cell.as_mut() else {
                return Ok(None);
            };
            let fresh = local
                .snapshot
                .is_some_and(|(g, at)| g == generation && at.elapsed() < MAX_SNAPSHOT_AGE);
            if !fresh {
                end(local);
                if HOLD.with(Cell::get) {
                    // Deferred: the snapshot is taken by the first read below, after the
                    // caller read `generation`, so it holds every change counted in it.
                    local.conn.prepare_cached("BEGIN")?.execute([])?;
                    local.snapshot = Some((generation, Instant::now()));
                }
            }
            let read = read(&local.conn, asset_uid);
            if read.is_err() {
                end(local);
            }
            read
        })
    }
}

fn read(conn: &Connection, asset_uid: &str) -> rusqlite::Result<Option<DeliveryEntry>> {
    let mut stmt = conn.prepare_cached(&QUERY)?;
    let mut rows = stmt.query([asset_uid])?;
    let mut entry: Option<DeliveryEntry> = None;
    while let Some(row) = rows.next()? {
        let e = match &mut entry {
            Some(e) => e,
            None => entry.insert(DeliveryEntry {
                uid: row.get(0)?,
                api_key: row.get(1)?,
                permanent_slug: row.get(2)?,
                deleted: row.get::<_, Option<i64>>(3)?.is_some(),
                file_uid: row.get(4)?,
                secured: row.get::<_, i64>(5)? != 0,
                redirect: row.get_ref(6)?.as_str()? == "redirect",
                master_locale: row.get(7)?,
                files: Vec::new(),
            }),
        };
        if let Some(f) = file(row)? {
            e.files.push(f);
        }
    }
    Ok(entry)
}

fn open(path: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_millis(BUSY_MS))?;
    conn.set_prepared_statement_cache_capacity(4);
    // Pages come from the OS page cache by read(2), into a bounded cache per connection.
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    Ok(conn)
}

/// The file of this row (columns from [`FILE_AT`]); `None` when the join found none.
fn file(row: &Row<'_>) -> rusqlite::Result<Option<FileMeta>> {
    let Some(uid) = row.get::<_, Option<String>>(FILE_AT)? else {
        return Ok(None);
    };
    Ok(Some(FileMeta {
        uid,
        sha256: row.get(FILE_AT + 1)?,
        size: row.get(FILE_AT + 2)?,
        content_type: row.get(FILE_AT + 3)?,
        filename: row.get(FILE_AT + 4)?,
        width: row.get(FILE_AT + 5)?,
        height: row.get(FILE_AT + 6)?,
        created_at: row.get(FILE_AT + 7)?,
    }))
}

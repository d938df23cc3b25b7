//! Link insights (§17): every delivery answer counted per asset, URL kind, status class
//! and hour, with the referring page, so that an author can see where a file is linked
//! from, whether anyone still asks for it, and which gone assets are still requested.
//!
//! Counting is the delivery writers' work and must cost them next to nothing: each
//! thread adds to its own shard of [`Tally`] (a lock no other thread takes, except the
//! flusher once per interval, which swaps the shard's map for an empty one), with no
//! allocation once an asset has been counted in the interval. The flusher
//! ([`Tally::flush`], every `insights_flush_seconds`) adds the counts to the database:
//! hourly rows and referrers are upserted as increments, so several processes on one
//! PostgreSQL add up, and a crash loses at most one interval. [`rollup`] folds hourly rows
//! older than [`HOURLY_DAYS`] into daily ones and keeps the top referrers per asset and
//! day.

pub mod read;
pub mod referrer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::db::insights::{Cell, RefRow};
use crate::db::Db;
use crate::metrics::{shard, ShardedCounter, SHARDS};
use crate::time::now_ms;

/// Hourly rows are kept this many days, then rolled up into daily ones.
pub const HOURLY_DAYS: i64 = 30;
/// An hour and a day, in ms.
pub const HOUR_MS: i64 = 3_600_000;
/// A day in ms.
pub const DAY_MS: i64 = 86_400_000;
/// Distinct referring pages one asset keeps per flush interval and day in memory; more
/// are counted as "other".
const REFERRERS_PER_ASSET: usize = 32;
/// Assets one shard counts before it asks for an early flush.
const ASSETS_PER_SHARD: usize = 50_000;
/// Assets one shard holds at most: past this (the flusher cannot keep up, or requests
/// name ever new assets), answers about assets not counted yet are not counted.
const MAX_ASSETS_PER_SHARD: usize = 4 * ASSETS_PER_SHARD;

/// Which URL answered (§2, §11, §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An immutable version URL.
    Version = 0,
    /// A permanent URL.
    Permanent = 1,
    /// A rendition (§11) through either URL.
    Rendition = 2,
    /// The Content Delivery API's asset (§12).
    Cda = 3,
}

/// The names of [`Kind`] as stored and answered.
pub const KINDS: [&str; 4] = ["version", "permanent", "rendition", "cda"];

impl Kind {
    /// Its stored name.
    pub fn name(self) -> &'static str {
        KINDS[self as usize]
    }
}

/// The status classes counted: what an author acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// 200 and 206: bytes served.
    Ok = 0,
    /// 304: a cache asked whether its copy is current.
    NotModified = 1,
    /// 404: no such asset (deleted for good, or not published where asked).
    NotFound = 2,
    /// 410: the asset is in the trash (or its version is gone).
    Gone = 3,
    /// Anything else (precondition and range failures, credentials, errors).
    Other = 4,
}

/// The names of [`Status`] as stored and answered.
pub const STATUSES: [&str; 5] = ["ok", "not_modified", "not_found", "gone", "other"];

impl Status {
    /// The class of an HTTP status.
    pub fn of(code: u16) -> Status {
        match code {
            200 | 206 => Status::Ok,
            304 => Status::NotModified,
            404 => Status::NotFound,
            410 => Status::Gone,
            _ => Status::Other,
        }
    }

    /// Its stored name.
    pub fn name(self) -> &'static str {
        STATUSES[self as usize]
    }

    /// A dead link: the asset is asked for but not there.
    pub fn dead(self) -> bool {
        matches!(self, Status::NotFound | Status::Gone)
    }
}

/// One answer to count.
#[derive(Debug, Clone, Copy)]
pub struct Hit<'a> {
    /// The stack.
    pub api_key: &'a str,
    /// The asset.
    pub asset_uid: &'a str,
    /// Which URL.
    pub kind: Kind,
    /// The answer's status.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// The request's `Referer`, as sent.
    pub referer: Option<&'a str>,
}

#[derive(Debug, Default)]
struct Counted {
    /// (hour, kind, status) → (requests, bytes).
    cells: Vec<(i64, Kind, Status, u64, u64)>,
    /// (day, dead, page) → requests; the page `""` holds the others.
    referrers: Vec<(i64, bool, Box<str>, u64)>,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard(Mutex<HashMap<String, Counted>>);

/// Counts of delivery answers not yet in the database, one shard per thread.
#[derive(Debug)]
pub struct Tally {
    shards: Vec<Shard>,
    full: AtomicBool,
    /// Answers not counted because a shard was full.
    pub dropped: AtomicU64,
    /// Requests and bytes by URL kind and status class, for `/metrics` (bounded labels).
    totals: Vec<(ShardedCounter, ShardedCounter)>,
    /// Wakes the flusher early when a shard holds many assets.
    pub wake: std::sync::Arc<tokio::sync::Notify>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            full: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            totals: (0..KINDS.len() * STATUSES.len())
                .map(|_| Default::default())
                .collect(),
            wake: Default::default(),
        }
    }
}

thread_local! {
    /// The `api_key/asset_uid` key being looked up, reused so that a hit allocates nothing.
    static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

impl Tally {
    /// Counts one answer on this thread's shard.
    pub fn count(&self, hit: Hit<'_>) {
        let now = now_ms();
        let hour = now - now.rem_euclid(HOUR_MS);
        let day = now - now.rem_euclid(DAY_MS);
        let status = Status::of(hit.status);
        let total = &self.totals[hit.kind as usize * STATUSES.len() + status as usize];
        total.0.add(1);
        total.1.add(hit.bytes);
        let page = hit.referer.and_then(referrer::page);
        let mut map = self.shards[shard()]
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        KEY.with(|k| {
            let mut k = k.borrow_mut();
            k.clear();
            k.push_str(hit.api_key);
            k.push('/');
            k.push_str(hit.asset_uid);
            if !map.contains_key(k.as_str()) {
                if map.len() >= MAX_ASSETS_PER_SHARD {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                map.insert(k.clone(), Counted::default());
                if map.len() == ASSETS_PER_SHARD && !self.full.swap(true, Ordering::Relaxed) {
                    self.wake.notify_one();
                }
            }
            if let Some(counted) = map.get_mut(k.as_str()) {
                counted.add(hour, day, hit.kind, status, hit.bytes, page);
            }
        });
    }
}

impl Counted {
    fn add(
        &mut self,
        hour: i64,
        day: i64,
        kind: Kind,
        status: Status,
        bytes: u64,
        page: Option<&str>,
    ) {
        let counted = self;
        match counted
            .cells
            .iter_mut()
            .find(|c| c.0 == hour && c.1 == kind && c.2 == status)
        {
            Some(c) => {
                c.3 += 1;
                c.4 += bytes;
            }
            None => counted.cells.push((hour, kind, status, 1, bytes)),
        }
        let Some(page) = page else { return };
        let dead = status.dead();
        if let Some(r) = counted
            .referrers
            .iter_mut()
            .find(|r| r.0 == day && r.1 == dead && &*r.2 == page)
        {
            r.3 += 1;
            return;
        }
        let page = if counted.referrers.len() >= REFERRERS_PER_ASSET {
            ""
        } else {
            page
        };
        match counted
            .referrers
            .iter_mut()
            .find(|r| r.0 == day && r.1 == dead && &*r.2 == page)
        {
            Some(r) => r.3 += 1,
            None => counted.referrers.push((day, dead, page.into(), 1)),
        }
    }
}

impl Tally {
    /// Appends the delivery totals by URL kind and status class to a Prometheus text.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        for (name, help, bytes) in [
            (
                "perma_delivery_requests_total",
                "Delivery answers by URL kind and status class (link insights, §17).",
                false,
            ),
            (
                "perma_delivery_bytes_total",
                "Body bytes of delivery answers by URL kind and status class.",
                true,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (k, kind) in KINDS.iter().enumerate() {
                for (s, status) in STATUSES.iter().enumerate() {
                    let t = &self.totals[k * STATUSES.len() + s];
                    let v = if bytes { t.1.get() } else { t.0.get() };
                    let _ = writeln!(out, "{name}{{kind=\"{kind}\",status=\"{status}\"}} {v}");
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP perma_insights_dropped_total Delivery answers not counted for link insights (a shard was full).\n\
             # TYPE perma_insights_dropped_total counter\nperma_insights_dropped_total {}",
            self.dropped.load(Ordering::Relaxed)
        );
    }

    /// Takes what every shard counted (each swapped for an empty map).
    fn take(&self) -> Vec<HashMap<String, Counted>> {
        self.full.store(false, Ordering::Relaxed);
        self.shards
            .iter()
            .map(|s| std::mem::take(&mut *s.0.lock().unwrap_or_else(|e| e.into_inner())))
            .filter(|m| !m.is_empty())
            .collect()
    }

    /// Adds what was counted since the last flush to the database, as increments;
    /// counts of stacks whose `insights` setting is off are dropped. Returns how many
    /// rows were written. On a database error the counts are lost (they are statistics,
    /// and holding them would let memory grow while the database is down).
    pub async fn flush(&self, db: &Db) -> anyhow::Result<usize> {
        let taken = self.take();
        if taken.is_empty() {
            return Ok(0);
        }
        let mut keys: Vec<&str> = taken
            .iter()
            .flat_map(|m| m.keys())
            .map(|k| k.split('/').next().unwrap_or(""))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let counting = db.stacks_counting(&keys).await?;
        // Dead answers count only for assets the stack has or had (a request can name any
        // uid): the rest is noise, and would let anyone grow the tables.
        let mut dead_only: HashMap<&str, Vec<String>> = HashMap::new();
        for map in &taken {
            for (key, counted) in map {
                if counted.cells.iter().all(|c| c.2.dead()) {
                    let (api_key, uid) = key.split_once('/').unwrap_or((key, ""));
                    dead_only.entry(api_key).or_default().push(uid.to_owned());
                }
            }
        }
        let mut unknown = std::collections::HashSet::new();
        for (api_key, uids) in &dead_only {
            let known = db.known_assets(api_key, uids).await?;
            for uid in uids.iter().filter(|u| !known.contains(u)) {
                unknown.insert(format!("{api_key}/{uid}"));
            }
        }
        let mut cells: HashMap<(String, i64, Kind, Status), (u64, u64)> = HashMap::new();
        let mut refs: HashMap<(String, i64, bool, Box<str>), u64> = HashMap::new();
        for map in taken {
            for (key, counted) in map {
                let api_key = key.split('/').next().unwrap_or("");
                if !counting.iter().any(|s| s == api_key) || unknown.contains(&key) {
                    continue;
                }
                for (hour, kind, status, n, bytes) in counted.cells {
                    let c = cells.entry((key.clone(), hour, kind, status)).or_default();
                    c.0 += n;
                    c.1 += bytes;
                }
                for (day, dead, page, n) in counted.referrers {
                    *refs.entry((key.clone(), day, dead, page)).or_default() += n;
                }
            }
        }
        let split = |key: &str| {
            let (a, b) = key.split_once('/').unwrap_or((key, ""));
            (a.to_owned(), b.to_owned())
        };
        let cells: Vec<Cell> = cells
            .into_iter()
            .map(|((key, at, kind, status), (n, bytes))| {
                let (api_key, asset_uid) = split(&key);
                Cell {
                    api_key,
                    asset_uid,
                    at,
                    kind: kind.name().to_owned(),
                    status: status.name().to_owned(),
                    requests: n as i64,
                    bytes: bytes as i64,
                }
            })
            .collect();
        let refs: Vec<RefRow> = refs
            .into_iter()
            .map(|((key, day, dead, page), n)| {
                let (api_key, asset_uid) = split(&key);
                RefRow {
                    api_key,
                    asset_uid,
                    day,
                    dead,
                    referrer: page.into(),
                    requests: n as i64,
                }
            })
            .collect();
        db.add_traffic(&cells, &refs).await?;
        Ok(cells.len() + refs.len())
    }
}

/// The roll-up (§17): hourly rows older than [`HOURLY_DAYS`] become daily ones, and each
/// asset keeps its `keep` most requested referring pages per finished day (the rest are
/// counted as others). Linear in the rows it folds; returns the hourly rows folded.
pub async fn rollup(db: &Db, now: i64, keep: u64) -> anyhow::Result<u64> {
    Ok(db
        .rollup_traffic(now - HOURLY_DAYS * DAY_MS, now, keep as i64)
        .await?)
}

/// A stack's counts over `range` as CSV (RFC 4180): `period,start,asset_uid,kind,status,
/// requests,bytes`, one row per asset, hour (or day, past [`HOURLY_DAYS`]), URL kind and
/// status class, oldest first.
pub async fn export(db: &Db, api_key: &str, range: read::Range) -> anyhow::Result<String> {
    let rows = db.traffic_rows(api_key, range.from, range.to).await?;
    let mut out = String::from("period,start,asset_uid,kind,status,requests,bytes\r\n");
    for (hourly, r) in rows {
        let period = if hourly { "hour" } else { "day" };
        out.push_str(&format!(
            "{period},{},{},{},{},{},{}\r\n",
            crate::time::iso8601(r.at),
            r.asset_uid,
            r.kind,
            r.status,
            r.requests,
            r.bytes
        ));
    }
    Ok(out)
}

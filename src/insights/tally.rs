//! The counts of delivery answers not yet in the database (§17): one map per delivery
//! thread, taken and written by the flusher.
//!
//! A hit costs one keyed hash of `api_key/asset_uid` (foldhash, seeded per process, so a
//! request cannot choose colliding names), one probe of this thread's map and a few adds;
//! an asset new in the interval costs one allocation for its name. What all shards hold
//! together is bounded ([`MAX_HELD`] assets), not per thread, so the bound does not grow
//! with the number of workers; past [`EARLY_FLUSH`] the flusher is woken before its
//! interval is up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::{referrer, Hit, Kind, Status, DAY_MS, HOUR_MS, KINDS, STATUSES};
use crate::db::insights::{Cell, Point, RefRow};
use crate::db::Db;
use crate::ids;
use crate::metrics::{shard, ShardedCounter, SHARDS};
use crate::time::now_ms;

/// Distinct referring pages one asset keeps per flush interval and day in memory; more
/// are counted as "other".
const REFERRERS_PER_ASSET: usize = 32;
/// Assets held by all shards together at which the flusher is woken early: the last
/// quarter is the room for assets new while the flusher wakes up.
pub const EARLY_FLUSH: usize = MAX_HELD - MAX_HELD / 4;
/// Assets held by all shards together at most (within `config::memory::INSIGHTS_BYTES`):
/// past this (the flusher cannot keep up, or requests name ever new assets),
/// answers about assets not counted yet in the interval are not counted.
pub const MAX_HELD: usize = crate::config::memory::INSIGHTS_HELD;
/// New assets a shard counts before it adds them to the shared total (so that the shared
/// counter is written once per this many new assets, not per asset).
const HELD_BATCH: usize = 256;

/// One hour, URL kind and status class of an asset: requests and bytes.
#[derive(Debug, Clone, Copy)]
struct Tick {
    requests: u64,
    bytes: u64,
    /// Hours since the epoch (32 bits keep a map entry at 48 bytes).
    hour: u32,
    kind: Kind,
    status: Status,
}

/// What rarely happens in one interval: a second hour, kind or status, or a referrer.
#[derive(Debug, Default)]
struct Extra {
    ticks: Vec<Tick>,
    /// (day, dead, page) → requests; the page `""` holds the others.
    referrers: Vec<(i64, bool, Box<str>, u64)>,
}

/// One asset's counts in the interval: the common case (one hour, one kind, one status,
/// no referrer) inline, the rest behind a pointer.
#[derive(Debug)]
struct Counted {
    first: Tick,
    extra: Option<Box<Extra>>,
}

/// By the bits of the api key (high half) and the asset uid (low half): no string on the
/// heap per asset.
type Map = HashMap<u128, Counted, foldhash::fast::RandomState>;

/// Assets written to the database per statement batch of a flush, so that the rows being
/// written never stand for more than this many assets at once.
const FLUSH_CHUNK: usize = 20_000;

/// The key of an asset of a stack; `None` when either is not a uid (no asset can have it,
/// so such an answer is not counted).
fn key_of(api_key: &str, asset_uid: &str) -> Option<u128> {
    Some(u128::from(ids::blt_bits(api_key)?) << 64 | u128::from(ids::blt_bits(asset_uid)?))
}

/// The api key and asset uid of a key.
fn split_key(key: u128) -> (String, String) {
    let uid = |bits: u64| format!("blt{bits:016x}");
    (uid((key >> 64) as u64), uid(key as u64))
}

#[derive(Debug, Default)]
struct ShardMap {
    map: Map,
    /// New assets not yet added to [`Tally::held`].
    unreported: usize,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard(Mutex<ShardMap>);

/// Counts of delivery answers not yet in the database, one shard per thread: a lock no
/// other thread takes, except the flusher once per interval, which swaps the shard's map
/// for an empty one.
#[derive(Debug)]
pub struct Tally {
    shards: Vec<Shard>,
    /// Assets all shards hold (to within `batch` per shard).
    held: AtomicUsize,
    /// [`EARLY_FLUSH`], [`MAX_HELD`] and [`HELD_BATCH`] (smaller in tests).
    early: usize,
    max: usize,
    batch: usize,
    full: AtomicBool,
    /// Answers not counted because [`MAX_HELD`] assets were held.
    pub dropped: AtomicU64,
    /// Requests and bytes by URL kind and status class, for `/metrics` (bounded labels).
    totals: Vec<(ShardedCounter, ShardedCounter)>,
    /// Wakes the flusher early when many assets are held.
    pub wake: std::sync::Arc<tokio::sync::Notify>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally::with_limits(EARLY_FLUSH, MAX_HELD)
    }
}

impl Tally {
    /// A tally that wakes the flusher at `early` assets held and holds at most `max`.
    fn with_limits(early: usize, max: usize) -> Self {
        Tally {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            held: AtomicUsize::new(0),
            early,
            max,
            batch: (max / SHARDS).clamp(1, HELD_BATCH),
            full: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            totals: (0..KINDS.len() * STATUSES.len())
                .map(|_| Default::default())
                .collect(),
            wake: Default::default(),
        }
    }
}

impl Tally {
    /// Counts one answer on this thread's shard.
    pub fn count(&self, hit: Hit<'_>) {
        let Some(key) = key_of(hit.api_key, hit.asset_uid) else {
            return;
        };
        let now = now_ms();
        let hour = u32::try_from(now.div_euclid(HOUR_MS)).unwrap_or(u32::MAX);
        let status = Status::of(hit.status);
        let total = &self.totals[hit.kind as usize * STATUSES.len() + status as usize];
        total.0.add(1);
        total.1.add(hit.bytes);
        let page = hit.referer.and_then(referrer::page);
        let tick = Tick {
            hour,
            requests: 1,
            bytes: hit.bytes,
            kind: hit.kind,
            status,
        };
        let referrer = page.map(|p| (now - now.rem_euclid(DAY_MS), status.dead(), p));
        let mut shard = self.shards[shard()]
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(counted) = shard.map.get_mut(&key) {
            counted.add(tick, referrer);
            return;
        }
        if self.held.load(Ordering::Relaxed) >= self.max {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut counted = Counted {
            first: tick,
            extra: None,
        };
        if let Some(r) = referrer {
            counted.add_referrer(r);
        }
        shard.map.insert(key, counted);
        shard.unreported += 1;
        if shard.unreported == self.batch {
            shard.unreported = 0;
            let held = self.held.fetch_add(self.batch, Ordering::Relaxed) + self.batch;
            if held >= self.early && !self.full.swap(true, Ordering::Relaxed) {
                self.wake.notify_one();
            }
        }
    }

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
            "# HELP perma_insights_dropped_total Delivery answers not counted for link insights (too many assets held before a flush).\n\
             # TYPE perma_insights_dropped_total counter\nperma_insights_dropped_total {}",
            self.dropped.load(Ordering::Relaxed)
        );
    }

    /// Takes what every shard counted (each swapped for an empty map as large as the last
    /// one was filled, so that a steady load does not grow it again step by step), merged
    /// into one.
    fn take(&self) -> Map {
        let mut taken: Vec<Map> = self
            .shards
            .iter()
            .map(|s| {
                let mut shard = s.0.lock().unwrap_or_else(|e| e.into_inner());
                let next = Map::with_capacity_and_hasher(shard.map.len(), Default::default());
                shard.unreported = 0;
                std::mem::replace(&mut shard.map, next)
            })
            .filter(|m| !m.is_empty())
            .collect();
        self.held.store(0, Ordering::Relaxed);
        self.full.store(false, Ordering::Relaxed);
        taken.sort_by_key(|m| std::cmp::Reverse(m.len()));
        let mut taken = taken.into_iter();
        let mut merged = taken.next().unwrap_or_default();
        for map in taken {
            for (key, counted) in map {
                match merged.get_mut(&key) {
                    Some(m) => m.merge(counted),
                    None => {
                        merged.insert(key, counted);
                    }
                }
            }
        }
        merged
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
        let mut stacks: Vec<u64> = taken.keys().map(|k| (k >> 64) as u64).collect();
        stacks.sort_unstable();
        stacks.dedup();
        let names: Vec<String> = stacks.iter().map(|b| format!("blt{b:016x}")).collect();
        let keys: Vec<&str> = names.iter().map(String::as_str).collect();
        let counting: std::collections::HashSet<u64> = db
            .stacks_counting(&keys)
            .await?
            .iter()
            .filter_map(|k| ids::blt_bits(k))
            .collect();
        // Dead answers count only for assets the stack has or had (a request can name any
        // uid): the rest is noise, and would let anyone grow the tables.
        let mut dead_only: HashMap<u64, Vec<String>> = HashMap::new();
        for (key, counted) in &taken {
            if counted.ticks().all(|t| t.status.dead()) {
                dead_only
                    .entry((key >> 64) as u64)
                    .or_default()
                    .push(split_key(*key).1);
            }
        }
        let mut unknown = std::collections::HashSet::new();
        for (stack, uids) in &dead_only {
            let api_key = format!("blt{stack:016x}");
            let known = db.known_assets(&api_key, uids).await?;
            for uid in uids.iter().filter(|u| !known.contains(u)) {
                unknown.extend(key_of(&api_key, uid));
            }
        }
        let mut wanted: Vec<(&u128, &Counted)> = taken
            .iter()
            .filter(|(k, _)| counting.contains(&((**k >> 64) as u64)) && !unknown.contains(*k))
            .collect();
        // In key order (the bits of api key and uid order as their fixed-width hex does):
        // the rows' B-tree pages are then visited in order, each read and written once per
        // flush, instead of at random.
        wanted.sort_unstable_by_key(|(k, _)| **k);
        let mut written = 0;
        for chunk in wanted.chunks(FLUSH_CHUNK) {
            let mut cells = Vec::with_capacity(chunk.len());
            let mut refs = Vec::new();
            for (key, counted) in chunk {
                let (api_key, asset_uid) = split_key(**key);
                for t in counted.ticks() {
                    cells.push(Cell {
                        api_key: api_key.clone(),
                        asset_uid: asset_uid.clone(),
                        point: Point {
                            at: i64::from(t.hour) * HOUR_MS,
                            kind: t.kind.name().to_owned(),
                            status: t.status.name().to_owned(),
                            requests: t.requests as i64,
                            bytes: t.bytes as i64,
                        },
                    });
                }
                for (day, dead, page, n) in counted.extra.iter().flat_map(|e| &e.referrers) {
                    refs.push(RefRow {
                        api_key: api_key.clone(),
                        asset_uid: asset_uid.clone(),
                        day: *day,
                        dead: *dead,
                        referrer: page.to_string(),
                        requests: *n as i64,
                    });
                }
            }
            db.add_traffic(&cells, &refs).await?;
            written += cells.len() + refs.len();
        }
        Ok(written)
    }
}

impl Counted {
    /// Every hour, kind and status counted.
    fn ticks(&self) -> impl Iterator<Item = &Tick> {
        std::iter::once(&self.first).chain(self.extra.iter().flat_map(|e| &e.ticks))
    }

    fn add(&mut self, tick: Tick, referrer: Option<(i64, bool, &str)>) {
        self.add_tick(tick);
        if let Some(r) = referrer {
            self.add_referrer(r);
        }
    }

    fn add_tick(&mut self, tick: Tick) {
        let same = |t: &Tick| t.hour == tick.hour && t.kind == tick.kind && t.status == tick.status;
        let found = if same(&self.first) {
            Some(&mut self.first)
        } else {
            let extra = self.extra.get_or_insert_with(Default::default);
            match extra.ticks.iter().position(same) {
                Some(i) => Some(&mut extra.ticks[i]),
                None => {
                    extra.ticks.push(tick);
                    None
                }
            }
        };
        if let Some(t) = found {
            t.requests += tick.requests;
            t.bytes += tick.bytes;
        }
    }

    /// Counts `n` requests from a page; past [`REFERRERS_PER_ASSET`] pages new ones are
    /// counted as others (`""`).
    fn add_referrers(&mut self, (day, dead, page): (i64, bool, &str), n: u64) {
        let referrers = &mut self.extra.get_or_insert_with(Default::default).referrers;
        let find = |rs: &[(i64, bool, Box<str>, u64)], page: &str| {
            rs.iter()
                .position(|r| r.0 == day && r.1 == dead && &*r.2 == page)
        };
        let page = match find(referrers, page) {
            Some(i) => {
                referrers[i].3 += n;
                return;
            }
            None if referrers.len() >= REFERRERS_PER_ASSET => "",
            None => page,
        };
        match find(referrers, page) {
            Some(i) => referrers[i].3 += n,
            None => referrers.push((day, dead, page.into(), n)),
        }
    }

    fn add_referrer(&mut self, referrer: (i64, bool, &str)) {
        self.add_referrers(referrer, 1);
    }

    /// Adds another shard's counts of the same asset.
    fn merge(&mut self, other: Counted) {
        self.add_tick(other.first);
        if let Some(extra) = other.extra {
            for t in extra.ticks {
                self.add_tick(t);
            }
            for (day, dead, page, n) in extra.referrers {
                self.add_referrers((day, dead, &page), n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(hour: u32, status: Status) -> Tick {
        Tick {
            hour,
            requests: 1,
            bytes: 10,
            kind: Kind::Permanent,
            status,
        }
    }

    #[test]
    fn an_asset_held_costs_48_bytes_of_map_entry() {
        // What `config::memory::INSIGHTS_HELD` is computed from.
        assert_eq!(std::mem::size_of::<(u128, Counted)>(), 48);
    }

    #[test]
    fn counts_merge_by_hour_kind_and_status() {
        let mut a = Counted {
            first: tick(0, Status::Ok),
            extra: None,
        };
        a.add(tick(0, Status::Ok), Some((0, false, "https://a.example/p")));
        a.add(tick(1, Status::Ok), None);
        let mut b = Counted {
            first: tick(0, Status::Ok),
            extra: None,
        };
        b.add(
            tick(0, Status::NotFound),
            Some((0, true, "https://a.example/p")),
        );
        b.add_referrer((0, false, "https://a.example/p"));
        a.merge(b);
        let ticks: Vec<(u32, Status, u64, u64)> = a
            .ticks()
            .map(|t| (t.hour, t.status, t.requests, t.bytes))
            .collect();
        assert_eq!(
            ticks,
            [
                (0, Status::Ok, 3, 30),
                (1, Status::Ok, 1, 10),
                (0, Status::NotFound, 1, 10)
            ]
        );
        let refs = &a.extra.as_ref().unwrap().referrers;
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0].3, 2);
        assert_eq!((refs[1].1, refs[1].3), (true, 1));
    }

    fn hit(uid: &str) -> Hit<'_> {
        Hit {
            api_key: "blt0000000000000001",
            asset_uid: uid,
            kind: Kind::Permanent,
            status: 200,
            bytes: 4,
            referer: None,
        }
    }

    #[test]
    fn what_is_held_is_bounded_and_known_assets_still_count() {
        let tally = Tally::with_limits(50, 100);
        let uids: Vec<String> = (0..300).map(|i| format!("blt{i:016x}")).collect();
        for uid in &uids {
            tally.count(hit(uid));
        }
        let dropped = tally.dropped.load(Ordering::Relaxed) as usize;
        assert!(tally.full.load(Ordering::Relaxed), "the flusher was woken");
        assert!(dropped > 0 && dropped < 300, "{dropped}");
        // The first asset was taken before the bound; more answers about it still count.
        tally.count(hit(&uids[0]));
        tally.count(hit(&uids[299]));
        assert_eq!(tally.dropped.load(Ordering::Relaxed) as usize, dropped + 1);
        let taken = tally.take();
        assert_eq!(taken.len(), 300 - dropped);
        let first = &taken[&key_of("blt0000000000000001", &uids[0]).unwrap()];
        assert_eq!((first.first.requests, first.first.bytes), (2, 8));
        // A flush empties it: new assets are counted again.
        assert!(!tally.full.load(Ordering::Relaxed));
        tally.count(hit(&uids[299]));
        assert_eq!(tally.dropped.load(Ordering::Relaxed) as usize, dropped + 1);
        assert_eq!(tally.take().len(), 1);
    }

    #[test]
    fn pages_past_the_cap_count_as_others() {
        let mut a = Counted {
            first: tick(0, Status::Ok),
            extra: None,
        };
        for i in 0..REFERRERS_PER_ASSET + 5 {
            a.add_referrer((0, false, &format!("https://a.example/{i}")));
        }
        let refs = &a.extra.as_ref().unwrap().referrers;
        assert_eq!(refs.len(), REFERRERS_PER_ASSET + 1);
        assert_eq!(refs.last().map(|r| (&*r.2, r.3)), Some(("", 5)));
    }
}

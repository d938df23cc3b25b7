//! The hot index for delivery (§4 Delivery): what the permanent and
//! version URLs of an asset resolve to, kept in memory so that serving a URL needs no
//! database round trip, plus the bytes of small files and open descriptors of large ones.
//!
//! Correctness rules:
//! - An entry is dropped whenever its asset changes ([`HotCache::invalidate`], called by the
//!   domain code after each committed change), so a replace is visible at once.
//! - A reader that loaded an entry from the database only stores it if no invalidation
//!   happened since it started reading (a generation counter), so a slow reader can never
//!   put back a state older than a committed change.
//! - File bodies are keyed by SHA-256: content-addressed bytes never go stale.
//! - A panic while a lock is held cannot take delivery down with it: every critical section
//!   leaves the maps consistent (single inserts and removals), so a poisoned lock is
//!   recovered and used, never unwrapped.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::entry::HotAsset;
use super::index::Index;
use crate::ids;
use crate::metrics::ShardedCounter;
use bytes::Bytes;

/// Files up to this size have their bytes cached.
pub const MAX_BODY: u64 = 1 << 20;
/// Bytes a cached body costs besides its own: its key, the map's slot, the handle.
const BODY_OVERHEAD: u64 = 160;

#[derive(Debug, Default)]
struct Bodies {
    map: HashMap<String, Bytes>,
    total: u64,
}

/// Open local blob files, like nginx's `open_file_cache`: a blob is immutable and named by
/// its hash, so a descriptor can serve every request for it. Entries are reopened after
/// [`FILE_TTL`], so a collected blob's space is released soon after `gc`.
#[derive(Debug, Default)]
struct Files {
    map: HashMap<String, (Arc<std::fs::File>, Instant)>,
}

/// Most open blob files kept.
const MAX_FILES: usize = 1024;
/// How long an open blob file is reused.
const FILE_TTL: Duration = Duration::from_secs(60);

/// Entries a delivery worker keeps for itself (see [`HotCache::with`]).
const MAX_LOCAL: usize = 4096;

/// Tells caches apart on a thread that has served several (the tests run many apps in one
/// process).
static NEXT_CACHE_ID: AtomicU64 = AtomicU64::new(1);

/// Keys a delivery worker remembers having looked up once (a power of two).
const SEEN: usize = 8192;

/// One thread's references to index entries, valid for one cache and generation.
struct Local {
    cache: u64,
    generation: u64,
    map: HashMap<u64, Arc<HotAsset>>,
    /// Keys last looked up in the shared index, direct-mapped: a key found here again is
    /// asked for repeatedly and earns a reference in `map`; one asked for once (random
    /// requests over a large library) is answered under the index's read lock, without
    /// the reference count write that a reference would cost on a cold entry.
    seen: Vec<u64>,
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local {
        cache: 0,
        generation: 0,
        map: HashMap::new(),
        seen: vec![u64::MAX; SEEN],
    });
}

/// Where `key` is remembered in [`Local::seen`] (uids may count up: their bits are mixed).
fn seen_slot(key: u64) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SEEN.trailing_zeros())) as usize
}

/// The index, the small-body cache and the open-file cache. One per process.
#[derive(Debug)]
pub struct HotCache {
    id: u64,
    generation: AtomicU64,
    /// By [`ids::blt_bits`] of the asset uid, within the budget.
    assets: RwLock<Index>,
    bodies: RwLock<Bodies>,
    /// Bytes of small files kept at most (with their overhead).
    body_budget: u64,
    files: Mutex<Files>,
    /// Lookups answered from the index (for `/metrics`).
    pub hits: ShardedCounter,
    /// Lookups that found no entry and went to the database.
    pub misses: ShardedCounter,
}

impl HotCache {
    /// An empty cache whose index keeps entries up to `budget` bytes, and small files'
    /// bytes up to `body_budget`.
    pub fn new(budget: usize, body_budget: u64) -> Self {
        Self {
            body_budget,
            id: NEXT_CACHE_ID.fetch_add(1, Ordering::Relaxed),
            generation: AtomicU64::new(0),
            assets: RwLock::new(Index::new(budget)),
            bodies: RwLock::default(),
            files: Mutex::default(),
            hits: ShardedCounter::default(),
            misses: ShardedCounter::default(),
        }
    }

    /// Calls `f` with the entry of an asset (`None`: not in the index). The calling thread
    /// keeps its own references to the entries it asks for repeatedly until the next
    /// change anywhere, so repeated requests for the same assets write no memory shared
    /// with other threads: no lock and no reference count bouncing between cores (the
    /// delivery workers are nginx-like, one per core). An entry asked for once is lent to
    /// `f` under the index's read lock: `f` must not call `with` itself nor change the
    /// index.
    pub fn with<R>(&self, asset_uid: &str, f: impl FnOnce(Option<&HotAsset>) -> R) -> R {
        let Some(key) = ids::blt_bits(asset_uid) else {
            return f(None);
        };
        let generation = self.generation.load(Ordering::Acquire);
        LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            if local.cache != self.id || local.generation != generation {
                local.map.clear();
                local.cache = self.id;
                local.generation = generation;
            }
            if let Some(entry) = local.map.get(&key) {
                entry.touch();
                self.hits.add(1);
                return f(Some(entry));
            }
            let index = self.assets.read().unwrap_or_else(PoisonError::into_inner);
            let Some(hit) = index.peek(key) else {
                drop(index);
                drop(local);
                self.misses.add(1);
                return f(None);
            };
            self.hits.add(1);
            let slot = seen_slot(key);
            let again = std::mem::replace(&mut local.seen[slot], key) == key;
            if !again {
                // Not marked used: a thread's first request for an entry is often the one
                // that just loaded it. Requests that come again mark it (below, and above).
                return f(Some(hit));
            }
            let hit = hit.clone();
            drop(index);
            hit.touch();
            if local.map.len() >= MAX_LOCAL {
                local.map.clear();
            }
            f(Some(local.map.entry(key).or_insert(hit)))
        })
    }

    /// The cached entry of an asset.
    pub fn get(&self, asset_uid: &str) -> Option<Arc<HotAsset>> {
        let key = ids::blt_bits(asset_uid)?;
        self.assets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// Whether the asset is known to have no deliverable entry (unknown, or a folder).
    pub fn is_missing(&self, asset_uid: &str) -> bool {
        ids::blt_bits(asset_uid).is_some_and(|key| {
            self.assets
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .is_missing(key)
        })
    }

    /// Remembers, unless something changed since `generation`, that the asset has no
    /// deliverable entry, so that repeated requests for it cost no query.
    pub fn set_missing(&self, asset_uid: &str, generation: u64) {
        let Some(key) = ids::blt_bits(asset_uid) else {
            return;
        };
        let mut index = self.assets.write().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) == generation {
            index.set_missing(key);
        }
    }

    /// Entries in the index and the bytes accounted to them.
    pub fn index_size(&self) -> (usize, usize) {
        let index = self.assets.read().unwrap_or_else(PoisonError::into_inner);
        (index.len(), index.bytes())
    }

    /// The index's budget in bytes and how many entries it has evicted to keep to it.
    pub fn index_budget_and_evictions(&self) -> (usize, u64) {
        let index = self.assets.read().unwrap_or_else(PoisonError::into_inner);
        (index.budget(), index.evictions())
    }

    /// The current generation; read it before loading an entry from the database.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Stores an entry loaded since `generation`, unless something changed meanwhile.
    pub fn insert(&self, asset_uid: &str, entry: Arc<HotAsset>, generation: u64) {
        let Some(key) = ids::blt_bits(asset_uid) else {
            return;
        };
        let mut index = self.assets.write().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        index.insert(key, entry);
    }

    /// Stores entries loaded since `generation` (the start-up preload) while they fit in
    /// the budget without evicting anything; entries already present are kept. Returns
    /// how many were stored, or `None` when something changed meanwhile (nothing stored)
    /// or the index is full.
    pub fn fill(&self, entries: Vec<(String, Arc<HotAsset>)>, generation: u64) -> Option<usize> {
        let mut index = self.assets.write().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) != generation {
            return None;
        }
        let mut stored = 0;
        for (uid, entry) in entries {
            let Some(key) = ids::blt_bits(&uid) else {
                continue;
            };
            if !index.has_room(entry.heap_bytes()) {
                return None;
            }
            if index.get(key).is_none() && !index.is_missing(key) {
                index.insert(key, entry);
                stored += 1;
            }
        }
        Some(stored)
    }

    /// Drops an asset's entry after a committed change.
    pub fn invalidate(&self, asset_uid: &str) {
        let mut index = self.assets.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(key) = ids::blt_bits(asset_uid) {
            index.remove(key);
        }
    }

    /// Drops every entry (stack settings changed, stack deleted).
    pub fn clear(&self) {
        let mut index = self.assets.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        index.clear();
    }

    /// Cached bytes of a small file.
    pub fn body(&self, sha256: &str) -> Option<Bytes> {
        self.bodies
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .get(sha256)
            .cloned()
    }

    /// Caches the bytes of a small file, evicting others to stay within the budget.
    pub fn put_body(&self, sha256: &str, bytes: Bytes) {
        let len = bytes.len() as u64 + BODY_OVERHEAD;
        if len > MAX_BODY + BODY_OVERHEAD || len > self.body_budget {
            return;
        }
        let mut b = self.bodies.write().unwrap_or_else(PoisonError::into_inner);
        while b.total + len > self.body_budget {
            let Some(k) = b.map.keys().next().cloned() else {
                break;
            };
            if let Some(old) = b.map.remove(&k) {
                b.total -= old.len() as u64 + BODY_OVERHEAD;
            }
        }
        if b.map.insert(sha256.to_owned(), bytes).is_none() {
            b.total += len;
        }
    }

    /// An open local blob file, if one was opened less than `FILE_TTL` (60 s) ago.
    pub fn file(&self, sha256: &str) -> Option<Arc<std::fs::File>> {
        let files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        let (file, opened) = files.map.get(sha256)?;
        (opened.elapsed() < FILE_TTL).then(|| file.clone())
    }

    /// Remembers an open local blob file (evicting expired ones, or any, when full).
    pub fn put_file(&self, sha256: &str, file: Arc<std::fs::File>) {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        if files.map.len() >= MAX_FILES {
            files
                .map
                .retain(|_, (_, opened)| opened.elapsed() < FILE_TTL);
            if files.map.len() >= MAX_FILES {
                files.map.clear();
            }
        }
        files.map.insert(sha256.to_owned(), (file, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "blt00000000000000ff";

    fn entry(slug: &str) -> Arc<HotAsset> {
        super::super::index::tests::entry_for(UID, slug)
    }

    fn slug(cache: &HotCache) -> Option<String> {
        cache.with(UID, |e| e.and_then(|e| e.slug().map(str::to_owned)))
    }

    #[test]
    fn lends_a_first_lookup_keeps_repeated_ones_and_sees_changes_at_once() {
        let cache = HotCache::new(1 << 20, 1 << 20);
        assert_eq!(slug(&cache), None);
        let first = entry("one");
        cache.insert(UID, first.clone(), cache.generation());
        // First lookup: lent under the read lock, not marked used, no reference kept.
        assert_eq!(slug(&cache).as_deref(), Some("one"));
        assert_eq!(Arc::strong_count(&first), 2);
        assert!(!first.take_reference());
        // Asked again: this thread keeps a reference and marks the entry used.
        assert_eq!(slug(&cache).as_deref(), Some("one"));
        assert_eq!(Arc::strong_count(&first), 3);
        assert!(first.take_reference());
        assert_eq!(slug(&cache).as_deref(), Some("one"));
        assert!(first.take_reference());
        // A change drops the thread's reference on its next lookup.
        cache.invalidate(UID);
        assert_eq!(slug(&cache), None);
        assert_eq!(Arc::strong_count(&first), 1);
        cache.insert(UID, entry("two"), cache.generation());
        assert_eq!(slug(&cache).as_deref(), Some("two"));
        assert_eq!(slug(&cache).as_deref(), Some("two"));
    }
}

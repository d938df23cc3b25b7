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
const MAX_LOCAL: usize = crate::config::memory::WORKER_ENTRIES;

/// Tells caches apart on a thread that has served several (the tests run many apps in one
/// process).
static NEXT_CACHE_ID: AtomicU64 = AtomicU64::new(1);

/// Keys a delivery worker remembers having looked up once (a power of two).
const SEEN: usize = 8192;

/// Bytes of memos (see [`Memo`]) a delivery worker keeps at most.
const MEMO_BUDGET: usize = crate::config::memory::WORKER_HEAD_BYTES;
/// Memo items kept with one entry at most.
const MEMO_PER_ENTRY: usize = 2;

/// What a writer derived from an entry (the head of an answer, say) and may reuse while
/// its thread keeps the entry: items under keys the writer chooses. A memo lives and dies
/// with the thread's reference to the entry, so any change anywhere drops it, and an
/// address inside the entry is a key that cannot be reused while the memo exists.
#[derive(Debug, Default)]
pub struct Memo {
    items: Vec<(u64, Box<[u8]>)>,
}

/// An entry's [`Memo`] and the thread's budget for memos, lent to [`HotCache::with_memo`]'s
/// closure.
#[derive(Debug)]
pub struct MemoSlot<'a> {
    memo: &'a mut Memo,
    spent: &'a mut usize,
}

impl MemoSlot<'_> {
    /// The bytes remembered under `key`.
    pub fn get(&self, key: u64) -> Option<&[u8]> {
        self.memo
            .items
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, b)| &**b)
    }

    /// Remembers `bytes` under `key`, in place of the entry's oldest item when it has
    /// [`MEMO_PER_ENTRY`]; nothing when the thread's memos would pass [`MEMO_BUDGET`].
    pub fn put(&mut self, key: u64, bytes: &[u8]) {
        if *self.spent + bytes.len() > MEMO_BUDGET {
            return;
        }
        if self.memo.items.len() == MEMO_PER_ENTRY {
            let (_, old) = self.memo.items.remove(0);
            *self.spent -= old.len();
        }
        *self.spent += bytes.len();
        self.memo.items.push((key, bytes.into()));
    }
}

/// An entry a thread keeps, with its memo.
struct Kept {
    entry: Arc<HotAsset>,
    memo: Memo,
}

/// One thread's references to index entries, valid for one cache and generation.
struct Local {
    cache: u64,
    generation: u64,
    map: HashMap<u64, Kept>,
    /// Bytes of the memos in `map`.
    memo_bytes: usize,
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
        memo_bytes: 0,
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
        self.with_memo(asset_uid, |entry, _| f(entry))
    }

    /// [`with`](Self::with), also lending the entry's [`Memo`] when the thread keeps the
    /// entry (one asked for repeatedly); `None` when the entry is lent under the index's
    /// lock.
    pub fn with_memo<R>(
        &self,
        asset_uid: &str,
        f: impl FnOnce(Option<&HotAsset>, Option<MemoSlot<'_>>) -> R,
    ) -> R {
        let Some(key) = ids::blt_bits(asset_uid) else {
            return f(None, None);
        };
        let generation = self.generation.load(Ordering::Acquire);
        // A miss gives `f` back, to be called once the thread's references are released.
        let missed = LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            let local = &mut *local;
            if local.cache != self.id || local.generation != generation {
                local.map.clear();
                local.memo_bytes = 0;
                local.cache = self.id;
                local.generation = generation;
            }
            if let Some(kept) = local.map.get_mut(&key) {
                kept.entry.touch();
                self.hits.add(1);
                let slot = MemoSlot {
                    memo: &mut kept.memo,
                    spent: &mut local.memo_bytes,
                };
                return Ok(f(Some(&kept.entry), Some(slot)));
            }
            let index = self.assets.read().unwrap_or_else(PoisonError::into_inner);
            let Some(hit) = index.peek(key) else {
                return Err(f);
            };
            self.hits.add(1);
            let slot = seen_slot(key);
            let again = std::mem::replace(&mut local.seen[slot], key) == key;
            if !again {
                // Not marked used: a thread's first request for an entry is often the one
                // that just loaded it. Requests that come again mark it (below, and above).
                return Ok(f(Some(hit), None));
            }
            let hit = hit.clone();
            drop(index);
            hit.touch();
            if local.map.len() >= MAX_LOCAL {
                local.map.clear();
                local.memo_bytes = 0;
            }
            let kept = local.map.entry(key).or_insert(Kept {
                entry: hit,
                memo: Memo::default(),
            });
            let slot = MemoSlot {
                memo: &mut kept.memo,
                spent: &mut local.memo_bytes,
            };
            Ok(f(Some(&kept.entry), Some(slot)))
        });
        match missed {
            Ok(r) => r,
            Err(f) => {
                self.misses.add(1);
                f(None, None)
            }
        }
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

    /// What `with_memo` lends: `None` for a lent entry, the memo's item under `key`
    /// otherwise (after putting `put` there when it is given).
    fn memo(cache: &HotCache, key: u64, put: Option<&[u8]>) -> Option<Option<Vec<u8>>> {
        cache.with_memo(UID, |e, slot| {
            assert!(e.is_some());
            let mut slot = slot?;
            if let Some(bytes) = put {
                slot.put(key, bytes);
            }
            Some(slot.get(key).map(<[u8]>::to_vec))
        })
    }

    #[test]
    fn memos_live_with_kept_entries_within_their_bounds() {
        let cache = HotCache::new(1 << 20, 1 << 20);
        cache.insert(UID, entry("one"), cache.generation());
        // Lent: no memo.
        assert_eq!(memo(&cache, 1, Some(b"a")), None);
        // Kept: items by key, the oldest replaced past two.
        assert_eq!(memo(&cache, 1, Some(b"a")), Some(Some(b"a".to_vec())));
        assert_eq!(memo(&cache, 1, None), Some(Some(b"a".to_vec())));
        assert_eq!(memo(&cache, 2, Some(b"b")), Some(Some(b"b".to_vec())));
        assert_eq!(memo(&cache, 3, Some(b"c")), Some(Some(b"c".to_vec())));
        assert_eq!(memo(&cache, 1, None), Some(None));
        assert_eq!(memo(&cache, 2, None), Some(Some(b"b".to_vec())));
        // Past the thread's budget nothing more is kept.
        let big = vec![0u8; MEMO_BUDGET];
        assert_eq!(memo(&cache, 4, Some(&big)), Some(None));
        // A change anywhere drops the memo with the thread's reference.
        cache.invalidate("blt0000000000000001");
        assert_eq!(memo(&cache, 2, None), Some(None));
    }
}

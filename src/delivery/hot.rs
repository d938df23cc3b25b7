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
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::index::Index;
use crate::ids;
use crate::records::{Asset, FileMeta};

/// Files up to this size have their bytes cached.
pub const MAX_BODY: u64 = 1 << 20;
/// Total bytes of cached bodies.
const MAX_BODY_TOTAL: u64 = 64 << 20;

/// Strings stored back to back in one allocation. The index holds one entry per asset;
/// an answer reads several of its strings, and with many assets every separate allocation
/// a lookup touches is another cache miss (bench/delivery.sh, the scale case).
#[derive(Debug)]
struct Packed<const N: usize> {
    text: Box<str>,
    ends: [u32; N],
}

impl<const N: usize> Packed<N> {
    fn new(parts: [&str; N]) -> Self {
        let mut end = 0u32;
        let ends = parts.map(|p| {
            end += u32::try_from(p.len()).unwrap_or(u32::MAX);
            end
        });
        Self {
            text: parts.concat().into_boxed_str(),
            ends,
        }
    }

    fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text.get(start..self.ends[i] as usize).unwrap_or("")
    }
}

/// A file with its response header values computed once.
#[derive(Debug)]
pub struct Prepared {
    /// ETag, Last-Modified, Content-Type, inline Content-Disposition, file uid, file name.
    text: Packed<6>,
    /// Bytes.
    pub size: u64,
    /// `Last-Modified` as an instant, for comparisons.
    pub modified: SystemTime,
    /// Gets the sandbox CSP.
    pub active: bool,
}

/// RFC 8187 `attr-char`s stay as they are; everything else is percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `inline|attachment; filename="ascii"; filename*=UTF-8''…` (RFC 6266).
fn disposition(kind: &str, filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = utf8_percent_encode(filename, ATTR_CHAR);
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

impl Prepared {
    /// Computes the header values of a file.
    pub fn new(meta: &FileMeta) -> Self {
        let modified = super::last_modified(meta);
        Self {
            text: Packed::new([
                &super::etag(meta),
                &httpdate::fmt_http_date(modified),
                &meta.content_type,
                &disposition("inline", &meta.filename),
                &meta.uid,
                &meta.filename,
            ]),
            size: meta.size.max(0) as u64,
            modified,
            active: super::is_active_content(&meta.content_type),
        }
    }

    /// Approximate bytes, for the index's budget.
    fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.text.text.len()
    }

    /// Strong ETag (`"sha256"`).
    pub fn etag(&self) -> &str {
        self.text.get(0)
    }

    /// `Last-Modified` as an HTTP date.
    pub fn last_modified(&self) -> &str {
        self.text.get(1)
    }

    /// `Content-Type`.
    pub fn content_type(&self) -> &str {
        self.text.get(2)
    }

    /// `Content-Disposition: inline; …`.
    pub fn inline(&self) -> &str {
        self.text.get(3)
    }

    /// The file uid.
    pub fn uid(&self) -> &str {
        self.text.get(4)
    }

    /// The stored file name.
    pub fn filename(&self) -> &str {
        self.text.get(5)
    }

    /// The blob's SHA-256 (the ETag without its quotes).
    pub fn sha256(&self) -> &str {
        let tag = self.etag();
        tag.get(1..tag.len().saturating_sub(1)).unwrap_or("")
    }

    /// `Content-Disposition: attachment; …` (computed when asked for: `?dl=1` is rare, and
    /// the index should stay small).
    pub fn attachment(&self) -> String {
        disposition("attachment", self.filename())
    }
}

/// What the URLs of one asset resolve to.
#[derive(Debug)]
pub struct HotAsset {
    /// Stack of the asset ([`ids::blt_bits`] of its api key).
    pub stack: u64,
    /// Stack's `secure_asset_urls`.
    pub secured: bool,
    /// Tombstoned (§4: 410).
    pub deleted: bool,
    has_slug: bool,
    /// Surrogate-Key, Cache-Tag, slug, master locale.
    text: Packed<4>,
    /// Current file.
    pub current: Option<Arc<Prepared>>,
    /// Every file of the asset, by [`ids::file_uid_bits`], sorted (version URLs).
    files: Box<[(u128, Arc<Prepared>)]>,
}

impl HotAsset {
    /// The entry of `asset` (of a stack with these settings) and its files.
    pub fn new(asset: &Asset, secured: bool, master_locale: &str, files: &[FileMeta]) -> Self {
        let mut files: Vec<(u128, Arc<Prepared>)> = files
            .iter()
            .filter_map(|f| Some((ids::file_uid_bits(&f.uid)?, Arc::new(Prepared::new(f)))))
            .collect();
        files.sort_unstable_by_key(|(k, _)| *k);
        let files = files.into_boxed_slice();
        let current = asset
            .file
            .as_ref()
            .and_then(|f| find(&files, &f.uid).cloned());
        let keys = format!("asset-{} stack-{}", asset.uid, asset.api_key);
        HotAsset {
            stack: ids::blt_bits(&asset.api_key).unwrap_or_default(),
            secured,
            deleted: asset.deleted_at.is_some(),
            has_slug: asset.permanent_slug.is_some(),
            text: Packed::new([
                &keys,
                &keys.replace(' ', ","),
                asset.permanent_slug.as_deref().unwrap_or(""),
                master_locale,
            ]),
            current,
            files,
        }
    }

    /// `Surrogate-Key` value: `asset-{uid} stack-{api_key}`.
    pub fn surrogate_key(&self) -> &str {
        self.text.get(0)
    }

    /// `Cache-Tag` value: `asset-{uid},stack-{api_key}`.
    pub fn cache_tag(&self) -> &str {
        self.text.get(1)
    }

    /// Permanent-URL slug, if generated.
    pub fn slug(&self) -> Option<&str> {
        self.has_slug.then(|| self.text.get(2))
    }

    /// Stack's master locale.
    pub fn master_locale(&self) -> &str {
        self.text.get(3)
    }

    /// A file of the asset by uid.
    pub fn file(&self, file_uid: &str) -> Option<&Arc<Prepared>> {
        find(&self.files, file_uid)
    }

    /// Approximate bytes this entry holds, for the index's budget.
    pub fn heap_bytes(&self) -> usize {
        let arc = 16;
        std::mem::size_of::<Self>()
            + self.text.text.len()
            + self
                .files
                .iter()
                .map(|(_, p)| std::mem::size_of::<(u128, Arc<Prepared>)>() + arc + p.heap_bytes())
                .sum::<usize>()
    }
}

fn find<'a>(files: &'a [(u128, Arc<Prepared>)], uid: &str) -> Option<&'a Arc<Prepared>> {
    let key = ids::file_uid_bits(uid)?;
    files
        .binary_search_by_key(&key, |(k, _)| *k)
        .ok()
        .map(|i| &files[i].1)
}

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

/// One thread's references to index entries, valid for one cache and generation.
struct Local {
    cache: u64,
    generation: u64,
    map: HashMap<u64, Arc<HotAsset>>,
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local {
        cache: 0,
        generation: 0,
        map: HashMap::new(),
    });
}

/// The index, the small-body cache and the open-file cache. One per process.
#[derive(Debug)]
pub struct HotCache {
    id: u64,
    generation: AtomicU64,
    /// By [`ids::blt_bits`] of the asset uid, within the budget.
    assets: RwLock<Index>,
    bodies: RwLock<Bodies>,
    files: Mutex<Files>,
}

impl HotCache {
    /// An empty cache whose index keeps entries up to `budget` bytes.
    pub fn new(budget: usize) -> Self {
        Self {
            id: NEXT_CACHE_ID.fetch_add(1, Ordering::Relaxed),
            generation: AtomicU64::new(0),
            assets: RwLock::new(Index::new(budget)),
            bodies: RwLock::default(),
            files: Mutex::default(),
        }
    }

    /// Calls `f` with the entry of an asset (`None`: not in the index). The calling thread
    /// keeps its own references to the entries it used until the next change anywhere, so
    /// repeated requests for the same assets write no memory shared with other threads: no
    /// lock and no reference count bouncing between cores (the delivery workers are
    /// nginx-like, one per core). `f` must not call `with` itself.
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
            if !local.map.contains_key(&key) {
                let hit = self
                    .assets
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(key)
                    .cloned();
                let Some(hit) = hit else {
                    drop(local);
                    return f(None);
                };
                if local.map.len() >= MAX_LOCAL {
                    local.map.clear();
                }
                local.map.insert(key, hit);
            }
            f(local.map.get(&key).map(|a| &**a))
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
        let len = bytes.len() as u64;
        if len > MAX_BODY {
            return;
        }
        let mut b = self.bodies.write().unwrap_or_else(PoisonError::into_inner);
        while b.total + len > MAX_BODY_TOTAL {
            let Some(k) = b.map.keys().next().cloned() else {
                break;
            };
            if let Some(old) = b.map.remove(&k) {
                b.total -= old.len() as u64;
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

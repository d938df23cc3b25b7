//! The hot index for delivery (§4 "fast and with bounded memory"): what the permanent and
//! version URLs of an asset resolve to, kept in memory so that serving a URL needs no
//! database round trip, plus the bytes of small files.
//!
//! Correctness rules:
//! - An entry is dropped whenever its asset changes ([`HotCache::invalidate`], called by the
//!   domain code after each committed change), so a replace is visible at once.
//! - A reader that loaded an entry from the database only stores it if no invalidation
//!   happened since it started reading (a generation counter), so a slow reader can never
//!   put back a state older than a committed change.
//! - File bodies are keyed by SHA-256: content-addressed bytes never go stale.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::assets::FileMeta;

/// Most asset entries kept; past that the index is cleared and refills on demand.
const MAX_ASSETS: usize = 250_000;
/// Files up to this size have their bytes cached.
pub const MAX_BODY: u64 = 1 << 20;
/// Total bytes of cached bodies.
const MAX_BODY_TOTAL: u64 = 64 << 20;

/// A file with its response header values computed once.
#[derive(Debug)]
pub struct Prepared {
    /// The file row.
    pub meta: FileMeta,
    /// Strong ETag (`"sha256"`).
    pub etag: Bytes,
    /// `Last-Modified` as an HTTP date.
    pub last_modified: Bytes,
    /// The same instant, for comparisons.
    pub modified: SystemTime,
    /// `Content-Type`.
    pub content_type: Bytes,
    /// `Content-Disposition: inline; …`.
    pub inline: Bytes,
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

/// The strings as slices of one buffer.
pub(super) fn packed<const N: usize>(parts: [&str; N]) -> [Bytes; N] {
    let all = Bytes::from(parts.concat());
    let mut start = 0;
    parts.map(|p| {
        let b = all.slice(start..start + p.len());
        start += p.len();
        b
    })
}

impl Prepared {
    /// `Content-Disposition: attachment; …` (computed when asked for: `?dl=1` is rare, and
    /// the index should stay small).
    pub fn attachment(&self) -> Bytes {
        Bytes::from(disposition("attachment", &self.meta.filename))
    }

    /// Computes the header values of a file.
    pub fn new(meta: FileMeta) -> Self {
        let modified = super::last_modified(&meta);
        // One allocation for all values: an answer reads them together, and with many
        // assets in the index each separate allocation would be another cache miss.
        let [etag, last_modified, content_type, inline] = packed([
            &super::etag(&meta),
            &httpdate::fmt_http_date(modified),
            &meta.content_type,
            &disposition("inline", &meta.filename),
        ]);
        Self {
            etag,
            last_modified,
            modified,
            content_type,
            inline,
            active: super::is_active_content(&meta.content_type),
            meta,
        }
    }
}

/// What the URLs of one asset resolve to.
#[derive(Debug)]
pub struct HotAsset {
    /// Stack of the asset.
    pub api_key: String,
    /// Stack's `secure_asset_urls`.
    pub secured: bool,
    /// Stack's master locale.
    pub master_locale: String,
    /// Tombstoned (§4: 410).
    pub deleted: bool,
    /// Permanent-URL slug, if generated.
    pub slug: Option<String>,
    /// Current file.
    pub current: Option<Arc<Prepared>>,
    /// Every file of the asset, by file uid (version URLs).
    pub files: HashMap<String, Arc<Prepared>>,
    /// `Surrogate-Key` value: `asset-{uid} stack-{api_key}`.
    pub surrogate_key: Bytes,
    /// `Cache-Tag` value: `asset-{uid},stack-{api_key}`.
    pub cache_tag: Bytes,
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

/// The index, the small-body cache and the open-file cache. One per process.
#[derive(Debug, Default)]
pub struct HotCache {
    generation: AtomicU64,
    assets: RwLock<HashMap<String, Arc<HotAsset>>>,
    bodies: Mutex<Bodies>,
    files: Mutex<Files>,
}

impl HotCache {
    /// The cached entry of an asset.
    pub fn get(&self, asset_uid: &str) -> Option<Arc<HotAsset>> {
        self.assets
            .read()
            .expect("hot index lock")
            .get(asset_uid)
            .cloned()
    }

    /// The current generation; read it before loading an entry from the database.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Stores an entry loaded since `generation`, unless something changed meanwhile.
    pub fn insert(&self, asset_uid: &str, entry: Arc<HotAsset>, generation: u64) {
        let mut map = self.assets.write().expect("hot index lock");
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if map.len() >= MAX_ASSETS {
            map.clear();
        }
        map.insert(asset_uid.to_owned(), entry);
    }

    /// Stores many entries loaded since `generation` (start-up preload). Returns false, and
    /// stores nothing, when something changed meanwhile.
    pub fn insert_all(&self, entries: Vec<(String, Arc<HotAsset>)>, generation: u64) -> bool {
        let mut map = self.assets.write().expect("hot index lock");
        if self.generation.load(Ordering::Acquire) != generation {
            return false;
        }
        for (k, v) in entries.into_iter().take(MAX_ASSETS) {
            map.entry(k).or_insert(v);
        }
        true
    }

    /// Drops an asset's entry after a committed change.
    pub fn invalidate(&self, asset_uid: &str) {
        let mut map = self.assets.write().expect("hot index lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.remove(asset_uid);
    }

    /// Drops every entry (stack settings changed, stack deleted).
    pub fn clear(&self) {
        let mut map = self.assets.write().expect("hot index lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.clear();
    }

    /// Cached bytes of a small file.
    pub fn body(&self, sha256: &str) -> Option<Bytes> {
        self.bodies
            .lock()
            .expect("body cache lock")
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
        let mut b = self.bodies.lock().expect("body cache lock");
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

    /// An open local blob file, if one was opened less than [`FILE_TTL`] ago.
    pub fn file(&self, sha256: &str) -> Option<Arc<std::fs::File>> {
        let files = self.files.lock().expect("file cache lock");
        let (file, opened) = files.map.get(sha256)?;
        (opened.elapsed() < FILE_TTL).then(|| file.clone())
    }

    /// Remembers an open local blob file (evicting expired ones, or any, when full).
    pub fn put_file(&self, sha256: &str, file: Arc<std::fs::File>) {
        let mut files = self.files.lock().expect("file cache lock");
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

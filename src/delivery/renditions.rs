//! Renditions (§11): a transformed image is rendered once, stored as a blob, and served
//! afterwards like a file, by both delivery writers.
//!
//! A rendition is named by its key, the SHA-256 of the source blob's SHA-256 and the
//! canonical transform (which includes the output format and quality). The key is also
//! its ETag, so equal requests share one rendition and one cache entry everywhere, a
//! replace (new bytes) gives the permanent URL new renditions at once, and version URLs
//! keep theirs.
//!
//! Lookups go memory → database → render. Rendering runs on the blocking pool within the
//! limits of [`RenderLimits`] (turns, memory, time, renditions per source, new renditions
//! per client); concurrent requests for one missing rendition wait for a single render (a
//! lock per key). After each render the
//! stored total is held to `rendition_budget_bytes` by deleting the least recently
//! served renditions; when they were served is kept in memory and written in batches.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;

use super::render_limits::RenderLimits;

mod apply;
mod budget;
mod memo;
mod wanted;
use crate::blob::BlobStore;
use crate::db::{Db, RenditionRow};
use crate::error::{Error, Result};
use crate::images::{self, Deadline, Format};
use crate::metrics::ShardedCounter;
use crate::time::now_ms;
use memo::Bounded;
pub use wanted::{decide, Decision, Source, Wanted};

/// Renditions remembered in memory (each about 250 bytes); past it the map starts over
/// from the database.
const MEMORY_ENTRIES: usize = RENDITION_ENTRIES;

/// Bytes of a source read to plan a render from its header.
const HEAD_BYTES: u64 = 256 * 1024;

/// Rendition query strings remembered per permanent URL for purging.
const PERMANENT_QUERIES: usize = 64;

/// A stored rendition, as delivery serves it.
#[derive(Debug)]
pub struct Rendition {
    /// Key (hex), also the ETag's value.
    pub key: String,
    /// The rendition's blob.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// Output format.
    pub format: Format,
    used: AtomicBool,
    /// Deleted by the budget or found lost: the fast path's memo must not serve it.
    gone: AtomicBool,
}

impl Rendition {
    fn from_row(r: &RenditionRow) -> Option<Self> {
        let format = format_of(&r.canonical)?;
        Some(Rendition {
            key: r.key.clone(),
            sha256: r.sha256.clone(),
            size: u64::try_from(r.size).ok()?,
            format,
            used: AtomicBool::new(false),
            gone: AtomicBool::new(false),
        })
    }

    /// The strong ETag: the key in quotes (distinct from every file's, which is a
    /// SHA-256 of file bytes).
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.key)
    }

    /// Marks it served (written to the database in the next batch).
    pub fn touch(&self) {
        if !self.used.load(Ordering::Relaxed) {
            self.used.store(true, Ordering::Relaxed);
        }
    }
}

/// Which of the `auto=` formats an `Accept` header allows (bit 0 WebP, bit 1 AVIF); 0 when
/// the query has no `auto` (the answer does not depend on `Accept`).
pub fn accept_class(query: &str, accept: Option<&str>) -> u8 {
    if !query.contains("auto=") {
        return 0;
    }
    let accept = accept.unwrap_or("");
    u8::from(images::accepts(accept, "image/webp"))
        | u8::from(images::accepts(accept, "image/avif")) << 1
        | 4
}

/// The fast path's memo: per source blob, the raw queries (with their `Accept` class)
/// already answered with a stored rendition, so a repeated request skips parsing and
/// hashing its parameters.
type Memo = Bounded<(Box<str>, u8, bool, Arc<Rendition>)>;

use crate::config::memory::{MEMO_BYTES, PERMANENT_QUERY_BYTES, RENDITION_ENTRIES};

/// The output format named in a canonical string.
fn format_of(canonical: &str) -> Option<Format> {
    let name = canonical
        .split(';')
        .find_map(|p| p.strip_prefix("format="))?;
    [
        Format::Jpeg,
        Format::ProgressiveJpeg,
        Format::Png,
        Format::Webp,
        Format::WebpLossless,
        Format::Avif,
        Format::Gif,
    ]
    .into_iter()
    .find(|f| f.name() == name)
}

/// Counters for `/metrics` and tests.
#[derive(Debug, Default)]
pub struct RenditionCounters {
    /// Renditions rendered (each one decode of a source image).
    pub rendered: ShardedCounter,
    /// Requests answered with a stored rendition.
    pub served: ShardedCounter,
    /// Renditions deleted by the size budget.
    pub evicted: ShardedCounter,
    /// Renders refused or failed (bad image, limits, time limit).
    pub failed: ShardedCounter,
}

/// Rendition storage and rendering for one process.
#[derive(Debug)]
pub struct Renditions {
    db: Db,
    blobs: BlobStore,
    budget: u64,
    /// Turns, memory, time and rate limits of renders.
    pub limits: RenderLimits,
    memory: RwLock<HashMap<String, Arc<Rendition>>>,
    memo: RwLock<Memo>,
    /// Query strings of renditions served on each asset's permanent URL (for CDN purges,
    /// §13), at most [`PERMANENT_QUERIES`] an asset.
    permanent_queries: Mutex<Bounded<Box<str>>>,
    /// URLs (path and query) answered with a rendition whose overlay was named by an
    /// asset's permanent URL, per overlay asset: a change of that asset purges them too.
    overlay_uses: Mutex<HashMap<String, Vec<Box<str>>>>,
    /// One lock per key being rendered.
    rendering: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    evicting: tokio::sync::Mutex<()>,
    /// Counters.
    pub counters: RenditionCounters,
}

impl Renditions {
    /// Renditions over `db` and `blobs`, within `budget` bytes of storage, rendered within
    /// `limits`.
    pub fn new(db: Db, blobs: BlobStore, budget: u64, limits: RenderLimits) -> Self {
        Renditions {
            db,
            blobs,
            budget,
            limits,
            memory: RwLock::new(HashMap::new()),
            memo: RwLock::new(Bounded::new(MEMO_BYTES, 64)),
            permanent_queries: Mutex::new(Bounded::new(PERMANENT_QUERY_BYTES, PERMANENT_QUERIES)),
            overlay_uses: Mutex::new(HashMap::new()),
            rendering: Mutex::new(HashMap::new()),
            evicting: tokio::sync::Mutex::new(()),
            counters: RenditionCounters::default(),
        }
    }

    /// The rendition `key` if this process has it in memory (the fast path's lookup).
    pub fn cached(&self, key: &str) -> Option<Arc<Rendition>> {
        let r = self.memory.read().ok()?.get(key).cloned()?;
        r.touch();
        Some(r)
    }

    /// A rendition the fast path answered this exact query for before, and whether the
    /// answer varies on `Accept`.
    pub fn memo(&self, sha256: &str, query: &str, class: u8) -> Option<(Arc<Rendition>, bool)> {
        let memo = self.memo.read().ok()?;
        let (_, _, vary, r) = memo
            .get(sha256)?
            .iter()
            .find(|(q, c, _, _)| *c == class && &**q == query)?;
        if r.gone.load(Ordering::Relaxed) {
            return None;
        }
        r.touch();
        Some((r.clone(), *vary))
    }

    /// Remembers the rendition a query was answered with (see [`Renditions::memo`]).
    pub fn remember_query(
        &self,
        sha256: &str,
        query: &str,
        class: u8,
        vary: bool,
        r: Arc<Rendition>,
    ) {
        let Ok(mut memo) = self.memo.write() else {
            return;
        };
        let size = query.len();
        memo.add(
            sha256,
            (query.into(), class, vary, r),
            size,
            |(_, _, _, old)| old.gone.load(Ordering::Relaxed),
        );
    }

    /// Notes that a permanent URL was asked for a rendition with this query string, so a
    /// change of the asset purges that URL from caches in front (§13).
    pub fn note_permanent_query(&self, asset_uid: &str, query: &str) {
        let Ok(mut m) = self.permanent_queries.lock() else {
            return;
        };
        if !m
            .get(asset_uid)
            .is_some_and(|l| l.iter().any(|q| &**q == query))
        {
            m.add(asset_uid, query.into(), query.len(), |_| false);
        }
    }

    /// The rendition query strings noted for an asset's permanent URL.
    pub fn permanent_queries(&self, asset_uid: &str) -> Vec<String> {
        self.permanent_queries
            .lock()
            .ok()
            .and_then(|m| {
                m.get(asset_uid)
                    .map(|l| l.iter().map(|q| q.to_string()).collect())
            })
            .unwrap_or_default()
    }

    fn remember(&self, r: Arc<Rendition>) {
        if let Ok(mut m) = self.memory.write() {
            if m.len() >= MEMORY_ENTRIES {
                m.clear();
            }
            m.insert(r.key.clone(), r);
        }
    }

    /// Forgets a rendition whose blob turned out to be gone (another process evicted it);
    /// the next request renders it again.
    pub async fn forget(&self, key: &str) {
        if let Ok(mut m) = self.memory.write() {
            if let Some(r) = m.remove(key) {
                r.gone.store(true, Ordering::Relaxed);
            }
        }
        if let Err(e) = self.db.delete_rendition(key).await {
            tracing::warn!("could not delete the row of a lost rendition {key}: {e}");
        }
    }

    /// The stored rendition, rendered now if it is not stored yet (counted against
    /// `client`'s new renditions a minute).
    pub async fn get_or_render(
        &self,
        wanted: &Wanted,
        source: Source<'_>,
        client: Option<IpAddr>,
    ) -> Result<Arc<Rendition>> {
        if let Some(r) = self.stored(&wanted.key).await? {
            return Ok(r);
        }
        self.limits.check_not_too_slow(&wanted.key)?;
        self.limits.count_miss(client)?;
        // One render per key: later requests wait here, then find it stored.
        let lock = {
            let mut map = self.rendering.lock().expect("rendering map");
            map.entry(wanted.key.clone()).or_default().clone()
        };
        let result = {
            let _guard = lock.lock().await;
            match self.stored(&wanted.key).await {
                Ok(Some(r)) => Ok(r),
                Ok(None) => self.render(wanted, source).await,
                Err(e) => Err(e),
            }
        };
        {
            let mut map = self.rendering.lock().expect("rendering map");
            if Arc::strong_count(&lock) <= 2 {
                map.remove(&wanted.key);
            }
        }
        result
    }

    async fn stored(&self, key: &str) -> Result<Option<Arc<Rendition>>> {
        if let Some(r) = self.cached(key) {
            return Ok(Some(r));
        }
        let Some(row) = self
            .db
            .rendition(key)
            .await
            .context("reading a rendition row")?
        else {
            return Ok(None);
        };
        let Some(r) = Rendition::from_row(&row) else {
            return Ok(None);
        };
        let r = Arc::new(r);
        r.touch();
        self.remember(r.clone());
        Ok(Some(r))
    }

    async fn render(&self, wanted: &Wanted, source: Source<'_>) -> Result<Arc<Rendition>> {
        let rendered = self
            .render_bytes(wanted, source)
            .await
            .inspect_err(|_| self.counters.failed.add(1))?;
        self.counters.rendered.add(1);
        let sha = self
            .blobs
            .put(&rendered.bytes)
            .await
            .context("storing a rendition")?;
        let now = now_ms();
        let row = RenditionRow {
            key: wanted.key.clone(),
            source_sha256: source.sha256.to_owned(),
            canonical: wanted.canonical.clone(),
            sha256: sha,
            size: rendered.bytes.len() as i64,
            content_type: wanted.output.content_type().to_owned(),
            width: i64::from(rendered.width),
            height: i64::from(rendered.height),
            created_at: now,
            last_used_at: now,
        };
        self.db
            .insert_rendition(&row)
            .await
            .context("recording a rendition")?;
        // Another process may have stored it first: its row is the one served.
        let stored = self
            .db
            .rendition(&wanted.key)
            .await
            .context("reading a rendition row")?
            .unwrap_or(row);
        let r = Arc::new(Rendition::from_row(&stored).context("a rendition row without format")?);
        r.touch();
        self.remember(r.clone());
        self.enforce_budget(Some(&r.key)).await;
        Ok(r)
    }

    /// Renders `wanted` within the limits: refused at once when it missed the time limit
    /// lately, when its source has as many renditions as it may, or when its estimated
    /// memory is more than the whole budget; otherwise it waits for a turn and for its
    /// memory, and runs on the blocking pool, which holds both until the render has
    /// stopped (at the deadline at the latest, but for an encoder call that cannot be
    /// interrupted).
    async fn render_bytes(&self, wanted: &Wanted, source: Source<'_>) -> Result<images::Rendered> {
        let limits = &self.limits;
        limits.check_not_too_slow(&wanted.key)?;
        if source.size > images::MAX_INPUT_BYTES {
            return Err(Error::field(
                "image",
                "is too large to transform: the limit is 50 MB",
            ));
        }
        let stored = self.db.renditions_of(source.sha256).await?;
        if stored as u64 >= limits.per_source {
            return Err(Error::field(
                "image",
                format!(
                    "has {stored} renditions stored already, the most one file may have: ask \
                     for one of those (or again once less used ones are evicted)"
                ),
            ));
        }
        if wanted.overlay_path().is_some() && wanted.overlay.is_none() {
            return Err(Error::Internal(anyhow::anyhow!(
                "a rendition with an overlay asked for before its overlay was resolved"
            )));
        }
        let overlay = match &wanted.overlay {
            Some(o) if o.size > images::MAX_INPUT_BYTES => {
                return Err(Error::field(
                    "overlay",
                    "is too large to draw: the limit is 50 MB",
                ))
            }
            Some(o) => Some(Source {
                sha256: &o.sha256,
                size: o.size,
                content_type: "",
            }),
            None => None,
        };
        let turn = limits.turn().await?;
        // The cost comes from the headers, so the files are read only once their memory
        // is reserved; a header past the first bytes (a JPEG with large metadata first)
        // needs the whole file. An overlay is small, and read whole at once.
        let (from, to) = (wanted.source, wanted.output);
        let overlay_bytes = match overlay {
            Some(o) => Some(self.whole(o).await?),
            None => None,
        };
        let ov = overlay_bytes.as_ref().map(|b| (&b[..], b.len() as u64));
        let t = &wanted.transform;
        let head = self.head(source).await?;
        let (cost, whole) = match images::cost_with_overlay(&head, source.size, from, t, to, ov) {
            Ok(cost) => (cost, None),
            Err(_) if (head.len() as u64) < source.size => {
                let all = self.whole(source).await?;
                let cost = images::cost_with_overlay(&all, source.size, from, t, to, ov)?;
                (cost, Some(all))
            }
            Err(e) => return Err(e),
        };
        let held = limits.reserve(turn, cost.memory).await?;
        let input = match whole {
            Some(all) => all,
            None => self.whole(source).await?,
        };
        let transform = wanted.transform.clone();
        let overlay_format = wanted.overlay.as_ref().map(|o| o.format);
        let deadline = Deadline::after(limits.timeout);
        let job = tokio::task::spawn_blocking(move || {
            let _held = held;
            let file = overlay_bytes
                .as_deref()
                .zip(overlay_format)
                .map(|(bytes, format)| images::OverlayFile { bytes, format });
            images::render_with_overlay(&input, from, &transform, to, file, &deadline)
        });
        // The render stops itself at the deadline; an encoder call that cannot be stopped
        // keeps its turn and memory until it ends, but the request does not wait for it.
        let grace = std::time::Duration::from_millis(250);
        let rendered = match tokio::time::timeout(limits.timeout + grace, job).await {
            Err(_) => Err(images::too_slow(limits.timeout)),
            Ok(joined) => joined.context("the render task failed")?,
        };
        if rendered.is_err() && deadline.passed() {
            limits.too_slow(&wanted.key);
        }
        rendered
    }

    /// The first [`HEAD_BYTES`] of a source (all of a smaller one).
    async fn head(&self, source: Source<'_>) -> Result<bytes::Bytes> {
        use futures_util::TryStreamExt as _;
        let n = source.size.min(HEAD_BYTES);
        let chunks: Vec<bytes::Bytes> = self
            .blobs
            .read_range(source.sha256, 0, n, n as usize)
            .await
            .with_context(|| format!("reading the header of blob {}", source.sha256))?
            .try_collect()
            .await
            .with_context(|| format!("reading the header of blob {}", source.sha256))?;
        Ok(chunks.concat().into())
    }

    /// A whole source, to render it.
    async fn whole(&self, source: Source<'_>) -> Result<bytes::Bytes> {
        Ok(self
            .blobs
            .read_all(source.sha256)
            .await
            .with_context(|| format!("reading blob {} to render it", source.sha256))?)
    }
}

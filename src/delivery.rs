//! Delivery (§2, §4): serving the bytes of version URLs and permanent URLs.
//!
//! One decision, two writers (STYLE rule 13). A request is classified once
//! (`request`: path, query flags, conditional headers, credentials), resolved to a file
//! (`resolve`: from the in-memory index, or with the database for credentials, tokens and
//! environments), and planned (`plan`: status, headers, which bytes). The HTTP fast path
//! and the router only read request bytes into a [`Classified`] and write a [`Plan`].
//!
//! [`Delivery`] holds what this needs: the index ([`HotCache`]), the database behind it,
//! the blob store and the cache lifetimes. [`Changes`] is how the rest of the domain tells
//! the index (and, on PostgreSQL, the other processes) that an asset changed.

mod conditional;
mod entry;
mod hot;
mod index;
mod loader;
pub mod memento;
pub use loader::on_worker_thread;
mod plan;
pub mod render_limits;
pub mod renditions;
mod request;
mod resolve;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

pub use conditional::{byte_range, evaluate, is_active_content, none_match, Conditionals, Outcome};
pub use entry::{Disposition, HotAsset, Prepared, StackStr};
pub use hot::{HotCache, MemoSlot, MAX_BODY};
pub use plan::{redirects, BodyRange, Plan};
pub use request::{Classified, DeliveryHeaders, DeliveryPath, DeliveryQuery, Method, Target};
pub use resolve::{resolve_public, Answer, Resolved, UrlKind};

use crate::blob::BlobStore;
use crate::db::Db;

/// `Cache-Control` of permanent-URL answers (§4), computed once.
#[derive(Debug, Clone)]
pub struct CacheControl {
    /// Public stacks: `public, max-age=…, stale-while-revalidate=…`.
    pub public: String,
    /// Secured stacks and management downloads: `private, …`.
    pub private: String,
}

impl CacheControl {
    /// From `permanent_max_age` and `permanent_stale_while_revalidate` (seconds).
    pub fn new(max_age: u64, stale_while_revalidate: u64) -> Self {
        let cc = |scope: &str| {
            format!("{scope}, max-age={max_age}, stale-while-revalidate={stale_while_revalidate}")
        };
        CacheControl {
            public: cc("public"),
            private: cc("private"),
        }
    }
}

/// Which writer answered a delivery request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// The fast path (`http/fast.rs`): from the index, without hyper.
    Fast,
    /// The router (`http/delivery.rs`), through hyper and axum.
    Router,
}

/// Shards of a counter: each thread adds to its own cache line, so counting costs the
/// fast path no memory traffic between cores.
const SHARDS: usize = 16;

#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard(AtomicU64);

/// Delivery answers per writer, for tests and operators.
#[derive(Debug, Default)]
pub struct Counters {
    fast: [Shard; SHARDS],
    router: [Shard; SHARDS],
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
}

impl Counters {
    /// Counts one answer.
    pub fn count(&self, writer: Writer) {
        let shards = match writer {
            Writer::Fast => &self.fast,
            Writer::Router => &self.router,
        };
        SHARD.with(|&i| shards[i].0.fetch_add(1, Ordering::Relaxed));
    }

    /// Answers so far by `writer`.
    pub fn get(&self, writer: Writer) -> u64 {
        let shards = match writer {
            Writer::Fast => &self.fast,
            Writer::Router => &self.router,
        };
        shards.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}

/// Everything delivery reads: index, database, blobs, cache lifetimes, counters.
#[derive(Debug)]
pub struct Delivery {
    /// The in-memory index, small-body cache and open-file cache.
    pub hot: Arc<HotCache>,
    /// The database behind the index.
    pub db: Db,
    /// Where the bytes are.
    pub blobs: BlobStore,
    /// `Cache-Control` of permanent URLs.
    pub cache_control: CacheControl,
    /// Answers per writer.
    pub counters: Counters,
    /// Image renditions (§11).
    pub renditions: renditions::Renditions,
    /// Woken after every change, so the event dispatcher (§13) need not wait for its poll.
    pub events_wake: Arc<tokio::sync::Notify>,
    /// Misses, read in batches (started with the first miss).
    loader: std::sync::OnceLock<loader::Loader>,
}

impl Delivery {
    /// Delivery over `db` and `blobs` with an empty index of `index_budget` bytes. Called
    /// on the runtime that owns the database pools: the miss loader starts there.
    pub fn new(
        db: Db,
        blobs: BlobStore,
        cache_control: CacheControl,
        memory: crate::config::MemoryPlan,
        renditions: renditions::Renditions,
    ) -> Self {
        let delivery = Delivery {
            renditions,
            events_wake: Arc::new(tokio::sync::Notify::new()),
            hot: Arc::new(HotCache::new(
                usize::try_from(memory.index).unwrap_or(usize::MAX),
                memory.bodies,
            )),
            db,
            blobs,
            cache_control,
            counters: Counters::default(),
            loader: std::sync::OnceLock::new(),
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            delivery.loader();
        }
        delivery
    }

    /// The miss loader (started on the current runtime if it has not been yet).
    fn loader(&self) -> &loader::Loader {
        self.loader
            .get_or_init(|| loader::Loader::start(self.db.clone(), self.hot.clone()))
    }

    /// A notifier for changes that this delivery's index must follow.
    pub fn changes(&self) -> Changes {
        Changes {
            hot: self.hot.clone(),
            db: self.db.clone(),
            wake: self.events_wake.clone(),
        }
    }
}

/// Tells delivery that assets changed (§4: a replace is visible at once, on every process).
#[derive(Debug, Clone)]
pub struct Changes {
    hot: Arc<HotCache>,
    db: Db,
    wake: Arc<tokio::sync::Notify>,
}

impl Changes {
    /// Records that an asset (`None`: anything in a stack's settings) changed: drops it from
    /// this process's index and tells the other processes. Call after the change committed.
    pub async fn changed(&self, asset_uid: Option<&str>) {
        match asset_uid {
            Some(u) => self.hot.invalidate(u),
            None => self.hot.clear(),
        }
        self.wake.notify_one();
        if let Err(e) = self.db.notify_changed(asset_uid).await {
            tracing::error!("could not notify other processes of a change: {e:#}");
        }
    }
}

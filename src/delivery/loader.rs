//! Loading index entries on a miss (§4), many at once. Requests for entries that are not
//! in the index queue here; a batch is whatever has queued while the queries in flight
//! (at most [`IN_FLIGHT`]) ran, read with one indexed query (`uid IN (…)`), so that when
//! many requests miss at once (a large stack and a small index budget) the database does
//! one round trip per batch instead of one per request. Unknown uids go to the negative
//! cache.
//!
//! On PostgreSQL each delivery worker thread also has a loader of its own
//! ([`Loader::local`]), over a connection opened on the worker's runtime: a miss then
//! costs no hop to another thread and back (the pooled loader runs on the main runtime,
//! whose tasks and sockets wake other threads). If that connection fails, the miss goes
//! to the pooled loader.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use super::entry::HotAsset;
use super::hot::HotCache;
use crate::db::{Db, DeliveryEntry};

/// Most uids read by one query.
const BATCH: usize = 64;

/// Most queries in flight at once: the database works on several batches in parallel
/// (its own cores) while the next one gathers.
const IN_FLIGHT: usize = 4;

type Reply = oneshot::Sender<Result<Option<Arc<HotAsset>>, String>>;

/// The queue of misses.
#[derive(Debug, Clone)]
pub(super) struct Loader {
    tx: mpsc::UnboundedSender<(String, Reply)>,
}

thread_local! {
    /// This thread is a delivery worker ([`on_worker_thread`]).
    static WORKER: Cell<bool> = const { Cell::new(false) };
    /// This worker's loader, for the index (by address) it was started for.
    static LOCAL: RefCell<Option<(usize, Loader)>> = const { RefCell::new(None) };
}

/// Marks the calling thread as a delivery worker: PostgreSQL misses read on it get a
/// loader and a connection of its own ([`Loader::local`]).
pub fn on_worker_thread() {
    WORKER.with(|w| w.set(true));
}

impl Loader {
    /// The calling delivery worker's own loader for this index (started on first use, on
    /// the worker's runtime). `None` off worker threads and on SQLite.
    pub(super) fn local(db: &Db, hot: &Arc<HotCache>) -> Option<Loader> {
        if !WORKER.with(Cell::get) || db.direct_reader().is_some() {
            return None;
        }
        let key = Arc::as_ptr(hot) as usize;
        LOCAL.with(|cell| {
            let mut cell = cell.borrow_mut();
            if let Some((k, loader)) = cell.as_ref() {
                if *k == key && !loader.tx.is_closed() {
                    return Some(loader.clone());
                }
            }
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run_local(db.clone(), hot.clone(), rx));
            let loader = Loader { tx };
            *cell = Some((key, loader.clone()));
            Some(loader)
        })
    }

    /// Starts the loading task on the current runtime; it ends when the loader is dropped.
    pub(super) fn start(db: Db, hot: Arc<HotCache>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(db, hot, rx));
        Loader { tx }
    }

    /// The entry of an asset, read from the database (and stored in the index); `None`
    /// when there is no deliverable asset with that uid.
    pub(super) async fn load(&self, asset_uid: &str) -> anyhow::Result<Option<Arc<HotAsset>>> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((asset_uid.to_owned(), reply))
            .map_err(|_| anyhow::anyhow!("the index loader has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the index loader has stopped"))?
            .map_err(|e| anyhow::anyhow!("loading the delivery entry of {asset_uid}: {e}"))
    }
}

async fn run(db: Db, hot: Arc<HotCache>, mut rx: mpsc::UnboundedReceiver<(String, Reply)>) {
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        // Whatever queues while every query is in flight joins the next batch.
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (db, hot) = (db.clone(), hot.clone());
        tokio::spawn(async move {
            load(&db, &hot, batch).await;
            drop(permit);
        });
    }
}

/// A worker's loader: one query at a time over its own connection, opened when first
/// needed and again after an error.
async fn run_local(db: Db, hot: Arc<HotCache>, mut rx: mpsc::UnboundedReceiver<(String, Reply)>) {
    let mut conn: Option<sqlx::AnyConnection> = None;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        if conn.is_none() {
            match db.connect_one().await {
                Some(Ok(c)) => conn = Some(c),
                Some(Err(e)) => tracing::debug!(error = %e, "a worker's connection failed"),
                None => return,
            }
        }
        let Some(c) = conn.as_mut() else {
            fail(batch, "no connection".into());
            continue;
        };
        let uids = batch_uids(&batch);
        let generation = hot.generation();
        match db.delivery_entries_on(c, &uids).await {
            Ok(entries) => answer(&hot, batch, &uids, &entries, generation),
            Err(e) => {
                conn = None;
                fail(batch, format!("{e:#}"));
            }
        }
    }
}

fn batch_uids(batch: &[(String, Reply)]) -> Vec<String> {
    let mut uids: Vec<String> = batch.iter().map(|(u, _)| u.clone()).collect();
    uids.sort_unstable();
    uids.dedup();
    uids
}

/// Remembers what a batch read (entries, and the uids without one) and answers each.
fn answer(
    hot: &HotCache,
    batch: Vec<(String, Reply)>,
    uids: &[String],
    entries: &[DeliveryEntry],
    generation: u64,
) {
    let mut found: HashMap<String, Arc<HotAsset>> = HashMap::new();
    for e in entries {
        if let Some(entry) = remember(hot, &e.uid, Some(e), generation) {
            found.insert(e.uid.clone(), entry);
        }
    }
    for uid in uids.iter().filter(|u| !found.contains_key(*u)) {
        remember(hot, uid, None, generation);
    }
    for (uid, reply) in batch {
        let _ = reply.send(Ok(found.get(&uid).cloned()));
    }
}

fn fail(batch: Vec<(String, Reply)>, e: String) {
    for (_, reply) in batch {
        let _ = reply.send(Err(e.clone()));
    }
}

/// Reads one batch of misses and answers each.
async fn load(db: &Db, hot: &HotCache, batch: Vec<(String, Reply)>) {
    let uids = batch_uids(&batch);
    let generation = hot.generation();
    match db.delivery_entries(&uids).await {
        Ok(entries) => answer(hot, batch, &uids, &entries, generation),
        Err(e) => fail(batch, format!("{e:#}")),
    }
}

/// Stores what the database said of `asset_uid` in the index (read at `generation`): its
/// entry, or that it has none (the negative cache). Returns the entry.
pub(super) fn remember(
    hot: &HotCache,
    asset_uid: &str,
    found: Option<&DeliveryEntry>,
    generation: u64,
) -> Option<Arc<HotAsset>> {
    match found {
        Some(e) => {
            let entry = Arc::new(HotAsset::new(e));
            hot.insert(asset_uid, entry.clone(), generation);
            Some(entry)
        }
        None => {
            hot.set_missing(asset_uid, generation);
            None
        }
    }
}

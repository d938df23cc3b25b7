//! What keeps renders bounded (§11), whoever asks for them: at most `render_concurrency`
//! at once, their memory estimates together within `render_memory_bytes`, each within
//! `render_timeout` (a render that did not make it is refused at once for
//! [`TOO_SLOW_FOR`] rather than tried again from zero), and at most
//! `render_misses_per_minute` new renditions per client address. The permits are owned by
//! the render itself, on its blocking thread, so they are released when it has really
//! stopped, not when the request that started it gave up.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};

/// How long a rendition that missed the time limit is refused without trying again.
pub const TOO_SLOW_FOR: Duration = Duration::from_secs(10 * 60);

/// Most verdicts and clients remembered; past it the oldest half of the verdicts go, and
/// the client windows start over.
const MAX_ENTRIES: usize = 100_000;

/// The window of the per-client count of new renditions.
const MISS_WINDOW: Duration = Duration::from_secs(60);

/// Render limits of one process.
#[derive(Debug)]
pub struct RenderLimits {
    permits: Arc<Semaphore>,
    concurrency: usize,
    memory: Arc<Semaphore>,
    memory_kib: u32,
    /// Each render's time limit.
    pub timeout: Duration,
    /// Renditions stored per source file.
    pub per_source: u64,
    misses_per_minute: u64,
    too_slow: Mutex<HashMap<String, Instant>>,
    misses: Mutex<HashMap<IpAddr, (Instant, u64)>>,
}

/// What a render holds while it runs: its turn and its memory.
#[derive(Debug)]
pub struct Held {
    _turn: OwnedSemaphorePermit,
    _memory: OwnedSemaphorePermit,
}

impl RenderLimits {
    /// Limits of `concurrency` renders, `memory_bytes` together, `timeout` each,
    /// `per_source` stored renditions per file and `misses_per_minute` new renditions per
    /// client (0: no limit).
    pub fn new(
        concurrency: usize,
        memory_bytes: u64,
        timeout: Duration,
        per_source: u64,
        misses_per_minute: u64,
    ) -> Self {
        let memory_kib = u32::try_from(memory_bytes >> 10)
            .unwrap_or(u32::MAX)
            .clamp(1, Semaphore::MAX_PERMITS as u32);
        RenderLimits {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            concurrency: concurrency.max(1),
            memory: Arc::new(Semaphore::new(memory_kib as usize)),
            memory_kib,
            timeout,
            per_source,
            misses_per_minute,
            too_slow: Mutex::new(HashMap::new()),
            misses: Mutex::new(HashMap::new()),
        }
    }

    /// The render memory budget in bytes.
    pub fn memory_budget(&self) -> u64 {
        u64::from(self.memory_kib) << 10
    }

    /// Bytes reserved by renders running now.
    pub fn memory_in_use(&self) -> u64 {
        u64::from(self.memory_kib).saturating_sub(self.memory.available_permits() as u64) << 10
    }

    /// Renders running now (holding a turn).
    pub fn running(&self) -> usize {
        self.concurrency
            .saturating_sub(self.permits.available_permits())
    }

    /// A turn to render: waits while `render_concurrency` renders run, at most the time
    /// limit of one render; then 503 (the renderer is busy; `Retry-After`).
    pub async fn turn(&self) -> Result<OwnedSemaphorePermit> {
        match tokio::time::timeout(self.timeout, self.permits.clone().acquire_owned()).await {
            Ok(permit) => Ok(permit.map_err(anyhow::Error::from)?),
            Err(_) => Err(Error::Unavailable("image renderer", 5)),
        }
    }

    /// Reserves `bytes` of the memory budget with the turn: waits while other renders hold
    /// too much of it, at most the time limit of one render (then 503); 422 when `bytes`
    /// alone is more than the budget.
    pub async fn reserve(&self, turn: OwnedSemaphorePermit, bytes: u64) -> Result<Held> {
        let kib = bytes.div_ceil(1024).max(1);
        if kib > u64::from(self.memory_kib) {
            return Err(Error::field(
                "image",
                format!(
                    "needs about {} MB of memory to render, more than the render memory \
                     budget of {} MB allows (ask for a smaller size)",
                    bytes >> 20,
                    self.memory_budget() >> 20
                ),
            ));
        }
        let wanted = self.memory.clone().acquire_many_owned(kib as u32);
        let memory = match tokio::time::timeout(self.timeout, wanted).await {
            Ok(permit) => permit.map_err(anyhow::Error::from)?,
            Err(_) => return Err(Error::Unavailable("image renderer", 5)),
        };
        Ok(Held {
            _turn: turn,
            _memory: memory,
        })
    }

    /// `Err` (422) when the rendition `key` missed the time limit within the last
    /// [`TOO_SLOW_FOR`].
    pub fn check_not_too_slow(&self, key: &str) -> Result<()> {
        let mut m = self.too_slow.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(until) = m.get(key).copied() else {
            return Ok(());
        };
        let now = Instant::now();
        if now >= until {
            m.remove(key);
            return Ok(());
        }
        Err(Error::field(
            "image",
            format!(
                "could not be rendered within the time limit of {} s when last asked for, and \
                 is not tried again for another {} s: ask for a smaller size, a lower quality \
                 or a faster format (jpg, webp)",
                self.timeout.as_secs().max(1),
                (until - now).as_secs().max(1)
            ),
        ))
    }

    /// Remembers that the rendition `key` missed the time limit.
    pub fn too_slow(&self, key: &str) {
        let mut m = self.too_slow.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if m.len() >= MAX_ENTRIES {
            m.retain(|_, until| *until > now);
            if m.len() >= MAX_ENTRIES {
                m.clear();
            }
        }
        m.insert(key.to_owned(), now + TOO_SLOW_FOR);
    }

    /// Counts one new rendition asked for by `client`; `Err` (429) past its limit.
    pub fn count_miss(&self, client: Option<IpAddr>) -> Result<()> {
        let (Some(client), limit) = (client, self.misses_per_minute) else {
            return Ok(());
        };
        if limit == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut m = self.misses.lock().unwrap_or_else(PoisonError::into_inner);
        if m.len() >= MAX_ENTRIES && !m.contains_key(&client) {
            m.retain(|_, (start, _)| now.duration_since(*start) < MISS_WINDOW);
            if m.len() >= MAX_ENTRIES {
                m.clear();
            }
        }
        let (start, n) = m.entry(client).or_insert((now, 0));
        if now.duration_since(*start) >= MISS_WINDOW {
            (*start, *n) = (now, 0);
        }
        if *n >= limit {
            let wait = MISS_WINDOW.saturating_sub(now.duration_since(*start));
            return Err(Error::TooManyRenders(limit, wait.as_secs().max(1)));
        }
        *n += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_is_reserved_and_given_back() {
        let l = RenderLimits::new(3, 10 << 20, Duration::from_secs(1), 10, 2);
        let turn = l.turn().await.unwrap();
        assert_eq!(l.reserve(turn, 11 << 20).await.unwrap_err().status(), 422);
        let held = l.reserve(l.turn().await.unwrap(), 6 << 20).await.unwrap();
        assert_eq!(l.memory_in_use(), 6 << 20);
        // A second render that does not fit waits until the first has stopped.
        let second = l.reserve(l.turn().await.unwrap(), 6 << 20);
        tokio::pin!(second);
        assert!(tokio::time::timeout(Duration::from_millis(50), &mut second)
            .await
            .is_err());
        drop(held);
        let second = second.await.unwrap();
        assert_eq!(l.memory_in_use(), 6 << 20);
        assert_eq!(l.running(), 1);
        // Past the time limit, waiting for memory (or a turn) is a 503.
        let third = l.reserve(l.turn().await.unwrap(), 6 << 20).await;
        assert_eq!(third.unwrap_err().status(), 503);
        drop(second);
        assert_eq!((l.running(), l.memory_in_use()), (0, 0));
    }

    #[test]
    fn verdicts_and_misses() {
        let l = RenderLimits::new(1, 1 << 20, Duration::from_secs(1), 10, 2);
        assert!(l.check_not_too_slow("k").is_ok());
        l.too_slow("k");
        assert!(l.check_not_too_slow("k").is_err());
        assert!(l.check_not_too_slow("other").is_ok());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(l.count_miss(Some(a)).is_ok());
        assert!(l.count_miss(Some(a)).is_ok());
        assert_eq!(l.count_miss(Some(a)).unwrap_err().status(), 429);
        assert!(l.count_miss(Some(b)).is_ok());
        assert!(l.count_miss(None).is_ok());
    }
}

//! Request limits. Failed logins (always on) are slowed three ways, none of which lets
//! a stranger lock the owner out:
//!
//! * per (e-mail, client address): the first [`FREE_TRIES`] failures cost nothing, then
//!   each further try from that address for that account waits twice as long as the last
//!   (1 s, 2 s, 4 s … up to [`MAX_DELAY`]). Someone guessing from elsewhere does not slow
//!   the owner's own address.
//! * per client address: [`PER_ADDRESS`] failures in a [`WINDOW`] (any accounts) and the
//!   address waits for the window's end (password spraying).
//! * per e-mail: past [`PER_EMAIL`] failures in a window from all addresses together (a
//!   guess spread over many addresses), addresses that have not logged in to that
//!   account successfully before (in this process) wait for the window's end; addresses
//!   that have keep logging in.
//!
//! A refused try answers 429 with `Retry-After` even with the right password (so a
//! guesser learns nothing from the answer). A successful login clears its pair's count.
//! The client address is the peer's, or the one a proxy listed in
//! `PERMA_TRUSTED_PROXIES` forwards (`http/server.rs`). And the optional management API
//! limit ([`RateLimiter`], `PERMA_RATE_LIMIT`): a token bucket per credential. State is
//! per process and bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Failures from one address for one account that cost no delay.
pub const FREE_TRIES: u32 = 5;
/// The longest delay between tries of one (account, address) pair.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Failures one e-mail address may have per window from all addresses together before
/// addresses it does not know are held back.
pub const PER_EMAIL: u32 = 100;
/// Failures one client address may have per window (it may try several e-mails).
pub const PER_ADDRESS: u32 = 30;
/// The window of the per-address and per-e-mail counts, and how long a pair's count is
/// remembered after its last failure.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Addresses remembered per account as having logged in.
const KNOWN_PER_EMAIL: usize = 16;
/// Most keys remembered; past that, expired ones go, then (if still full) all of them:
/// availability over strictness when flooded.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, Option<IpAddr>),
    Email(String),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    failures: u32,
    started: Instant,
    last: Instant,
}

#[derive(Debug, Default)]
struct State {
    windows: HashMap<Key, Window>,
    /// Per e-mail, addresses that logged in to it.
    known: HashMap<String, Vec<IpAddr>>,
}

/// Failed logins by (e-mail, address), by e-mail and by client address.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    state: Mutex<State>,
}

fn norm(email: &str) -> String {
    email.trim().to_lowercase()
}

/// How long a pair with `failures` failures waits after its last one.
fn pair_delay(failures: u32) -> Duration {
    if failures < FREE_TRIES {
        return Duration::ZERO;
    }
    let exp = (failures - FREE_TRIES).min(20);
    Duration::from_secs(1u64 << exp).min(MAX_DELAY)
}

impl LoginThrottle {
    /// `Err(retry_after)` when this e-mail may not be tried from this address yet.
    pub fn check(&self, email: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        self.check_at(&norm(email), address, Instant::now())
    }

    fn check_at(&self, email: &str, address: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut wait = Duration::ZERO;
        let remaining = |until: Duration, since: Instant| until.saturating_sub(now - since);
        if let Some(w) = state.windows.get(&Key::Pair(email.to_owned(), address)) {
            if now - w.last < WINDOW {
                wait = wait.max(remaining(pair_delay(w.failures), w.last));
            }
        }
        if let Some(a) = address {
            if let Some(w) = state.windows.get(&Key::Address(a)) {
                if now - w.started < WINDOW && w.failures >= PER_ADDRESS {
                    wait = wait.max(remaining(WINDOW, w.started));
                }
            }
        }
        if let Some(w) = state.windows.get(&Key::Email(email.to_owned())) {
            let known =
                address.is_some_and(|a| state.known.get(email).is_some_and(|k| k.contains(&a)));
            if !known && now - w.started < WINDOW && w.failures >= PER_EMAIL {
                wait = wait.max(remaining(WINDOW, w.started));
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait)
        }
    }

    /// Counts a failed login.
    pub fn failed(&self, email: &str, address: Option<IpAddr>) {
        self.failed_at(&norm(email), address, Instant::now());
    }

    fn failed_at(&self, email: &str, address: Option<IpAddr>, now: Instant) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.windows.len() >= MAX_KEYS {
            state
                .windows
                .retain(|_, w| now.duration_since(w.last) < WINDOW);
            if state.windows.len() >= MAX_KEYS {
                state.windows.clear();
            }
        }
        let mut keys = vec![
            Key::Pair(email.to_owned(), address),
            Key::Email(email.to_owned()),
        ];
        keys.extend(address.map(Key::Address));
        for key in keys {
            let pair = matches!(key, Key::Pair(..));
            let w = state.windows.entry(key).or_insert(Window {
                failures: 0,
                started: now,
                last: now,
            });
            // A pair's count lives while failures keep coming; the others are windows.
            let expired = if pair {
                now.duration_since(w.last) >= WINDOW
            } else {
                now.duration_since(w.started) >= WINDOW
            };
            if expired {
                *w = Window {
                    failures: 0,
                    started: now,
                    last: now,
                };
            }
            w.failures += 1;
            w.last = now;
        }
    }

    /// Clears the pair's failures after a successful login, and remembers the address as
    /// one this account logs in from.
    pub fn succeeded(&self, email: &str, address: Option<IpAddr>) {
        let email = norm(email);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.windows.remove(&Key::Pair(email.clone(), address));
        if let Some(a) = address {
            if state.known.len() >= MAX_KEYS {
                state.known.clear();
            }
            let known = state.known.entry(email).or_default();
            if !known.contains(&a) {
                if known.len() >= KNOWN_PER_EMAIL {
                    known.remove(0);
                }
                known.push(a);
            }
        }
    }
}

/// A token bucket per credential: `per_second` requests a second, bursts of up to one
/// second's worth.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: u32,
    buckets: Mutex<HashMap<[u8; 32], Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Go ahead; this many requests are left in the bucket.
    Allowed {
        /// Whole requests left (`X-RateLimit-Remaining`).
        remaining: u32,
    },
    /// Refused; retry after this long.
    Limited {
        /// Until the next request would pass (`Retry-After`).
        retry_after: Duration,
    },
}

impl RateLimiter {
    /// A limiter of `per_second` requests a second per credential (at least 1).
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second: per_second.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The limit (`X-RateLimit-Limit`).
    pub fn limit(&self) -> u32 {
        self.per_second
    }

    /// Takes one request from the bucket of `credential` (its secret is hashed here and
    /// never kept).
    pub fn take(&self, credential: &str) -> Verdict {
        use sha2::{Digest, Sha256};
        let key: [u8; 32] = Sha256::digest(credential.as_bytes()).into();
        self.take_at(key, Instant::now())
    }

    fn take_at(&self, key: [u8; 32], now: Instant) -> Verdict {
        let rate = f64::from(self.per_second);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(&key) {
            // Full buckets carry no state worth keeping.
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < rate);
            if buckets.len() >= MAX_KEYS {
                buckets.clear();
            }
        }
        let b = buckets.entry(key).or_insert(Bucket {
            tokens: rate,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(rate);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Verdict::Allowed {
                remaining: b.tokens.floor() as u32,
            }
        } else {
            Verdict::Limited {
                retry_after: Duration::from_secs_f64((1.0 - b.tokens) / rate),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_per_credential() {
        let r = RateLimiter::new(3);
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let t0 = Instant::now();
        for left in [2, 1, 0] {
            assert_eq!(r.take_at(a, t0), Verdict::Allowed { remaining: left });
        }
        let Verdict::Limited { retry_after } = r.take_at(a, t0) else {
            panic!("the fourth request in a second must wait")
        };
        assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_millis(334));
        // Another credential has its own bucket.
        assert_eq!(r.take_at(b, t0), Verdict::Allowed { remaining: 2 });
        // A third of a second refills one request; a long pause refills only to the burst.
        assert!(matches!(
            r.take_at(a, t0 + Duration::from_millis(340)),
            Verdict::Allowed { remaining: 0 }
        ));
        assert_eq!(
            r.take_at(a, t0 + Duration::from_secs(60)),
            Verdict::Allowed { remaining: 2 }
        );
    }

    #[test]
    fn growing_delays_per_pair_and_limits_per_address_and_email() {
        let t = LoginThrottle::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let owner: IpAddr = "192.0.2.3".parse().unwrap();
        let t0 = Instant::now();
        t.succeeded("x@example.com", Some(owner));
        for _ in 0..FREE_TRIES {
            assert!(t.check_at("x@example.com", Some(a), t0).is_ok());
            t.failed_at("x@example.com", Some(a), t0);
        }
        // The sixth try from a waits 1 s, then 2 s after the next failure, and so on.
        assert_eq!(
            t.check_at("x@example.com", Some(a), t0),
            Err(Duration::from_secs(1))
        );
        let t1 = t0 + Duration::from_secs(1);
        assert!(t.check_at("x@example.com", Some(a), t1).is_ok());
        t.failed_at("x@example.com", Some(a), t1);
        assert_eq!(
            t.check_at("x@example.com", Some(a), t1),
            Err(Duration::from_secs(2))
        );
        assert_eq!(pair_delay(100), MAX_DELAY);
        // Another address is not slowed by a's failures: not a stranger, not the owner.
        assert!(t.check_at("x@example.com", Some(b), t1).is_ok());
        assert!(t.check_at("x@example.com", Some(owner), t1).is_ok());
        // Spraying from one address: 30 failures over any accounts hold it back.
        for i in 0..PER_ADDRESS {
            t.failed_at(&format!("u{i}@example.com"), Some(b), t1);
        }
        assert!(t.check_at("fresh@example.com", Some(b), t1).is_err());
        assert!(t.check_at("fresh@example.com", Some(a), t1).is_ok());
        // A guess spread over many addresses: past PER_EMAIL, unknown addresses wait,
        // the address the owner logged in from does not.
        for i in 0..PER_EMAIL {
            let ip = IpAddr::from([198, 51, (i / 256) as u8, (i % 256) as u8]);
            t.failed_at("x@example.com", Some(ip), t1);
        }
        assert!(t
            .check_at("x@example.com", Some("203.0.113.1".parse().unwrap()), t1)
            .is_err());
        assert!(t.check_at("x@example.com", Some(owner), t1).is_ok());
        // A success clears its own pair only.
        t.succeeded("x@example.com", Some(a));
        let t2 = t1 + Duration::from_millis(1);
        assert!(t.check_at("x@example.com", Some(a), t2).is_ok());
        // Windows end.
        let later = t1 + WINDOW + Duration::from_secs(1);
        assert!(t.check_at("fresh@example.com", Some(b), later).is_ok());
    }
}

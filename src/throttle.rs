//! Request limits. Failed logins (always on): password guessing is slowed per e-mail
//! address and per client address. Each key counts failures in a fixed window; past its
//! limit, logins for that key are refused with 429 and `Retry-After` until the window ends,
//! even with the right password (so a guesser learns nothing from the answer). A
//! successful login clears the e-mail's count. And the optional management API limit
//! ([`RateLimiter`], `PERMA_RATE_LIMIT`): a token bucket per credential. State is per
//! process and bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Failures one e-mail address may have per window.
pub const PER_EMAIL: u32 = 10;
/// Failures one client address may have per window (it may try several e-mails).
pub const PER_ADDRESS: u32 = 30;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Most keys remembered; past that, expired ones go, then (if still full) all of them:
/// availability over strictness when flooded.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Email(String),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    failures: u32,
    started: Instant,
}

/// Failed logins by e-mail and by client address.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    windows: Mutex<HashMap<Key, Window>>,
}

fn keys(email: &str, address: Option<IpAddr>) -> impl Iterator<Item = (Key, u32)> {
    let email = (Key::Email(email.trim().to_lowercase()), PER_EMAIL);
    std::iter::once(email).chain(address.map(|a| (Key::Address(a), PER_ADDRESS)))
}

impl LoginThrottle {
    /// `Err(retry_after)` when this e-mail or this address has used up its failures.
    pub fn check(&self, email: &str, address: Option<IpAddr>) -> Result<(), Duration> {
        let now = Instant::now();
        let windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let mut wait = Duration::ZERO;
        for (key, limit) in keys(email, address) {
            if let Some(w) = windows.get(&key) {
                let age = now.duration_since(w.started);
                if age < WINDOW && w.failures >= limit {
                    wait = wait.max(WINDOW - age);
                }
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
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if windows.len() >= MAX_KEYS {
            windows.retain(|_, w| now.duration_since(w.started) < WINDOW);
            if windows.len() >= MAX_KEYS {
                windows.clear();
            }
        }
        for (key, _) in keys(email, address) {
            let w = windows.entry(key).or_insert(Window {
                failures: 0,
                started: now,
            });
            if now.duration_since(w.started) >= WINDOW {
                *w = Window {
                    failures: 0,
                    started: now,
                };
            }
            w.failures += 1;
        }
    }

    /// Clears an e-mail's failures after a successful login.
    pub fn succeeded(&self, email: &str) {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        windows.remove(&Key::Email(email.trim().to_lowercase()));
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
    fn limits_per_email_and_per_address() {
        let t = LoginThrottle::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..PER_EMAIL {
            assert!(t.check("x@example.com", Some(a)).is_ok());
            t.failed("X@example.com ", Some(a));
        }
        let wait = t.check("x@example.com", Some(b)).unwrap_err();
        assert!(wait > Duration::from_secs(60) && wait <= WINDOW);
        // Another e-mail from the same address still may, until the address's limit.
        assert!(t.check("y@example.com", Some(a)).is_ok());
        for i in PER_EMAIL..PER_ADDRESS {
            t.failed(&format!("u{i}@example.com"), Some(a));
        }
        assert!(t.check("z@example.com", Some(a)).is_err());
        assert!(t.check("z@example.com", Some(b)).is_ok());
        // Success clears the e-mail's count (not the address's).
        t.succeeded("x@example.com");
        assert!(t.check("x@example.com", Some(b)).is_ok());
        assert!(t.check("x@example.com", Some(a)).is_err());
    }
}

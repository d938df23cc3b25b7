//! Failed-login limits (always on): password guessing is slowed per e-mail address and per
//! client address. Each key counts failures in a fixed window; past its limit, logins for
//! that key are refused with 429 and `Retry-After` until the window ends, even with the
//! right password (so a guesser learns nothing from the answer). A successful login clears
//! the e-mail's count. State is per process and bounded.

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

#[cfg(test)]
mod tests {
    use super::*;

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

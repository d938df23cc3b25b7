//! Identifiers (§1): `blt` + 16 lowercase hex for stacks and assets, 24 lowercase hex for
//! files, and random secrets for session and API tokens. Parsed at the edge, so a handler
//! that holds an [`ApiKey`] or [`Uid`] knows its shape is right.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// `bytes` random bytes from the OS, as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `blt` + 16 lowercase hex: the shape of api keys, asset, user and other uids.
fn is_blt(s: &str) -> bool {
    s.len() == 19 && s.starts_with("blt") && is_lower_hex(&s[3..])
}

/// The 64 bits of a `blt…` uid or api key; `None` for anything else. A compact key for
/// in-memory indexes (no string on the heap to compare).
pub fn blt_bits(s: &str) -> Option<u64> {
    is_blt(s).then(|| u64::from_str_radix(&s[3..], 16).ok())?
}

/// The 96 bits of a file uid; `None` for anything else.
pub fn file_uid_bits(s: &str) -> Option<u128> {
    is_file_uid(s).then(|| u128::from_str_radix(s, 16).ok())?
}

/// A new `blt…` uid (64 random bits).
pub fn new_uid() -> String {
    format!("blt{}", random_hex(8))
}

/// A new file uid: 24 lowercase hex (96 random bits).
pub fn new_file_uid() -> String {
    random_hex(12)
}

/// True when `s` has the shape of a file uid.
pub fn is_file_uid(s: &str) -> bool {
    s.len() == 24 && is_lower_hex(s)
}

/// A new secret token with `prefix` and 256 random bits. Only [`hash_token`] of it is stored.
pub fn new_secret(prefix: &str) -> String {
    format!("{prefix}{}", random_hex(32))
}

/// Whether an `Authorization` value has the shape of a perma management token (`cs` and
/// 64 hex, optionally after `Bearer `). Other schemes (`Basic …` from an auth proxy, a
/// JWT) are somebody else's credentials.
pub fn is_management_token(value: &str) -> bool {
    let t = value.strip_prefix("Bearer ").unwrap_or(value).trim();
    t.len() == 66 && t.starts_with("cs") && t[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// An address or CIDR network (`10.0.0.0/24`, `2001:db8::/32`, `192.0.2.7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl Network {
    /// Parses `addr[/prefix]`; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        let (a, p) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: std::net::IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Network { addr, prefix })
    }

    /// Whether `ip` is in the network.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let bits = |ip: std::net::IpAddr| -> (u128, u8) {
            match ip {
                std::net::IpAddr::V4(v) => (u128::from(u32::from(v)) << 96, 32),
                std::net::IpAddr::V6(v) => (u128::from(v), 128),
            }
        };
        let ((net, width), (ip, ip_width)) = (bits(self.addr), bits(ip));
        if width != ip_width {
            return false;
        }
        let mask = if self.prefix == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(self.prefix))
        };
        net & mask == ip & mask
    }
}

/// SHA-256 of a secret token, hex. Tokens have 256 bits of entropy, so a fast hash is the
/// right tool here (argon2 is for low-entropy passwords).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A stack's api key (`blt` + 16 hex).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiKey(String);

impl ApiKey {
    /// Parses an api key; `None` when the shape is wrong.
    pub fn parse(s: &str) -> Option<Self> {
        is_blt(s).then(|| Self(s.to_owned()))
    }
    /// A fresh random api key.
    pub fn generate() -> Self {
        Self(new_uid())
    }
    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An asset or folder uid (`blt` + 16 hex).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Uid(String);

impl Uid {
    /// Parses a uid; `None` when the shape is wrong.
    pub fn parse(s: &str) -> Option<Self> {
        is_blt(s).then(|| Self(s.to_owned()))
    }
    /// The uid as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let k = ApiKey::generate();
        assert!(ApiKey::parse(k.as_str()).is_some());
        assert!(ApiKey::parse("blt123").is_none());
        assert!(ApiKey::parse("BLT0123456789abcdef").is_none());
        assert!(Uid::parse("blt0123456789ABCDEF").is_none());
        assert!(is_file_uid(&new_file_uid()));
        assert!(!is_file_uid("../../../etc/passwd00000"));
        assert_ne!(new_secret("cs"), new_secret("cs"));
        let n = Network::parse("10.0.0.0/24").unwrap();
        assert!(n.contains("10.0.0.200".parse().unwrap()));
        assert!(!n.contains("10.0.1.1".parse().unwrap()));
        assert!(!n.contains("::1".parse().unwrap()));
        assert!(Network::parse("192.0.2.7")
            .unwrap()
            .contains("192.0.2.7".parse().unwrap()));
        assert!(Network::parse("2001:db8::/32")
            .unwrap()
            .contains("2001:db8::1".parse().unwrap()));
        assert!(Network::parse("10.0.0.0/33").is_none() && Network::parse("x").is_none());
        let token = new_secret("cs");
        assert!(is_management_token(&token));
        assert!(is_management_token(&format!("Bearer {token}")));
        assert!(!is_management_token("Basic dXNlcjpwYXNz"));
        assert!(!is_management_token("Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"));
        assert!(!is_management_token(&token[..40]));
    }
}

//! Signed, expiring URLs (§13).
//!
//! A signed URL is a version or permanent URL with `expires` (Unix seconds) and, last,
//! `signature`: the lowercase hex HMAC-SHA256, with one of the stack's signing keys, of
//!
//! ```text
//! GET\n{path as sent}\n{query as sent, without the signature pair}
//! ```
//!
//! so every byte of the path and of the query (transform parameters, `environment`,
//! `expires`) is covered: any change answers 403, and a valid URL past `expires` 410.
//! HEAD is checked as GET. The stack's two newest keys are active, so a key can be
//! rotated without breaking URLs signed shortly before. On a secured stack a valid
//! signed URL stands in for a delivery token.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::db::audit::AuditEntry;
use crate::db::events::SigningKey;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::ids;
use crate::time::now_ms;

/// Longest `expires_in`: a year.
pub const MAX_EXPIRES_IN: i64 = 365 * 24 * 3600;

/// The query without its `signature` pair(s), byte for byte otherwise.
fn unsigned_query(query: &str) -> String {
    query
        .split('&')
        .filter(|pair| pair.split('=').next() != Some("signature"))
        .collect::<Vec<_>>()
        .join("&")
}

fn mac(secret: &str, path: &str, query: &str) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    m.update(b"GET\n");
    m.update(path.as_bytes());
    m.update(b"\n");
    m.update(unsigned_query(query).as_bytes());
    m
}

/// The signature of `path` and `query` (without `signature`) with `secret`.
pub fn sign(secret: &str, path: &str, query: &str) -> String {
    hex::encode(mac(secret, path, query).finalize().into_bytes())
}

/// Checks a signed request against the stack's active keys: 403 for a signature that does
/// not verify (or is missing `expires`), 410 when it verifies but has expired.
pub async fn verify(db: &Db, api_key: &str, path: &str, query: &str) -> Result<()> {
    let forbidden = || Error::Forbidden("The signature of this URL is not valid.".into());
    let mut signature = None;
    let mut expires = None;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            // A second one is a changed URL.
            "signature" if signature.is_some() => return Err(forbidden()),
            "signature" => signature = Some(v),
            "expires" if expires.is_some() => return Err(forbidden()),
            "expires" => expires = Some(v),
            _ => {}
        }
    }
    let (Some(signature), Some(expires)) = (signature, expires) else {
        return Err(forbidden());
    };
    // Lowercase hex exactly as signed: `AB` for `ab` is a changed byte too.
    if signature.len() != 64
        || !signature
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(forbidden());
    }
    let Ok(given) = hex::decode(signature) else {
        return Err(forbidden());
    };
    let keys = db.signing_keys(api_key).await?;
    // `verify_slice` compares in constant time.
    let valid = keys
        .iter()
        .any(|k| mac(&k.secret, path, query).verify_slice(&given).is_ok());
    if !valid {
        return Err(forbidden());
    }
    let expires: i64 = expires.parse().map_err(|_| forbidden())?;
    if expires.saturating_mul(1000) < now_ms() {
        return Err(Error::Expired);
    }
    Ok(())
}

/// The key new URLs are signed with: the stack's newest, made on first use.
pub async fn current_key(db: &Db, api_key: &str) -> Result<SigningKey> {
    if let Some(k) = db.signing_keys(api_key).await?.into_iter().next() {
        return Ok(k);
    }
    let entry = AuditEntry::system(api_key, "signing_key", "create", "first signed URL");
    rotate(db, api_key, entry).await
}

/// Makes a new signing key the current one; the previous stays valid, older ones stop.
pub async fn rotate(db: &Db, api_key: &str, audit: AuditEntry) -> Result<SigningKey> {
    let k = SigningKey {
        kid: ids::new_uid(),
        secret: ids::new_secret("sk"),
        created_at: now_ms(),
    };
    let entry = audit.item(&k.kid, "signing key", None);
    Ok(db.add_signing_key(api_key, &k, &[entry]).await?)
}

/// Appends `expires` and `signature` to `path` + `params` (a query without `?`, may be
/// empty), signed with `key`, valid until `expires` (Unix seconds).
pub fn signed_path(key: &SigningKey, path: &str, params: &str, expires: i64) -> String {
    let query = if params.is_empty() {
        format!("expires={expires}")
    } else {
        format!("{params}&expires={expires}")
    };
    let signature = sign(&key.secret, path, &query);
    format!("{path}?{query}&signature={signature}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_everything_but_itself() {
        let k = SigningKey {
            kid: "k".into(),
            secret: "s3cret".into(),
            created_at: 0,
        };
        let url = signed_path(&k, "/v3/assets/a/b/logo", "width=100", 2_000_000_000);
        let (path, query) = url.split_once('?').unwrap();
        assert!(query.starts_with("width=100&expires=2000000000&signature="));
        let sig = query.rsplit_once("signature=").unwrap().1;
        assert_eq!(sign("s3cret", path, query), sig);
        assert_ne!(sign("s3cret", path, &query.replace("100", "101")), sig);
        assert_ne!(sign("other", path, query), sig);
    }
}

//! Delivery (§2, §4): which file a version URL or permanent URL serves, and the HTTP
//! caching rules around it — strong ETags, conditional requests (RFC 9110 §13), single byte
//! ranges (RFC 9110 §14), cache headers per URL kind. Pure logic over plain values: the
//! HTTP layer turns the result into headers and a streamed body.

mod hot;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

pub use hot::{HotAsset, HotCache, Prepared, MAX_BODY};

use crate::app::App;
use crate::assets::FileMeta;
use crate::error::{Error, Result};
use crate::identity::{self, Credentials, TokenKind};
use crate::ids::{self, ApiKey, Uid};
use crate::time::{now_ms, to_system_time};

/// What the path named.
#[derive(Debug, Clone)]
pub enum Target {
    /// `/v3/assets/{api_key}/{asset_uid}/{file_uid}/{filename}` (§2.1).
    Version {
        /// The file uid segment.
        file_uid: String,
    },
    /// `/v3/assets/{api_key}/{asset_uid}/{slug}` (§2.2, §2.3).
    Slug(String),
    /// `/v3/assets/{api_key}/{asset_uid}`: the latest file, for management credentials only
    /// (the Python SDK's `download()`).
    Latest,
}

/// A delivery request, as parsed from path, query and headers.
#[derive(Debug, Clone)]
pub struct DeliveryRequest {
    /// Stack.
    pub api_key: String,
    /// Asset.
    pub asset_uid: String,
    /// Version or permanent URL.
    pub target: Target,
    /// `?environment=` name.
    pub environment: Option<String>,
    /// `?locale=` code (default: the stack's master locale).
    pub locale: Option<String>,
    /// `?access_token=` delivery token (secured stacks).
    pub access_token: Option<String>,
    /// Management credentials from the headers (§2.3).
    pub credentials: Credentials,
}

/// The kind of URL, which decides `Cache-Control` (§4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlKind {
    /// Immutable version URL.
    Version,
    /// Permanent URL (or management download through it).
    Permanent,
}

/// The file to serve, and how to label it.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The asset's index entry (stack, keys for purging).
    pub asset: Arc<HotAsset>,
    /// The file, with its header values.
    pub file: Arc<Prepared>,
    /// Which URL kind answered.
    pub kind: UrlKind,
    /// `private` caching: the stack is secured or credentials were used.
    pub private: bool,
}

impl Resolved {
    /// The answer, borrowed.
    pub fn answer(&self) -> Answer<'_> {
        Answer {
            asset: &self.asset,
            file: &self.file,
            kind: self.kind,
            private: self.private,
        }
    }
}

/// A decided answer, borrowed from the index (the fast path decides and writes the head
/// without taking a reference count on shared entries).
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// The asset's index entry.
    pub asset: &'a HotAsset,
    /// The file.
    pub file: &'a Arc<Prepared>,
    /// Which URL kind answered.
    pub kind: UrlKind,
    /// `private` caching.
    pub private: bool,
}

enum Mode {
    Management,
    Token { environment: String },
    Public,
}

/// The index entry of an asset: from memory, or loaded from the database and remembered.
/// `None` when the stack or asset does not exist (misses are not cached).
pub async fn hot_asset(app: &App, api_key: &str, asset_uid: &str) -> Result<Option<Arc<HotAsset>>> {
    if let Some(hit) = app.hot.get(asset_uid) {
        return Ok((Some(hit.stack) == ids::blt_bits(api_key)).then_some(hit));
    }
    let generation = app.hot.generation();
    let Some(stack) = app.db.stack(api_key).await? else {
        return Ok(None);
    };
    let Some(asset) = app
        .db
        .asset(api_key, asset_uid)
        .await?
        .filter(|a| !a.is_dir)
    else {
        return Ok(None);
    };
    let files = app.db.files_of_asset(asset_uid).await?;
    let entry = Arc::new(HotAsset::new(
        &asset,
        stack.secure_asset_urls,
        &stack.master_locale,
        &files,
    ));
    app.hot.insert(asset_uid, entry.clone(), generation);
    Ok(Some(entry))
}

/// Loads the delivery index for every asset at start-up, so that the first request for an
/// asset is as fast as the millionth, whatever the size of the stack. Retries when a change
/// lands during the load; gives up (lookups then fill the index on demand) after a few tries.
pub async fn preload(app: &App) -> anyhow::Result<usize> {
    for _ in 0..3 {
        let generation = app.hot.generation();
        let (assets, files) = app.db.delivery_index().await?;
        let mut by_asset: HashMap<String, Vec<FileMeta>> = HashMap::new();
        for (asset_uid, f) in files {
            by_asset.entry(asset_uid).or_default().push(f);
        }
        let entries: Vec<(String, Arc<HotAsset>)> = assets
            .iter()
            .map(|(a, secured, locale)| {
                let files = by_asset.remove(&a.uid).unwrap_or_default();
                (
                    a.uid.clone(),
                    Arc::new(HotAsset::new(a, *secured, locale, &files)),
                )
            })
            .collect();
        let n = entries.len();
        if app.hot.insert_all(entries, generation) {
            return Ok(n);
        }
    }
    Ok(0)
}

/// The answer to an anonymous request without `?environment=` or token, from the asset's
/// index entry alone (§4 "Which file": the version URL's file, or the permanent URL's current file).
/// `None` whenever anything else is needed: a database read, credentials, or an error
/// answer (unknown asset, wrong slug, secured stack, deleted asset). The HTTP fast path
/// (`http/fast.rs`) answers with this and hands everything else to [`resolve`].
pub fn resolve_public<'a>(
    asset: &'a HotAsset,
    api_key: &str,
    target: &Target,
) -> Option<Answer<'a>> {
    if Some(asset.stack) != ids::blt_bits(api_key) || asset.secured || asset.deleted {
        return None;
    }
    let (file, kind) = match target {
        Target::Version { file_uid } => (asset.file(file_uid)?, UrlKind::Version),
        Target::Slug(slug) if asset.slug() == Some(slug.as_str()) => {
            (asset.current.as_ref()?, UrlKind::Permanent)
        }
        Target::Slug(_) | Target::Latest => return None,
    };
    Some(Answer {
        asset,
        file,
        kind,
        private: false,
    })
}

/// Decides which file a delivery request serves (§4 "Which file", "Secured stacks").
/// Anonymous requests for public stacks are answered from memory.
pub async fn resolve(app: &App, req: &DeliveryRequest) -> Result<Resolved> {
    let anonymous = !req.credentials.present() && req.access_token.is_none();
    if anonymous && req.environment.is_none() {
        if let Some(hit) = app.hot.get(&req.asset_uid) {
            let found =
                resolve_public(&hit, &req.api_key, &req.target).map(|a| (a.file.clone(), a.kind));
            if let Some((file, kind)) = found {
                return Ok(Resolved {
                    asset: hit,
                    file,
                    kind,
                    private: false,
                });
            }
        }
    }
    let not_found = || Error::NotFound("Asset");
    let api_key = ApiKey::parse(&req.api_key).ok_or_else(not_found)?;
    let asset_uid = Uid::parse(&req.asset_uid).ok_or_else(not_found)?;
    let asset = hot_asset(app, api_key.as_str(), asset_uid.as_str())
        .await?
        .ok_or_else(not_found)?;

    let mode = if req.credentials.present() {
        let access =
            identity::stack_access(&app.db, Some(api_key.as_str()), &req.credentials).await?;
        access.require_read()?;
        Mode::Management
    } else if let Some(token) = &req.access_token {
        let t = app
            .db
            .token_by_hash(&ids::hash_token(token))
            .await?
            .filter(|t| {
                t.kind == TokenKind::Delivery
                    && t.api_key == api_key.as_str()
                    && t.expires_at.is_none_or(|e| e > now_ms())
            })
            .ok_or(Error::Unauthorized)?;
        let environment = req.environment.clone().ok_or_else(|| {
            Error::Forbidden("A delivery token must be used with ?environment=".into())
        })?;
        if !t.environments.contains(&environment) {
            return Err(Error::Forbidden(
                "This delivery token is not valid for that environment.".into(),
            ));
        }
        Mode::Token { environment }
    } else if asset.secured {
        return Err(Error::Unauthorized);
    } else {
        Mode::Public
    };

    if asset.deleted {
        return Err(Error::Gone);
    }
    let environment = match &mode {
        Mode::Management => None,
        Mode::Token { environment } => Some(environment.as_str()),
        Mode::Public => req.environment.as_deref(),
    };
    // The file of the version published to the environment, if one is asked for.
    let published_file = match environment {
        None => None,
        Some(name) => {
            let env = app
                .db
                .environment(api_key.as_str(), name)
                .await?
                .ok_or(Error::NotFound("Environment"))?;
            let locale = req.locale.as_deref().unwrap_or(asset.master_locale());
            let version = app
                .db
                .published_version(asset_uid.as_str(), &env.uid, locale)
                .await?
                .ok_or_else(not_found)?;
            let v = app
                .db
                .version(asset_uid.as_str(), version)
                .await?
                .ok_or_else(not_found)?;
            let uid = v.file.ok_or_else(not_found)?.uid;
            Some(asset.file(&uid).cloned().ok_or_else(not_found)?)
        }
    };
    if matches!(req.target, Target::Latest) && !matches!(mode, Mode::Management) {
        return Err(Error::Unauthorized);
    }
    let (file, kind) = match &req.target {
        Target::Latest => (
            asset.current.clone().ok_or_else(not_found)?,
            UrlKind::Permanent,
        ),
        Target::Version { file_uid } => {
            let file = asset.file(file_uid).cloned().ok_or_else(not_found)?;
            // With a delivery token, only published files are served.
            if matches!(mode, Mode::Token { .. })
                && published_file.as_ref().map(|f| f.uid()) != Some(file.uid())
            {
                return Err(not_found());
            }
            (file, UrlKind::Version)
        }
        Target::Slug(slug) => {
            let current = asset.current.clone().ok_or_else(not_found)?;
            let matches_slug = asset.slug() == Some(slug.as_str());
            match mode {
                // §2.3: management download, always the latest version. Before a permanent
                // URL exists the current file name works too, so scripts can fetch bytes.
                Mode::Management if matches_slug || current.filename() == slug.as_str() => {
                    (current, UrlKind::Permanent)
                }
                _ if !matches_slug => return Err(not_found()),
                Mode::Management => unreachable!("handled above"),
                _ => (published_file.unwrap_or(current), UrlKind::Permanent),
            }
        }
    };
    Ok(Resolved {
        private: asset.secured || req.credentials.present(),
        asset,
        file,
        kind,
    })
}

/// The bytes of a small file (up to [`MAX_BODY`]): from the body cache, or read from the
/// blob store once and remembered (content-addressed, so never stale). Only bytes whose
/// length matches the file row are cached or returned.
pub async fn small_body(app: &App, sha256: &str, len: u64) -> std::io::Result<bytes::Bytes> {
    if let Some(b) = app.hot.body(sha256) {
        return Ok(b);
    }
    let b = app.blobs.read_all(sha256).await?;
    if b.len() as u64 != len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("blob has {} bytes, the file row says {len}", b.len()),
        ));
    }
    app.hot.put_body(sha256, b.clone());
    Ok(b)
}

/// Sandbox for active content so an uploaded file can never run script in our origin (§4).
const ACTIVE_CSP: &str = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// The headers of a delivery answer (§4), shared by both HTTP paths so they cannot drift.
/// A 304 (`not_modified`) carries only what guides caches: the ETag, `Cache-Control`, purge
/// keys and `Vary` (RFC 9110 §15.4.5); a 200/206 adds `Last-Modified` and the
/// representation headers.
/// `Content-Length`, `Content-Range` and `Date` are left to the caller.
pub fn response_headers(
    app: &App,
    r: Answer<'_>,
    download: bool,
    not_modified: bool,
    mut emit: impl FnMut(&'static str, &str),
) {
    let f = r.file;
    emit("etag", f.etag());
    if !not_modified {
        // §15.4.5: with an ETag present, a 304 should not repeat Last-Modified.
        emit("last-modified", f.last_modified());
    }
    emit(
        "cache-control",
        match (r.kind, r.private) {
            (UrlKind::Version, false) => "public, max-age=31536000, immutable",
            (UrlKind::Version, true) => "private, max-age=31536000, immutable",
            (UrlKind::Permanent, false) => &app.permanent_cache_control.0,
            (UrlKind::Permanent, true) => &app.permanent_cache_control.1,
        },
    );
    emit("surrogate-key", r.asset.surrogate_key());
    emit("cache-tag", r.asset.cache_tag());
    if r.private || r.kind == UrlKind::Permanent {
        // A CDN keying on the URL must not mix answers given for different credentials.
        emit("vary", "authtoken, authorization");
    }
    if not_modified {
        return;
    }
    emit("content-type", f.content_type());
    emit("accept-ranges", "bytes");
    emit("x-content-type-options", "nosniff");
    if f.active {
        emit("content-security-policy", ACTIVE_CSP);
    }
    if download {
        emit("content-disposition", &f.attachment());
    } else {
        emit("content-disposition", f.inline());
    }
}

/// Request headers that affect the answer, as raw strings borrowed from the request.
#[derive(Debug, Default, Clone, Copy)]
pub struct Conditionals<'a> {
    /// `If-Match`.
    pub if_match: Option<&'a str>,
    /// `If-None-Match`.
    pub if_none_match: Option<&'a str>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<&'a str>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<&'a str>,
    /// `If-Range`.
    pub if_range: Option<&'a str>,
    /// `Range`.
    pub range: Option<&'a str>,
}

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 200 with the whole file.
    Full,
    /// 206 with bytes `start..=end`.
    Partial {
        /// First byte.
        start: u64,
        /// Last byte (inclusive).
        end: u64,
    },
    /// 304.
    NotModified,
    /// 412.
    PreconditionFailed,
    /// 416 (`Content-Range: bytes */len`).
    RangeNotSatisfiable,
}

/// The strong entity tag of a file: derived from its SHA-256, so equal bytes ⇔ equal tag.
pub fn etag(file: &FileMeta) -> String {
    format!("\"{}\"", &file.sha256)
}

/// `Last-Modified` of a file: its creation time, truncated to whole seconds (HTTP dates
/// have no finer resolution, and comparisons must agree with what was sent).
pub fn last_modified(file: &FileMeta) -> SystemTime {
    to_system_time(file.created_at - file.created_at.rem_euclid(1000))
}

/// RFC 9110 §8.8.3.2 comparison of an `If-Match`/`If-None-Match` list against our tag.
fn list_matches(header: &str, etag: &str, weak: bool) -> bool {
    header.split(',').map(str::trim).any(|t| {
        if t == "*" {
            return true;
        }
        match t.strip_prefix("W/") {
            Some(w) => weak && w == etag,
            None => t == etag,
        }
    })
}

fn parse_date(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s.trim()).ok()
}

/// Evaluates conditional headers (RFC 9110 §13.2.2 order) and `Range` for a GET or HEAD.
pub fn evaluate(c: &Conditionals<'_>, file: &Prepared) -> Outcome {
    let tag = file.etag();
    let modified = file.modified;
    if let Some(h) = c.if_match {
        if !list_matches(h, tag, false) {
            return Outcome::PreconditionFailed;
        }
    } else if let Some(d) = c.if_unmodified_since.and_then(parse_date) {
        if modified > d {
            return Outcome::PreconditionFailed;
        }
    }
    if let Some(h) = c.if_none_match {
        if list_matches(h, tag, true) {
            return Outcome::NotModified;
        }
    } else if let Some(d) = c.if_modified_since.and_then(parse_date) {
        if modified <= d {
            return Outcome::NotModified;
        }
    }
    let Some(range) = c.range else {
        return Outcome::Full;
    };
    if let Some(ir) = c.if_range {
        let ir = ir.trim();
        let fresh = if ir.starts_with('"') || ir.starts_with("W/") {
            ir == tag // strong comparison only (§13.1.5)
        } else {
            parse_date(ir) == Some(modified)
        };
        if !fresh {
            return Outcome::Full;
        }
    }
    byte_range(range, file.size)
}

/// Parses a `Range` header for a representation of `len` bytes. Multi-range and malformed
/// headers are answered with the full 200, as RFC 9110 §14.2 allows.
pub fn byte_range(header: &str, len: u64) -> Outcome {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Outcome::Full;
    };
    if spec.contains(',') {
        return Outcome::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Outcome::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if a.is_empty() {
        let Some(n) = num(b) else {
            return Outcome::Full;
        };
        if n == 0 || len == 0 {
            return Outcome::RangeNotSatisfiable;
        }
        let n = n.min(len);
        return Outcome::Partial {
            start: len - n,
            end: len - 1,
        };
    }
    let Some(start) = num(a) else {
        return Outcome::Full;
    };
    let end = if b.is_empty() {
        u64::MAX
    } else {
        match num(b) {
            Some(e) if e >= start => e,
            _ => return Outcome::Full,
        }
    };
    if start >= len {
        return Outcome::RangeNotSatisfiable;
    }
    Outcome::Partial {
        start,
        end: end.min(len - 1),
    }
}

/// Types a browser would execute or render as a document: they get the sandbox CSP (§4).
pub fn is_active_content(content_type: &str) -> bool {
    let t = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        t.as_str(),
        "text/html"
            | "application/xhtml+xml"
            | "image/svg+xml"
            | "text/xml"
            | "application/xml"
            | "text/javascript"
            | "application/javascript"
            | "application/x-javascript"
            | "application/ecmascript"
            | "text/ecmascript"
            | "text/xsl"
    ) || t.ends_with("+xml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(
            byte_range("bytes=0-9", 100),
            Outcome::Partial { start: 0, end: 9 }
        );
        assert_eq!(
            byte_range("bytes=90-", 100),
            Outcome::Partial { start: 90, end: 99 }
        );
        assert_eq!(
            byte_range("bytes=-10", 100),
            Outcome::Partial { start: 90, end: 99 }
        );
        assert_eq!(
            byte_range("bytes=-500", 100),
            Outcome::Partial { start: 0, end: 99 }
        );
        assert_eq!(
            byte_range("bytes=50-5000", 100),
            Outcome::Partial { start: 50, end: 99 }
        );
        assert_eq!(byte_range("bytes=100-", 100), Outcome::RangeNotSatisfiable);
        assert_eq!(byte_range("bytes=-0", 100), Outcome::RangeNotSatisfiable);
        assert_eq!(byte_range("bytes=0-1,5-6", 100), Outcome::Full);
        assert_eq!(byte_range("bytes=9-1", 100), Outcome::Full);
        assert_eq!(byte_range("items=0-1", 100), Outcome::Full);
        assert_eq!(byte_range("bytes=0-", 0), Outcome::RangeNotSatisfiable);
    }

    #[test]
    fn etag_lists() {
        assert!(list_matches("\"a\", \"b\"", "\"b\"", false));
        assert!(list_matches("*", "\"b\"", false));
        assert!(!list_matches("W/\"b\"", "\"b\"", false));
        assert!(list_matches("W/\"b\"", "\"b\"", true));
    }
}

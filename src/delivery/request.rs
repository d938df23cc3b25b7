//! A delivery request, classified once for both writers (STYLE rule 13): which URL of
//! §2 the path names, the query flags of §4 (`environment`, `locale`, `access_token`,
//! `download`), the conditional headers of RFC 9110 §13, and the credentials of §2.3.
//! The fast path and the router both build a [`Classified`] from the bytes they read, so
//! they cannot disagree about what a request asks for.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

use super::Conditionals;
use crate::identity::{credential_value, Credentials};
use crate::ids::is_management_token;

/// What the path named.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// The path of a delivery URL, percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPath<'a> {
    /// Stack.
    pub api_key: Cow<'a, str>,
    /// Asset.
    pub asset_uid: Cow<'a, str>,
    /// Version, permanent or latest.
    pub target: Target,
    /// The path as sent (what a signed URL's signature covers, §13).
    pub raw: &'a str,
}

/// Percent-decodes one path segment; `None` when it is empty or not UTF-8 (such a
/// segment names nothing, so the answer is a 404).
fn segment(s: &str) -> Option<Cow<'_, str>> {
    if s.is_empty() {
        return None;
    }
    if !s.contains('%') {
        return Some(Cow::Borrowed(s));
    }
    percent_decode_str(s).decode_utf8().ok()
}

impl<'a> DeliveryPath<'a> {
    /// Parses `/v3/assets/{api_key}/{asset_uid}[/{slug} | /{file_uid}/{filename}]` (no
    /// query). The filename segment of a version URL is not checked: the file uid decides.
    pub fn parse(path: &'a str) -> Option<Self> {
        let mut parts = path.strip_prefix("/v3/assets/")?.split('/');
        let api_key = segment(parts.next()?)?;
        let asset_uid = segment(parts.next()?)?;
        let target = match (parts.next(), parts.next(), parts.next()) {
            (None, _, _) => Target::Latest,
            (Some(slug), None, _) => Target::Slug(segment(slug)?.into_owned()),
            (Some(file_uid), Some(name), None) => {
                segment(name)?;
                Target::Version {
                    file_uid: segment(file_uid)?.into_owned(),
                }
            }
            _ => return None,
        };
        Some(DeliveryPath {
            api_key,
            asset_uid,
            target,
            raw: path,
        })
    }
}

/// The query parameters delivery reads (§4); every other parameter is ignored. When a
/// parameter repeats, the last value counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryQuery<'a> {
    /// `?environment=` name (non-empty).
    pub environment: Option<Cow<'a, str>>,
    /// `?locale=` code (non-empty; default: the stack's master locale).
    pub locale: Option<Cow<'a, str>>,
    /// `?access_token=` delivery token (secured stacks).
    pub access_token: Option<Cow<'a, str>>,
    /// `?dl=1` or `?download=true`: `Content-Disposition: attachment`.
    pub download: bool,
    /// The whole query, when it has §11 image parameters (parsed by `images::Transform`).
    pub transform: Option<&'a str>,
    /// The whole query string, as sent (a redirect keeps it, §13).
    pub raw: Option<&'a str>,
    /// Has a `signature` (a signed URL, §13: checked with the database).
    pub signed: bool,
    /// `?at=`: the permanent URL as of this instant (unparsed; see `delivery::memento`).
    pub at: Option<Cow<'a, str>>,
    /// `?timemap=…` (any value but `false`): the permanent URL's TimeMap (RFC 7089).
    pub timemap: bool,
    /// `?page=` of a TimeMap (unparsed).
    pub timemap_page: Option<Cow<'a, str>>,
}

fn flag(v: &str) -> bool {
    matches!(v, "true" | "1" | "yes")
}

impl<'a> DeliveryQuery<'a> {
    /// Parses a query string (`None` or empty: no parameters, no allocation).
    pub fn parse(query: Option<&'a str>) -> Self {
        let mut q = DeliveryQuery::default();
        let Some(query) = query.filter(|q| !q.is_empty()) else {
            return q;
        };
        q.raw = Some(query);
        let (mut dl, mut download) = (false, false);
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let non_empty = |v: Cow<'a, str>| (!v.is_empty()).then_some(v);
            match &*k {
                "environment" => q.environment = non_empty(v),
                "locale" => q.locale = non_empty(v),
                "access_token" => q.access_token = Some(v),
                "signature" => q.signed = true,
                "at" => q.at = Some(v),
                "timemap" => q.timemap = &*v != "false",
                "page" => q.timemap_page = Some(v),
                "dl" => dl = flag(&v),
                "download" => download = flag(&v),
                name if crate::images::is_transform_name(name) => q.transform = Some(query),
                _ => {}
            }
        }
        q.download = dl || download;
        q
    }
}

/// The request headers delivery reads, borrowed from the request.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeliveryHeaders<'a> {
    /// RFC 9110 §13 conditionals and `Range`.
    pub conditionals: Conditionals<'a>,
    /// `authtoken` (§2.3), as [`credential_value`] reads it.
    pub authtoken: Option<&'a str>,
    /// `authorization` (§2.3).
    pub authorization: Option<&'a str>,
    /// `accept`, for §11 `auto=webp|avif` (the first line).
    pub accept: Option<&'a str>,
    /// `want-repr-digest` (RFC 9530), the first line.
    pub want_repr_digest: Option<&'a str>,
    /// `accept-datetime` (RFC 7089), the first line, unparsed.
    pub accept_datetime: Option<&'a str>,
    /// `referer`, the first line (link insights, §17: only its page is kept).
    pub referer: Option<&'a str>,
    /// Something the fast path leaves to the router: a repeated or non-ASCII conditional
    /// header (the first value counts), or a request body or protocol switch for hyper to
    /// frame.
    pub unusual: bool,
}

impl<'a> DeliveryHeaders<'a> {
    /// Reads one header field.
    pub fn add(&mut self, name: &str, value: &'a [u8]) {
        let c = &mut self.conditionals;
        let slot = if name.eq_ignore_ascii_case("if-none-match") {
            &mut c.if_none_match
        } else if name.eq_ignore_ascii_case("if-modified-since") {
            &mut c.if_modified_since
        } else if name.eq_ignore_ascii_case("if-match") {
            &mut c.if_match
        } else if name.eq_ignore_ascii_case("if-unmodified-since") {
            &mut c.if_unmodified_since
        } else if name.eq_ignore_ascii_case("range") {
            &mut c.range
        } else if name.eq_ignore_ascii_case("if-range") {
            &mut c.if_range
        } else if name.eq_ignore_ascii_case("accept") {
            if self.accept.is_none() {
                self.accept = std::str::from_utf8(value).ok();
            }
            return;
        } else if name.eq_ignore_ascii_case("accept-datetime") {
            if self.accept_datetime.is_none() {
                // Not visible ASCII: still asked for, and refused as malformed.
                self.accept_datetime = Some(visible(value).unwrap_or("\u{fffd}"));
            }
            return;
        } else if name.eq_ignore_ascii_case("referer") {
            if self.referer.is_none() {
                self.referer = visible(value);
            }
            return;
        } else if name.eq_ignore_ascii_case("want-repr-digest") {
            if self.want_repr_digest.is_none() {
                self.want_repr_digest = visible(value);
            }
            return;
        } else if name.eq_ignore_ascii_case("authtoken") {
            if self.authtoken.is_none() {
                self.authtoken = credential_value(value);
            }
            return;
        } else if name.eq_ignore_ascii_case("authorization") {
            // Another scheme (an auth proxy's `Basic …`, a JWT) is not for perma: a public
            // URL answers as it would without it.
            if self.authorization.is_none() {
                self.authorization = credential_value(value).filter(|v| is_management_token(v));
            }
            return;
        } else {
            if ["content-length", "transfer-encoding", "expect", "upgrade"]
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n))
            {
                self.unusual = true;
            }
            return;
        };
        if slot.is_some() {
            self.unusual = true;
            return;
        }
        // RFC 9110 §5.5: field values are visible ASCII; anything else is ignored, as
        // `HeaderValue::to_str` does.
        match visible(value) {
            Some(v) => *slot = Some(v),
            None => self.unusual = true,
        }
    }

    /// Whether management credentials were sent (§2.3: management download).
    pub fn has_credentials(&self) -> bool {
        self.authtoken.is_some() || self.authorization.is_some()
    }

    /// The credentials, owned, for checking them against the database.
    pub fn credentials(&self) -> Credentials {
        Credentials {
            authtoken: self.authtoken.map(str::to_owned),
            authorization: self.authorization.map(str::to_owned),
        }
    }
}

fn visible(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
}

/// GET or HEAD (delivery answers nothing else).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Head and body.
    Get,
    /// Head only, as for a GET (RFC 9110 §9.3.2).
    Head,
}

/// A delivery request: path, query and headers, classified.
#[derive(Debug, Clone)]
pub struct Classified<'a> {
    /// GET or HEAD.
    pub method: Method,
    /// The URL.
    pub path: DeliveryPath<'a>,
    /// Its query flags.
    pub query: DeliveryQuery<'a>,
    /// Conditionals and credentials.
    pub headers: DeliveryHeaders<'a>,
}

impl Classified<'_> {
    /// Whether the answer depends on nothing but the asset's index entry: no credentials,
    /// no delivery token, no environment. Only such requests can be answered from memory
    /// (the fast path's domain); the rest need the database, among them a permanent URL
    /// as of a date and its TimeMap.
    pub fn is_public(&self) -> bool {
        !self.headers.has_credentials()
            && self.query.environment.is_none()
            && self.query.access_token.is_none()
            && !self.query.signed
            && !self.asks_for_the_past()
    }

    /// `?at=`, `Accept-Datetime` or `?timemap=` (RFC 7089).
    pub fn asks_for_the_past(&self) -> bool {
        self.query.at.is_some() || self.query.timemap || self.headers.accept_datetime.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Option<(String, String, Target)> {
        DeliveryPath::parse(p).map(|d| (d.api_key.into(), d.asset_uid.into(), d.target))
    }

    #[test]
    fn paths() {
        let t = |s: &str| Target::Slug(s.into());
        let k = "blt0123456789abcdef";
        let a = "blt1111111111111111";
        let both = |x: Target| Some((k.to_owned(), a.to_owned(), x));
        assert_eq!(
            path(&format!("/v3/assets/{k}/{a}/logo.png")),
            both(t("logo.png"))
        );
        assert_eq!(
            path(&format!("/v3/assets/{k}/{a}/caf%C3%A9")),
            both(t("café"))
        );
        assert_eq!(path(&format!("/v3/assets/{k}/{a}")), both(Target::Latest));
        assert_eq!(
            path(&format!("/v3/assets/{k}/{a}/0123/any%20name.png")),
            both(Target::Version {
                file_uid: "0123".into()
            })
        );
        // Not UTF-8, empty segments, too many segments, another prefix: names nothing.
        assert_eq!(path(&format!("/v3/assets/{k}/{a}/%FF")), None);
        assert_eq!(path(&format!("/v3/assets/{k}/{a}/")), None);
        assert_eq!(path(&format!("/v3/assets/{k}/{a}/f/")), None);
        assert_eq!(path(&format!("/v3/assets/{k}/{a}/f/n/x")), None);
        assert_eq!(path(&format!("/v3/assets/{k}//x")), None);
        assert_eq!(path("/v3/stacks/x/y/z"), None);
        // Encoded ids decode like any segment.
        assert_eq!(
            path(&format!("/v3/assets/%62{}/{a}/s", &k[1..])),
            both(t("s"))
        );
    }

    #[test]
    fn queries() {
        let q = DeliveryQuery::parse;
        assert_eq!(q(None), DeliveryQuery::default());
        assert_eq!(q(Some("")), DeliveryQuery::default());
        assert!(q(Some("dl=1")).download);
        assert!(q(Some("download=true")).download);
        assert!(!q(Some("download=false")).download);
        assert!(!q(Some("dl=1&dl=0")).download, "last value counts");
        assert_eq!(q(Some("environment=")).environment, None);
        assert_eq!(
            q(Some("environment=a&environment=prod%20eu"))
                .environment
                .as_deref(),
            Some("prod eu")
        );
        assert_eq!(q(Some("access_token=")).access_token.as_deref(), Some(""));
        // §11 parameters are kept whole for the transform parser; others are ignored.
        let t = q(Some("width=300&x"));
        assert_eq!(t.transform, Some("width=300&x"));
        assert_eq!(t.raw, Some("width=300&x"));
        assert_eq!(q(Some("utm_source=x")).transform, None);
    }

    #[test]
    fn headers() {
        let mut h = DeliveryHeaders::default();
        h.add("If-None-Match", b"\"a\"");
        h.add("RANGE", b"bytes=0-1");
        h.add("authtoken", b"   ");
        h.add("Accept", b"*/*");
        assert_eq!(h.conditionals.if_none_match, Some("\"a\""));
        assert_eq!(h.conditionals.range, Some("bytes=0-1"));
        assert!(!h.has_credentials(), "blank credentials are none");
        assert!(!h.unusual);
        h.add("if-none-match", b"\"b\"");
        assert!(h.unusual, "repeated conditional");
        assert_eq!(h.conditionals.if_none_match, Some("\"a\""), "first counts");

        let mut h = DeliveryHeaders::default();
        h.add("if-match", "\"é\"".as_bytes());
        assert!(h.unusual && h.conditionals.if_match.is_none());

        let mut h = DeliveryHeaders::default();
        h.add("Transfer-Encoding", b"chunked");
        assert!(h.unusual);

        let token = format!("cs{}", "ab".repeat(32));
        let padded = format!(" {token} ");
        let mut h = DeliveryHeaders::default();
        h.add("Authorization", padded.as_bytes());
        assert!(h.has_credentials());
        assert_eq!(
            h.credentials().authorization.as_deref(),
            Some(token.as_str())
        );
        let mut h = DeliveryHeaders::default();
        h.add("Authorization", b"Basic dXNlcjpwYXNz");
        assert!(!h.has_credentials(), "another scheme is not ours");
    }
}

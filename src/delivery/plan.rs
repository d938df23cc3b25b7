//! The response plan of a delivery request (§4): status, every header but `Date` and
//! `Connection`, and which bytes of which blob form the body. Decided here, once; the fast
//! path and the router only write it (STYLE rule 13).

use std::io::Write as _;

use super::conditional::evaluate;
use super::{Answer, Classified, Delivery, Method, Outcome, StackStr, UrlKind};

/// Sandbox for active content so an uploaded file can never run script in our origin (§4).
const ACTIVE_CSP: &str = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// What to send for a resolved delivery request.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    /// The file and how it is labelled.
    pub answer: Answer<'a>,
    /// The RFC 9110 outcome of the conditional headers and `Range`.
    pub outcome: Outcome,
    head_only: bool,
    download: bool,
    /// Send `Repr-Digest` (RFC 9530: unless `Want-Repr-Digest` refuses SHA-256).
    digest: bool,
    /// Redirect mode (§13): `Location` of the current version URL.
    redirect: Option<String>,
}

/// The bytes a body is made of: `count` bytes of the blob from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyRange {
    /// First byte.
    pub start: u64,
    /// Number of bytes (at least one).
    pub count: u64,
}

impl<'a> Plan<'a> {
    /// Plans the answer to `request` with the file `answer` resolved for it.
    pub fn new(answer: Answer<'a>, request: &Classified<'_>) -> Self {
        let file = answer.file;
        Plan {
            outcome: evaluate(
                &request.headers.conditionals,
                &Self::etag_of(&answer),
                file.modified(),
                Self::size_of(&answer),
            ),
            redirect: redirect_to(&answer, request),
            answer,
            head_only: request.method == Method::Head,
            download: request.query.download,
            digest: crate::digest::sha256_wanted(request.headers.want_repr_digest),
        }
    }

    /// The strong ETag: the file's, or the rendition's (§11).
    fn etag_of(answer: &Answer<'_>) -> StackStr<66> {
        match answer.rendition {
            Some(r) => StackStr::format(format_args!("\"{}\"", r.key)),
            None => answer.file.etag(),
        }
    }

    /// Bytes of the representation.
    fn size_of(answer: &Answer<'_>) -> u64 {
        answer.rendition.map_or(answer.file.size, |r| r.size)
    }

    /// The blob the body comes from and its length: the file's, or the rendition's.
    pub fn blob(&self) -> (StackStr<64>, u64) {
        match self.answer.rendition {
            Some(r) => (StackStr::format(format_args!("{}", r.sha256)), r.size),
            None => (self.answer.file.sha256(), self.answer.file.size),
        }
    }

    /// A key under which the status line and headers of this plan may be kept with its
    /// asset's index entry (a [`MemoSlot`](super::MemoSlot)): while the entry lives, plans with the
    /// same key have the same head. It names the file by its address inside the entry and
    /// holds every choice of the request that shapes the head. `None` for plans whose head
    /// depends on more: renditions, mementos, redirects, ranges and error outcomes.
    pub fn memo_key(&self) -> Option<u64> {
        let r = &self.answer;
        if r.rendition.is_some() || r.memento.is_some() || self.redirect.is_some() {
            return None;
        }
        let outcome = match self.outcome {
            Outcome::Full => 0,
            Outcome::NotModified => 1,
            _ => return None,
        };
        let flags = [
            outcome,
            u64::from(r.kind == UrlKind::Permanent),
            u64::from(r.private),
            u64::from(r.changeable),
            u64::from(r.vary_accept),
            u64::from(self.head_only),
            u64::from(self.download),
            u64::from(self.digest),
        ]
        .iter()
        .enumerate()
        .fold(0, |acc, (i, bit)| acc | bit << i);
        let file = std::ptr::from_ref(r.file) as usize as u64;
        Some(file << 8 | flags)
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        if self.redirect.is_some() {
            return 302;
        }
        match self.outcome {
            Outcome::Full => 200,
            Outcome::Partial { .. } => 206,
            Outcome::NotModified => 304,
            Outcome::PreconditionFailed => 412,
            Outcome::RangeNotSatisfiable => 416,
        }
    }

    /// The status line of HTTP/1.1 (with its CRLF).
    pub fn status_line(&self) -> &'static [u8] {
        if self.redirect.is_some() {
            return b"HTTP/1.1 302 Found\r\n";
        }
        match self.outcome {
            Outcome::Full => b"HTTP/1.1 200 OK\r\n",
            Outcome::Partial { .. } => b"HTTP/1.1 206 Partial Content\r\n",
            Outcome::NotModified => b"HTTP/1.1 304 Not Modified\r\n",
            Outcome::PreconditionFailed => b"HTTP/1.1 412 Precondition Failed\r\n",
            Outcome::RangeNotSatisfiable => b"HTTP/1.1 416 Range Not Satisfiable\r\n",
        }
    }

    /// The body: `None` for HEAD and for answers without content.
    pub fn body(&self) -> Option<BodyRange> {
        if self.head_only || self.redirect.is_some() {
            return None;
        }
        self.content()
    }

    /// The content a GET would carry (what `Content-Length` counts).
    fn content(&self) -> Option<BodyRange> {
        let size = Self::size_of(&self.answer);
        match self.outcome {
            Outcome::Full if size > 0 => Some(BodyRange {
                start: 0,
                count: size,
            }),
            Outcome::Partial { start, end } => Some(BodyRange {
                start,
                count: end - start + 1,
            }),
            _ => None,
        }
    }

    /// Emits every header of the answer but `Date` and `Connection` (§4), in one order for
    /// both writers. A 304 carries only what guides caches: the ETag, `Cache-Control`, purge
    /// keys and `Vary` (RFC 9110 §15.4.5, which also says not to repeat `Last-Modified`
    /// when an ETag is present); it has no `Content-Length`.
    pub fn headers(&self, delivery: &Delivery, mut emit: impl FnMut(&'static str, &str)) {
        let r = self.answer;
        let f = r.file;
        if let Some(location) = &self.redirect {
            // Redirect mode (§13): the permanent URL's short lifetime, so a CDN asks again
            // soon, and caches the immutable bytes once per version.
            emit("location", location);
            emit(
                "cache-control",
                if r.private {
                    &delivery.cache_control.private
                } else {
                    &delivery.cache_control.public
                },
            );
            emit("surrogate-key", &r.asset.surrogate_key());
            emit("cache-tag", &r.asset.cache_tag());
            emit("vary", "authtoken, authorization");
            emit("content-length", "0");
            return;
        }
        let not_modified = self.outcome == Outcome::NotModified;
        let rendition = r.rendition;
        emit("etag", &Self::etag_of(&r));
        if !not_modified {
            emit("last-modified", &f.last_modified());
        }
        emit(
            "cache-control",
            match (
                if r.changeable {
                    UrlKind::Permanent
                } else {
                    r.kind
                },
                r.private,
            ) {
                (UrlKind::Version, false) => "public, max-age=31536000, immutable",
                (UrlKind::Version, true) => "private, max-age=31536000, immutable",
                (UrlKind::Permanent, false) => &delivery.cache_control.public,
                (UrlKind::Permanent, true) => &delivery.cache_control.private,
            },
        );
        emit("surrogate-key", &r.asset.surrogate_key());
        emit("cache-tag", &r.asset.cache_tag());
        // A CDN keying on the URL must not mix answers given for different credentials, nor
        // (§11 `auto=`) formats chosen for different `Accept` headers, nor (a permanent URL
        // is also its own time gate, RFC 7089) versions chosen by `Accept-Datetime`.
        let credentials = r.private || r.kind == UrlKind::Permanent || r.changeable;
        let datetime = match r.memento {
            Some(m) => m.negotiated,
            None => r.kind == UrlKind::Permanent,
        };
        let vary = match (r.vary_accept, datetime, credentials) {
            (false, false, false) => "",
            (true, false, false) => "accept",
            (false, true, false) => "accept-datetime",
            (true, true, false) => "accept, accept-datetime",
            (false, false, true) => "authtoken, authorization",
            (true, false, true) => "accept, authtoken, authorization",
            (false, true, true) => "accept-datetime, authtoken, authorization",
            (true, true, true) => "accept, accept-datetime, authtoken, authorization",
        };
        if !vary.is_empty() {
            emit("vary", vary);
        }
        if let Some(m) = r.memento {
            emit("memento-datetime", &m.datetime_header());
            emit("link", &m.link_header());
        }
        if not_modified {
            return;
        }
        match rendition {
            Some(rd) => emit("content-type", rd.format.content_type()),
            None => emit("content-type", r.asset.content_type(f)),
        }
        emit("accept-ranges", "bytes");
        // The digest of the whole representation (also on a range answer), from the stored
        // hash: the file's, or the rendition's.
        let sha = match rendition {
            Some(rd) => crate::digest::from_hex(&rd.sha256),
            None => Some(*f.sha()),
        };
        if let (true, Some(sha), Outcome::Full | Outcome::Partial { .. }) =
            (self.digest, sha, self.outcome)
        {
            let b64 = crate::digest::base64(&sha);
            let mut buf = [0u8; 64];
            emit(
                "repr-digest",
                format_into(
                    &mut buf,
                    format_args!("sha-256=:{}:", std::str::from_utf8(&b64).unwrap_or("")),
                ),
            );
        }
        emit("x-content-type-options", "nosniff");
        // Renditions are raster images: never active content.
        if f.active && rendition.is_none() {
            emit("content-security-policy", ACTIVE_CSP);
        }
        match (rendition, self.download) {
            (Some(rd), download) => emit(
                "content-disposition",
                &r.asset
                    .rendition_disposition(f, download, rd.format.extension()),
            ),
            (None, true) => emit("content-disposition", &r.asset.attachment(f)),
            (None, false) => emit("content-disposition", &r.asset.inline(f)),
        }
        // Numbers are formatted on the stack: no allocation per request.
        let mut buf = [0u8; 64];
        let size = Self::size_of(&r);
        match self.outcome {
            Outcome::Partial { start, end } => {
                emit(
                    "content-range",
                    format_into(&mut buf, format_args!("bytes {start}-{end}/{size}")),
                );
            }
            Outcome::RangeNotSatisfiable => {
                emit(
                    "content-range",
                    format_into(&mut buf, format_args!("bytes */{size}")),
                );
            }
            _ => {}
        }
        let length = self.content().map_or(0, |b| b.count);
        emit(
            "content-length",
            format_into(&mut buf, format_args!("{length}")),
        );
    }
}

/// Formats into `buf` and returns the text (ASCII numbers; a longer text is cut).
fn format_into<'b>(buf: &'b mut [u8; 64], args: std::fmt::Arguments<'_>) -> &'b str {
    let mut w = &mut buf[..];
    let _ = w.write_fmt(args);
    let written = 64 - w.len();
    std::str::from_utf8(&buf[..written]).unwrap_or("")
}

/// Whether the answer is a redirect (redirect mode, §13): then no rendition is made for
/// the permanent URL; the version URL it points to makes it.
pub fn redirects(answer: &Answer<'_>, request: &Classified<'_>) -> bool {
    answer.kind == UrlKind::Permanent
        && answer.asset.redirect
        && !request.headers.has_credentials()
        && request.path.target != super::Target::Latest
}

/// Redirect mode (§13): an anonymous or delivery-token request for a permanent URL of a
/// stack in `redirect` mode is sent to the version URL of the file it resolved to, with the
/// same query (transform parameters, token). Management downloads get the bytes.
fn redirect_to(answer: &Answer<'_>, request: &Classified<'_>) -> Option<String> {
    if !redirects(answer, request) {
        return None;
    }
    let f = answer.file;
    let mut location = format!(
        "/v3/assets/{}/{}/{}/{}",
        &*answer.asset.api_key(),
        &*answer.asset.asset_uid(),
        &*f.uid(),
        percent_encoding::utf8_percent_encode(answer.asset.filename(f), crate::records::SEGMENT)
    );
    if let Some(q) = request.query.raw {
        location.push('?');
        location.push_str(q);
    }
    Some(location)
}

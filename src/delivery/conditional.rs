//! RFC 9110 rules of a delivery answer, as pure functions over plain values: strong
//! ETags, conditional requests (§13), single byte ranges (§14), and which types are
//! active content (§4 of the spec: they get a sandbox CSP).

use std::time::SystemTime;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Whether an `If-None-Match` list names `etag` (weak comparison, RFC 9110 §13.1.2): the
/// client's copy is current and a GET answers 304.
pub fn none_match(header: &str, etag: &str) -> bool {
    list_matches(header, etag, true)
}

fn parse_date(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s.trim()).ok()
}

/// Evaluates conditional headers (RFC 9110 §13.2.2 order) and `Range` for a GET or HEAD of
/// a representation with this strong ETag, modification time and length.
pub fn evaluate(c: &Conditionals<'_>, tag: &str, modified: SystemTime, size: u64) -> Outcome {
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
    byte_range(range, size)
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
    // A position too large for u64 is simply past every representation (RFC 9110
    // §14.1.1: a last position beyond the end means "to the end"), not a malformed header.
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().unwrap_or(u64::MAX))
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
/// PDF is not among them: browsers show it in their own viewer, which runs no script with
/// this origin's rights, and a sandbox CSP stops some of those viewers from showing it at
/// all (docs/api.md, "Delivery").
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
            | "text/xsl"
            // Every JavaScript MIME type of the WHATWG MIME Sniffing standard.
            | "application/ecmascript"
            | "application/javascript"
            | "application/x-ecmascript"
            | "application/x-javascript"
            | "text/ecmascript"
            | "text/javascript"
            | "text/javascript1.0"
            | "text/javascript1.1"
            | "text/javascript1.2"
            | "text/javascript1.3"
            | "text/javascript1.4"
            | "text/javascript1.5"
            | "text/jscript"
            | "text/livescript"
            | "text/x-ecmascript"
            | "text/x-javascript"
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
        // Positions past u64: to the end, the whole file, or past it.
        assert_eq!(
            byte_range("bytes=10-99999999999999999999999", 100),
            Outcome::Partial { start: 10, end: 99 }
        );
        assert_eq!(
            byte_range("bytes=-99999999999999999999999", 100),
            Outcome::Partial { start: 0, end: 99 }
        );
        assert_eq!(
            byte_range("bytes=99999999999999999999999-", 100),
            Outcome::RangeNotSatisfiable
        );
    }

    #[test]
    fn etag_lists() {
        assert!(list_matches("\"a\", \"b\"", "\"b\"", false));
        assert!(list_matches("*", "\"b\"", false));
        assert!(!list_matches("W/\"b\"", "\"b\"", false));
        assert!(list_matches("W/\"b\"", "\"b\"", true));
    }
}

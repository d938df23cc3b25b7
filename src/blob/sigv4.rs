//! AWS Signature Version 4 for the S3 requests `object_store` does not make: presigned
//! part uploads handed to clients (query-string signing) and server-side part copies
//! (header signing). Both follow the published algorithm: a canonical request, its
//! SHA-256 in a string to sign, and an HMAC chain from the secret over date, region and
//! service.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The hash of an empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// What stands for the body's hash when the body is not signed (presigned uploads).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Who signs, and for which region.
#[derive(Debug, Clone)]
pub struct Signer<'a> {
    /// The access key id.
    pub key_id: &'a str,
    /// The secret access key.
    pub secret: &'a str,
    /// A session token, for temporary credentials.
    pub token: Option<&'a str>,
    /// The region (`us-east-1` for most S3-compatible servers).
    pub region: &'a str,
}

/// One request to sign: `path` is already percent-encoded as it goes on the wire.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `GET`, `PUT`, …
    pub method: &'a str,
    /// `host[:port]` as in the `Host` header.
    pub host: &'a str,
    /// The encoded path, starting with `/`.
    pub path: &'a str,
    /// Query parameters, not encoded.
    pub query: Vec<(String, String)>,
    /// Headers to sign besides `host` (lowercase names).
    pub headers: Vec<(String, String)>,
}

/// `YYYYMMDDTHHMMSSZ` for milliseconds since the epoch.
pub fn amz_date(ms: i64) -> String {
    let iso = crate::time::iso8601(ms);
    // 2024-01-31T12:34:56.789Z → 20240131T123456Z
    let mut out = String::with_capacity(16);
    out.extend(iso[..19].chars().filter(|c| c.is_ascii_alphanumeric()));
    out.push('Z');
    out
}

/// RFC 3986 percent-encoding as SigV4 wants it: everything but `A-Za-z0-9-_.~`.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A key (object name) as a path: each segment encoded, the slashes kept.
pub fn encode_key(key: &str) -> String {
    key.split('/').map(encode).collect::<Vec<_>>().join("/")
}

fn query_string(pairs: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> =
        pairs.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

impl Signer<'_> {
    fn scope(&self, date: &str) -> String {
        format!("{}/{}/s3/aws4_request", &date[..8], self.region)
    }

    /// The signature of a canonical request made at `date`.
    fn signature(&self, date: &str, canonical: &str) -> String {
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{date}\n{}\n{}",
            self.scope(date),
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let mut key = hmac(format!("AWS4{}", self.secret).as_bytes(), &date[..8]);
        for part in [self.region, "s3", "aws4_request"] {
            key = hmac(&key, part);
        }
        hex::encode(hmac(&key, &to_sign))
    }

    /// The headers' canonical block and the list of their names (with `host`).
    fn canonical_headers(req: &Request) -> (String, String) {
        let mut headers: Vec<(String, String)> = req
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        headers.push(("host".into(), req.host.to_owned()));
        headers.sort();
        let block: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let names = headers
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        (block, names)
    }

    /// A presigned URL's query string (everything after `?`): valid for `expires_secs`
    /// from `now_ms`, for exactly this method, host, path and query.
    pub fn presign(&self, req: &Request, now_ms: i64, expires_secs: u64) -> String {
        let date = amz_date(now_ms);
        let mut query = req.query.clone();
        let (block, names) = Self::canonical_headers(req);
        query.push(("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()));
        query.push((
            "X-Amz-Credential".into(),
            format!("{}/{}", self.key_id, self.scope(&date)),
        ));
        query.push(("X-Amz-Date".into(), date.clone()));
        query.push(("X-Amz-Expires".into(), expires_secs.to_string()));
        query.push(("X-Amz-SignedHeaders".into(), names.clone()));
        if let Some(token) = self.token {
            query.push(("X-Amz-Security-Token".into(), token.to_owned()));
        }
        let qs = query_string(&query);
        let canonical = format!(
            "{}\n{}\n{qs}\n{block}\n{names}\n{UNSIGNED_PAYLOAD}",
            req.method, req.path
        );
        format!("{qs}&X-Amz-Signature={}", self.signature(&date, &canonical))
    }

    /// The headers that authorise `req` with a body whose SHA-256 is `payload` (hex):
    /// `x-amz-date`, `x-amz-content-sha256`, the token if any, and `authorization`.
    pub fn authorize(&self, req: &Request, now_ms: i64, payload: &str) -> Vec<(String, String)> {
        let date = amz_date(now_ms);
        let mut added = vec![
            ("x-amz-date".to_owned(), date.clone()),
            ("x-amz-content-sha256".to_owned(), payload.to_owned()),
        ];
        if let Some(token) = self.token {
            added.push(("x-amz-security-token".into(), token.to_owned()));
        }
        let mut signed = req.clone();
        signed.headers.extend(added.iter().cloned());
        let (block, names) = Self::canonical_headers(&signed);
        let canonical = format!(
            "{}\n{}\n{}\n{block}\n{names}\n{payload}",
            req.method,
            req.path,
            query_string(&req.query)
        );
        added.push((
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{},SignedHeaders={names},Signature={}",
                self.key_id,
                self.scope(&date),
                self.signature(&date, &canonical)
            ),
        ));
        added
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The examples of the S3 documentation ("Signature Calculations for the Authorization
    // Header" and "Authenticating Requests: Using Query Parameters").
    const SIGNER: Signer = Signer {
        key_id: "AKIAIOSFODNN7EXAMPLE",
        secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        token: None,
        region: "us-east-1",
    };
    /// 2013-05-24T00:00:00Z.
    const MAY_24_2013: i64 = 1_369_353_600_000;

    #[test]
    fn dates_in_the_basic_format() {
        assert_eq!(amz_date(MAY_24_2013), "20130524T000000Z");
        assert_eq!(amz_date(MAY_24_2013 + 3_661_999), "20130524T010101Z");
    }

    #[test]
    fn presigned_url_matches_the_documented_example() {
        let req = Request {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            query: vec![],
            headers: vec![],
        };
        let qs = SIGNER.presign(&req, MAY_24_2013, 86_400);
        assert!(qs.ends_with(
            "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        ));
        assert!(qs.contains(
            "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        ));
    }

    #[test]
    fn header_signature_matches_the_documented_example() {
        let req = Request {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            query: vec![],
            headers: vec![("range".into(), "bytes=0-9".into())],
        };
        let headers = SIGNER.authorize(&req, MAY_24_2013, EMPTY_SHA256);
        let auth = &headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1;
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn keys_keep_their_slashes_and_encode_the_rest() {
        assert_eq!(encode_key("a b/c+d/é"), "a%20b/c%2Bd/%C3%A9");
        assert_eq!(
            query_string(&[("b".into(), "1 2".into()), ("a".into(), "x/y".into())]),
            "a=x%2Fy&b=1%202"
        );
    }
}

//! The tus 1.0.0 request headers (§16), parsed: `Tus-Resumable`, `Upload-Offset`,
//! `Upload-Length`, `Upload-Metadata` and `Upload-Checksum`. Pure functions, so that the
//! fuzz target `tus_headers` can run them on anything.

use base64::Engine as _;

use crate::error::{Error, Result};

/// The protocol version perma speaks.
pub const VERSION: &str = "1.0.0";
/// The extensions perma supports (`Tus-Extension`).
pub const EXTENSIONS: &str = "creation,creation-with-upload,termination,expiration,checksum";
/// The checksum algorithms perma supports (`Tus-Checksum-Algorithm`).
pub const CHECKSUM_ALGORITHMS: &str = "sha256";
/// The media type of a PATCH body (and of a creation-with-upload body).
pub const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
/// Longest `Upload-Metadata` accepted, in bytes.
pub const MAX_METADATA: usize = 4096;

/// Checks `Tus-Resumable`: it must name the version perma speaks (else 412).
pub fn check_version(value: Option<&str>) -> Result<()> {
    match value.map(str::trim) {
        Some(VERSION) => Ok(()),
        Some(other) => Err(Error::TusVersion(format!(
            "This server speaks tus {VERSION}, not {other:?} (Tus-Resumable)."
        ))),
        None => Err(Error::TusVersion(format!(
            "Tus-Resumable: {VERSION} is required on every tus request."
        ))),
    }
}

/// A byte count header (`Upload-Offset`, `Upload-Length`): digits only, at most
/// `i64::MAX` (what the database keeps).
pub fn parse_count(name: &str, value: Option<&str>) -> Result<u64> {
    let v = value.ok_or_else(|| Error::Malformed(format!("The {name} header is required.")))?;
    if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Malformed(format!(
            "{name} must be a non-negative integer, not {v:?}."
        )));
    }
    v.parse::<u64>()
        .ok()
        .filter(|n| *n <= i64::MAX as u64)
        .ok_or_else(|| Error::Malformed(format!("{name} {v:?} is too large.")))
}

/// `Upload-Metadata`: comma-separated `key base64(value)` pairs (a key alone has an empty
/// value). Keys are unique, non-empty, without spaces or commas; values are standard
/// base64. Returns the pairs in order.
pub fn parse_metadata(value: Option<&str>) -> Result<Vec<(String, Vec<u8>)>> {
    let Some(v) = value else {
        return Ok(Vec::new());
    };
    if v.len() > MAX_METADATA {
        return Err(Error::Malformed(format!(
            "Upload-Metadata is longer than {MAX_METADATA} bytes."
        )));
    }
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for pair in v.split(',') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let mut words = pair.split(' ').filter(|w| !w.is_empty());
        let key = words.next().unwrap_or("");
        let value = words.next();
        if words.next().is_some() || key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::Malformed(format!(
                "Upload-Metadata: {pair:?} is not \"key base64-value\"."
            )));
        }
        let bytes = match value {
            None => Vec::new(),
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| {
                    Error::Malformed(format!(
                        "Upload-Metadata: the value of {key:?} is not base64."
                    ))
                })?,
        };
        if out.iter().any(|(k, _)| k == key) {
            return Err(Error::Malformed(format!(
                "Upload-Metadata: the key {key:?} appears twice."
            )));
        }
        out.push((key.to_owned(), bytes));
    }
    Ok(out)
}

/// The value of a metadata key as text (lossy), when present and not empty.
pub fn metadata_text(pairs: &[(String, Vec<u8>)], keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .filter(|v| !v.trim().is_empty())
    })
}

/// `Upload-Checksum: sha256 <base64 digest>`: the SHA-256 the PATCH body must have. Another
/// algorithm is 400 (the tus checksum extension); a malformed value too.
pub fn parse_checksum(value: Option<&str>) -> Result<Option<[u8; 32]>> {
    let Some(v) = value else {
        return Ok(None);
    };
    let (algorithm, digest) = v
        .trim()
        .split_once(' ')
        .ok_or_else(|| Error::Malformed("Upload-Checksum must be \"sha256 <base64>\".".into()))?;
    if !algorithm.eq_ignore_ascii_case("sha256") {
        return Err(Error::Malformed(format!(
            "Upload-Checksum: the algorithm {algorithm:?} is not supported; use sha256."
        )));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(digest.trim())
        .map_err(|_| Error::Malformed("Upload-Checksum: the digest is not base64.".into()))?;
    let digest: [u8; 32] = bytes
        .try_into()
        .map_err(|_| Error::Malformed("Upload-Checksum: a sha256 digest has 32 bytes.".into()))?;
    Ok(Some(digest))
}

/// Encodes metadata pairs back into an `Upload-Metadata` value (for `HEAD`).
pub fn encode_metadata(pairs: &[(String, Vec<u8>)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!(
                    "{k} {}",
                    base64::engine::general_purpose::STANDARD.encode(v)
                )
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(parse_count("Upload-Offset", Some("0")).unwrap(), 0);
        assert_eq!(
            parse_count("Upload-Length", Some("10737418240")).unwrap(),
            10 << 30
        );
        for bad in [
            "",
            "-1",
            "+5",
            "1e3",
            " 5",
            "99999999999999999999",
            "9223372036854775808",
        ] {
            assert!(parse_count("Upload-Offset", Some(bad)).is_err(), "{bad:?}");
        }
        assert!(parse_count("Upload-Offset", None).is_err());
    }

    #[test]
    fn metadata_round_trips_and_refuses_bad_pairs() {
        let m = parse_metadata(Some(
            "filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential",
        ))
        .unwrap();
        assert_eq!(m[0].0, "filename");
        assert_eq!(m[0].1, b"world_domination_plan.pdf");
        assert_eq!(m[1], ("is_confidential".to_owned(), Vec::new()));
        assert_eq!(parse_metadata(Some(&encode_metadata(&m))).unwrap(), m);
        assert_eq!(
            metadata_text(&m, &["name", "filename"]).as_deref(),
            Some("world_domination_plan.pdf")
        );
        for bad in ["a b c", "a !!!", "a YQ==,a YQ==", " YQ== x y"] {
            assert!(parse_metadata(Some(bad)).is_err(), "{bad:?}");
        }
        assert!(parse_metadata(Some(&"k".repeat(MAX_METADATA + 1))).is_err());
    }

    #[test]
    fn checksums() {
        // sha256("abc") in base64.
        let v = "sha256 ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=";
        assert_eq!(
            hex::encode(parse_checksum(Some(v)).unwrap().unwrap()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(parse_checksum(None).unwrap().is_none());
        for bad in [
            "md5 abc",
            "sha256",
            "sha256 !!!",
            "sha256 YWJj",
            "sha1 qZk+NkcGgWq6PiVxeFDCbJzQ2J0=",
        ] {
            assert!(parse_checksum(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn versions() {
        assert!(check_version(Some("1.0.0")).is_ok());
        assert!(check_version(Some("0.2.2")).is_err());
        assert!(check_version(None).is_err());
    }
}

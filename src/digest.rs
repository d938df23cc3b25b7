//! What a stored SHA-256 says to clients: the RFC 9530 `Repr-Digest` of a file answer, and
//! the Subresource Integrity value (`sha256-…`) an author pastes into `<script integrity>`.
//! Both are the standard base64 of the 32 bytes, computed from the hash perma keeps for
//! every blob, never by reading the bytes again.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Length of the base64 of 32 bytes, with its padding.
pub const BASE64_LEN: usize = 44;

/// The standard base64 (RFC 4648 §4, padded) of a SHA-256, on the stack.
pub fn base64(sha: &[u8; 32]) -> [u8; BASE64_LEN] {
    let mut out = [b'='; BASE64_LEN];
    for (i, chunk) in sha.chunks(3).enumerate() {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for j in 0..chars {
            out[i * 4 + j] = ALPHABET[((n >> (18 - 6 * j)) & 63) as usize];
        }
    }
    out
}

/// A SHA-256 from its 64 hex digits.
pub fn from_hex(hex: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex, &mut out).ok()?;
    Some(out)
}

/// The Subresource Integrity value of a blob from its hex SHA-256: `sha256-{base64}`.
pub fn integrity(hex: &str) -> Option<String> {
    let sha = from_hex(hex)?;
    let b = base64(&sha);
    Some(format!("sha256-{}", std::str::from_utf8(&b).ok()?))
}

/// Whether a request's `Want-Repr-Digest` (RFC 9530 §4) allows a SHA-256 digest: yes unless
/// it gives `sha-256` the preference 0 ("not acceptable"), or lists algorithms without
/// `sha-256` and none with a preference. perma has only SHA-256, so a request that wants
/// only another algorithm gets none. A field that does not parse is ignored (RFC 9530:
/// integrity fields are advisory).
pub fn sha256_wanted(want: Option<&str>) -> bool {
    let Some(want) = want else {
        return true;
    };
    let mut listed = false;
    for member in want.split(',') {
        // Every member is `algorithm=preference` (an integer 0–10).
        let Some((alg, pref)) = member.split_once('=') else {
            return true;
        };
        let alg = alg.trim();
        let Some(pref) = pref.trim().parse::<u8>().ok().filter(|p| *p <= 10) else {
            return true;
        };
        if alg.eq_ignore_ascii_case("sha-256") {
            return pref > 0;
        }
        listed |= pref > 0;
    }
    !listed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_the_standard_padded_one() {
        // SHA-256 of the empty string.
        let sha =
            from_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855").unwrap();
        assert_eq!(
            std::str::from_utf8(&base64(&sha)).unwrap(),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(
            integrity("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855").unwrap(),
            "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert!(from_hex("zz").is_none());
    }

    #[test]
    fn want_repr_digest_is_honoured() {
        for (want, sent) in [
            (None, true),
            (Some("sha-256=1"), true),
            (Some("sha-512=3, sha-256=10"), true),
            (Some("sha-256=0"), false),
            (Some("sha-512=3"), false),
            (Some("sha-512=0"), true),
            (Some("garbage;;"), true),
        ] {
            assert_eq!(sha256_wanted(want), sent, "{want:?}");
        }
    }
}

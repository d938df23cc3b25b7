//! ID tokens (§14 single sign-on): a compact JWS checked against the provider's JSON Web
//! Key Set, then its claims against what the sign-in expects. Only asymmetric signatures
//! are accepted (RS256, PS256, ES256): `none` and the HMAC algorithms are refused, so a
//! token cannot be made by anyone who knows the client secret or no secret at all.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Map, Value};

/// Seconds of clock difference tolerated between perma and the provider.
pub const LEEWAY_SECS: i64 = 60;

/// Why an ID token was refused (the message names the check, never the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the ID token {0}")]
pub struct Refused(pub String);

fn refuse(why: impl Into<String>) -> Refused {
    Refused(why.into())
}

/// What a sign-in expects of its ID token.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The provider's issuer identifier, exactly.
    pub issuer: &'a str,
    /// perma's client id (the audience).
    pub client_id: &'a str,
    /// The nonce sent with this sign-in's authorization request.
    pub nonce: &'a str,
    /// Now, in seconds since the epoch.
    pub now: i64,
}

/// A JWS in compact form, split and decoded but not yet checked.
#[derive(Debug)]
pub struct Jws {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signed: String,
    signature: Vec<u8>,
}

fn part(s: &str, what: &str) -> Result<Vec<u8>, Refused> {
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| refuse(format!("has a {what} that is not base64url")))
}

fn object(bytes: &[u8], what: &str) -> Result<Map<String, Value>, Refused> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(refuse(format!("has a {what} that is not a JSON object"))),
    }
}

impl Jws {
    /// Splits `header.payload.signature` and decodes the parts.
    pub fn parse(token: &str) -> Result<Jws, Refused> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(refuse("is not a compact JWS (three parts)"));
        };
        Ok(Jws {
            header: object(&part(h, "header")?, "header")?,
            claims: object(&part(p, "payload")?, "payload")?,
            signed: format!("{h}.{p}"),
            signature: part(s, "signature")?,
        })
    }

    /// The header's `alg`.
    pub fn alg(&self) -> &str {
        self.header.get("alg").and_then(Value::as_str).unwrap_or("")
    }

    /// The header's `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// The claims, unchecked.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// Checks the signature with the first key of `jwks` that fits the header (its `kid`,
    /// the algorithm's key type, meant for signatures).
    pub fn verify_signature(&self, jwks: &Value) -> Result<(), Refused> {
        let alg = self.alg();
        let kty = match alg {
            "RS256" | "PS256" => "RSA",
            "ES256" => "EC",
            "none" | "" => return Err(refuse("is not signed")),
            other => {
                return Err(refuse(format!(
                    "is signed with {other}, which is not accepted"
                )))
            }
        };
        let keys = jwks.get("keys").and_then(Value::as_array);
        let fits = |k: &&Value| {
            k.get("kty").and_then(Value::as_str) == Some(kty)
                && k.get("use")
                    .and_then(Value::as_str)
                    .is_none_or(|u| u == "sig")
                && k.get("alg")
                    .and_then(Value::as_str)
                    .is_none_or(|a| a == alg)
                && match self.kid() {
                    Some(kid) => k.get("kid").and_then(Value::as_str) == Some(kid),
                    None => true,
                }
        };
        let mut candidates = keys.into_iter().flatten().filter(fits).peekable();
        if candidates.peek().is_none() {
            return Err(refuse("names a key the provider does not publish"));
        }
        for key in candidates {
            if verify_with(alg, key, self.signed.as_bytes(), &self.signature)? {
                return Ok(());
            }
        }
        Err(refuse("has a signature that does not verify"))
    }

    /// Checks the claims OpenID Connect Core §3.1.3.7 asks a client to check: issuer,
    /// audience (and `azp` when there are several), expiry, issue time, nonce, subject.
    pub fn check_claims(&self, want: &Expected) -> Result<(), Refused> {
        let c = &self.claims;
        let s = |k: &str| c.get(k).and_then(Value::as_str);
        let n = |k: &str| c.get(k).and_then(Value::as_i64);
        if s("iss") != Some(want.issuer) {
            return Err(refuse("was issued by another provider"));
        }
        let audiences: Vec<&str> = match c.get("aud") {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !audiences.contains(&want.client_id) {
            return Err(refuse("is meant for another client"));
        }
        if (audiences.len() > 1 || s("azp").is_some()) && s("azp") != Some(want.client_id) {
            return Err(refuse("was authorized for another client (azp)"));
        }
        match n("exp") {
            Some(exp) if exp + LEEWAY_SECS > want.now => {}
            Some(_) => return Err(refuse("has expired")),
            None => return Err(refuse("has no expiry (exp)")),
        }
        match n("iat") {
            Some(iat) if iat <= want.now + LEEWAY_SECS => {}
            Some(_) => return Err(refuse("was issued in the future (iat)")),
            None => return Err(refuse("has no issue time (iat)")),
        }
        if s("nonce") != Some(want.nonce) {
            return Err(refuse("does not carry this sign-in's nonce"));
        }
        if s("sub").is_none_or(str::is_empty) {
            return Err(refuse("has no subject (sub)"));
        }
        Ok(())
    }
}

fn key_bytes(key: &Value, name: &str) -> Result<Vec<u8>, Refused> {
    key.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| refuse(format!("names a key without {name:?}")))
        .and_then(|v| part(v, "key"))
}

/// Whether `sig` verifies over `msg` with one JWK (`Err` when the key itself is unusable).
fn verify_with(alg: &str, key: &Value, msg: &[u8], sig: &[u8]) -> Result<bool, Refused> {
    Ok(match alg {
        "RS256" | "PS256" => {
            let params = if alg == "RS256" {
                &signature::RSA_PKCS1_2048_8192_SHA256
            } else {
                &signature::RSA_PSS_2048_8192_SHA256
            };
            let components = RsaPublicKeyComponents {
                n: key_bytes(key, "n")?,
                e: key_bytes(key, "e")?,
            };
            components.verify(params, msg, sig).is_ok()
        }
        "ES256" => {
            if key.get("crv").and_then(Value::as_str) != Some("P-256") {
                return Ok(false);
            }
            let (x, y) = (key_bytes(key, "x")?, key_bytes(key, "y")?);
            if x.len() != 32 || y.len() != 32 {
                return Ok(false);
            }
            let mut point = Vec::with_capacity(65);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(msg, sig)
                .is_ok()
        }
        _ => false,
    })
}

/// The fuzz target's check (`perma::fuzzing::id_token`): any text as an ID token, checked
/// against a key set with an RSA and an EC key. Parsing and every check refuse or pass
/// without panicking, and no input verifies (nobody holds these keys' private halves).
pub fn fuzz_check(token: &str) {
    let jwks = serde_json::json!({"keys": [
        {"kty": "RSA", "kid": "r", "use": "sig", "alg": "RS256", "e": "AQAB",
         "n": concat!(
            "vvUJevOfncUPAZazFzutx-eSE9yc2XtazXKXVgAcuOopchngdpY8NPrBH6DuU_IW2NVbsT06",
            "lSt8LKZ4YH1GI3okTvknwCWCeN-g_grjGlkF1f1OTMx73WdWyJESp3GWDORCgBFfL1pHizV0",
            "HK19VojDrp4YvTi1kg6EbwlP4J06qEFrvvsIrrcTqy1TZklqwYYSnq9He_vHxdLgUtMZp2NY",
            "puMGFXX-NkqT7cDaq1yEsJYz3VYIuENhAf_UU9gwWBWxpgw3sPspwh3fO8KgFVD8pE2W62g9",
            "_o6Mzs-iyC4ZWj-RUrYNISv7-5zXERLQeg_yBMZqXCkrLDl219ZENw",
         )},
        {"kty": "EC", "kid": "e", "use": "sig", "crv": "P-256",
         "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
         "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
    ]});
    let Ok(jws) = Jws::parse(token) else {
        return;
    };
    assert!(
        jws.verify_signature(&jwks).is_err(),
        "a token no private key signed verified"
    );
    let _ = jws.check_claims(&Expected {
        issuer: "https://idp.example",
        client_id: "perma",
        nonce: "n",
        now: 1_700_000_000,
    });
    let _ = (jws.alg(), jws.kid());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn malformed_tokens_are_refused_with_the_reason() {
        assert!(Jws::parse("a.b").is_err());
        assert!(Jws::parse("a.b.c.d").is_err());
        assert!(Jws::parse("!!.e30.").is_err());
        let unsigned = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg": "none"})),
            b64(&serde_json::json!({}))
        );
        let jws = Jws::parse(&unsigned).unwrap();
        let err = jws
            .verify_signature(&serde_json::json!({"keys": []}))
            .unwrap_err();
        assert_eq!(err.to_string(), "the ID token is not signed");
        let hs = format!(
            "{}.{}.c2ln",
            b64(&serde_json::json!({"alg": "HS256"})),
            b64(&serde_json::json!({}))
        );
        let err = Jws::parse(&hs)
            .unwrap()
            .verify_signature(&serde_json::json!({"keys": []}))
            .unwrap_err();
        assert!(err.to_string().contains("HS256"), "{err}");
    }

    #[test]
    fn claims_are_checked_one_by_one() {
        let base = serde_json::json!({
            "iss": "https://idp", "aud": "perma", "exp": 2000, "iat": 1000, "nonce": "n", "sub": "s"
        });
        let want = Expected {
            issuer: "https://idp",
            client_id: "perma",
            nonce: "n",
            now: 1500,
        };
        let with = |k: &str, v: Value| {
            let mut c = base.clone();
            c[k] = v;
            let t = format!(
                "{}.{}.c2ln",
                b64(&serde_json::json!({"alg": "RS256"})),
                b64(&c)
            );
            Jws::parse(&t).unwrap().check_claims(&want).map_err(|e| e.0)
        };
        assert_eq!(with("sub", "s".into()), Ok(()));
        assert!(with("iss", "https://other".into())
            .unwrap_err()
            .contains("another provider"));
        assert!(with("aud", "other".into())
            .unwrap_err()
            .contains("another client"));
        assert!(with("aud", serde_json::json!(["perma", "x"]))
            .unwrap_err()
            .contains("azp"));
        assert!(with("exp", 1400.into()).unwrap_err().contains("expired"));
        assert_eq!(with("exp", 1450.into()), Ok(()), "within the leeway");
        assert!(with("iat", 1600.into()).unwrap_err().contains("future"));
        assert!(with("nonce", "m".into()).unwrap_err().contains("nonce"));
        assert!(with("sub", "".into()).unwrap_err().contains("subject"));
    }
}

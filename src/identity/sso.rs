//! Single sign-on through OpenID Connect (§14): the authorization code flow with PKCE
//! (S256), a nonce and a single-use `state`, the ID token verified against the provider's
//! published keys, accounts made at the first sign-in and linked to the provider's subject,
//! and stack roles kept in step with a claim at every sign-in.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::jwt::{Expected, Jws};
use super::users::{create_user_in, open_session, record_failed_sign_in, NewAccount};
use super::Origin;
use crate::config::Config;
use crate::db::audit::AuditEntry;
use crate::db::sso::PendingSignIn;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::ids;
use crate::records::User;
use crate::time::now_ms;

/// How long a sign-in may stay at the provider (10 minutes).
const PENDING_TTL_MS: i64 = 10 * 60_000;
/// How long the browser has to trade its one-time code for a session (1 minute).
const CODE_TTL_MS: i64 = 60_000;
/// The provider's keys are fetched again for an unknown key id at most this often.
const JWKS_REFRESH: Duration = Duration::from_secs(10);

fn refused(why: impl Into<String>) -> Error {
    Error::SignOnRefused(why.into())
}

/// What the provider's discovery document says, and its keys.
#[derive(Debug, Clone)]
struct Provider {
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: Option<String>,
    jwks_uri: String,
    jwks: Value,
    jwks_fetched: Instant,
}

/// Single sign-on with one OpenID provider, configured by `PERMA_OIDC_*`.
#[derive(Debug)]
pub struct SignOn {
    issuer: String,
    client_id: String,
    client_secret: String,
    role_claim: String,
    scopes: String,
    redirect_uri: String,
    http: reqwest::Client,
    provider: Mutex<Option<Provider>>,
}

/// Where a finished sign-in sends the browser: `return_to` with the one-time code that
/// `POST /v3/user-session` trades for a session.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The one-time code (valid for a minute, once).
    pub code: String,
    /// The path of perma the sign-in started from.
    pub return_to: String,
}

/// A path of perma to come back to: absolute, on this host (no `//host`, no backslash,
/// no scheme), without a fragment. Anything else is `/`.
pub fn safe_return_to(path: Option<&str>) -> String {
    let p = path.unwrap_or("/").split('#').next().unwrap_or("/");
    let ok = p.starts_with('/')
        && !p.starts_with("//")
        && !p.contains('\\')
        && p.bytes().all(|b| (0x21..0x7f).contains(&b));
    if ok {
        p.to_owned()
    } else {
        "/".to_owned()
    }
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl SignOn {
    /// Single sign-on as configured, or `None` when it is off.
    pub fn from_config(config: &Config, public_url: &str) -> anyhow::Result<Option<SignOn>> {
        let (Some(issuer), Some(client_id), Some(client_secret)) = (
            &config.oidc_issuer,
            &config.oidc_client_id,
            &config.oidc_client_secret,
        ) else {
            return Ok(None);
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()?;
        Ok(Some(SignOn {
            issuer: issuer.trim_end_matches('/').to_owned(),
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            role_claim: config.oidc_role_claim.clone(),
            scopes: config.oidc_scopes.clone(),
            redirect_uri: format!("{public_url}/v3/sso/callback"),
            http,
            provider: Mutex::new(None),
        }))
    }

    /// The provider's issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    async fn get_json(&self, url: &str, what: &str) -> Result<Value> {
        let res = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| refused(format!("the provider's {what} could not be read ({e})")))?;
        if !res.status().is_success() {
            return Err(refused(format!(
                "the provider's {what} answered {}",
                res.status()
            )));
        }
        res.json()
            .await
            .map_err(|_| refused(format!("the provider's {what} is not JSON")))
    }

    /// The provider's endpoints and keys, read once (the keys again when a token names one
    /// they lack, `fresh_keys`).
    async fn provider(&self, fresh_keys: bool) -> Result<Provider> {
        let mut cached = self.provider.lock().await;
        if let Some(p) = cached.as_mut() {
            if fresh_keys && p.jwks_fetched.elapsed() >= JWKS_REFRESH {
                p.jwks = self.get_json(&p.jwks_uri, "key set").await?;
                p.jwks_fetched = Instant::now();
            }
            return Ok(p.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let doc = self.get_json(&url, "discovery document").await?;
        let s = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
        if s("issuer").as_deref().map(|i| i.trim_end_matches('/')) != Some(self.issuer.as_str()) {
            return Err(refused("the discovery document names another issuer"));
        }
        let need = |k: &str| s(k).ok_or_else(|| refused(format!("the provider has no {k}")));
        let jwks_uri = need("jwks_uri")?;
        let p = Provider {
            authorization_endpoint: need("authorization_endpoint")?,
            token_endpoint: need("token_endpoint")?,
            userinfo_endpoint: s("userinfo_endpoint"),
            jwks: self.get_json(&jwks_uri, "key set").await?,
            jwks_uri,
            jwks_fetched: Instant::now(),
        };
        *cached = Some(p.clone());
        Ok(p)
    }

    /// Starts a sign-in: remembers its PKCE verifier, nonce and `return_to` under its
    /// `state`, and returns the provider's authorization URL to send the browser to.
    pub async fn begin(&self, db: &Db, return_to: Option<&str>) -> Result<String> {
        let provider = self.provider(false).await?;
        let (state, nonce, verifier) = (
            ids::new_secret(""),
            ids::new_secret(""),
            ids::new_secret(""),
        );
        let now = now_ms();
        let pending = PendingSignIn {
            verifier,
            nonce,
            return_to: safe_return_to(return_to),
            expires_at: now + PENDING_TTL_MS,
        };
        db.insert_pending_sign_in(&ids::hash_token(&state), &pending, now)
            .await?;
        let mut url = url::Url::parse(&provider.authorization_endpoint)
            .map_err(|_| refused("the provider's authorization endpoint is not a URL"))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", &self.scopes)
            .append_pair("state", &state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &challenge(&pending.verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// Ends a sign-in at the provider's answer: the `state` must be one perma issued, unused
    /// and unexpired (it is used up either way); the provider's `error` ends it; otherwise
    /// the code is exchanged (with the PKCE verifier), the ID token verified, the account
    /// found, linked or made, its roles synced with the claim, and a one-time code issued.
    pub async fn finish(
        &self,
        db: &Db,
        state: &str,
        answer: std::result::Result<&str, &str>,
        origin: &Origin,
    ) -> Result<Finished> {
        let pending = db
            .take_pending_sign_in(&ids::hash_token(state))
            .await?
            .ok_or_else(|| refused("this sign-in is unknown or was finished already"))?;
        if pending.expires_at <= now_ms() {
            return Err(refused("this sign-in took too long; start again"));
        }
        let code = answer.map_err(|e| refused(format!("the provider answered: {e}")))?;
        let tokens = self.exchange(code, &pending.verifier).await?;
        let id_token = tokens
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or_else(|| refused("the provider sent no ID token"))?;
        let claims = self.verify(id_token, &pending.nonce).await?;
        let claims = self.with_userinfo(claims, &tokens).await?;
        let user = self.account(db, &claims).await?;
        if user.disabled {
            record_failed_sign_in(db, &user, origin, "disabled").await?;
            return Err(super::users::disabled());
        }
        if let Some(claim) = claims.get(&self.role_claim) {
            self.sync_roles(db, &user, claim).await?;
        }
        let code = ids::new_secret("sso");
        let now = now_ms();
        db.insert_sign_in_code(&ids::hash_token(&code), &user.uid, now, now + CODE_TTL_MS)
            .await?;
        Ok(Finished {
            code,
            return_to: pending.return_to,
        })
    }

    async fn exchange(&self, code: &str, verifier: &str) -> Result<Value> {
        let provider = self.provider(false).await?;
        let res = self
            .http
            .post(&provider.token_endpoint)
            .basic_auth(
                form_component(&self.client_id),
                Some(form_component(&self.client_secret)),
            )
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect_uri),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .map_err(|e| refused(format!("the token endpoint could not be reached ({e})")))?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let why = body
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("an error");
            return Err(refused(format!(
                "the token endpoint answered {status} ({why})"
            )));
        }
        Ok(body)
    }

    /// Verifies an ID token's signature (with the provider's keys, fetched again once for a
    /// key id they lack) and its claims.
    async fn verify(&self, id_token: &str, nonce: &str) -> Result<Map<String, Value>> {
        let jws = Jws::parse(id_token).map_err(|e| refused(e.to_string()))?;
        let provider = self.provider(false).await?;
        if let Err(first) = jws.verify_signature(&provider.jwks) {
            let provider = self.provider(true).await?;
            jws.verify_signature(&provider.jwks)
                .map_err(|_| refused(first.to_string()))?;
        }
        jws.check_claims(&Expected {
            issuer: &self.issuer,
            client_id: &self.client_id,
            nonce,
            now: now_ms() / 1000,
        })
        .map_err(|e| refused(e.to_string()))?;
        Ok(jws.claims().clone())
    }

    /// Adds the UserInfo claims the ID token lacks (providers that keep the ID token small
    /// put e-mail and groups there), for the same subject only.
    async fn with_userinfo(
        &self,
        mut claims: Map<String, Value>,
        tokens: &Value,
    ) -> Result<Map<String, Value>> {
        let wanted = ["email", "email_verified", self.role_claim.as_str()];
        if wanted.iter().all(|k| claims.contains_key(*k)) {
            return Ok(claims);
        }
        let provider = self.provider(false).await?;
        let (Some(url), Some(access)) = (
            provider.userinfo_endpoint,
            tokens.get("access_token").and_then(Value::as_str),
        ) else {
            return Ok(claims);
        };
        let res = self
            .http
            .get(&url)
            .bearer_auth(access)
            .send()
            .await
            .map_err(|e| refused(format!("the userinfo endpoint could not be reached ({e})")))?;
        if !res.status().is_success() {
            return Err(refused(format!(
                "the userinfo endpoint answered {}",
                res.status()
            )));
        }
        let info: Map<String, Value> = res
            .json()
            .await
            .map_err(|_| refused("the userinfo answer is not a JSON object"))?;
        if info.get("sub") != claims.get("sub") {
            return Err(refused("the userinfo answer is about another subject"));
        }
        for (k, v) in info {
            claims.entry(k).or_insert(v);
        }
        Ok(claims)
    }

    /// The account of the token's subject: linked before, or an account with the same
    /// e-mail (linked now when the provider vouches for the address), or a new one.
    async fn account(&self, db: &Db, claims: &Map<String, Value>) -> Result<User> {
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some(user) = db.user_by_subject(&self.issuer, sub).await? {
            return Ok(user);
        }
        let email = claims
            .get("email")
            .and_then(Value::as_str)
            .filter(|e| !e.trim().is_empty())
            .ok_or_else(|| refused("the provider shared no e-mail address (scope email)"))?
            .trim()
            .to_lowercase();
        let verified = claims.get("email_verified").and_then(Value::as_bool) == Some(true);
        let user = match db.user_by_email(&email).await? {
            Some((user, _)) if verified => user,
            Some(_) => {
                return Err(refused(
                    "an account with this e-mail exists, and the provider does not vouch for \
                     the address (email_verified), so it cannot be linked",
                ))
            }
            None => {
                let org = db
                    .default_organization()
                    .await?
                    .ok_or_else(|| Error::Internal(anyhow::anyhow!("no default organization")))?;
                let user = create_user_in(db, &org, &email, NewAccount::SignOn).await?;
                tracing::info!(%email, issuer = %self.issuer, "account made by single sign-on");
                user
            }
        };
        db.link_subject(&self.issuer, sub, &user.uid, now_ms())
            .await?;
        Ok(user)
    }

    /// Makes the user's stack memberships what the role claim says (stacks they own stay
    /// theirs, as Admin), with one audit entry per stack whose roles changed.
    async fn sync_roles(&self, db: &Db, user: &User, claim: &Value) -> Result<()> {
        let mut wanted: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (api_key, names) in role_claim(claim) {
            let Some(stack) = db.stack(&api_key).await? else {
                tracing::warn!(%api_key, "single sign-on: the role claim names an unknown stack");
                continue;
            };
            if stack.owner_uid == user.uid {
                continue;
            }
            let roles = db.roles(&api_key).await?;
            let mut uids: Vec<String> = names
                .iter()
                .filter_map(|n| {
                    let found = roles
                        .iter()
                        .find(|r| r.uid == *n || r.name.eq_ignore_ascii_case(n.trim()));
                    if found.is_none() {
                        tracing::warn!(%api_key, role = %n, "single sign-on: unknown role in claim");
                    }
                    found.map(|r| r.uid.clone())
                })
                .collect();
            uids.sort();
            uids.dedup();
            if !uids.is_empty() {
                wanted.insert(api_key, uids);
            }
        }
        let current = db.memberships(&user.uid).await?;
        let owned: Vec<String> = db
            .stacks_of_user(&user.uid)
            .await?
            .into_iter()
            .filter(|s| s.owner_uid == user.uid)
            .map(|s| s.api_key)
            .collect();
        let mut changes = Vec::new();
        let mut entries = Vec::new();
        let by = format!("single sign-on ({})", self.role_claim);
        for (api_key, roles) in &wanted {
            let before = current.get(api_key);
            if before == Some(roles) {
                continue;
            }
            let event = if before.is_some() { "update" } else { "share" };
            entries.push(
                AuditEntry::system(api_key, "member", event, &by)
                    .item(&user.uid, &user.email, None)
                    .details(json!({ "roles": roles, "source": "sso" })),
            );
            changes.push((api_key.clone(), Some(roles.clone())));
        }
        for api_key in current.keys() {
            if !wanted.contains_key(api_key) && !owned.contains(api_key) {
                entries.push(
                    AuditEntry::system(api_key, "member", "unshare", &by)
                        .item(&user.uid, &user.email, None)
                        .details(json!({ "source": "sso" })),
                );
                changes.push((api_key.clone(), None));
            }
        }
        if !changes.is_empty() {
            db.set_memberships(&user.uid, &changes, &entries).await?;
        }
        Ok(())
    }
}

/// Trades a one-time code from a finished sign-in for a session (once, within a minute).
pub async fn sign_in_with_code(
    db: &Db,
    code: &str,
    ttl_secs: u64,
    origin: &Origin,
) -> Result<(User, String)> {
    let uid = db
        .take_sign_in_code(&ids::hash_token(code), now_ms())
        .await?
        .ok_or_else(|| refused("this sign-in code is unknown, used or expired"))?;
    let user = db
        .user(&uid)
        .await?
        .ok_or_else(|| refused("the account is gone"))?;
    open_session(db, user, ttl_secs, origin).await
}

/// The client id and secret as HTTP Basic credentials of the token endpoint take them
/// (form-encoded first, RFC 6749 §2.3.1).
fn form_component(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Reads the role claim: a list of `api_key:role` (or one such string), or an object
/// `{api_key: role or [roles]}`; roles by name or uid. Anything else grants nothing.
pub fn role_claim(claim: &Value) -> Vec<(String, Vec<String>)> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut pair = |s: &str| {
        if let Some((k, r)) = s.split_once(':') {
            out.entry(k.trim().to_owned())
                .or_default()
                .push(r.trim().to_owned());
        }
    };
    match claim {
        Value::String(s) => pair(s),
        Value::Array(items) => items.iter().filter_map(Value::as_str).for_each(pair),
        Value::Object(map) => {
            for (k, v) in map {
                let roles: Vec<String> = match v {
                    Value::String(r) => vec![r.clone()],
                    Value::Array(rs) => rs
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                    _ => Vec::new(),
                };
                out.entry(k.trim().to_owned()).or_default().extend(roles);
            }
        }
        _ => {}
    }
    out.into_iter()
        .filter(|(k, roles)| crate::ids::ApiKey::parse(k).is_some() && !roles.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_stays_on_this_host() {
        assert_eq!(safe_return_to(Some("/stacks/x?a=1#frag")), "/stacks/x?a=1");
        for bad in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil",
            "",
            "/a b",
        ] {
            assert_eq!(safe_return_to(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_return_to(None), "/");
    }

    #[test]
    fn the_role_claim_reads_lists_and_objects() {
        let k = "blt0123456789abcdef";
        let list = role_claim(&json!([
            format!("{k}:Admin"),
            format!("{k}: Developer"),
            "junk",
            "bltx:Admin"
        ]));
        assert_eq!(
            list,
            vec![(
                k.to_owned(),
                vec!["Admin".to_owned(), "Developer".to_owned()]
            )]
        );
        let obj = role_claim(&json!({ k: "Content Manager" }));
        assert_eq!(
            obj,
            vec![(k.to_owned(), vec!["Content Manager".to_owned()])]
        );
        assert!(role_claim(&json!(42)).is_empty());
    }

    #[test]
    fn pkce_challenge_is_rfc7636s_example() {
        // RFC 7636 Appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}

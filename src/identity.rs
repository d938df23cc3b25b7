//! Identity and access (§1, §5): organizations, users and their sessions, stacks and their
//! members, environments, locales, management and delivery tokens, and the one function
//! that decides who may touch a stack ([`stack_access`]).

use crate::db::Db;
use crate::error::{Error, Result};
use crate::ids::{self, ApiKey};
use crate::records::{Environment, Stack, Token, TokenKind, User};
use crate::time::now_ms;

mod access;
mod jwt;
pub mod sso;
mod stacks;
mod users;

pub use access::{Origin, StackAccess};

/// Entry points of the fuzz targets (`perma::fuzzing`). Not part of perma's API.
#[doc(hidden)]
pub mod fuzzing {
    /// Any text as an ID token of a single sign-on (§14).
    pub fn id_token(token: &str) {
        super::jwt::fuzz_check(token);
    }
}
pub use stacks::{
    create_stack, create_stack_with_key, validate_environment_name, validate_locale_code,
};
pub use users::{
    bootstrap, create_user, hash_password, invite, login, logout, set_disabled, Invitation,
    INVITATION_TTL_MS,
};

/// Who is making a management request.
#[derive(Debug, Clone)]
pub enum Actor {
    /// A logged-in user (`authtoken`).
    User(User),
    /// A management token (`authorization`).
    Token(Token),
}

impl Actor {
    /// The uid recorded as `created_by` / `updated_by`.
    pub fn uid(&self) -> &str {
        match self {
            Actor::User(u) => &u.uid,
            Actor::Token(t) => &t.uid,
        }
    }
}

/// Credentials found on a request, before they are checked.
#[derive(Debug, Default, Clone)]
pub struct Credentials {
    /// `authtoken` header (user session).
    pub authtoken: Option<String>,
    /// `authorization` header (management token; `Bearer ` prefix tolerated).
    pub authorization: Option<String>,
}

/// How a credential header's value is read: visible ASCII, trimmed; blank means absent.
/// Shared by every route and both delivery paths, so they agree on "credentials present".
pub fn credential_value(raw: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(raw).ok()?;
    if !s.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)) {
        return None;
    }
    Some(s.trim()).filter(|v| !v.is_empty())
}

impl Credentials {
    /// Whether any credential was sent at all.
    pub fn present(&self) -> bool {
        self.authtoken.is_some() || self.authorization.is_some()
    }
}

/// Resolves credentials to an actor, or 401.
pub async fn authenticate(db: &Db, creds: &Credentials) -> Result<Actor> {
    if let Some(token) = &creds.authtoken {
        return match db.session_user(&ids::hash_token(token), now_ms()).await? {
            Some(u) => Ok(Actor::User(u)),
            None => Err(Error::Unauthorized),
        };
    }
    if let Some(raw) = &creds.authorization {
        let secret = raw.strip_prefix("Bearer ").unwrap_or(raw).trim();
        return match db.token_by_hash(&ids::hash_token(secret)).await? {
            Some(t)
                if t.kind == TokenKind::Management && t.expires_at.is_none_or(|e| e > now_ms()) =>
            {
                Ok(Actor::Token(t))
            }
            _ => Err(Error::Unauthorized),
        };
    }
    Err(Error::Unauthorized)
}

/// Resolves a user session, or 401 (for routes that only users may call).
pub async fn authenticate_user(db: &Db, creds: &Credentials) -> Result<User> {
    match authenticate(db, creds).await? {
        Actor::User(u) => Ok(u),
        Actor::Token(_) => Err(Error::Forbidden(
            "Management tokens cannot perform this action; log in as a user.".into(),
        )),
    }
}

/// Decides access to a stack in the order §5 prescribes: missing or malformed `api_key` →
/// 412; missing or invalid credentials → 401 (before the stack is looked up, so outsiders
/// learn nothing about which stacks exist); unknown stack → 412; no access → 403.
pub async fn stack_access(
    db: &Db,
    api_key: Option<&str>,
    creds: &Credentials,
) -> Result<StackAccess> {
    let api_key = api_key
        .and_then(ApiKey::parse)
        .ok_or(Error::InvalidApiKey)?;
    let actor = authenticate(db, creds).await?;
    let stack = db
        .stack(api_key.as_str())
        .await?
        .ok_or(Error::InvalidApiKey)?;
    StackAccess::of(db, stack, actor)
        .await?
        .ok_or_else(|| Error::Forbidden("You don't have permission to access this stack.".into()))
}

/// A Content Delivery API reader (§12): a delivery token of the stack, the environment it
/// reads (within the token's scope) and the locales it reads, most wanted first.
#[derive(Debug, Clone)]
pub struct DeliveryAccess {
    /// The stack.
    pub stack: Stack,
    /// The environment read.
    pub environment: Environment,
    /// The requested locale, then (with `include_fallback`) its fallback chain.
    pub locales: Vec<String>,
}

/// Decides a Content Delivery API request (§12): malformed `api_key` → 412; no or unknown
/// `access_token` → 401 (before the stack is looked up); unknown stack → 412; another
/// stack's token → 401; no `environment` → 422; an environment outside the token's scope
/// → 403; an unknown `locale` → 422.
pub async fn delivery_access(
    db: &Db,
    api_key: Option<&str>,
    access_token: Option<&str>,
    environment: Option<&str>,
    locale: Option<&str>,
    include_fallback: bool,
) -> Result<DeliveryAccess> {
    let api_key = api_key
        .and_then(ApiKey::parse)
        .ok_or(Error::InvalidApiKey)?;
    let token = match access_token {
        Some(t) => db
            .token_by_hash(&ids::hash_token(t))
            .await?
            .filter(|t| t.kind == TokenKind::Delivery && t.expires_at.is_none_or(|e| e > now_ms()))
            .ok_or(Error::BadAccessToken)?,
        None => return Err(Error::BadAccessToken),
    };
    let stack = db
        .stack(api_key.as_str())
        .await?
        .ok_or(Error::InvalidApiKey)?;
    if token.api_key != stack.api_key {
        return Err(Error::BadAccessToken);
    }
    let name = environment
        .filter(|e| !e.is_empty())
        .ok_or_else(|| Error::field("environment", "is required"))?;
    let out_of_scope = || {
        Error::Forbidden(format!(
            "This delivery token cannot read the environment {name:?}."
        ))
    };
    let environment = db
        .environments(&stack.api_key)
        .await?
        .into_iter()
        .find(|e| e.name == name || e.uid == name)
        .ok_or_else(out_of_scope)?;
    if !token.environments.contains(&environment.name) {
        return Err(out_of_scope());
    }
    let code = locale
        .filter(|l| !l.is_empty())
        .unwrap_or(&stack.master_locale)
        .to_ascii_lowercase();
    let all = db.locales(&stack.api_key).await?;
    if !all.iter().any(|l| l.code == code) {
        return Err(Error::field("locale", format!("{code} does not exist")));
    }
    let mut locales = vec![code];
    if include_fallback {
        // Follow fallback_locale links; a cycle or a dangling link ends the chain.
        while let Some(next) = all
            .iter()
            .find(|l| Some(&l.code) == locales.last())
            .and_then(|l| l.fallback_locale.clone())
        {
            if locales.contains(&next) || !all.iter().any(|l| l.code == next) {
                break;
            }
            locales.push(next);
        }
    }
    Ok(DeliveryAccess {
        stack,
        environment,
        locales,
    })
}

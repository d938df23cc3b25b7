//! Identity and access (§1, §5): organizations, users and their sessions, stacks and their
//! members, environments, locales, management and delivery tokens, and the one function
//! that decides who may touch a stack ([`stack_access`]).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::db::audit::AuditEntry;
use crate::db::{is_unique_violation, Db};
use crate::error::{Error, Result};
use crate::ids::{self, ApiKey};
use crate::permissions::RoleKind;
use crate::records::{Environment, Locale, Organization, Role, Stack, Token, TokenKind, User};
use crate::time::now_ms;

mod access;

pub use access::{Origin, StackAccess};

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

/// Hashes a password with argon2id (default parameters: 19 MiB, 2 passes).
pub async fn hash_password(password: &str) -> anyhow::Result<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
    })
    .await?
}

async fn verify_password(hash: &str, password: &str) -> bool {
    let (hash, password) = (hash.to_owned(), password.to_owned());
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// Creates the default organization on first start, and the admin user when configured.
pub async fn bootstrap(db: &Db, admin: Option<(&str, &str)>) -> anyhow::Result<()> {
    let org = match db.default_organization().await? {
        Some(o) => o,
        None => {
            let o = Organization {
                uid: ids::new_uid(),
                name: "Default organization".into(),
                is_default: true,
                created_at: now_ms(),
            };
            db.insert_organization(&o).await?;
            o
        }
    };
    if let Some((email, password)) = admin {
        if db.user_by_email(&email.to_lowercase()).await?.is_none() {
            create_user_in(db, &org, email, Some(password))
                .await
                .map_err(|e| anyhow::anyhow!("creating admin user: {e}"))?;
            tracing::info!(%email, "created admin user");
        }
    }
    Ok(())
}

/// Creates a user in the default organization.
pub async fn create_user(db: &Db, email: &str, password: &str) -> Result<User> {
    let org = db
        .default_organization()
        .await?
        .ok_or_else(|| anyhow::anyhow!("no default organization; run migrations first"))?;
    create_user_in(db, &org, email, Some(password)).await
}

/// How long an invitation stays valid (7 days).
pub const INVITATION_TTL_MS: i64 = 7 * 86_400_000;

/// An invitation (§14): the invited account and the secret with which its owner sets a
/// password at their first sign-in (shown once; only its hash is stored).
#[derive(Debug, Clone)]
pub struct Invitation {
    /// The account, without a password until the invitation is used.
    pub user: User,
    /// The secret.
    pub token: String,
    /// When it stops working (ms).
    pub expires_at: i64,
}

/// Invites a person by e-mail: an account without a password in the default organization,
/// or, for an account still waiting for its first sign-in, a new invitation. `None` for an
/// account that already has a password (it needs no invitation).
pub async fn invite(db: &Db, email: &str, by: &str) -> Result<Option<Invitation>> {
    let email = email.trim().to_lowercase();
    let user = match db.user_by_email(&email).await? {
        Some((_, hash)) if !hash.is_empty() => return Ok(None),
        Some((u, _)) => u,
        None => {
            let org = db
                .default_organization()
                .await?
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("no default organization")))?;
            create_user_in(db, &org, &email, None).await?
        }
    };
    let token = ids::new_secret("inv");
    let now = now_ms();
    let expires_at = now + INVITATION_TTL_MS;
    db.insert_invitation(&ids::hash_token(&token), &user.uid, by, (now, expires_at))
        .await?;
    Ok(Some(Invitation {
        user,
        token,
        expires_at,
    }))
}

fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < 8 {
        return Err(Error::field("password", "must be at least 8 characters"));
    }
    Ok(())
}

async fn create_user_in(
    db: &Db,
    org: &Organization,
    email: &str,
    password: Option<&str>,
) -> Result<User> {
    let email = email.trim().to_lowercase();
    let valid_email = email
        .split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !email.contains(' '));
    if !valid_email {
        return Err(Error::field("email", "is not a valid email address"));
    }
    if let Some(p) = password {
        check_password(p)?;
    }
    let now = now_ms();
    let user = User {
        uid: ids::new_uid(),
        email,
        first_name: String::new(),
        last_name: String::new(),
        org_uid: org.uid.clone(),
        created_at: now,
        updated_at: now,
    };
    // An invited account has no password yet: an empty hash, which no password matches.
    let hash = match password {
        Some(p) => hash_password(p).await?,
        None => String::new(),
    };
    match db.insert_user(&user, &hash).await {
        Ok(()) => Ok(user),
        Err(e) if is_unique_violation(&e) => Err(Error::field("email", "is already taken")),
        Err(e) => Err(e.into()),
    }
}

/// Checks email and password and opens a session. Returns the user and the new authtoken.
pub async fn login(
    db: &Db,
    email: &str,
    password: &str,
    ttl_secs: u64,
    origin: &Origin,
    invitation: Option<&str>,
) -> Result<(User, String)> {
    let found = db.user_by_email(&email.trim().to_lowercase()).await?;
    let Some((user, hash)) = found else {
        // Spend the same time as a real check so that timing does not reveal accounts.
        let _ = verify_password(DUMMY_HASH, password).await;
        return Err(Error::BadLogin);
    };
    if let Some(token) = invitation {
        // First sign-in of an invited account: the invitation sets the password.
        check_password(password)?;
        let new_hash = hash_password(password).await?;
        let accepted = hash.is_empty()
            && db
                .accept_invitation(&user.uid, &ids::hash_token(token), &new_hash, now_ms())
                .await?;
        if !accepted {
            record_failed_sign_in(db, &user, origin).await?;
            return Err(Error::BadLogin);
        }
    } else if !verify_password(&hash, password).await {
        record_failed_sign_in(db, &user, origin).await?;
        return Err(Error::BadLogin);
    }
    let token = ids::new_secret("");
    let now = now_ms();
    db.insert_session(
        &ids::hash_token(&token),
        &user.uid,
        now,
        now + (ttl_secs as i64) * 1000,
    )
    .await?;
    Ok((user, token))
}

/// A wrong password for an account lands in the audit log of every stack it is a member of
/// (§14): its Admins see attempts on their members' accounts. (Attempts are throttled
/// before they get here, so the log cannot be flooded.)
async fn record_failed_sign_in(db: &Db, user: &User, origin: &Origin) -> Result<()> {
    let entries: Vec<AuditEntry> = db
        .member_stacks(&user.uid)
        .await?
        .into_iter()
        .map(|api_key| AuditEntry {
            uid: ids::new_uid(),
            api_key,
            created_at: now_ms(),
            module: "user".into(),
            event_type: "sign_in_failed".into(),
            actor_kind: "user".into(),
            actor_uid: user.uid.clone(),
            actor_name: user.email.clone(),
            item_uid: Some(user.uid.clone()),
            item_title: Some(user.email.clone()),
            remote_addr: origin.client.map(|c| c.to_string()),
            request_id: origin.request_id.clone(),
            details: serde_json::json!({}),
            ..AuditEntry::default()
        })
        .collect();
    if !entries.is_empty() {
        db.record_audit(&entries).await?;
    }
    Ok(())
}

const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0nV0ZzYwM3S8Jj7UyBw9+2v1n2kZ0T2sQ9bXh0m9x0Q";

/// Ends the session behind an authtoken.
pub async fn logout(db: &Db, authtoken: &str) -> Result<()> {
    if db.delete_session(&ids::hash_token(authtoken)).await? {
        Ok(())
    } else {
        Err(Error::Unauthorized)
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

/// Creates a stack owned by `user` in `org_uid` (default: the user's organization).
pub async fn create_stack(
    db: &Db,
    user: &User,
    org_uid: Option<&str>,
    name: &str,
    description: &str,
    master_locale: Option<&str>,
    origin: &Origin,
) -> Result<Stack> {
    let org_uid = match org_uid.filter(|o| !o.is_empty()) {
        Some(o) if o == user.org_uid => o.to_owned(),
        Some(o) => {
            return match db.organization(o).await? {
                Some(_) => Err(Error::Forbidden(
                    "You are not a member of this organization.".into(),
                )),
                None => Err(Error::field("organization_uid", "does not exist")),
            }
        }
        None => user.org_uid.clone(),
    };
    let mut stack = create_stack_record(user, name, master_locale.unwrap_or("en-us"))?;
    stack.org_uid = org_uid;
    stack.description = description.to_owned();
    insert_stack(db, stack, origin).await
}

/// Creates a stack under a given api_key (`perma import`, which keeps the source stack's
/// key so that old links keep working): refused when the key is malformed or taken.
pub async fn create_stack_with_key(
    db: &Db,
    user: &User,
    api_key: &str,
    name: &str,
    master_locale: &str,
) -> Result<Stack> {
    if crate::ids::blt_bits(api_key).is_none() {
        return Err(Error::field(
            "api_key",
            "must be blt followed by 16 hex digits",
        ));
    }
    if db.stack(api_key).await?.is_some() {
        return Err(Error::field("api_key", "is taken by another stack"));
    }
    let mut stack = create_stack_record(user, name, master_locale)?;
    stack.api_key = api_key.to_owned();
    insert_stack(db, stack, &Origin::default()).await
}

fn create_stack_record(user: &User, name: &str, master_locale: &str) -> Result<Stack> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 255 {
        return Err(Error::field("name", "must be 1 to 255 characters"));
    }
    let master_locale = master_locale.trim().to_lowercase();
    if let Some(why) = locale_code_problem(&master_locale) {
        return Err(Error::field("master_locale", why));
    }
    let now = now_ms();
    Ok(Stack {
        api_key: ApiKey::generate().to_string(),
        name: name.to_owned(),
        description: String::new(),
        master_locale,
        org_uid: user.org_uid.clone(),
        owner_uid: user.uid.clone(),
        secure_asset_urls: false,
        permanent_url_mode: "serve".into(),
        metadata_extension: String::new(),
        trash_retention_days: crate::records::DEFAULT_TRASH_RETENTION_DAYS,
        created_at: now,
        updated_at: now,
    })
}

/// Stores a new stack with its master locale.
async fn insert_stack(db: &Db, stack: Stack, origin: &Origin) -> Result<Stack> {
    let now = stack.created_at;
    let master_locale = stack.master_locale.clone();
    let roles: Vec<Role> = [
        RoleKind::Admin,
        RoleKind::Developer,
        RoleKind::ContentManager,
    ]
    .into_iter()
    .filter_map(|k| {
        let (name, description) = k.built_in()?;
        Some(Role {
            uid: ids::new_uid(),
            api_key: stack.api_key.clone(),
            name: name.into(),
            description: description.into(),
            kind: k.as_str().into(),
            rules: RoleKind::built_in_rules(),
            created_by: stack.owner_uid.clone(),
            updated_by: stack.owner_uid.clone(),
            created_at: now,
            updated_at: now,
        })
    })
    .collect();
    let (by, by_email) = match db.user(&stack.owner_uid).await? {
        Some(u) => (u.uid, u.email),
        None => (stack.owner_uid.clone(), String::new()),
    };
    let entry = AuditEntry {
        uid: ids::new_uid(),
        api_key: stack.api_key.clone(),
        created_at: now,
        module: "stack".into(),
        event_type: "create".into(),
        actor_kind: "user".into(),
        actor_uid: by,
        actor_name: by_email,
        details: serde_json::json!({ "master_locale": stack.master_locale }),
        remote_addr: origin.client.map(|c| c.to_string()),
        request_id: origin.request_id.clone(),
        ..AuditEntry::default()
    }
    .item(&stack.api_key, &stack.name, None);
    db.insert_stack(&stack, &roles, &[entry]).await?;
    db.insert_locale(
        &Locale {
            uid: ids::new_uid(),
            api_key: stack.api_key.clone(),
            code: master_locale.clone(),
            name: master_locale,
            fallback_locale: None,
            created_at: now,
            updated_at: now,
        },
        &[],
    )
    .await?;
    Ok(stack)
}

/// Checks a locale code: one of Contentstack's language codes
/// ([`crate::locale_codes::CODES`]).
pub fn validate_locale_code(code: &str) -> Result<()> {
    match locale_code_problem(code) {
        None => Ok(()),
        Some(why) => Err(Error::field("code", why)),
    }
}

/// What is wrong with a locale code, if anything.
fn locale_code_problem(code: &str) -> Option<String> {
    if crate::locale_codes::known(code) {
        return None;
    }
    let lower = code.to_ascii_lowercase().replace('_', "-");
    let hint = if lower != code && crate::locale_codes::known(&lower) {
        format!(" (codes are lower case with '-': {lower})")
    } else {
        " (Contentstack's list: en-us, fr-fr, de-de, es-419, …; docs/api.md has them all)"
            .to_owned()
    };
    Some(format!("{code:?} is not a language code{hint}"))
}

/// Checks an environment name: 1–100 characters of letters, digits, `-` and `_`.
pub fn validate_environment_name(name: &str) -> Result<()> {
    let ok = (1..=100).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::field(
            "name",
            "must be 1-100 letters, digits, '-' or '_'",
        ))
    }
}

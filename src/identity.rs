//! Identity and access (§1, §5): organizations, users and their sessions, stacks and their
//! members, environments, locales, management and delivery tokens, and the one function
//! that decides who may touch a stack ([`stack_access`]).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::Arc;

use crate::db::{is_unique_violation, Db};
use crate::error::{Error, Result};
use crate::ids::{self, ApiKey};
use crate::permissions::{Action, Area, Grants, RoleKind};
use crate::records::{
    Asset, Environment, Locale, Organization, Role, Stack, Token, TokenKind, User,
};
use crate::time::now_ms;

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

/// What an actor may do in one stack.
#[derive(Debug, Clone)]
pub struct StackAccess {
    /// The stack.
    pub stack: Stack,
    /// Who asks.
    pub actor: Actor,
    /// What the actor's roles (or the token's scope) grant (§14).
    pub grants: Arc<Grants>,
}

fn denied(what: &str) -> Error {
    Error::Forbidden(format!(
        "You don't have permission to {what}. Ask an Admin of this stack for a role that allows it."
    ))
}

impl StackAccess {
    /// The access of an actor to a stack, with the grants of its roles (`None` when a user
    /// is not a member).
    pub async fn of(db: &Db, stack: Stack, actor: Actor) -> Result<Option<StackAccess>> {
        let grants = match &actor {
            Actor::Token(t) if t.api_key == stack.api_key => Grants::token(t.can_read, t.can_write),
            Actor::Token(_) => return Ok(None),
            Actor::User(u) => match db.member_roles(&stack.api_key, &u.uid).await? {
                None => return Ok(None),
                // The owner is always an Admin, whatever roles the rows hold.
                Some(_) if u.uid == stack.owner_uid => Grants::owner(),
                Some(roles) => {
                    Grants::from_roles(roles.iter().map(|r| (RoleKind::parse(&r.kind), &r.rules)))
                }
            },
        };
        Ok(Some(StackAccess {
            stack,
            actor,
            grants: Arc::new(grants),
        }))
    }

    /// Refuses unless the actor's roles manage this part of the stack (§14).
    pub fn require_area(&self, area: Area) -> Result<()> {
        if self.grants.manages(area) {
            return Ok(());
        }
        Err(denied(match area {
            Area::Settings => "manage this stack's settings",
            Area::Administration => "administer this stack",
            Area::AuditLog => "read this stack's audit log",
        }))
    }

    /// Folders above an asset or folder: its own folder first, up to the root (at most
    /// the folder depth, §5: a few primary-key reads).
    pub async fn ancestors(&self, db: &Db, parent: Option<&str>) -> Result<Vec<String>> {
        let mut chain = Vec::new();
        let mut cur = parent.map(str::to_owned);
        while let Some(uid) = cur {
            if chain.len() > 8 || chain.contains(&uid) {
                break;
            }
            cur = db
                .asset(&self.stack.api_key, &uid)
                .await?
                .and_then(|f| f.parent_uid);
            chain.push(uid);
        }
        Ok(chain)
    }

    /// Refuses (403, nothing changed) unless the roles grant `action` on this asset or
    /// folder: the one decision every path asks (§14).
    pub async fn require(&self, db: &Db, action: Action, asset: &Asset) -> Result<()> {
        if self.grants.everywhere(action) {
            return Ok(());
        }
        let chain = self.ancestors(db, asset.parent_uid.as_deref()).await?;
        if self.grants.covers(action, &asset.uid, asset.is_dir, &chain) {
            return Ok(());
        }
        Err(denied(&format!(
            "{} {} {:?}",
            action.as_str(),
            if asset.is_dir {
                "the folder"
            } else {
                "the asset"
            },
            asset.title
        )))
    }

    /// Refuses unless the roles may make something new in `folder` (`None`: the root).
    pub async fn require_create_in(&self, db: &Db, folder: Option<&str>) -> Result<()> {
        if self.grants.everywhere(Action::Create) {
            return Ok(());
        }
        let chain = match folder {
            Some(f) => self.ancestors(db, Some(f)).await?,
            None => Vec::new(),
        };
        let above = chain.get(1..).unwrap_or(&[]);
        if self.grants.may_create_in(folder, above) {
            return Ok(());
        }
        Err(denied(match folder {
            Some(_) => "add to this folder",
            None => "add to the stack's root folder",
        }))
    }

    /// Refuses unless the roles may publish to this environment and in this locale.
    pub fn require_publish_target(&self, env: &Environment, locale: &Locale) -> Result<()> {
        if !self.grants.may_publish_to(&env.name, &env.uid) {
            return Err(denied(&format!(
                "publish to the environment {:?}",
                env.name
            )));
        }
        if !self.grants.may_publish_in(&locale.code, &locale.uid) {
            return Err(denied(&format!("publish in the locale {:?}", locale.code)));
        }
        Ok(())
    }

    /// Refuses unless the actor may read assets.
    pub fn require_read(&self) -> Result<()> {
        match &self.actor {
            Actor::Token(t) if !t.can_read => Err(Error::Forbidden(
                "This management token has no read access to assets.".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Refuses unless the actor may change assets.
    pub fn require_write(&self) -> Result<()> {
        match &self.actor {
            Actor::Token(t) if !t.can_write => Err(Error::Forbidden(
                "This management token is read-only; it cannot change assets.".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Refuses unless the actor is a user (stack settings, tokens and members are managed
    /// by people, not by tokens).
    pub fn require_user(&self) -> Result<&User> {
        match &self.actor {
            Actor::User(u) => Ok(u),
            Actor::Token(_) => Err(Error::Forbidden(
                "Management tokens cannot perform this action; log in as a user.".into(),
            )),
        }
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
            create_user_in(db, &org, email, password)
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
    create_user_in(db, &org, email, password).await
}

async fn create_user_in(db: &Db, org: &Organization, email: &str, password: &str) -> Result<User> {
    let email = email.trim().to_lowercase();
    let valid_email = email
        .split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !email.contains(' '));
    if !valid_email {
        return Err(Error::field("email", "is not a valid email address"));
    }
    if password.chars().count() < 8 {
        return Err(Error::field("password", "must be at least 8 characters"));
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
    let hash = hash_password(password).await?;
    match db.insert_user(&user, &hash).await {
        Ok(()) => Ok(user),
        Err(e) if is_unique_violation(&e) => Err(Error::field("email", "is already taken")),
        Err(e) => Err(e.into()),
    }
}

/// Checks email and password and opens a session. Returns the user and the new authtoken.
pub async fn login(db: &Db, email: &str, password: &str, ttl_secs: u64) -> Result<(User, String)> {
    let found = db.user_by_email(&email.trim().to_lowercase()).await?;
    let Some((user, hash)) = found else {
        // Spend the same time as a real check so that timing does not reveal accounts.
        let _ = verify_password(DUMMY_HASH, password).await;
        return Err(Error::BadLogin);
    };
    if !verify_password(&hash, password).await {
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
    insert_stack(db, stack).await
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
    insert_stack(db, stack).await
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
async fn insert_stack(db: &Db, stack: Stack) -> Result<Stack> {
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
    db.insert_stack(&stack, &roles).await?;
    db.insert_locale(&Locale {
        uid: ids::new_uid(),
        api_key: stack.api_key.clone(),
        code: master_locale.clone(),
        name: master_locale,
        fallback_locale: None,
        created_at: now,
        updated_at: now,
    })
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

//! What a stack is configured with (§5): members, environments, locales, management and
//! delivery tokens, the secure-URL setting, and its extensions (`extensions`).

pub mod extensions;
pub mod roles;

use serde_json::Value;

use crate::db::{is_unique_violation, Db};
use crate::delivery::Changes;
use crate::error::{Error, Result};
use crate::identity::{validate_environment_name, validate_locale_code, StackAccess};
use crate::ids;
use crate::permissions::Area;
use crate::records::{Environment, Locale, Stack, Token, TokenKind, MAX_TRASH_RETENTION_DAYS};
use crate::time::{now_ms, parse_iso8601};

/// Adds existing users (by email) as members with the Content Manager role (see
/// [`roles::share`] to choose roles). Unknown emails are a 422 naming them.
pub async fn share(db: &Db, access: &StackAccess, emails: &[String]) -> Result<()> {
    roles::share(db, access, emails, &std::collections::HashMap::new()).await?;
    Ok(())
}

/// Removes a member. The owner cannot be removed.
pub async fn unshare(db: &Db, access: &StackAccess, email: &str) -> Result<()> {
    access.require_user()?;
    access.require_area(Area::Administration)?;
    let (user, _) = db
        .user_by_email(&email.trim().to_lowercase())
        .await?
        .ok_or_else(|| Error::field("email", "is not a member of this stack"))?;
    if user.uid == access.stack.owner_uid {
        return Err(Error::field(
            "email",
            "is the stack owner and cannot be removed",
        ));
    }
    if !db
        .remove_member(
            &access.stack.api_key,
            &user.uid,
            &[access
                .audit("member", "unshare")
                .item(&user.uid, &user.email, None)],
        )
        .await?
    {
        return Err(Error::field("email", "is not a member of this stack"));
    }
    Ok(())
}

/// The stack's members as (uid, e-mail), for users only (§5: e-mails are for people).
pub async fn members(db: &Db, access: &StackAccess) -> Result<Vec<(String, String)>> {
    access.require_user()?;
    Ok(db.member_emails(&access.stack.api_key).await?)
}

/// Stack settings to change (`None`: unchanged).
#[derive(Debug, Clone, Copy, Default)]
pub struct Settings<'a> {
    /// `secure_asset_urls` (§4).
    pub secure_asset_urls: Option<bool>,
    /// `permanent_url_mode`: `serve` or `redirect` (§13).
    pub permanent_url_mode: Option<&'a str>,
    /// `metadata_extension`: an extension uid of the stack, or `""` for none.
    pub metadata_extension: Option<&'a str>,
    /// `trash_retention_days` (§15): 1 to `MAX_TRASH_RETENTION_DAYS`.
    pub trash_retention_days: Option<i64>,
    /// `insights` (§17): whether delivery answers are counted.
    pub insights: Option<bool>,
}

/// Updates name, description and/or the stack settings.
pub async fn update_stack(
    db: &Db,
    changes: &Changes,
    access: &StackAccess,
    name: Option<&str>,
    description: Option<&str>,
    settings: Settings<'_>,
) -> Result<Stack> {
    access.require_user()?;
    access.require_area(Area::Settings)?;
    let mut s = access.stack.clone();
    let before = access.stack.clone();
    if let Some(n) = name {
        let n = n.trim();
        if n.is_empty() || n.chars().count() > 255 {
            return Err(Error::field("name", "must be 1 to 255 characters"));
        }
        s.name = n.to_owned();
    }
    if let Some(d) = description {
        s.description = d.to_owned();
    }
    if let Some(b) = settings.secure_asset_urls {
        s.secure_asset_urls = b;
    }
    if let Some(m) = settings.permanent_url_mode {
        if !matches!(m, "serve" | "redirect") {
            return Err(Error::field(
                "permanent_url_mode",
                "must be serve or redirect",
            ));
        }
        s.permanent_url_mode = m.to_owned();
    }
    if let Some(days) = settings.trash_retention_days {
        if !(1..=MAX_TRASH_RETENTION_DAYS).contains(&days) {
            return Err(Error::field(
                "trash_retention_days",
                format!("must be a whole number of days from 1 to {MAX_TRASH_RETENTION_DAYS}"),
            ));
        }
        s.trash_retention_days = days;
    }
    if let Some(b) = settings.insights {
        s.insights = b;
    }
    if let Some(e) = settings.metadata_extension {
        if !e.is_empty() && db.extension(&s.api_key, e).await?.is_none() {
            return Err(Error::field(
                "metadata_extension",
                format!("{e:?} is not an extension of this stack"),
            ));
        }
        s.metadata_extension = e.to_owned();
    }
    s.updated_at = now_ms();
    let entry = access
        .audit("stack", "update")
        .item(&s.api_key, &s.name, None)
        .details(serde_json::json!({
            "name": [before.name, s.name],
            "description": before.description != s.description,
            "secure_asset_urls": [before.secure_asset_urls, s.secure_asset_urls],
            "permanent_url_mode": [before.permanent_url_mode, s.permanent_url_mode],
            "metadata_extension": [before.metadata_extension, s.metadata_extension],
            "trash_retention_days": [before.trash_retention_days, s.trash_retention_days],
            "insights": [before.insights, s.insights],
        }));
    db.update_stack(&s, &[entry]).await?;
    // Both settings are part of every cached delivery entry of this stack.
    changes.changed(None).await;
    Ok(s)
}

/// Deletes a stack; only its owner may.
pub async fn delete_stack(db: &Db, changes: &Changes, access: &StackAccess) -> Result<()> {
    let user = access.require_user()?;
    if user.uid != access.stack.owner_uid {
        return Err(Error::Forbidden(
            "Only the stack owner can delete a stack.".into(),
        ));
    }
    db.delete_stack(&access.stack.api_key).await?;
    changes.changed(None).await;
    Ok(())
}

/// Creates an environment.
pub async fn create_environment(
    db: &Db,
    access: &StackAccess,
    name: &str,
    urls: Value,
) -> Result<Environment> {
    access.require_write()?;
    access.require_area(Area::Settings)?;
    validate_environment_name(name)?;
    let now = now_ms();
    let env = Environment {
        uid: ids::new_uid(),
        api_key: access.stack.api_key.clone(),
        name: name.to_owned(),
        urls: if urls.is_null() {
            Value::Array(vec![])
        } else {
            urls
        },
        created_by: access.actor.uid().to_owned(),
        created_at: now,
        updated_at: now,
    };
    let entry = access
        .audit("environment", "create")
        .item(&env.uid, &env.name, None);
    match db.insert_environment(&env, &[entry]).await {
        Ok(()) => Ok(env),
        Err(e) if is_unique_violation(&e) => Err(Error::field("name", "is not unique")),
        Err(e) => Err(e.into()),
    }
}

/// One environment by name, or 404.
pub async fn environment(db: &Db, access: &StackAccess, name: &str) -> Result<Environment> {
    access.require_read()?;
    db.environment(&access.stack.api_key, name)
        .await?
        .ok_or(Error::NotFound("Environment"))
}

/// Renames an environment or changes its URLs.
pub async fn update_environment(
    db: &Db,
    access: &StackAccess,
    name: &str,
    new_name: Option<&str>,
    urls: Option<Value>,
) -> Result<Environment> {
    access.require_write()?;
    access.require_area(Area::Settings)?;
    let mut env = environment(db, access, name).await?;
    let before = env.clone();
    if let Some(n) = new_name {
        validate_environment_name(n)?;
        env.name = n.to_owned();
    }
    if let Some(u) = urls {
        env.urls = u;
    }
    env.updated_at = now_ms();
    let entry = access
        .audit("environment", "update")
        .item(&env.uid, &before.name, None)
        .details(
            serde_json::json!({ "name": [before.name, env.name], "urls": [before.urls, env.urls] }),
        );
    match db.update_environment(&env, &[entry]).await {
        Ok(()) => Ok(env),
        Err(e) if is_unique_violation(&e) => Err(Error::field("name", "is not unique")),
        Err(e) => Err(e.into()),
    }
}

/// Deletes an environment (and what was published to it).
pub async fn delete_environment(db: &Db, access: &StackAccess, name: &str) -> Result<()> {
    access.require_write()?;
    access.require_area(Area::Settings)?;
    let env = environment(db, access, name).await?;
    let entry = access
        .audit("environment", "delete")
        .item(&env.uid, &env.name, None);
    db.delete_environment(&env.uid, &[entry]).await?;
    Ok(())
}

/// Adds a locale.
pub async fn create_locale(
    db: &Db,
    access: &StackAccess,
    code: &str,
    name: Option<&str>,
    fallback: Option<&str>,
) -> Result<Locale> {
    access.require_write()?;
    access.require_area(Area::Settings)?;
    let code = code.trim().to_lowercase();
    validate_locale_code(&code)?;
    if let Some(f) = fallback {
        check_fallback(db, access, &code, f).await?;
    }
    let now = now_ms();
    let locale = Locale {
        uid: ids::new_uid(),
        api_key: access.stack.api_key.clone(),
        name: name.unwrap_or(&code).to_owned(),
        code,
        fallback_locale: Some(
            fallback
                .map(str::to_owned)
                .unwrap_or_else(|| access.stack.master_locale.clone()),
        ),
        created_at: now,
        updated_at: now,
    };
    let entry = access
        .audit("locale", "create")
        .item(&locale.uid, &locale.code, None);
    match db.insert_locale(&locale, &[entry]).await {
        Ok(()) => Ok(locale),
        Err(e) if is_unique_violation(&e) => Err(Error::field("code", "is not unique")),
        Err(e) => Err(e.into()),
    }
}

/// §5: a `fallback_locale` names another existing locale of the stack.
async fn check_fallback(db: &Db, access: &StackAccess, code: &str, fallback: &str) -> Result<()> {
    if fallback == code {
        return Err(Error::field(
            "fallback_locale",
            "can't be the locale itself",
        ));
    }
    if db.locale(&access.stack.api_key, fallback).await?.is_none() {
        return Err(Error::field(
            "fallback_locale",
            format!("{fallback} is not a locale of this stack"),
        ));
    }
    Ok(())
}

/// Renames a locale or changes its fallback (§5 `PUT /v3/locales/{code}`).
pub async fn update_locale(
    db: &Db,
    access: &StackAccess,
    code: &str,
    name: Option<&str>,
    fallback: Option<Option<&str>>,
) -> Result<Locale> {
    access.require_write()?;
    access.require_area(Area::Settings)?;
    let mut l = locale(db, access, code).await?;
    if let Some(name) = name {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(Error::field("name", "must be 1 to 255 characters"));
        }
        l.name = name.to_owned();
    }
    if let Some(fallback) = fallback {
        if let Some(f) = fallback {
            check_fallback(db, access, &l.code, f).await?;
        }
        l.fallback_locale = fallback.map(str::to_owned);
    }
    l.updated_at = now_ms();
    let entry = access
        .audit("locale", "update")
        .item(&l.uid, &l.code, None)
        .details(serde_json::json!({ "name": l.name, "fallback_locale": l.fallback_locale }));
    db.update_locale(&l, &[entry]).await?;
    Ok(l)
}

/// One locale by code, or 404.
pub async fn locale(db: &Db, access: &StackAccess, code: &str) -> Result<Locale> {
    access.require_read()?;
    db.locale(&access.stack.api_key, code)
        .await?
        .ok_or(Error::NotFound("Locale"))
}

/// Deletes a locale; the master locale stays.
pub async fn delete_locale(db: &Db, access: &StackAccess, code: &str) -> Result<()> {
    access.require_write()?;
    access.require_area(Area::Settings)?;
    let l = locale(db, access, code).await?;
    if l.code == access.stack.master_locale {
        return Err(Error::field(
            "code",
            "is the master locale and cannot be deleted",
        ));
    }
    let entry = access.audit("locale", "delete").item(&l.uid, &l.code, None);
    db.delete_locale(&access.stack.api_key, &l.code, &[entry])
        .await?;
    Ok(())
}

/// A token to create (§5), parsed from the CMA body by the HTTP layer.
#[derive(Debug, Clone, Default)]
pub struct NewToken {
    /// Display name (1–255 characters).
    pub name: String,
    /// Free text.
    pub description: String,
    /// The scope exactly as the client sent it (echoed back).
    pub scope: Value,
    /// Asset module read (management tokens).
    pub asset_read: bool,
    /// Asset module write (management tokens).
    pub asset_write: bool,
    /// Environments by name or uid (delivery tokens).
    pub environments: Vec<String>,
    /// `expires_on` as sent (ISO-8601; empty or `never`: no expiry).
    pub expires_on: Option<String>,
}

/// Checks a token's fields (§5) and resolves its scope: (can_read, can_write, environment
/// names, expiry).
async fn check_token(
    db: &Db,
    access: &StackAccess,
    kind: TokenKind,
    new: &NewToken,
) -> Result<(bool, bool, Vec<String>, Option<i64>)> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 255 {
        return Err(Error::field("name", "must be 1 to 255 characters"));
    }
    let (can_read, can_write) = (new.asset_read, new.asset_write);
    let mut environments = Vec::new();
    if !new.environments.is_empty() {
        // Scopes may name environments by name or uid; store names.
        let envs = db.environments(&access.stack.api_key).await?;
        for e in &new.environments {
            let env = envs
                .iter()
                .find(|x| &x.name == e || &x.uid == e)
                .ok_or_else(|| Error::field("scope", format!("environment {e} does not exist")))?;
            environments.push(env.name.clone());
        }
    }
    match kind {
        TokenKind::Management if !can_read && !can_write => {
            return Err(Error::field(
                "scope",
                "must grant read or write on the asset module",
            ))
        }
        TokenKind::Delivery if environments.is_empty() => {
            return Err(Error::field("scope", "must name at least one environment"))
        }
        _ => {}
    }
    let expires_at = match new.expires_on.as_deref() {
        None | Some("") | Some("never") => None,
        Some(s) => Some(
            parse_iso8601(s)
                .ok_or_else(|| Error::field("expires_on", "is not an ISO-8601 date"))?,
        ),
    };
    if expires_at.is_some_and(|e| e <= now_ms()) {
        return Err(Error::field("expires_on", "must be in the future"));
    }
    Ok((can_read || can_write, can_write, environments, expires_at))
}

/// The audit log's module for a token kind.
fn token_module(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Management => "management_token",
        TokenKind::Delivery => "delivery_token",
    }
}

/// Creates a token. Returns it with its secret (shown once).
pub async fn create_token(
    db: &Db,
    access: &StackAccess,
    kind: TokenKind,
    new: NewToken,
) -> Result<(Token, String)> {
    access.require_user()?;
    access.require_area(Area::Settings)?;
    let (can_read, can_write, environments, expires_at) =
        check_token(db, access, kind, &new).await?;
    let secret = ids::new_secret("cs");
    let token = Token {
        uid: ids::new_uid(),
        api_key: access.stack.api_key.clone(),
        kind,
        name: new.name.trim().to_owned(),
        description: new.description,
        scope: new.scope,
        can_read,
        can_write,
        environments,
        expires_at,
        created_by: access.actor.uid().to_owned(),
        created_at: now_ms(),
    };
    let entry = access
        .audit(token_module(kind), "create")
        .item(&token.uid, &token.name, None)
        .details(serde_json::json!({ "scope": token.scope, "expires_at": token.expires_at }));
    db.insert_token(&token, &ids::hash_token(&secret), &[entry])
        .await?;
    Ok((token, secret))
}

/// Which fields of a token update were sent; the others keep their values.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenFields {
    /// `name` was sent.
    pub name: bool,
    /// `description` was sent.
    pub description: bool,
    /// `scope` was sent.
    pub scope: bool,
    /// `expires_on` was sent.
    pub expires_on: bool,
}

/// Changes a token's name, description, scope or expiry (§5 `PUT`); the secret stays.
pub async fn update_token(
    db: &Db,
    access: &StackAccess,
    kind: TokenKind,
    uid: &str,
    sent: NewToken,
    fields: TokenFields,
) -> Result<Token> {
    access.require_user()?;
    access.require_area(Area::Settings)?;
    let old = db
        .tokens(&access.stack.api_key, kind)
        .await?
        .into_iter()
        .find(|t| t.uid == uid)
        .ok_or(Error::NotFound("Token"))?;
    let merged = NewToken {
        name: if fields.name {
            sent.name
        } else {
            old.name.clone()
        },
        description: if fields.description {
            sent.description
        } else {
            old.description.clone()
        },
        scope: if fields.scope {
            sent.scope
        } else {
            old.scope.clone()
        },
        asset_read: if fields.scope {
            sent.asset_read
        } else {
            old.can_read
        },
        asset_write: if fields.scope {
            sent.asset_write
        } else {
            old.can_write
        },
        environments: if fields.scope {
            sent.environments
        } else {
            old.environments.clone()
        },
        expires_on: if fields.expires_on {
            sent.expires_on
        } else {
            None
        },
    };
    let (can_read, can_write, environments, expires_at) =
        check_token(db, access, kind, &merged).await?;
    let token = Token {
        name: merged.name.trim().to_owned(),
        description: merged.description,
        scope: merged.scope,
        can_read,
        can_write,
        environments,
        expires_at: if fields.expires_on {
            expires_at
        } else {
            old.expires_at
        },
        ..old
    };
    let entry = access
        .audit(token_module(kind), "update")
        .item(&token.uid, &token.name, None)
        .details(serde_json::json!({ "scope": token.scope, "expires_at": token.expires_at }));
    db.update_token(&token, &[entry]).await?;
    Ok(token)
}

/// A stack's tokens of one kind (never with secrets).
pub async fn tokens(db: &Db, access: &StackAccess, kind: TokenKind) -> Result<Vec<Token>> {
    access.require_user()?;
    access.require_area(Area::Settings)?;
    Ok(db.tokens(&access.stack.api_key, kind).await?)
}

/// Deletes a token.
pub async fn delete_token(db: &Db, access: &StackAccess, kind: TokenKind, uid: &str) -> Result<()> {
    access.require_user()?;
    access.require_area(Area::Settings)?;
    let entry = access
        .audit(token_module(kind), "delete")
        .item(uid, "", None);
    if db
        .delete_token(&access.stack.api_key, kind, uid, &[entry])
        .await?
    {
        Ok(())
    } else {
        Err(Error::NotFound("Token"))
    }
}

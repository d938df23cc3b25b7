//! What a stack is configured with (§5): members, environments, locales, management and
//! delivery tokens, and the secure-URL setting.

use serde_json::Value;

use crate::app::App;
use crate::db::is_unique_violation;
use crate::error::{Error, Result};
use crate::identity::{
    validate_environment_name, validate_locale_code, Environment, Locale, Stack, StackAccess,
    Token, TokenKind,
};
use crate::ids;
use crate::time::{now_ms, parse_iso8601};

/// Adds existing users (by email) as members. Unknown emails are a 422 naming them.
pub async fn share(app: &App, access: &StackAccess, emails: &[String]) -> Result<()> {
    access.require_user()?;
    if emails.is_empty() {
        return Err(Error::field("emails", "can't be blank"));
    }
    let mut users = Vec::new();
    for e in emails {
        match app.db.user_by_email(&e.trim().to_lowercase()).await? {
            Some((u, _)) => users.push(u),
            None => return Err(Error::field("emails", format!("{e} is not a perma user"))),
        }
    }
    for u in users {
        app.db.add_member(&access.stack.api_key, &u.uid).await?;
    }
    Ok(())
}

/// Removes a member. The owner cannot be removed.
pub async fn unshare(app: &App, access: &StackAccess, email: &str) -> Result<()> {
    access.require_user()?;
    let (user, _) = app
        .db
        .user_by_email(&email.trim().to_lowercase())
        .await?
        .ok_or_else(|| Error::field("email", "is not a member of this stack"))?;
    if user.uid == access.stack.owner_uid {
        return Err(Error::field(
            "email",
            "is the stack owner and cannot be removed",
        ));
    }
    if !app
        .db
        .remove_member(&access.stack.api_key, &user.uid)
        .await?
    {
        return Err(Error::field("email", "is not a member of this stack"));
    }
    Ok(())
}

/// Updates name, description and/or the secure-URL setting.
pub async fn update_stack(
    app: &App,
    access: &StackAccess,
    name: Option<&str>,
    description: Option<&str>,
    secure_asset_urls: Option<bool>,
) -> Result<Stack> {
    access.require_user()?;
    let mut s = access.stack.clone();
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
    if let Some(b) = secure_asset_urls {
        s.secure_asset_urls = b;
    }
    s.updated_at = now_ms();
    app.db.update_stack(&s).await?;
    // `secure_asset_urls` is part of every cached delivery entry of this stack.
    app.changed(None).await;
    Ok(s)
}

/// Deletes a stack; only its owner may.
pub async fn delete_stack(app: &App, access: &StackAccess) -> Result<()> {
    let user = access.require_user()?;
    if user.uid != access.stack.owner_uid {
        return Err(Error::Forbidden(
            "Only the stack owner can delete a stack.".into(),
        ));
    }
    app.db.delete_stack(&access.stack.api_key).await?;
    app.changed(None).await;
    Ok(())
}

/// Creates an environment.
pub async fn create_environment(
    app: &App,
    access: &StackAccess,
    name: &str,
    urls: Value,
) -> Result<Environment> {
    access.require_write()?;
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
    match app.db.insert_environment(&env).await {
        Ok(()) => Ok(env),
        Err(e) if is_unique_violation(&e) => Err(Error::field("name", "is not unique")),
        Err(e) => Err(e.into()),
    }
}

/// One environment by name, or 404.
pub async fn environment(app: &App, access: &StackAccess, name: &str) -> Result<Environment> {
    access.require_read()?;
    app.db
        .environment(&access.stack.api_key, name)
        .await?
        .ok_or(Error::NotFound("Environment"))
}

/// Renames an environment or changes its URLs.
pub async fn update_environment(
    app: &App,
    access: &StackAccess,
    name: &str,
    new_name: Option<&str>,
    urls: Option<Value>,
) -> Result<Environment> {
    access.require_write()?;
    let mut env = environment(app, access, name).await?;
    if let Some(n) = new_name {
        validate_environment_name(n)?;
        env.name = n.to_owned();
    }
    if let Some(u) = urls {
        env.urls = u;
    }
    env.updated_at = now_ms();
    match app.db.update_environment(&env).await {
        Ok(()) => Ok(env),
        Err(e) if is_unique_violation(&e) => Err(Error::field("name", "is not unique")),
        Err(e) => Err(e.into()),
    }
}

/// Deletes an environment (and what was published to it).
pub async fn delete_environment(app: &App, access: &StackAccess, name: &str) -> Result<()> {
    access.require_write()?;
    let env = environment(app, access, name).await?;
    app.db.delete_environment(&env.uid).await?;
    Ok(())
}

/// Adds a locale.
pub async fn create_locale(
    app: &App,
    access: &StackAccess,
    code: &str,
    name: Option<&str>,
    fallback: Option<&str>,
) -> Result<Locale> {
    access.require_write()?;
    let code = code.trim().to_lowercase();
    validate_locale_code(&code)?;
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
    match app.db.insert_locale(&locale).await {
        Ok(()) => Ok(locale),
        Err(e) if is_unique_violation(&e) => Err(Error::field("code", "is not unique")),
        Err(e) => Err(e.into()),
    }
}

/// One locale by code, or 404.
pub async fn locale(app: &App, access: &StackAccess, code: &str) -> Result<Locale> {
    access.require_read()?;
    app.db
        .locale(&access.stack.api_key, code)
        .await?
        .ok_or(Error::NotFound("Locale"))
}

/// Deletes a locale; the master locale stays.
pub async fn delete_locale(app: &App, access: &StackAccess, code: &str) -> Result<()> {
    access.require_write()?;
    let l = locale(app, access, code).await?;
    if l.code == access.stack.master_locale {
        return Err(Error::field(
            "code",
            "is the master locale and cannot be deleted",
        ));
    }
    app.db.delete_locale(&access.stack.api_key, &l.code).await?;
    Ok(())
}

/// Creates a token from a `{"token": {...}}` body. Returns it with its secret (shown once).
pub async fn create_token(
    app: &App,
    access: &StackAccess,
    kind: TokenKind,
    body: &Value,
) -> Result<(Token, String)> {
    access.require_user()?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim();
    if name.is_empty() || name.chars().count() > 255 {
        return Err(Error::field("name", "must be 1 to 255 characters"));
    }
    let scope = body.get("scope").cloned().unwrap_or(Value::Array(vec![]));
    let Value::Array(scopes) = &scope else {
        return Err(Error::field("scope", "must be an array"));
    };
    let (mut can_read, mut can_write, mut environments) = (false, false, Vec::new());
    for s in scopes {
        let acl = s.get("acl");
        let bit = |k: &str| {
            acl.and_then(|a| a.get(k))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        match s.get("module").and_then(Value::as_str) {
            Some("asset") => {
                can_read |= bit("read");
                can_write |= bit("write");
            }
            Some("environment") => {
                for e in s
                    .get("environments")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let Some(e) = e.as_str() else { continue };
                    // Scopes may name environments by name or uid; store names.
                    let envs = app.db.environments(&access.stack.api_key).await?;
                    let env = envs
                        .iter()
                        .find(|x| x.name == e || x.uid == e)
                        .ok_or_else(|| {
                            Error::field("scope", format!("environment {e} does not exist"))
                        })?;
                    environments.push(env.name.clone());
                }
            }
            _ => {}
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
    let expires_at = match body.get("expires_on").and_then(Value::as_str) {
        None | Some("") | Some("never") => None,
        Some(s) => Some(
            parse_iso8601(s)
                .ok_or_else(|| Error::field("expires_on", "is not an ISO-8601 date"))?,
        ),
    };
    let secret = ids::new_secret("cs");
    let token = Token {
        uid: ids::new_uid(),
        api_key: access.stack.api_key.clone(),
        kind,
        name: name.to_owned(),
        description: body
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        scope,
        can_read: can_read || can_write,
        can_write,
        environments,
        expires_at,
        created_by: access.actor.uid().to_owned(),
        created_at: now_ms(),
    };
    app.db
        .insert_token(&token, &ids::hash_token(&secret))
        .await?;
    Ok((token, secret))
}

/// A stack's tokens of one kind (never with secrets).
pub async fn tokens(app: &App, access: &StackAccess, kind: TokenKind) -> Result<Vec<Token>> {
    access.require_user()?;
    Ok(app.db.tokens(&access.stack.api_key, kind).await?)
}

/// Deletes a token.
pub async fn delete_token(
    app: &App,
    access: &StackAccess,
    kind: TokenKind,
    uid: &str,
) -> Result<()> {
    access.require_user()?;
    if app
        .db
        .delete_token(&access.stack.api_key, kind, uid)
        .await?
    {
        Ok(())
    } else {
        Err(Error::NotFound("Token"))
    }
}

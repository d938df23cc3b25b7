//! Stacks (§1): their creation (with the built-in roles, the master locale and the audit
//! entry, in one go), and the names of their locales and environments.

use super::Origin;
use crate::db::audit::AuditEntry;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::ids::{self, ApiKey};
use crate::permissions::RoleKind;
use crate::records::{Locale, Role, Stack, User};
use crate::time::now_ms;

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
        insights: true,
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
    let entry = AuditEntry::by_user(&stack.api_key, "stack", "create", &by, &by_email)
        .details(serde_json::json!({ "master_locale": stack.master_locale }))
        .from_request(
            origin.client.map(|c| c.to_string()),
            origin.request_id.clone(),
        )
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

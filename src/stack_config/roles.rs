//! Roles and the roles of members (§14): Contentstack's `/v3/roles` and the role part of
//! sharing a stack. What a role grants is decided in `permissions`; this module keeps the
//! roles themselves, checks their rules and says who holds them.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::db::{is_unique_violation, Db};
use crate::error::{Error, Result};
use crate::identity::{self, Invitation, StackAccess};
use crate::ids;
use crate::permissions::{rule_list, Area, RoleKind, ALL};
use crate::records::Role;
use crate::time::now_ms;

/// Most rules in one role.
pub const MAX_RULES: usize = 100;

/// What a client sends to create or change a role.
#[derive(Debug, Clone, Default)]
pub struct RoleInput {
    /// Name (required to create).
    pub name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// The rules (a JSON array), kept as sent.
    pub rules: Option<Value>,
}

/// A role with the members who hold it.
#[derive(Debug, Clone)]
pub struct HeldRole {
    /// The role.
    pub role: Role,
    /// Uids of the members holding it.
    pub users: Vec<String>,
}

/// The stack's roles, built-in ones first, each with who holds it.
pub async fn list(db: &Db, access: &StackAccess) -> Result<Vec<HeldRole>> {
    access.require_user()?;
    let holders = holders(db, &access.stack.api_key).await?;
    Ok(db
        .roles(&access.stack.api_key)
        .await?
        .into_iter()
        .map(|role| HeldRole {
            users: holders.get(&role.uid).cloned().unwrap_or_default(),
            role,
        })
        .collect())
}

/// One role of the stack, or 404.
pub async fn get(db: &Db, access: &StackAccess, uid: &str) -> Result<HeldRole> {
    access.require_user()?;
    let role = db
        .role(&access.stack.api_key, uid)
        .await?
        .ok_or(Error::NotFound("Role"))?;
    let users = holders(db, &access.stack.api_key)
        .await?
        .remove(&role.uid)
        .unwrap_or_default();
    Ok(HeldRole { role, users })
}

async fn holders(db: &Db, api_key: &str) -> Result<HashMap<String, Vec<String>>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for (role, user) in db.role_holders(api_key).await? {
        map.entry(role).or_default().push(user);
    }
    Ok(map)
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(Error::field(
            "name",
            "must be 1 to 255 characters, without control characters",
        ));
    }
    Ok(name.to_owned())
}

/// Checks rules against the stack: an array of at most [`MAX_RULES`] objects, each naming
/// its `module`; the modules perma has name things the stack holds (`$all` or uids of
/// assets, folders, environments and locales; names and codes also for the last two), with
/// an `acl` object. Rules for other modules are kept as sent and grant nothing.
async fn check_rules(db: &Db, api_key: &str, rules: &Value) -> Result<()> {
    let bad = |m: String| Error::field("rules", m);
    let list = rules
        .as_array()
        .ok_or_else(|| bad("must be an array of rules".into()))?;
    if list.len() > MAX_RULES {
        return Err(bad(format!("at most {MAX_RULES} rules per role")));
    }
    let environments = db.environments(api_key).await?;
    let locales = db.locales(api_key).await?;
    for (i, rule) in list.iter().enumerate() {
        let module = rule
            .get("module")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("rule {i} has no module")))?;
        let field = match module {
            "asset" => "assets",
            "folder" => "folders",
            "environment" => "environments",
            "locale" => "locales",
            _ => continue,
        };
        if rule.get("acl").is_some_and(|a| !a.is_object()) {
            return Err(bad(format!("rule {i}: acl must be an object")));
        }
        let named = rule.get(field);
        if !named.is_some_and(|v| v.as_array().is_some_and(|a| a.iter().all(Value::is_string))) {
            return Err(bad(format!(
                "rule {i} ({module}) needs {field}: a list of uids or \"$all\""
            )));
        }
        for name in rule_list(rule, field) {
            if name == ALL && module != "folder" {
                continue;
            }
            let known = match module {
                "asset" | "folder" => db
                    .asset(api_key, name)
                    .await?
                    .is_some_and(|a| a.deleted_at.is_none() && a.is_dir == (module == "folder")),
                "environment" => environments.iter().any(|e| e.name == name || e.uid == name),
                _ => locales.iter().any(|l| l.code == name || l.uid == name),
            };
            if !known {
                return Err(bad(format!(
                    "rule {i}: {name:?} is not a {} of this stack",
                    module
                )));
            }
        }
    }
    Ok(())
}

/// Creates a custom role (Admins and Developers).
pub async fn create(db: &Db, access: &StackAccess, input: RoleInput) -> Result<HeldRole> {
    let user = access.require_user()?;
    access.require_area(Area::Settings)?;
    let name = check_name(
        input
            .name
            .as_deref()
            .ok_or_else(|| Error::field("name", "is required"))?,
    )?;
    let rules = input.rules.unwrap_or_else(|| Value::Array(Vec::new()));
    check_rules(db, &access.stack.api_key, &rules).await?;
    let now = now_ms();
    let role = Role {
        uid: ids::new_uid(),
        api_key: access.stack.api_key.clone(),
        name,
        description: input.description.unwrap_or_default(),
        kind: RoleKind::Custom.as_str().into(),
        rules,
        created_by: user.uid.clone(),
        updated_by: user.uid.clone(),
        created_at: now,
        updated_at: now,
    };
    let entry = access
        .audit("role", "create")
        .item(&role.uid, &role.name, None)
        .details(json!({ "rules": role.rules }));
    match db.insert_role(&role, &[entry]).await {
        Err(e) if is_unique_violation(&e) => {
            return Err(Error::field(
                "name",
                "is taken by another role of this stack",
            ))
        }
        r => r.map_err(Error::from)?,
    }
    Ok(HeldRole {
        role,
        users: Vec::new(),
    })
}

/// Changes a custom role's name, description and/or rules. Built-in roles keep their
/// meaning: they cannot be changed.
pub async fn update(
    db: &Db,
    access: &StackAccess,
    uid: &str,
    input: RoleInput,
) -> Result<HeldRole> {
    let user = access.require_user()?;
    access.require_area(Area::Settings)?;
    let mut cur = get(db, access, uid).await?;
    if RoleKind::parse(&cur.role.kind) != RoleKind::Custom {
        return Err(Error::field(
            "role",
            format!("{} is a built-in role and cannot be changed", cur.role.name),
        ));
    }
    let before = cur.role.clone();
    if let Some(n) = &input.name {
        cur.role.name = check_name(n)?;
    }
    if let Some(d) = input.description {
        cur.role.description = d;
    }
    if let Some(r) = input.rules {
        check_rules(db, &access.stack.api_key, &r).await?;
        cur.role.rules = r;
    }
    cur.role.updated_by = user.uid.clone();
    cur.role.updated_at = now_ms();
    let entry = access
        .audit("role", "update")
        .item(&before.uid, &before.name, None)
        .details(json!({
            "name": [before.name, cur.role.name],
            "rules": [before.rules, cur.role.rules],
        }));
    match db.update_role(&cur.role, &[entry]).await {
        Err(e) if is_unique_violation(&e) => {
            return Err(Error::field(
                "name",
                "is taken by another role of this stack",
            ))
        }
        Ok(false) => return Err(Error::NotFound("Role")),
        r => r.map_err(Error::from)?,
    };
    Ok(cur)
}

/// Deletes a custom role that no member holds (give them another role first).
pub async fn delete(db: &Db, access: &StackAccess, uid: &str) -> Result<()> {
    access.require_user()?;
    access.require_area(Area::Settings)?;
    let cur = get(db, access, uid).await?;
    if RoleKind::parse(&cur.role.kind) != RoleKind::Custom {
        return Err(Error::field(
            "role",
            format!("{} is a built-in role and cannot be deleted", cur.role.name),
        ));
    }
    let entry = access
        .audit("role", "delete")
        .item(&cur.role.uid, &cur.role.name, None)
        .details(json!({ "rules": cur.role.rules }));
    if !db
        .delete_unheld_role(&access.stack.api_key, uid, &[entry])
        .await?
    {
        let held = get(db, access, uid).await?.users.len();
        return Err(Error::field(
            "role",
            format!("is held by {held} member(s); give them another role first"),
        ));
    }
    Ok(())
}

/// Checks that every role uid names a role of the stack and that the actor may hand it
/// out (only Admins hand out the Admin role); a member needs at least one role.
async fn check_assignable(db: &Db, access: &StackAccess, role_uids: &[String]) -> Result<()> {
    if role_uids.is_empty() {
        return Err(Error::field("roles", "a member needs at least one role"));
    }
    for r in role_uids {
        let role = db
            .role(&access.stack.api_key, r)
            .await?
            .ok_or_else(|| Error::field("roles", format!("{r:?} is not a role of this stack")))?;
        if RoleKind::parse(&role.kind) == RoleKind::Admin {
            access.require_area(Area::Administration)?;
        }
    }
    Ok(())
}

/// The uid of the stack's built-in role of a kind.
async fn built_in(db: &Db, api_key: &str, kind: RoleKind) -> Result<String> {
    db.roles(api_key)
        .await?
        .into_iter()
        .find(|r| r.kind == kind.as_str())
        .map(|r| r.uid)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("stack {api_key} has no {kind:?} role")))
}

/// Adds people (by e-mail) as members with roles (`roles`: e-mail → role uids; without an
/// entry: Content Manager), or gives members already there these roles. An e-mail without
/// an account is invited: the account is made without a password, and the returned
/// invitation (shown once) lets its owner set one at their first sign-in. Roles are checked
/// for every e-mail before anything is changed.
pub async fn share(
    db: &Db,
    access: &StackAccess,
    emails: &[String],
    roles: &HashMap<String, Vec<String>>,
) -> Result<Vec<Invitation>> {
    access.require_user()?;
    access.require_area(Area::Settings)?;
    if emails.is_empty() {
        return Err(Error::field("emails", "can't be blank"));
    }
    let api_key = &access.stack.api_key;
    let default = built_in(db, api_key, RoleKind::ContentManager).await?;
    let mut wanted = Vec::new();
    for e in emails {
        let email = e.trim().to_lowercase();
        let given = roles
            .iter()
            .find(|(k, _)| k.trim().to_lowercase() == email)
            .map(|(_, v)| v.clone());
        let role_uids = given.unwrap_or_else(|| vec![default.clone()]);
        check_assignable(db, access, &role_uids).await?;
        let existing = db.user_by_email(&email).await?;
        if existing
            .as_ref()
            .is_some_and(|(u, _)| u.uid == access.stack.owner_uid)
        {
            return Err(Error::field(
                "emails",
                format!("{e} owns this stack and is always its Admin"),
            ));
        }
        wanted.push((email, existing.map(|(u, _)| u), role_uids));
    }
    let mut members = Vec::new();
    let mut entries = Vec::new();
    let mut invitations = Vec::new();
    for (email, existing, role_uids) in wanted {
        let user = match existing {
            Some(u) => u,
            None => match identity::invite(db, &email, access.actor.uid()).await? {
                Some(inv) => {
                    let u = inv.user.clone();
                    invitations.push(inv);
                    u
                }
                None => return Err(Error::field("emails", format!("{email}: try again"))),
            },
        };
        entries.push(
            access
                .audit("member", "share")
                .item(&user.uid, &user.email, None)
                .details(json!({ "roles": role_uids })),
        );
        members.push((user.uid, role_uids));
    }
    db.share_with_roles(api_key, &members, &entries).await?;
    Ok(invitations)
}

/// Every member with their roles: (uid, e-mail, role uids). The owner is listed with the
/// Admin role whatever the rows say.
pub async fn members_roles(
    db: &Db,
    access: &StackAccess,
) -> Result<Vec<(String, String, Vec<String>)>> {
    access.require_user()?;
    let api_key = &access.stack.api_key;
    let mut by_user: HashMap<String, Vec<String>> = HashMap::new();
    for (role, user) in db.role_holders(api_key).await? {
        by_user.entry(user).or_default().push(role);
    }
    let admin = built_in(db, api_key, RoleKind::Admin).await?;
    Ok(db
        .member_emails(api_key)
        .await?
        .into_iter()
        .map(|(uid, email)| {
            let mut roles = by_user.remove(&uid).unwrap_or_default();
            if uid == access.stack.owner_uid && !roles.contains(&admin) {
                roles.push(admin.clone());
            }
            (uid, email, roles)
        })
        .collect())
}

/// Replaces members' roles (`users`: user uid → role uids), all or nothing. The owner's
/// roles cannot be changed (always Admin); taking the Admin role from a member, or giving
/// it, is an Admin's call.
pub async fn set_members_roles(
    db: &Db,
    access: &StackAccess,
    users: &HashMap<String, Vec<String>>,
) -> Result<()> {
    access.require_user()?;
    access.require_area(Area::Settings)?;
    if users.is_empty() {
        return Err(Error::field("users", "can't be blank"));
    }
    let api_key = &access.stack.api_key;
    let admin = built_in(db, api_key, RoleKind::Admin).await?;
    let current = members_roles(db, access).await?;
    let mut members = Vec::new();
    let mut entries = Vec::new();
    for (uid, role_uids) in users {
        let Some((_, email, had)) = current.iter().find(|(u, _, _)| u == uid) else {
            return Err(Error::field(
                "users",
                format!("{uid:?} is not a member of this stack"),
            ));
        };
        if *uid == access.stack.owner_uid {
            return Err(Error::field(
                "users",
                "the stack owner is always its Admin; their roles cannot be changed",
            ));
        }
        check_assignable(db, access, role_uids).await?;
        if had.contains(&admin) {
            access.require_area(Area::Administration)?;
        }
        entries.push(
            access
                .audit("member", "update")
                .item(uid, email, None)
                .details(json!({ "roles": [had, role_uids] })),
        );
        members.push((uid.clone(), role_uids.clone()));
    }
    db.share_with_roles(api_key, &members, &entries).await?;
    Ok(())
}

//! `/v3/roles` and the roles of members (`/v3/stacks/users/roles`, `roles` on
//! `/v3/stacks/share`), in Contentstack's shapes (§14).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::extract::{envelope, JsonBody, Params, Stack};
use crate::app::App;
use crate::error::{Error, Result};
use crate::permissions::{Area, Grants, RoleKind};
use crate::stack_config::roles::{self, HeldRole, RoleInput};
use crate::time::iso8601;

/// A role as Contentstack's CMA answers it: `rules` with `include_rules` (always for one
/// role), and with `include_permissions` what the role manages besides assets.
fn role_json(h: &HeldRole, owner: &str, rules: bool, permissions: bool) -> Value {
    let r = &h.role;
    let kind = RoleKind::parse(&r.kind);
    let mut v = json!({
        "uid": r.uid,
        "name": r.name,
        "description": r.description,
        "users": h.users,
        "roles": [],
        "owner": owner,
        "admin": kind == RoleKind::Admin,
        "default": kind != RoleKind::Custom,
        "created_by": r.created_by,
        "updated_by": r.updated_by,
        "created_at": iso8601(r.created_at),
        "updated_at": iso8601(r.updated_at),
    });
    if rules {
        v["rules"] = r.rules.clone();
    }
    if permissions {
        let g = Grants::from_roles([(kind, &r.rules)]);
        v["permissions"] = json!({
            "stack_settings": g.manages(Area::Settings),
            "users_and_roles": g.manages(Area::Administration),
            "audit_log": g.manages(Area::AuditLog),
            "empty_trash": g.manages(Area::Administration),
        });
    }
    v
}

fn input(body: &Value) -> Result<RoleInput> {
    let r = envelope(body, "role")?;
    let text = |k: &str| -> Result<Option<String>> {
        match r.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Error::field(k, "must be text")),
        }
    };
    Ok(RoleInput {
        name: text("name")?,
        description: text("description")?,
        rules: r.get("rules").filter(|v| !v.is_null()).cloned(),
    })
}

/// `GET /v3/roles` (`include_rules`, `include_permissions`, `include_count`).
pub async fn list(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    params: Params,
) -> Result<Json<Value>> {
    let all = roles::list(&app.db, &access).await?;
    let owner = &access.stack.owner_uid;
    let (rules, perms) = (
        params.flag("include_rules"),
        params.flag("include_permissions"),
    );
    let mut v = json!({
        "roles": all.iter().map(|h| role_json(h, owner, rules, perms)).collect::<Vec<_>>(),
    });
    if params.flag("include_count") {
        v["count"] = json!(all.len());
    }
    Ok(Json(v))
}

/// `GET /v3/roles/{uid}`.
pub async fn get(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
    params: Params,
) -> Result<Json<Value>> {
    let h = roles::get(&app.db, &access, &uid).await?;
    let perms = params.flag("include_permissions");
    Ok(Json(
        json!({ "role": role_json(&h, &access.stack.owner_uid, true, perms) }),
    ))
}

/// `POST /v3/roles` `{"role": {"name", "description", "rules"}}` → 201.
pub async fn create(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>)> {
    let h = roles::create(&app.db, &access, input(&body)?).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "notice": "The role created successfully.",
            "role": role_json(&h, &access.stack.owner_uid, true, false),
        })),
    ))
}

/// `PUT /v3/roles/{uid}`: name, description and/or rules (read-only fields are ignored:
/// the official SDKs send the whole fetched role back).
pub async fn update(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>> {
    let h = roles::update(&app.db, &access, &uid, input(&body)?).await?;
    Ok(Json(json!({
        "notice": "The role updated successfully.",
        "role": role_json(&h, &access.stack.owner_uid, true, false),
    })))
}

/// `DELETE /v3/roles/{uid}`.
pub async fn delete(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    roles::delete(&app.db, &access, &uid).await?;
    Ok(Json(json!({ "notice": "The role deleted successfully." })))
}

/// A `{"key": ["role uid", …]}` object.
fn role_map(v: Option<&Value>, field: &str) -> Result<HashMap<String, Vec<String>>> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(HashMap::new());
    };
    let obj = v
        .as_object()
        .ok_or_else(|| Error::field(field, "must map each user to a list of role uids"))?;
    obj.iter()
        .map(|(k, roles)| {
            let list = roles
                .as_array()
                .filter(|a| a.iter().all(Value::is_string))
                .ok_or_else(|| Error::field(field, format!("{k}: must be a list of role uids")))?;
            Ok((
                k.clone(),
                list.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            ))
        })
        .collect()
}

/// `POST /v3/stacks/share` `{"emails": [...], "roles": {"e-mail": ["role uid"]}}`: without
/// roles for an e-mail, the member is a Content Manager.
pub async fn share(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>> {
    let emails: Vec<String> = body
        .get("emails")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::field("emails", "is required"))?
        .iter()
        .filter_map(|e| e.as_str().map(str::to_owned))
        .collect();
    let by_email = role_map(body.get("roles"), "roles")?;
    let invitations = roles::share(&app.db, &access, &emails, &by_email).await?;
    let mut v = json!({ "notice": "The invitation has been sent successfully." });
    if !invitations.is_empty() {
        // perma sends no e-mail: the invitations are for the caller to pass on.
        v["invitations"] = invitations
            .iter()
            .map(|i| {
                json!({
                    "email": i.user.email,
                    "user_uid": i.user.uid,
                    "invitation_token": i.token,
                    "expires_at": iso8601(i.expires_at),
                })
            })
            .collect();
    }
    Ok(Json(v))
}

/// `GET /v3/stacks/users/roles`: `{"users": {"user uid": ["role uid", …]}}`.
pub async fn users_roles(State(app): State<Arc<App>>, Stack(access): Stack) -> Result<Json<Value>> {
    let members = roles::members_roles(&app.db, &access).await?;
    let users: serde_json::Map<String, Value> = members
        .into_iter()
        .map(|(uid, _, roles)| (uid, json!(roles)))
        .collect();
    Ok(Json(json!({ "users": users })))
}

/// `POST /v3/stacks/users/roles` `{"users": {"user uid": ["role uid", …]}}`: replaces
/// those members' roles.
pub async fn set_users_roles(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>> {
    let users = role_map(body.get("users"), "users")?;
    roles::set_members_roles(&app.db, &access, &users).await?;
    Ok(Json(
        json!({ "notice": "The roles were applied successfully." }),
    ))
}

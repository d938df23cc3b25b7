//! `/v3/stacks` and its members and settings (§5 Identity and stacks).

use std::sync::Arc;

use axum::extract::{Extension, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use super::extract::{
    envelope, str_field, ClientAddr, JsonBody, Params, RequestId, SessionUser, Stack,
};
use crate::app::App;
use crate::error::{Error, Result};
use crate::permissions::{Action, Area, Grants};
use crate::{identity, stack_config};

/// `GET /v3/stacks`: with an `api_key` header that stack, otherwise the caller's stacks.
pub async fn get(State(app): State<Arc<App>>, mut parts: Parts) -> Result<Json<Value>> {
    if parts.headers.contains_key("api_key") {
        let Stack(access) = Stack::from_request_parts(&mut parts, &app).await?;
        // Members' emails are for people, not for tokens (§5).
        access.require_user()?;
        let mut v = stack_json(&app, &access.stack).await?;
        v["permissions"] = permissions_json(&access.grants);
        return Ok(Json(json!({ "stack": v })));
    }
    let SessionUser(user) = SessionUser::from_request_parts(&mut parts, &app).await?;
    let mut stacks = Vec::new();
    for s in app.db.stacks_of_user(&user.uid).await? {
        stacks.push(stack_json(&app, &s).await?);
    }
    Ok(Json(json!({ "stacks": stacks })))
}

/// What the caller may do in the stack (perma's addition, §14), for clients such as the
/// web UI that hide what a role does not allow: per asset action `all`, `some` or `none`,
/// and the parts of the stack the roles manage.
fn permissions_json(g: &Grants) -> Value {
    let assets: serde_json::Map<String, Value> = Action::ALL
        .iter()
        .map(|a| (a.as_str().to_owned(), json!(g.reach(*a))))
        .collect();
    json!({
        "assets": assets,
        "stack_settings": g.manages(Area::Settings),
        "administration": g.manages(Area::Administration),
        "audit_log": g.manages(Area::AuditLog),
    })
}

async fn stack_json(app: &App, s: &crate::records::Stack) -> Result<Value> {
    let mut v = s.json();
    let members = app.db.member_emails(&s.api_key).await?;
    v["user_uids"] = json!(members.iter().map(|(u, _)| u).collect::<Vec<_>>());
    v["collaborators"] = json!(members
        .iter()
        .map(|(uid, email)| json!({ "uid": uid, "email": email }))
        .collect::<Vec<_>>());
    Ok(v)
}

/// `POST /v3/stacks` (201). `organization_uid` as header or query parameter (the JS SDK
/// sends a query parameter).
pub async fn create(
    State(app): State<Arc<App>>,
    SessionUser(user): SessionUser,
    client: Option<Extension<ClientAddr>>,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    params: Params,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>)> {
    let origin = identity::Origin {
        client: client.and_then(|Extension(ClientAddr(a))| a),
        request_id: request_id.map(|Extension(RequestId(r))| r),
    };
    let stack = envelope(&body, "stack")?;
    let org = headers
        .get("organization_uid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| params.get("organization_uid").map(str::to_owned));
    let name = str_field(stack, "name").ok_or_else(|| Error::field("name", "is required"))?;
    let s = identity::create_stack(
        &app.db,
        &user,
        org.as_deref(),
        name,
        str_field(stack, "description").unwrap_or(""),
        str_field(stack, "master_locale"),
        &origin,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "notice": "Stack created successfully.", "stack": stack_json(&app, &s).await? }),
        ),
    ))
}

/// `PUT /v3/stacks`.
pub async fn update(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>> {
    let stack = envelope(&body, "stack")?;
    let s = stack_config::update_stack(
        &app.db,
        &app.changes,
        &access,
        str_field(stack, "name"),
        str_field(stack, "description"),
        stack_config::Settings::default(),
    )
    .await?;
    Ok(Json(
        json!({ "notice": "Stack updated successfully.", "stack": stack_json(&app, &s).await? }),
    ))
}

/// `DELETE /v3/stacks`.
pub async fn delete(State(app): State<Arc<App>>, Stack(access): Stack) -> Result<Json<Value>> {
    stack_config::delete_stack(&app.db, &app.changes, &access).await?;
    Ok(Json(json!({ "notice": "Stack deleted successfully!" })))
}

/// `POST /v3/stacks/unshare` `{"email": "..."}`.
pub async fn unshare(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>> {
    let email = str_field(&body, "email").ok_or_else(|| Error::field("email", "is required"))?;
    stack_config::unshare(&app.db, &access, email).await?;
    Ok(Json(
        json!({ "notice": "The stack has been successfully unshared." }),
    ))
}

/// `GET /v3/stacks/settings`.
pub async fn settings(Stack(access): Stack) -> Result<Json<Value>> {
    access.require_user()?;
    Ok(Json(
        json!({ "stack_settings": settings_json(&access.stack) }),
    ))
}

/// `POST /v3/stacks/settings` `{"stack_settings": {"secure_asset_urls": true}}`; also
/// `permanent_url_mode` and `metadata_extension` (an extension uid, or null).
pub async fn set_settings(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>> {
    let settings = envelope(&body, "stack_settings")?;
    let secure = match settings.get("secure_asset_urls") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(Error::field("secure_asset_urls", "must be true or false")),
    };
    let mode = match settings.get("permanent_url_mode") {
        None => None,
        Some(Value::String(m)) => Some(m.as_str()),
        Some(_) => {
            return Err(Error::field(
                "permanent_url_mode",
                "must be serve or redirect",
            ))
        }
    };
    let extension = match settings.get("metadata_extension") {
        None => None,
        Some(Value::Null) => Some(""),
        Some(Value::String(e)) => Some(e.as_str()),
        Some(_) => {
            return Err(Error::field(
                "metadata_extension",
                "must be an extension uid, or null for none",
            ))
        }
    };
    let retention = match settings.get("trash_retention_days") {
        None => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| {
            Error::field(
                "trash_retention_days",
                "must be a whole number of days from 1 to 365",
            )
        })?),
    };
    let insights = match settings.get("insights") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(Error::field("insights", "must be true or false")),
    };
    let change = stack_config::Settings {
        secure_asset_urls: secure,
        permanent_url_mode: mode,
        metadata_extension: extension,
        trash_retention_days: retention,
        insights,
    };
    let s = stack_config::update_stack(&app.db, &app.changes, &access, None, None, change).await?;
    Ok(Json(json!({
        "notice": "Stack settings updated successfully.",
        "stack_settings": settings_json(&s)
    })))
}

/// `POST /v3/stacks/settings/reset`: every setting back to its default (secure URLs off).
pub async fn reset_settings(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
) -> Result<Json<Value>> {
    let defaults = stack_config::Settings {
        secure_asset_urls: Some(false),
        permanent_url_mode: Some("serve"),
        metadata_extension: Some(""),
        trash_retention_days: Some(crate::records::DEFAULT_TRASH_RETENTION_DAYS),
        insights: Some(true),
    };
    let s =
        stack_config::update_stack(&app.db, &app.changes, &access, None, None, defaults).await?;
    Ok(Json(json!({
        "notice": "Stack settings updated successfully.",
        "stack_settings": settings_json(&s)
    })))
}

fn settings_json(s: &crate::records::Stack) -> Value {
    json!({
        "secure_asset_urls": s.secure_asset_urls,
        "permanent_url_mode": s.permanent_url_mode,
        "metadata_extension": (!s.metadata_extension.is_empty()).then_some(&s.metadata_extension),
        "trash_retention_days": s.trash_retention_days,
        "insights": s.insights,
    })
}

/// `GET /v3/stacks/users`: the stack's members (users only; never to tokens).
pub async fn users(State(app): State<Arc<App>>, Stack(access): Stack) -> Result<Json<Value>> {
    let owner = &access.stack.owner_uid;
    let users: Vec<Value> = stack_config::members(&app.db, &access)
        .await?
        .into_iter()
        .map(|(uid, email)| {
            json!({
                "uid": uid,
                "email": email,
                "is_owner": &uid == owner,
            })
        })
        .collect();
    Ok(Json(json!({ "stack": { "users": users } })))
}

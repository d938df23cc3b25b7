//! `/v3/stacks/management_tokens` and `/v3/stacks/delivery_tokens` (§5).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::extract::{envelope, JsonBody, Params, Stack};
use crate::app::App;
use crate::error::{Error, Result};
use crate::records::TokenKind;
use crate::stack_config::{self, NewToken, TokenFields};

/// Reads a `{"token": {...}}` body (§5): name, description, scope (asset ACL for
/// management tokens, environments for delivery tokens), expiry.
fn new_token(body: &Value) -> Result<NewToken> {
    let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let scope = body.get("scope").cloned().unwrap_or(Value::Array(vec![]));
    let Value::Array(scopes) = &scope else {
        return Err(Error::field("scope", "must be an array"));
    };
    let mut new = NewToken::default();
    for s in scopes {
        let acl = s.get("acl");
        let bit = |k: &str| {
            acl.and_then(|a| a.get(k))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        match s.get("module").and_then(Value::as_str) {
            Some("asset") => {
                new.asset_read |= bit("read");
                new.asset_write |= bit("write");
            }
            Some("environment") => new.environments.extend(
                s.get("environments")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned),
            ),
            _ => {}
        }
    }
    Ok(NewToken {
        name: text("name"),
        description: text("description"),
        expires_on: body
            .get("expires_on")
            .and_then(Value::as_str)
            .map(str::to_owned),
        scope,
        ..new
    })
}

/// Contentstack's wording for a token kind in notices ("Management Token deleted
/// successfully."), which clients compare (§5).
fn noun(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Management => "Management Token",
        TokenKind::Delivery => "Delivery Token",
    }
}

/// Which fields a `{"token": {...}}` update body sent.
fn sent_fields(body: &Value) -> TokenFields {
    let has = |k: &str| body.get(k).is_some_and(|v| !v.is_null());
    TokenFields {
        name: has("name"),
        description: has("description"),
        scope: has("scope"),
        expires_on: body.get("expires_on").is_some(),
    }
}

async fn update(
    app: &App,
    access: &crate::identity::StackAccess,
    kind: TokenKind,
    uid: &str,
    body: &Value,
) -> Result<Json<Value>> {
    let t = envelope(body, "token")?;
    let token =
        stack_config::update_token(&app.db, access, kind, uid, new_token(t)?, sent_fields(t))
            .await?;
    Ok(Json(json!({
        "notice": format!("{} updated successfully.", noun(kind)),
        "token": token.json(None),
    })))
}

async fn create(
    app: &App,
    access: &crate::identity::StackAccess,
    kind: TokenKind,
    body: &Value,
) -> Result<(StatusCode, Json<Value>)> {
    let new = new_token(envelope(body, "token")?)?;
    let (token, secret) = stack_config::create_token(&app.db, access, kind, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "notice": format!("{} created successfully.", noun(kind)), "token": token.json(Some(&secret)) }),
        ),
    ))
}

async fn list(
    app: &App,
    access: &crate::identity::StackAccess,
    kind: TokenKind,
    params: &Params,
) -> Result<Json<Value>> {
    let tokens: Vec<Value> = stack_config::tokens(&app.db, access, kind)
        .await?
        .iter()
        .map(|t| t.json(None))
        .collect();
    Ok(Json(super::render::small_list("tokens", tokens, params)?))
}

async fn one(
    app: &App,
    access: &crate::identity::StackAccess,
    kind: TokenKind,
    uid: &str,
) -> Result<Json<Value>> {
    let t = stack_config::tokens(&app.db, access, kind)
        .await?
        .into_iter()
        .find(|t| t.uid == uid)
        .ok_or(Error::NotFound("Token"))?;
    Ok(Json(json!({ "token": t.json(None) })))
}

/// `POST /v3/stacks/management_tokens`.
pub async fn create_management(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    JsonBody(b): JsonBody,
) -> Result<(StatusCode, Json<Value>)> {
    create(&app, &a, TokenKind::Management, &b).await
}
/// `GET /v3/stacks/management_tokens`.
pub async fn list_management(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    params: Params,
) -> Result<Json<Value>> {
    list(&app, &a, TokenKind::Management, &params).await
}
/// `GET /v3/stacks/management_tokens/{uid}`.
pub async fn get_management(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    one(&app, &a, TokenKind::Management, &uid).await
}
/// `DELETE /v3/stacks/management_tokens/{uid}`.
pub async fn delete_management(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    stack_config::delete_token(&app.db, &a, TokenKind::Management, &uid).await?;
    Ok(Json(
        json!({ "notice": "Management Token deleted successfully." }),
    ))
}
/// `PUT /v3/stacks/management_tokens/{uid}`.
pub async fn update_management(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
    JsonBody(b): JsonBody,
) -> Result<Json<Value>> {
    update(&app, &a, TokenKind::Management, &uid, &b).await
}
/// `POST /v3/stacks/delivery_tokens`.
pub async fn create_delivery(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    JsonBody(b): JsonBody,
) -> Result<(StatusCode, Json<Value>)> {
    create(&app, &a, TokenKind::Delivery, &b).await
}
/// `GET /v3/stacks/delivery_tokens`.
pub async fn list_delivery(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    params: Params,
) -> Result<Json<Value>> {
    list(&app, &a, TokenKind::Delivery, &params).await
}
/// `GET /v3/stacks/delivery_tokens/{uid}`.
pub async fn get_delivery(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    one(&app, &a, TokenKind::Delivery, &uid).await
}
/// `DELETE /v3/stacks/delivery_tokens/{uid}`.
pub async fn delete_delivery(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    stack_config::delete_token(&app.db, &a, TokenKind::Delivery, &uid).await?;
    Ok(Json(
        json!({ "notice": "Delivery Token deleted successfully." }),
    ))
}
/// `PUT /v3/stacks/delivery_tokens/{uid}`.
pub async fn update_delivery(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
    JsonBody(b): JsonBody,
) -> Result<Json<Value>> {
    update(&app, &a, TokenKind::Delivery, &uid, &b).await
}

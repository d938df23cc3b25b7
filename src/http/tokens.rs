//! `/v3/stacks/management_tokens` and `/v3/stacks/delivery_tokens` (§5).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::extract::{envelope, JsonBody, Stack};
use crate::app::App;
use crate::error::{Error, Result};
use crate::identity::TokenKind;
use crate::stack_config;

async fn create(
    app: &App,
    access: &crate::identity::StackAccess,
    kind: TokenKind,
    body: &Value,
) -> Result<(StatusCode, Json<Value>)> {
    let (token, secret) =
        stack_config::create_token(app, access, kind, envelope(body, "token")?).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "notice": "Token created successfully.", "token": token.json(Some(&secret)) }),
        ),
    ))
}

async fn list(
    app: &App,
    access: &crate::identity::StackAccess,
    kind: TokenKind,
) -> Result<Json<Value>> {
    let tokens: Vec<Value> = stack_config::tokens(app, access, kind)
        .await?
        .iter()
        .map(|t| t.json(None))
        .collect();
    Ok(Json(json!({ "tokens": tokens })))
}

async fn one(
    app: &App,
    access: &crate::identity::StackAccess,
    kind: TokenKind,
    uid: &str,
) -> Result<Json<Value>> {
    let t = stack_config::tokens(app, access, kind)
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
pub async fn list_management(State(app): State<Arc<App>>, Stack(a): Stack) -> Result<Json<Value>> {
    list(&app, &a, TokenKind::Management).await
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
    stack_config::delete_token(&app, &a, TokenKind::Management, &uid).await?;
    Ok(Json(json!({ "notice": "Token deleted successfully." })))
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
pub async fn list_delivery(State(app): State<Arc<App>>, Stack(a): Stack) -> Result<Json<Value>> {
    list(&app, &a, TokenKind::Delivery).await
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
    stack_config::delete_token(&app, &a, TokenKind::Delivery, &uid).await?;
    Ok(Json(json!({ "notice": "Token deleted successfully." })))
}

//! `/v3/environments` and `/v3/locales` (§5).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::extract::{envelope, str_field, JsonBody, Params, Stack};
use super::render::small_list;
use crate::app::App;
use crate::error::{Error, Result};
use crate::stack_config;

/// `GET /v3/environments`.
pub async fn list(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    params: Params,
) -> Result<Json<Value>> {
    a.require_read()?;
    let envs: Vec<Value> = app
        .db
        .environments(&a.stack.api_key)
        .await?
        .iter()
        .map(|e| e.json())
        .collect();
    Ok(Json(small_list("environments", envs, &params)?))
}

/// `POST /v3/environments` `{"environment": {"name", "urls"}}` (201).
pub async fn create(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    JsonBody(b): JsonBody,
) -> Result<(StatusCode, Json<Value>)> {
    let env = envelope(&b, "environment")?;
    let name = str_field(env, "name").ok_or_else(|| Error::field("name", "is required"))?;
    let e = stack_config::create_environment(
        &app.db,
        &a,
        name,
        env.get("urls").cloned().unwrap_or(Value::Null),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "notice": "Environment created successfully.", "environment": e.json() })),
    ))
}

/// `GET /v3/environments/{name}`.
pub async fn get(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    let e = stack_config::environment(&app.db, &a, &name).await?;
    Ok(Json(json!({ "environment": e.json() })))
}

/// `PUT /v3/environments/{name}`.
pub async fn update(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(name): Path<String>,
    JsonBody(b): JsonBody,
) -> Result<Json<Value>> {
    let env = envelope(&b, "environment")?;
    let e = stack_config::update_environment(
        &app.db,
        &a,
        &name,
        str_field(env, "name"),
        env.get("urls").cloned(),
    )
    .await?;
    Ok(Json(
        json!({ "notice": "Environment updated successfully.", "environment": e.json() }),
    ))
}

/// `DELETE /v3/environments/{name}`.
pub async fn delete(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    stack_config::delete_environment(&app.db, &a, &name).await?;
    Ok(Json(
        json!({ "notice": "Environment deleted successfully." }),
    ))
}

/// `GET /v3/locales`.
pub async fn list_locales(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    params: Params,
) -> Result<Json<Value>> {
    a.require_read()?;
    let ls: Vec<Value> = app
        .db
        .locales(&a.stack.api_key)
        .await?
        .iter()
        .map(|l| l.json())
        .collect();
    Ok(Json(small_list("locales", ls, &params)?))
}

/// `POST /v3/locales` `{"locale": {"code", "name", "fallback_locale"}}` (201).
pub async fn create_locale(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    JsonBody(b): JsonBody,
) -> Result<(StatusCode, Json<Value>)> {
    let l = envelope(&b, "locale")?;
    let code = str_field(l, "code").ok_or_else(|| Error::field("code", "is required"))?;
    let l = stack_config::create_locale(
        &app.db,
        &a,
        code,
        str_field(l, "name"),
        str_field(l, "fallback_locale"),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "notice": "Language added successfully.", "locale": l.json() })),
    ))
}

/// `GET /v3/locales/{code}`.
pub async fn get_locale(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(code): Path<String>,
) -> Result<Json<Value>> {
    let l = stack_config::locale(&app.db, &a, &code).await?;
    Ok(Json(json!({ "locale": l.json() })))
}

/// `PUT /v3/locales/{code}` `{"locale": {"name", "fallback_locale"}}`.
pub async fn update_locale(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(code): Path<String>,
    JsonBody(b): JsonBody,
) -> Result<Json<Value>> {
    let l = envelope(&b, "locale")?;
    let fallback = match l.get("fallback_locale") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(f)) => Some(Some(f.as_str()).filter(|f| !f.is_empty())),
        Some(_) => return Err(Error::field("fallback_locale", "must be a string")),
    };
    let l = stack_config::update_locale(&app.db, &a, &code, str_field(l, "name"), fallback).await?;
    Ok(Json(
        json!({ "notice": "Language updated successfully.", "locale": l.json() }),
    ))
}

/// `DELETE /v3/locales/{code}`.
pub async fn delete_locale(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(code): Path<String>,
) -> Result<Json<Value>> {
    stack_config::delete_locale(&app.db, &a, &code).await?;
    Ok(Json(json!({ "notice": "Language removed successfully." })))
}

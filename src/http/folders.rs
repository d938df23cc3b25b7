//! `/v3/assets/folders` (§5 Folders).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::extract::{envelope, str_field, JsonBody, Params, Stack};
use crate::app::App;
use crate::assets;
use crate::error::{Error, Result};
use crate::records::Asset;
use crate::wire::Render;

fn folder_json(app: &App, f: &Asset, r: Render) -> Value {
    f.json(&app.public_url, &[], r)
}

/// `POST /v3/assets/folders` `{"asset": {"name", "parent_uid"}}` → 201.
pub async fn create(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    JsonBody(b): JsonBody,
) -> Result<(StatusCode, Json<Value>)> {
    let a = envelope(&b, "asset")?;
    let name = str_field(a, "name").ok_or_else(|| Error::field("name", "is required"))?;
    let f = assets::create_folder(&app.db, &access, name, str_field(a, "parent_uid")).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "notice": "Folder created successfully.", "asset": folder_json(&app, &f, Render::default()) }),
        ),
    ))
}

/// `GET /v3/assets/folders/{uid}` (`include_branch`).
pub async fn get(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
    params: Params,
) -> Result<Json<Value>> {
    let f = assets::fetch_folder(&app.db, &access, &uid).await?;
    Ok(Json(
        json!({ "asset": folder_json(&app, &f, params.render()) }),
    ))
}

/// `PUT /v3/assets/folders/{uid}` `{"asset": {"name", "parent_uid"}}`: rename and/or move.
pub async fn update(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
    JsonBody(b): JsonBody,
) -> Result<Json<Value>> {
    let a = envelope(&b, "asset")?;
    let parent = match a.get("parent_uid") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.as_str())),
        Some(_) => return Err(Error::field("parent_uid", "must be a string or null")),
    };
    let f = assets::update_folder(&app.db, &access, &uid, str_field(a, "name"), parent).await?;
    Ok(Json(
        json!({ "notice": "Folder updated successfully.", "asset": folder_json(&app, &f, Render::default()) }),
    ))
}

/// `DELETE /v3/assets/folders/{uid}`: the folder and everything in it.
pub async fn delete(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    assets::delete_folder(&app.db, &app.changes, &access, &uid).await?;
    Ok(Json(json!({ "notice": "Folder deleted successfully." })))
}

//! `POST /v3/assets/{uid}/signed_url` and the stack's signing keys (§13 signed URLs).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::extract::{str_field, JsonBody, Stack};
use crate::app::App;
use crate::assets::{self, UrlKind};
use crate::error::{Error, Result};
use crate::signing;
use crate::time::iso8601;

/// `POST /v3/assets/{uid}/signed_url` `{"expires_in", "url_kind", "params"}` →
/// `{"signed_url", "expires_at"}`.
pub async fn sign(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
    JsonBody(b): JsonBody,
) -> Result<Json<Value>> {
    let b = b.get("signed_url").filter(|v| v.is_object()).unwrap_or(&b);
    let expires_in = match b.get("expires_in") {
        None => 3600,
        Some(v) => v
            .as_i64()
            .ok_or_else(|| Error::field("expires_in", "must be a number of seconds"))?,
    };
    let kind = match str_field(b, "url_kind").unwrap_or("permanent") {
        "permanent" => UrlKind::Permanent,
        "version" => UrlKind::Version,
        other => {
            return Err(Error::field(
                "url_kind",
                format!("{other:?} is neither permanent nor version"),
            ))
        }
    };
    let params = match b.get("params") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(Error::field("params", "must be a query string")),
    };
    let (path, expires) =
        assets::signed_url(&app.db, &access, &uid, expires_in, kind, params).await?;
    Ok(Json(json!({
        "signed_url": format!("{}{path}", app.public_url),
        "expires_at": iso8601(expires * 1000),
    })))
}

/// `GET /v3/stacks/signing_keys`: the active keys (ids and dates, never the secrets).
pub async fn keys(State(app): State<Arc<App>>, Stack(access): Stack) -> Result<Json<Value>> {
    access.require_user()?;
    let keys: Vec<Value> = app
        .db
        .signing_keys(&access.stack.api_key)
        .await?
        .iter()
        .map(|k| json!({ "kid": k.kid, "created_at": iso8601(k.created_at) }))
        .collect();
    Ok(Json(json!({ "signing_keys": keys })))
}

/// `POST /v3/stacks/signing_keys` (201): a new current key; URLs signed with the previous
/// one stay valid, older ones stop.
pub async fn rotate(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
) -> Result<(StatusCode, Json<Value>)> {
    access.require_user()?;
    access.require_area(crate::permissions::Area::Settings)?;
    let entry = access.audit("signing_key", "create");
    let k = signing::rotate(&app.db, &access.stack.api_key, entry).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "notice": "Signing key created; the previous key stays valid until the next rotation.",
            "signing_key": { "kid": k.kid, "created_at": iso8601(k.created_at) },
        })),
    ))
}

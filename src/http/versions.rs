//! `/v3/assets/{uid}/versions…` and `/publish`, `/unpublish` (§5).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::extract::{string_list, JsonBody, Params, Stack};
use crate::app::App;
use crate::assets;
use crate::error::{Error, Result};

/// `GET /v3/assets/{uid}/versions` (`skip`, `limit`, `include_count`, `named`).
pub async fn list(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
    params: Params,
) -> Result<Json<Value>> {
    let skip = params.uint("skip")?.unwrap_or(0);
    let limit = params.uint("limit")?.unwrap_or(100).clamp(1, 100);
    let (versions, count) =
        assets::versions(&app.db, &access, &uid, params.flag("named"), skip, limit).await?;
    let items: Vec<Value> = versions
        .iter()
        .map(|v| v.json(&app.public_url, &access.stack.api_key, &uid))
        .collect();
    let mut out = json!({ "versions": items });
    if params.flag("include_count") {
        out["count"] = json!(count);
    }
    Ok(Json(out))
}

fn version_number(n: &str) -> Result<i64> {
    n.parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| Error::field("version", "must be a positive integer"))
}

/// `POST /v3/assets/{uid}/versions/{n}/name` `{"upload": {"_version_name": "…"}}`.
pub async fn name(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path((uid, n)): Path<(String, String)>,
    JsonBody(b): JsonBody,
) -> Result<Json<Value>> {
    let name = b
        .get("upload")
        .and_then(|u| u.get("_version_name"))
        .and_then(Value::as_str)
        .ok_or_else(|| Error::field("_version_name", "is required"))?;
    assets::name_version(&app.db, &access, &uid, version_number(&n)?, Some(name)).await?;
    Ok(Json(
        json!({ "notice": "Version name assigned successfully." }),
    ))
}

/// `DELETE /v3/assets/{uid}/versions/{n}/name`.
pub async fn unname(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path((uid, n)): Path<(String, String)>,
) -> Result<Json<Value>> {
    assets::name_version(&app.db, &access, &uid, version_number(&n)?, None).await?;
    Ok(Json(
        json!({ "notice": "Version name deleted successfully." }),
    ))
}

async fn publish_or_unpublish(
    app: &App,
    access: &crate::identity::StackAccess,
    uid: &str,
    b: &Value,
    unpublish: bool,
) -> Result<Json<Value>> {
    let a = b
        .get("asset")
        .ok_or_else(|| Error::field("asset", "is required"))?;
    let envs = string_list(a.get("environments"), "environments")?;
    let mut locales = string_list(a.get("locales"), "locales")?;
    // The JS SDK may send the locale at the top level.
    if let Some(l) = b.get("locale").and_then(Value::as_str) {
        locales.push(l.to_owned());
    }
    let version = match b.get("version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .ok_or_else(|| Error::field("version", "must be a version number"))?,
        ),
    };
    assets::publish(&app.db, access, uid, &envs, &locales, version, unpublish).await?;
    // Its webhooks and purges (§13) go out now rather than at the next poll.
    app.delivery.events_wake.notify_one();
    let notice = if unpublish {
        "Asset sent for unpublishing."
    } else {
        "Asset sent for publishing."
    };
    Ok(Json(json!({ "notice": notice })))
}

/// `POST /v3/assets/{uid}/publish`.
pub async fn publish(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
    JsonBody(b): JsonBody,
) -> Result<Json<Value>> {
    publish_or_unpublish(&app, &access, &uid, &b, false).await
}

/// `POST /v3/assets/{uid}/unpublish`.
pub async fn unpublish(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
    JsonBody(b): JsonBody,
) -> Result<Json<Value>> {
    publish_or_unpublish(&app, &access, &uid, &b, true).await
}

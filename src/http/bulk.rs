//! Bulk operations (§5): `POST /v3/bulk/publish`, `/unpublish` and `/delete` start a job;
//! `GET /v3/bulk/jobs/{job_id}` and `…/items` report it.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::extract::{string_list, JsonBody, Params, Stack};
use crate::app::App;
use crate::assets::{self, BulkAction, BulkRequest};
use crate::error::{Error, Result};
use crate::records::{BulkItem, BulkJob};
use crate::time::iso8601;

fn request(b: &Value, action: BulkAction) -> Result<BulkRequest> {
    // The body may come wrapped in `details` by some callers; accept both.
    let b = b.get("details").filter(|d| d.is_object()).unwrap_or(b);
    if b.get("entries")
        .and_then(Value::as_array)
        .is_some_and(|e| !e.is_empty())
    {
        return Err(Error::field(
            "entries",
            "are not supported: perma stores assets only",
        ));
    }
    let assets = match b.get("assets") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|a| {
                let uid = a
                    .get("uid")
                    .and_then(Value::as_str)
                    .filter(|u| !u.is_empty())
                    .ok_or_else(|| Error::field("assets", "each needs a uid"))?;
                let version = match a.get("version") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(
                        v.as_i64()
                            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                            .ok_or_else(|| Error::field("assets", "version must be a number"))?,
                    ),
                };
                Ok((uid.to_owned(), version))
            })
            .collect::<Result<Vec<_>>>()?,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(Error::field("assets", "must be an array")),
    };
    if action == BulkAction::Delete {
        return Ok(BulkRequest {
            action,
            assets,
            ..BulkRequest::default()
        });
    }
    Ok(BulkRequest {
        action,
        assets,
        environments: string_list(b.get("environments"), "environments")?,
        locales: string_list(b.get("locales"), "locales")?,
    })
}

async fn start(
    app: &App,
    access: &crate::identity::StackAccess,
    b: &Value,
    action: BulkAction,
) -> Result<(StatusCode, Json<Value>)> {
    let job = assets::start_bulk_job(&app.db, &app.changes, access, request(b, action)?).await?;
    let notice = match action {
        BulkAction::Publish => {
            "Your bulk publish request is in progress. Please check publish queue for more details."
        }
        BulkAction::Unpublish => {
            "Your bulk unpublish request is in progress. Please check publish queue for more details."
        }
        BulkAction::Delete => {
            "Your bulk delete request is in progress. Please check the job's items for more details."
        }
    };
    Ok((
        StatusCode::OK,
        Json(json!({ "notice": notice, "job_id": job.uid })),
    ))
}

/// `POST /v3/bulk/publish`.
pub async fn publish(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    JsonBody(b): JsonBody,
) -> Result<(StatusCode, Json<Value>)> {
    start(&app, &access, &b, BulkAction::Publish).await
}

/// `POST /v3/bulk/unpublish`.
pub async fn unpublish(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    JsonBody(b): JsonBody,
) -> Result<(StatusCode, Json<Value>)> {
    start(&app, &access, &b, BulkAction::Unpublish).await
}

/// `POST /v3/bulk/delete` `{"assets":[{"uid"}…]}`: each asset deleted as
/// `DELETE /v3/assets/{uid}` deletes it.
pub async fn delete(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    JsonBody(b): JsonBody,
) -> Result<(StatusCode, Json<Value>)> {
    start(&app, &access, &b, BulkAction::Delete).await
}

fn job_json(job: &BulkJob, items: &[BulkItem]) -> Value {
    let count = |s: &str| items.iter().filter(|i| i.status == s).count();
    json!({
        "uid": job.uid,
        "job_id": job.uid,
        "action": job.action,
        "status": job.status,
        "environments": job.environments,
        "locales": job.locales,
        "summary": {
            "total": items.len(),
            "success": count("success"),
            "failed": count("failed"),
            "pending": count("pending"),
        },
        // A folder restored from the trash (§15): one item, many assets.
        "progress": (job.total > 0).then(|| json!({ "total": job.total, "done": job.done })),
        "created_by": job.created_by,
        "created_at": iso8601(job.created_at),
        "updated_at": iso8601(job.updated_at),
    })
}

fn item_json(i: &BulkItem) -> Value {
    json!({
        "uid": i.asset_uid,
        "type": "asset",
        "version": i.version,
        "status": i.status,
        "error_message": i.error,
    })
}

/// `GET /v3/bulk/jobs/{job_id}`.
pub async fn job(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(job_id): Path<String>,
) -> Result<Json<Value>> {
    let (job, items) = assets::bulk_job(&app.db, &access, &job_id).await?;
    Ok(Json(job_json(&job, &items)))
}

/// `GET /v3/bulk/jobs/{job_id}/items` (`skip`, `limit`, `include_count`).
pub async fn items(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(job_id): Path<String>,
    params: Params,
) -> Result<Json<Value>> {
    let (_, items) = assets::bulk_job(&app.db, &access, &job_id).await?;
    let skip = params.uint("skip")?.unwrap_or(0) as usize;
    let limit = params.uint("limit")?.unwrap_or(100).clamp(1, 1000) as usize;
    let page: Vec<Value> = items.iter().skip(skip).take(limit).map(item_json).collect();
    let mut out = json!({ "items": page });
    if params.flag("include_count") {
        out["count"] = json!(items.len());
    }
    Ok(Json(out))
}

//! `/v3/trash…` (§15): list the stack's trash, restore an item, empty one or all.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::extract::{Params, Stack};
use crate::app::App;
use crate::assets::trash;
use crate::db::trash::TrashItem;
use crate::error::Result;
use crate::time::{iso8601, now_ms};

const DAY_MS: i64 = 86_400_000;

fn item_json(app: &App, item: &TrashItem, retention_days: i64, r: crate::wire::Render) -> Value {
    let mut v = item.asset.json(&app.public_url, &[], r);
    let gone_at = item.deleted_at + retention_days * DAY_MS;
    v["deleted_by"] = json!(item.deleted_by);
    v["deleted_at"] = json!(iso8601(item.deleted_at));
    v["purge_at"] = json!(iso8601(gone_at));
    // Whole days left, rounded up: "1 day left" until the last moment.
    v["days_left"] = json!(((gone_at - now_ms()).max(0) + DAY_MS - 1) / DAY_MS);
    if item.asset.is_dir {
        v["items"] = json!(item.contents);
    }
    v
}

/// `GET /v3/trash` (`skip`, `limit` 1–100, `include_count`): most recently deleted first.
pub async fn list(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    params: Params,
) -> Result<Json<Value>> {
    let skip = params.uint("skip")?.unwrap_or(0).max(0) as u64;
    let limit = params.uint("limit")?.unwrap_or(100).clamp(1, 100) as u64;
    let (items, count) = trash::list(&app.db, &a, skip, limit).await?;
    let r = params.render();
    let days = a.stack.trash_retention_days;
    let mut out = json!({
        "trash": items.iter().map(|i| item_json(&app, i, days, r)).collect::<Vec<_>>(),
        "retention_days": days,
    });
    if params.flag("include_count") {
        out["count"] = json!(count);
    }
    Ok(Json(out))
}

/// `POST /v3/trash/{uid}/restore`: the item and everything that went with it.
pub async fn restore(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
    params: Params,
) -> Result<(StatusCode, Json<Value>)> {
    let limits = trash::RestoreLimits {
        inline_max: app.config.restore_inline_max,
        chunk: app.config.restore_chunk,
    };
    let (asset, restored) = match trash::restore(&app.db, &app.changes, &a, &uid, limits).await? {
        trash::Restore::Done(asset, restored) => (asset, restored),
        trash::Restore::Started {
            asset,
            job,
            moved_to_root,
        } => {
            let whereto = if moved_to_root {
                " into the stack's root (the folder it was in is no longer there)"
            } else {
                ""
            };
            return Ok((
                StatusCode::ACCEPTED,
                Json(json!({
                    "notice": format!(
                        "Folder restored{whereto}; what it held comes back in the background (job {}).",
                        job.uid
                    ),
                    "asset": asset.json(&app.public_url, &[], params.render()),
                    "job_id": job.uid,
                    "moved_to_root": moved_to_root,
                })),
            ));
        }
    };
    let what = if asset.is_dir { "Folder" } else { "Asset" };
    let notice = if restored.moved_to_root {
        format!("{what} restored into the stack's root: the folder it was in is no longer there.")
    } else {
        format!("{what} restored.")
    };
    Ok((
        StatusCode::OK,
        Json(json!({
            "notice": notice,
            "asset": asset.json(&app.public_url, &[], params.render()),
            "restored": restored.uids.len(),
            "moved_to_root": restored.moved_to_root,
        })),
    ))
}

/// `DELETE /v3/trash/{uid}`: that item, for good.
pub async fn empty_one(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    let n = trash::empty(&app.db, &a, Some(&uid)).await?;
    Ok(Json(
        json!({ "notice": "Removed from the trash for good.", "removed": n }),
    ))
}

/// `DELETE /v3/trash`: everything in it, for good.
pub async fn empty_all(State(app): State<Arc<App>>, Stack(a): Stack) -> Result<Json<Value>> {
    let n = trash::empty(&app.db, &a, None).await?;
    Ok(Json(
        json!({ "notice": "The trash was emptied.", "removed": n }),
    ))
}

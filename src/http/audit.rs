//! `GET /v3/audit-logs` and `GET /v3/audit-logs/{uid}` (§14), in Contentstack's shape:
//! `logs` (or `log`) with `module`, `event_type`, `created_by`, `metadata`, `remote_addr`
//! and `request_id`. Entries cannot be changed or deleted: there are no such routes.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::extract::{Params, Stack};
use crate::app::App;
use crate::audit;
use crate::db::audit::{AuditEntry, AuditFilter};
use crate::error::{Error, Result};
use crate::time::{iso8601, parse_iso8601};

fn entry_json(e: &AuditEntry) -> Value {
    json!({
        "uid": e.uid,
        "stack": e.api_key,
        "created_at": iso8601(e.created_at),
        "created_by": e.actor_uid,
        "actor": { "kind": e.actor_kind, "uid": e.actor_uid, "name": e.actor_name },
        "module": e.module,
        "event_type": e.event_type,
        "request_id": e.request_id,
        "remote_addr": e.remote_addr,
        "metadata": {
            "uid": e.item_uid,
            "title": e.item_title,
            "version_before": e.version_before,
            "version": e.version_after.or(e.version_before),
            "version_after": e.version_after,
        },
        "details": e.details,
    })
}

/// Reads a filter from the query: `module`, `event_type`, `created_by` (a user or token
/// uid), `uid` (one asset's, folder's… entries), `from` and `to` (ISO-8601), also inside a
/// `query` JSON object with the same keys.
fn filter(params: &Params) -> Result<AuditFilter> {
    let query: Value = match params.get("query") {
        Some(q) => {
            serde_json::from_str(q).map_err(|_| Error::field("query", "must be a JSON object"))?
        }
        None => json!({}),
    };
    let text = |k: &str| -> Option<String> {
        params
            .get(k)
            .map(str::to_owned)
            .or_else(|| query.get(k).and_then(Value::as_str).map(str::to_owned))
            .filter(|v| !v.is_empty())
    };
    let time = |k: &str| -> Result<Option<i64>> {
        text(k)
            .map(|v| {
                parse_iso8601(&v)
                    .ok_or_else(|| Error::field(k, "must be an ISO-8601 date and time"))
            })
            .transpose()
    };
    Ok(AuditFilter {
        module: text("module"),
        event_type: text("event_type"),
        actor_uid: text("created_by"),
        item_uid: text("uid"),
        from: time("from")?,
        to: time("to")?,
    })
}

/// `GET /v3/audit-logs` (`skip`, `limit` ≤ 100, `include_count`, filters above).
pub async fn list(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    params: Params,
) -> Result<Json<Value>> {
    let f = filter(&params)?;
    let skip = params.skip()? as i64;
    let limit = params.uint("limit")?.unwrap_or(audit::MAX_PAGE);
    let (page, count) = audit::list(
        &app.db,
        &access,
        &f,
        (skip, limit),
        params.flag("include_count"),
    )
    .await?;
    let mut v = json!({ "logs": page.iter().map(entry_json).collect::<Vec<_>>() });
    if let Some(n) = count {
        v["count"] = json!(n);
    }
    Ok(Json(v))
}

/// `GET /v3/audit-logs/{uid}`.
pub async fn get(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    let e = audit::get(&app.db, &access, &uid).await?;
    Ok(Json(json!({ "log": entry_json(&e) })))
}

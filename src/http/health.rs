//! `/healthz` (the process is alive) and `/readyz` (it can serve: database and blob store
//! answer), for load balancers and orchestrators. Neither needs credentials; `/readyz`
//! names what failed, never how (no internals).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::app::App;
use crate::maintenance;

/// How long each readiness check may take.
const CHECK_LIMIT: Duration = Duration::from_secs(2);

/// `GET /healthz` → 200 while the process runs.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz` → 200 when the database and the blob store answer, else 503.
pub async fn readyz(State(app): State<Arc<App>>) -> (StatusCode, Json<Value>) {
    let r = maintenance::readiness(&app.db, &app.blobs, CHECK_LIMIT).await;
    let word = |failed: &Option<String>| {
        if failed.is_some() {
            "unavailable"
        } else {
            "ok"
        }
    };
    for (part, failed) in [("database", &r.database), ("storage", &r.storage)] {
        if let Some(why) = failed {
            tracing::warn!(part, "not ready: {why}");
        }
    }
    let status = if r.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if r.is_ready() { "ok" } else { "unavailable" },
        "database": word(&r.database),
        "storage": word(&r.storage),
    });
    (status, Json(body))
}

//! `/healthz` (the process is alive) and `/readyz` (it can serve: database and blob store
//! answer), for load balancers and orchestrators. Neither needs credentials; `/readyz`
//! names what failed, never how (no internals). `/metrics`: Prometheus text, for
//! loopback and `PERMA_METRICS_FROM` only.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
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

/// `GET /metrics`: request counts, latency histograms and bytes by route class and writer,
/// the delivery index, uploads in flight, database pools and the access log, in the
/// Prometheus text format. Other clients than loopback and `PERMA_METRICS_FROM` get 404.
pub async fn metrics(
    State(app): State<Arc<App>>,
    Extension(client): Extension<super::extract::ClientAddr>,
) -> Response {
    let allowed = client
        .0
        .is_some_and(|ip| ip.is_loopback() || app.metrics_from.iter().any(|n| n.contains(ip)));
    if !allowed {
        return crate::error::Error::NotFound("Route").into_response();
    }
    let mut out = String::with_capacity(8 << 10);
    out.push_str(&format!(
        "# HELP perma_build_info The version and commit of this process.\n\
         # TYPE perma_build_info gauge\n\
         perma_build_info{{version=\"{}\",commit=\"{}\"}} 1\n",
        crate::build_info::VERSION,
        crate::build_info::COMMIT
    ));
    app.metrics.render(&mut out);
    app.insights.render_metrics(&mut out);
    let hot = &app.delivery.hot;
    let (entries, bytes) = hot.index_size();
    let (budget, evictions) = hot.index_budget_and_evictions();
    let mut gauge = |name: &str, kind: &str, help: &str, value: String| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    };
    gauge(
        "perma_index_entries",
        "gauge",
        "Assets in the delivery index.",
        entries.to_string(),
    );
    gauge(
        "perma_index_bytes",
        "gauge",
        "Bytes accounted to the delivery index.",
        bytes.to_string(),
    );
    gauge(
        "perma_index_budget_bytes",
        "gauge",
        "The delivery index's budget (PERMA_INDEX_BYTES).",
        budget.to_string(),
    );
    gauge(
        "perma_index_hits_total",
        "counter",
        "Delivery lookups answered by the index.",
        hot.hits.get().to_string(),
    );
    gauge(
        "perma_index_misses_total",
        "counter",
        "Delivery lookups that went to the database.",
        hot.misses.get().to_string(),
    );
    gauge(
        "perma_index_evictions_total",
        "counter",
        "Index entries evicted to keep to the budget.",
        evictions.to_string(),
    );
    let r = &app.delivery.renditions.counters;
    for (name, help, n) in [
        (
            "perma_renditions_rendered_total",
            "Image renditions rendered (one decode each, §11).",
            r.rendered.get(),
        ),
        (
            "perma_renditions_served_total",
            "Answers served from a stored rendition.",
            r.served.get(),
        ),
        (
            "perma_renditions_evicted_total",
            "Renditions deleted to keep to PERMA_RENDITION_BUDGET_BYTES.",
            r.evicted.get(),
        ),
        (
            "perma_renditions_failed_total",
            "Renders refused or failed (undecodable, over a limit, past the time limit).",
            r.failed.get(),
        ),
    ] {
        gauge(name, "counter", help, n.to_string());
    }
    let limits = &app.delivery.renditions.limits;
    gauge(
        "perma_renders_running",
        "gauge",
        "Renders running now, including ones whose request has already been answered.",
        limits.running().to_string(),
    );
    gauge(
        "perma_render_memory_bytes",
        "gauge",
        "Bytes of PERMA_RENDER_MEMORY_BYTES reserved by renders running now.",
        limits.memory_in_use().to_string(),
    );
    if let Ok((count, bytes)) = app.delivery.renditions.usage().await {
        gauge(
            "perma_renditions_stored",
            "gauge",
            "Renditions stored.",
            count.to_string(),
        );
        gauge(
            "perma_renditions_bytes",
            "gauge",
            "Bytes of stored renditions.",
            bytes.to_string(),
        );
    }
    if let Some(log) = &app.access_log {
        gauge(
            "perma_access_log_dropped_total",
            "counter",
            "Access log lines dropped because the writer fell behind.",
            log.dropped().to_string(),
        );
    }
    out.push_str("# HELP perma_db_connections Database pool connections.\n# TYPE perma_db_connections gauge\n");
    for (pool, open, idle) in app.db.pool_stats() {
        let busy = (open as usize).saturating_sub(idle);
        out.push_str(&format!(
            "perma_db_connections{{pool=\"{pool}\",state=\"idle\"}} {idle}\nperma_db_connections{{pool=\"{pool}\",state=\"in_use\"}} {busy}\n"
        ));
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

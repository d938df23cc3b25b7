//! `/v3/webhooks…` (§13): a stack's webhooks, their executions, and retrying one.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::extract::{envelope, str_field, JsonBody, Params, Stack};
use crate::app::App;
use crate::db::events::{Destination, EventJob, Webhook};
use crate::error::{Error, Result};
use crate::time::iso8601;
use crate::webhooks::{self, WebhookInput};

impl Webhook {
    /// The CMA JSON of a webhook. Secrets are not sent back: not the basic-auth password,
    /// not the values of custom headers (often a receiver's API key: each reads
    /// [`webhooks::MASK`], which an update takes as "unchanged"), the signing secret only
    /// at creation.
    fn json(&self) -> Value {
        let destinations: Vec<Value> = self
            .destinations
            .iter()
            .map(|d| {
                let headers: Vec<Value> = d
                    .custom_header
                    .iter()
                    .map(|h| json!({"header_name": h.header_name, "value": webhooks::MASK}))
                    .collect();
                json!({
                    "target_url": d.target_url,
                    "http_basic_auth": d.http_basic_auth,
                    "custom_header": headers,
                })
            })
            .collect();
        json!({
            "uid": self.uid,
            "name": self.name,
            "destinations": destinations,
            "channels": self.channels,
            "retry_policy": self.retry_policy,
            "disabled": self.disabled,
            "concise_payload": self.concise_payload,
            "org_uid": Value::Null,
            "applikation_id": Value::Null,
            "created_by": self.created_by,
            "updated_by": self.updated_by,
            "created_at": iso8601(self.created_at),
            "updated_at": iso8601(self.updated_at),
        })
    }
}

impl EventJob {
    /// An execution in the shape of Contentstack's webhook executions.
    fn execution_json(&self) -> Value {
        let attempts: Vec<Value> = self
            .log
            .iter()
            .map(|a| {
                json!({
                    "created_at": iso8601(a.at),
                    "request": { "method": "POST", "url": self.target },
                    "response": { "status": a.status, "body": a.response },
                    "duration_ms": a.duration_ms,
                })
            })
            .collect();
        json!({
            "uid": self.uid,
            "webhooks": [self.webhook_uid],
            "channel": [self.channel],
            "destination": self.target,
            "status": self.status,
            "retry_count": (self.attempts - 1).max(0),
            "attempts": self.attempts,
            "event_data": serde_json::from_str::<Value>(&self.body).unwrap_or(Value::Null),
            "request_details": attempts,
            "next_attempt_at": (self.status == "retrying" || self.status == "pending")
                .then(|| iso8601(self.next_attempt_at)),
            "created_at": iso8601(self.created_at),
            "updated_at": iso8601(self.updated_at),
        })
    }
}

fn input(body: &Value) -> Result<WebhookInput> {
    let w = envelope(body, "webhook")?;
    let destinations: Vec<Destination> = match w.get("destinations") {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            Error::field(
                "destinations",
                format!("must be a list of {{target_url, …}}: {e}"),
            )
        })?,
        None => Vec::new(),
    };
    let channels: Vec<String> = match w.get("channels") {
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|_| Error::field("channels", "must be a list of channel names"))?,
        None => Vec::new(),
    };
    let flag = |k: &str| -> Result<bool> {
        match w.get(k) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(Error::field(k, "must be true or false")),
        }
    };
    Ok(WebhookInput {
        name: str_field(w, "name").unwrap_or("").to_owned(),
        destinations,
        channels,
        retry_policy: str_field(w, "retry_policy").map(str::to_owned),
        disabled: flag("disabled")?,
        concise_payload: flag("concise_payload")?,
    })
}

/// `GET /v3/webhooks`.
pub async fn list(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    params: Params,
) -> Result<Json<Value>> {
    let hooks: Vec<Value> = webhooks::list(&app.db, &a)
        .await?
        .iter()
        .map(Webhook::json)
        .collect();
    Ok(Json(super::render::small_list("webhooks", hooks, &params)?))
}

/// `POST /v3/webhooks` (201): the answer carries the signing `secret`, once.
pub async fn create(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    JsonBody(b): JsonBody,
) -> Result<(StatusCode, Json<Value>)> {
    let w = webhooks::create(&app.db, &a, input(&b)?, &app.webhook_allow).await?;
    let mut v = w.json();
    v["secret"] = json!(w.secret);
    Ok((
        StatusCode::CREATED,
        Json(json!({ "notice": "The Webhook was created successfully", "webhook": v })),
    ))
}

/// `GET /v3/webhooks/{uid}`.
pub async fn get(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    let w = webhooks::get(&app.db, &a, &uid).await?;
    Ok(Json(json!({ "webhook": w.json() })))
}

/// `PUT /v3/webhooks/{uid}`.
pub async fn update(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
    JsonBody(b): JsonBody,
) -> Result<Json<Value>> {
    let w = webhooks::update(&app.db, &a, &uid, input(&b)?, &app.webhook_allow).await?;
    Ok(Json(json!({
        "notice": "The Webhook was updated successfully",
        "webhook": w.json(),
    })))
}

/// `DELETE /v3/webhooks/{uid}`.
pub async fn delete(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    webhooks::delete(&app.db, &a, &uid).await?;
    Ok(Json(
        json!({ "notice": "The Webhook was deleted successfully" }),
    ))
}

/// `GET /v3/webhooks/{uid}/executions` (`skip`, `limit`, `include_count`).
pub async fn executions(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
    params: Params,
) -> Result<Json<Value>> {
    let skip = params.uint("skip")?.unwrap_or(0);
    let limit = params.uint("limit")?.unwrap_or(100).clamp(1, 100);
    let (jobs, count) = webhooks::executions(&app.db, &a, &uid, skip, limit).await?;
    let items: Vec<Value> = jobs.iter().map(EventJob::execution_json).collect();
    let mut out = json!({ "webhooks": items });
    if params.flag("include_count") {
        out["count"] = json!(count);
    }
    Ok(Json(out))
}

/// `GET /v3/webhooks/{execution_uid}/logs`: one execution with its attempts.
pub async fn logs(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    let job = webhooks::execution(&app.db, &a, &uid).await?;
    Ok(Json(json!({ "webhook": job.execution_json() })))
}

/// `POST /v3/webhooks/{webhook_uid}/retry` `{"execution_uid"}` (the JS SDK), or
/// `POST /v3/webhooks/{execution_uid}/retry` without a body (Contentstack's documented form,
/// the Python SDK): sends that execution again now.
pub async fn retry(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>> {
    let b: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Error::Malformed(format!("The body is not valid JSON: {e}")))?
    };
    match str_field(&b, "execution_uid") {
        Some(execution) => webhooks::retry(&app.db, &a, &uid, execution).await?,
        None => webhooks::retry_execution(&app.db, &a, &uid).await?,
    }
    app.delivery.events_wake.notify_one();
    Ok(Json(json!({ "notice": "Webhook retry scheduled" })))
}

//! `/v3/webhooks…` (§13): a stack's webhooks, their executions, retrying one, and
//! export and import.

use std::sync::Arc;

use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
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
        let mut v = json!({
            "uid": self.uid,
            "name": self.name,
            "destinations": destinations,
            "channels": self.channels,
            "retry_policy": self.retry_policy,
            "disabled": self.disabled,
            "concise_payload": self.concise_payload,
            "branches": ["main"],
            "notifiers": [],
            "org_uid": Value::Null,
            "applikation_id": Value::Null,
            "unhealthy": { "state": false },
            "created_by": self.created_by,
            "updated_by": self.updated_by,
            "created_at": iso8601(self.created_at),
            "updated_at": iso8601(self.updated_at),
        });
        for (k, x) in &self.extra {
            v[k] = x.clone();
        }
        v
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
    fields(envelope(body, "webhook")?)
}

/// A webhook's fields (those present) from its JSON object.
fn fields(w: &Value) -> Result<WebhookInput> {
    let destinations: Option<Vec<Destination>> = match w.get("destinations") {
        None | Some(Value::Null) => None,
        Some(v) => Some(serde_json::from_value(v.clone()).map_err(|e| {
            Error::field(
                "destinations",
                format!("must be a list of {{target_url, …}}: {e}"),
            )
        })?),
    };
    let channels: Option<Vec<String>> = match w.get("channels") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value(v.clone())
                .map_err(|_| Error::field("channels", "must be a list of channel names"))?,
        ),
    };
    let flag = |k: &str| -> Result<Option<bool>> {
        match w.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Error::field(k, "must be true or false")),
        }
    };
    let name = match w.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) => Some(n.clone()),
        Some(_) => return Err(Error::field("name", "must be a string")),
    };
    let mut extra = serde_json::Map::new();
    for &k in webhooks::KEPT_FIELDS {
        let Some(v) = w.get(k) else { continue };
        let fits = match k {
            "branches" => v
                .as_array()
                .is_some_and(|b| b.iter().all(|x| x.as_str().is_some_and(|s| !s.is_empty()))),
            // A list of e-mail addresses, or one (Contentstack's own examples send both).
            "notifiers" => {
                v.is_null()
                    || v.is_string()
                    || v.as_array().is_some_and(|n| n.iter().all(Value::is_string))
            }
            _ => v.is_string() || v.is_null(),
        };
        if !fits {
            let what = match k {
                "branches" => "must be a list of branch names",
                "notifiers" => "must be an e-mail address or a list of them",
                _ => "must be a string or null",
            };
            return Err(Error::field(k, what));
        }
        extra.insert(k.to_owned(), v.clone());
    }
    Ok(WebhookInput {
        name,
        destinations,
        channels,
        retry_policy: str_field(w, "retry_policy").map(str::to_owned),
        disabled: flag("disabled")?,
        concise_payload: flag("concise_payload")?,
        extra,
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
    let (w, dropped) = webhooks::update(&app.db, &a, &uid, input(&b)?, &app.webhook_allow).await?;
    Ok(Json(json!({
        "notice": with_missing("The Webhook was updated successfully.", &dropped),
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

/// A notice that also names the secrets a webhook now lacks.
fn with_missing(notice: &str, missing: &[String]) -> String {
    if missing.is_empty() {
        notice.to_owned()
    } else {
        format!(
            "{notice} Not carried over (secrets stay with the receiver they were set for; \
             send them again): {}.",
            missing.join("; ")
        )
    }
}

/// `GET /v3/webhooks/{uid}/export`: the webhook's settings as a JSON file, without its
/// secrets.
pub async fn export(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
) -> Result<impl IntoResponse> {
    let w = webhooks::get(&app.db, &a, &uid).await?;
    let name: String = w
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok((
        [(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}.json\""),
        )],
        Json(webhooks::export(&w)),
    ))
}

/// The largest webhook file an import reads.
const MAX_IMPORT_BYTES: usize = 1 << 20;

/// A multipart request whose `Content-Type` names no boundary (the Python SDK's
/// `imports()` sends a bare `multipart/form-data`) gets the one its body opens with. The
/// body is small (an import file), so it is read whole first.
async fn with_boundary(req: Request) -> Result<Request> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !ct.starts_with("multipart/form-data") || ct.contains("boundary=") {
        return Ok(req);
    }
    let (mut parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_IMPORT_BYTES + (64 << 10))
        .await
        .map_err(|_| Error::TooLarge(MAX_IMPORT_BYTES as u64))?;
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let boundary = first
        .strip_prefix(b"--")
        .map(|b| b.strip_suffix(b"\r").unwrap_or(b))
        .and_then(|b| std::str::from_utf8(b).ok())
        .filter(|b| !b.is_empty() && b.len() <= 70)
        .ok_or_else(|| {
            Error::Malformed("The multipart body names no boundary and opens with none.".into())
        })?;
    let value = format!("multipart/form-data; boundary={boundary}");
    parts.headers.insert(
        header::CONTENT_TYPE,
        value.parse().map_err(|_| {
            Error::Malformed("The multipart boundary is not a header value.".into())
        })?,
    );
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

/// Reads an import form: the file (field `webhook`, as Contentstack documents it; any
/// file field is taken, the Python SDK names it `entry`) and an optional `disabled`.
async fn import_form(req: Request) -> Result<(Value, Option<String>)> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Error::TooLarge(MAX_IMPORT_BYTES as u64);
        }
        Error::Malformed(format!(
            "The multipart body could not be read: {}",
            e.body_text()
        ))
    };
    let req = with_boundary(req).await?;
    let mut mp = Multipart::from_request(req, &()).await.map_err(|e| {
        Error::Malformed(format!(
            "Send the webhook file as multipart/form-data: {}",
            e.body_text()
        ))
    })?;
    let (mut file, mut disabled) = (None, None);
    while let Some(mut field) = mp.next_field().await.map_err(bad)? {
        if field.file_name().is_none() && field.name() != Some("webhook") {
            if field.name() == Some("disabled") {
                disabled = Some(field.text().await.map_err(bad)?);
            }
            continue;
        }
        if file.is_some() {
            return Err(Error::field("webhook", "send one webhook file per request"));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(bad)? {
            if bytes.len() + chunk.len() > MAX_IMPORT_BYTES {
                return Err(Error::TooLarge(MAX_IMPORT_BYTES as u64));
            }
            bytes.extend_from_slice(&chunk);
        }
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
            Error::field("webhook", format!("the file is not a webhook's JSON: {e}"))
        })?;
        file = Some(v);
    }
    let file = file.ok_or_else(|| Error::field("webhook", "the file is required"))?;
    Ok((file, disabled))
}

async fn import_into(
    app: &App,
    a: &crate::identity::StackAccess,
    into: Option<&str>,
    params: &Params,
    req: Request,
) -> Result<(StatusCode, Json<Value>)> {
    let (file, form_disabled) = import_form(req).await?;
    // The file is the webhook's object, or an answer that wraps it in `webhook`.
    let w = file
        .get("webhook")
        .filter(|w| w.is_object())
        .unwrap_or(&file);
    if !w.is_object() {
        return Err(Error::field("webhook", "the file must hold a JSON object"));
    }
    let disabled = match form_disabled.as_deref().or(params.get("disabled")) {
        None => None,
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        Some(other) => {
            return Err(Error::field(
                "disabled",
                format!("{other:?} is neither true nor false"),
            ))
        }
    };
    let done = webhooks::import(&app.db, a, into, fields(w)?, disabled, &app.webhook_allow).await?;
    let (status, notice) = if done.created {
        (
            StatusCode::CREATED,
            "The Webhook was imported successfully.",
        )
    } else {
        (
            StatusCode::OK,
            "The Webhook was updated from the file successfully.",
        )
    };
    Ok((
        status,
        Json(json!({
            "notice": with_missing(notice, &done.missing),
            "webhook": done.webhook.json(),
        })),
    ))
}

/// `POST /v3/webhooks/import` (multipart `webhook` file): a new webhook, disabled until
/// its target is confirmed unless `disabled=false` is sent (form field or query).
pub async fn import(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    params: Params,
    req: Request,
) -> Result<(StatusCode, Json<Value>)> {
    import_into(&app, &a, None, &params, req).await
}

/// `POST /v3/webhooks/{uid}/import`: an existing webhook's settings from a file (its
/// secrets stay).
pub async fn import_existing(
    State(app): State<Arc<App>>,
    Stack(a): Stack,
    Path(uid): Path<String>,
    params: Params,
    req: Request,
) -> Result<(StatusCode, Json<Value>)> {
    import_into(&app, &a, Some(&uid), &params, req).await
}

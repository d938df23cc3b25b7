//! `/v3/uploads/direct` (§16): large files sent straight to S3 storage through presigned
//! part URLs, authenticated like every management call. On local storage the same
//! request starts a tus upload and says where to send it.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::extract::{envelope, str_field, JsonBody, Params, Stack};
use crate::app::App;
use crate::blob::SentPart;
use crate::error::{Error, Result};
use crate::time::iso8601;
use crate::uploads::{tus, Direct, PartUrl, Upload};

fn parts_json(parts: &[PartUrl]) -> Value {
    parts
        .iter()
        .map(|p| json!({ "part_number": p.number, "size": p.size, "url": p.url }))
        .collect()
}

/// An upload as JSON: for a direct one its parts, for a tus one where to send it.
fn upload_json(up: &Upload) -> Value {
    let finished = up.received == up.length;
    let mut v = json!({
        "uid": up.uid,
        "size": up.length,
        "received": up.received,
        "finished": finished,
        "expires_at": iso8601(up.expires_at),
        "filename": up.filename(),
        "content_type": up.filetype(),
    });
    let o = v.as_object_mut().expect("an object");
    match &up.multipart_id {
        Some(_) => {
            o.insert("mode".into(), json!("direct"));
            o.insert("part_size".into(), json!(up.part_size));
            o.insert("parts_count".into(), json!(up.parts()));
            o.insert(
                "complete_url".into(),
                json!(format!("/v3/uploads/direct/{}/complete", up.uid)),
            );
        }
        None => {
            o.insert("mode".into(), json!("tus"));
            o.insert("location".into(), json!(format!("/v3/uploads/{}", up.uid)));
        }
    }
    if finished {
        o.insert("sha256".into(), json!(up.hash_hex()));
    }
    v
}

fn url_lifetime(app: &App) -> Duration {
    Duration::from_secs(app.config.direct_url_seconds)
}

fn expiry_of_urls(app: &App) -> String {
    iso8601(crate::time::now_ms() + url_lifetime(app).as_millis() as i64)
}

fn count_field(v: &Value, name: &str) -> Result<Option<u64>> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| Error::field(name, "must be a whole number of bytes")),
    }
}

/// What the client says about the file: size, name, type, and optionally its SHA-256
/// and a part size.
fn direct_request(body: &Value) -> Result<Direct> {
    let u = envelope(body, "upload")?;
    let length = count_field(u, "size")?.ok_or_else(|| Error::field("size", "is required"))?;
    let mut metadata = Vec::new();
    for (field, key) in [("filename", "filename"), ("content_type", "filetype")] {
        match u.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => metadata.push((key.to_owned(), s.as_bytes().to_vec())),
            Some(_) => return Err(Error::field(field, "must be a string")),
        }
    }
    if let Some(sha) = u.get("sha256").filter(|v| !v.is_null()) {
        let sha = sha
            .as_str()
            .map(str::to_ascii_lowercase)
            .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| Error::field("sha256", "must be 64 hexadecimal digits"))?;
        metadata.push(("sha256".to_owned(), sha.into_bytes()));
    }
    // The same normalisation as a tus client's Upload-Metadata.
    tus::parse_metadata(Some(&tus::encode_metadata(&metadata)))?;
    Ok(Direct {
        length,
        metadata,
        part_size: count_field(u, "part_size")?,
    })
}

/// `POST /v3/uploads/direct` `{"upload":{"size","filename","content_type","sha256",
/// "part_size"}}` → 201 with the upload: on S3 storage its part URLs (the first 1,000),
/// on local storage the tus `location` to send it to.
pub async fn create(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>)> {
    let d = direct_request(&body)?;
    let up = app
        .uploads
        .create_direct(&app.db, &app.blobs, &access, d)
        .await?;
    let mut v = upload_json(&up);
    if up.multipart_id.is_some() {
        let parts = app
            .uploads
            .part_urls(&app.blobs, &up, 1, up.parts(), url_lifetime(&app))
            .await?;
        v["parts"] = parts_json(&parts);
        v["urls_expire_at"] = json!(expiry_of_urls(&app));
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({ "notice": "Upload started.", "upload": v })),
    ))
}

/// `GET /v3/uploads/direct/{uid}`: the upload's state (either kind).
pub async fn get(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    let up = app
        .uploads
        .get(&app.db, &app.blobs, &access, &uid, crate::time::now_ms())
        .await?;
    Ok(Json(json!({ "upload": upload_json(&up) })))
}

/// `GET /v3/uploads/direct/{uid}/parts?from&count`: fresh URLs for parts (at most
/// 1,000; default from 1, all).
pub async fn parts(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
    params: Params,
) -> Result<Json<Value>> {
    let number = |name: &str, default: u32| -> Result<u32> {
        match params.uint(name)? {
            None => Ok(default),
            Some(n) => u32::try_from(n).map_err(|_| Error::field(name, "is too large")),
        }
    };
    let up = app
        .uploads
        .get(&app.db, &app.blobs, &access, &uid, crate::time::now_ms())
        .await?;
    let parts = app
        .uploads
        .part_urls(
            &app.blobs,
            &up,
            number("from", 1)?,
            number("count", u32::MAX)?,
            url_lifetime(&app),
        )
        .await?;
    Ok(Json(json!({
        "parts": parts_json(&parts),
        "parts_count": up.parts(),
        "urls_expire_at": expiry_of_urls(&app),
    })))
}

fn sent_parts(body: &Value) -> Result<Vec<SentPart>> {
    let list = body
        .get("parts")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::field("parts", "must list every part: part_number and etag"))?;
    list.iter()
        .map(|p| {
            let number = p
                .get("part_number")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| Error::field("parts", "each part needs a part_number"))?;
            let etag = str_field(p, "etag")
                .ok_or_else(|| Error::field("parts", "each part needs its etag"))?;
            Ok(SentPart {
                number,
                etag: etag.to_owned(),
            })
        })
        .collect()
}

/// `POST /v3/uploads/direct/{uid}/complete` `{"parts":[{"part_number","etag"}]}`: the
/// parts are assembled and checked (size, declared SHA-256) → the finished upload, ready
/// for `asset.upload_uid`.
pub async fn complete(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>> {
    let parts = sent_parts(&body)?;
    let up = app
        .uploads
        .complete_direct(&app.db, &app.blobs, &access, &uid, &parts)
        .await?;
    Ok(Json(
        json!({ "notice": "Upload complete.", "upload": upload_json(&up) }),
    ))
}

/// `DELETE /v3/uploads/direct/{uid}`: the upload and every part sent go.
pub async fn delete(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
) -> Result<Json<Value>> {
    app.uploads
        .terminate(&app.db, &app.blobs, &access, &uid)
        .await?;
    Ok(Json(json!({ "notice": "Upload deleted." })))
}

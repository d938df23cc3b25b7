//! `/v3/uploads` (§16): resumable uploads with the tus 1.0.0 protocol (core, creation,
//! creation-with-upload, termination, expiration, checksum with sha256), authenticated
//! like every management call (`authtoken` or a management token, and `api_key`). Every
//! answer carries `Tus-Resumable`; errors keep the CMA error body.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;

use super::extract::Stack;
use crate::app::App;
use crate::error::{Error, Result};
use crate::uploads::{tus, At, Upload};

fn text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn expires(ms: i64) -> String {
    httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64),
    )
}

fn set(r: &mut Response, name: &'static str, value: impl ToString) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        r.headers_mut().insert(name, v);
    }
}

/// The state headers of an upload: offset, length, expiry; never cached.
fn state(status: StatusCode, up: &Upload) -> Response {
    let mut r = status.into_response();
    set(&mut r, "upload-offset", up.received);
    set(&mut r, "upload-length", up.length);
    set(&mut r, "upload-expires", expires(up.expires_at));
    set(&mut r, "cache-control", "no-store");
    r
}

/// Adds `Tus-Resumable` to every answer of these routes, and `Tus-Version` to a 412.
pub async fn protocol_headers(req: Request, next: axum::middleware::Next) -> Response {
    let mut r = next.run(req).await;
    set(&mut r, "tus-resumable", tus::VERSION);
    if r.status() == StatusCode::PRECONDITION_FAILED {
        set(&mut r, "tus-version", tus::VERSION);
    }
    r
}

/// `OPTIONS /v3/uploads[/{uid}]`: what this server supports (no credentials needed).
pub async fn options(State(app): State<Arc<App>>) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    set(&mut r, "tus-version", tus::VERSION);
    set(&mut r, "tus-extension", tus::EXTENSIONS);
    set(&mut r, "tus-max-size", app.uploads.limits.max_bytes);
    set(&mut r, "tus-checksum-algorithm", tus::CHECKSUM_ALGORITHMS);
    r
}

fn is_octet_stream(headers: &HeaderMap) -> bool {
    text(headers, "content-type").is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case(tus::OFFSET_OCTET_STREAM))
    })
}

fn body_stream(body: Body) -> impl futures_util::Stream<Item = Result<bytes::Bytes>> + Unpin {
    body.into_data_stream()
        .map_err(|e| Error::Malformed(format!("The body could not be read: {e}")))
}

/// `POST /v3/uploads` (`Upload-Length`, `Upload-Metadata`; with a body of type
/// `application/offset+octet-stream`, its first bytes) → 201 with `Location`.
pub async fn create(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    req: Request,
) -> Result<Response> {
    let headers = req.headers().clone();
    tus::check_version(text(&headers, "tus-resumable"))?;
    if headers.contains_key("upload-defer-length") {
        return Err(Error::Malformed(
            "Upload-Defer-Length is not supported: send Upload-Length.".into(),
        ));
    }
    let length = tus::parse_count("Upload-Length", text(&headers, "upload-length"))?;
    let metadata = tus::parse_metadata(text(&headers, "upload-metadata"))?;
    let checksum = tus::parse_checksum(text(&headers, "upload-checksum"))?;
    let up = app
        .uploads
        .create(&app.db, &app.blobs, &access, length, &metadata)
        .await?;
    // A path: the client resumes on the address it created the upload through (the public
    // URL may name a CDN that only delivers).
    let location = format!("/v3/uploads/{}", up.uid);
    let with_body = is_octet_stream(&headers)
        && text(&headers, "content-length").is_none_or(|l| l.trim() != "0");
    let up = if with_body {
        // creation-with-upload: the upload exists whatever happens to these bytes; the
        // answer says how many of them were kept.
        match app
            .uploads
            .append(
                &app.db,
                &app.blobs,
                &access,
                &up.uid,
                At {
                    offset: 0,
                    checksum,
                },
                body_stream(req.into_body()),
            )
            .await
        {
            Ok(up) => up,
            // Refused bytes: the client is told no Location, so the upload goes too.
            Err(e @ Error::ChecksumMismatch) => {
                app.uploads
                    .terminate(&app.db, &app.blobs, &access, &up.uid)
                    .await?;
                return Err(e);
            }
            Err(_) => {
                app.uploads
                    .get(&app.db, &app.blobs, &access, &up.uid, crate::time::now_ms())
                    .await?
            }
        }
    } else {
        up
    };
    let mut r = state(StatusCode::CREATED, &up);
    set(&mut r, "location", location);
    r.headers_mut().remove("cache-control");
    Ok(r)
}

/// `HEAD /v3/uploads/{uid}`: the acknowledged offset, where a client resumes.
pub async fn head(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    tus::check_version(text(&headers, "tus-resumable"))?;
    let up = app
        .uploads
        .status(&app.db, &app.blobs, &access, &uid)
        .await?;
    let mut r = state(StatusCode::OK, &up);
    if !up.metadata.is_empty() {
        set(
            &mut r,
            "upload-metadata",
            tus::encode_metadata(&up.metadata),
        );
    }
    Ok(r)
}

/// `PATCH /v3/uploads/{uid}` (`Upload-Offset`, optionally `Upload-Checksum`; body
/// `application/offset+octet-stream`) → 204 with the new `Upload-Offset`.
pub async fn patch(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
    req: Request,
) -> Result<Response> {
    let headers = req.headers().clone();
    tus::check_version(text(&headers, "tus-resumable"))?;
    if !is_octet_stream(&headers) {
        return Err(Error::UnsupportedMediaType(format!(
            "A PATCH body must be {}.",
            tus::OFFSET_OCTET_STREAM
        )));
    }
    let offset = tus::parse_count("Upload-Offset", text(&headers, "upload-offset"))?;
    let checksum = tus::parse_checksum(text(&headers, "upload-checksum"))?;
    let _in_flight = crate::metrics::InFlight::new(&app.metrics.uploads_in_flight);
    let up = app
        .uploads
        .append(
            &app.db,
            &app.blobs,
            &access,
            &uid,
            At { offset, checksum },
            body_stream(req.into_body()),
        )
        .await?;
    let mut r = state(StatusCode::NO_CONTENT, &up);
    r.headers_mut().remove("upload-length");
    r.headers_mut().remove("cache-control");
    Ok(r)
}

/// `DELETE /v3/uploads/{uid}` (termination): the upload and its bytes go → 204.
pub async fn delete(
    State(app): State<Arc<App>>,
    Stack(access): Stack,
    Path(uid): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    tus::check_version(text(&headers, "tus-resumable"))?;
    app.uploads
        .terminate(&app.db, &app.blobs, &access, &uid)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

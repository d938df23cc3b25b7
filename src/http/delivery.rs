//! Serving bytes (§2, §4): version URLs, permanent URLs and management downloads, with
//! ETags, conditional requests, single ranges, cache headers and a streamed body.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use percent_encoding::percent_decode_str;

use super::extract::{credentials, Params};
use crate::app::App;
use crate::delivery::{self, Conditionals, DeliveryRequest, Outcome, Target};
use crate::error::{Error, Result};

/// Read buffer of the streamed body: large enough for throughput, small enough that
/// memory per request stays bounded whatever the file size.
const CHUNK: usize = 1024 * 1024;

/// The path segments after `/v3/assets/`, percent-decoded only when needed. Taken from the
/// request instead of axum's `Path` extractor: delivery is the hot path, and this avoids
/// an allocation per segment and a copy of the request headers per request.
fn segments(req: &Parts) -> Vec<String> {
    let path = req.uri.path().strip_prefix("/v3/assets/").unwrap_or("");
    path.split('/')
        .map(|s| {
            if s.contains('%') {
                percent_decode_str(s).decode_utf8_lossy().into_owned()
            } else {
                s.to_owned()
            }
        })
        .collect()
}

/// `GET|HEAD /v3/assets/{api_key}/{asset_uid}/{file_uid}/{filename}`.
pub async fn version(State(app): State<Arc<App>>, req: Request) -> Response {
    let (req, _) = req.into_parts();
    let mut seg = segments(&req).into_iter();
    let (api_key, asset_uid, file_uid) = (
        seg.next().unwrap_or_default(),
        seg.next().unwrap_or_default(),
        seg.next().unwrap_or_default(),
    );
    logged(
        &req,
        serve(&app, api_key, asset_uid, Target::Version { file_uid }, &req).await,
    )
}

/// `GET|HEAD /v3/assets/{api_key}/{asset_uid}/{slug}`.
pub async fn permanent(State(app): State<Arc<App>>, req: Request) -> Response {
    let (req, _) = req.into_parts();
    let mut seg = segments(&req).into_iter();
    let (api_key, asset_uid, slug) = (
        seg.next().unwrap_or_default(),
        seg.next().unwrap_or_default(),
        seg.next().unwrap_or_default(),
    );
    logged(
        &req,
        serve(&app, api_key, asset_uid, Target::Slug(slug), &req).await,
    )
}

/// `GET|HEAD /v3/assets/{api_key}/{asset_uid}`: management download of the latest file
/// (the Python SDK's `download()` calls this path). Needs management credentials.
pub async fn latest(State(app): State<Arc<App>>, req: Request) -> Response {
    let (req, _) = req.into_parts();
    // Without credentials this path answers 401 before anything is looked up.
    if !credentials(&req.headers).present() {
        return Error::Unauthorized.into_response();
    }
    let mut seg = segments(&req).into_iter();
    let (api_key, asset_uid) = (
        seg.next().unwrap_or_default(),
        seg.next().unwrap_or_default(),
    );
    logged(
        &req,
        serve(&app, api_key, asset_uid, Target::Latest, &req).await,
    )
}

/// Delivery routes skip the API's logging middleware (one boxed future less per request on
/// the hottest path); internal errors are logged here instead, once.
fn logged(req: &Parts, result: Result<Response>) -> Response {
    match result {
        Ok(r) => r,
        Err(e) => {
            if let Error::Internal(cause) = &e {
                tracing::error!(method = %req.method, path = %req.uri.path(), "internal error: {cause:#}");
            }
            e.into_response()
        }
    }
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn serve(
    app: &App,
    api_key: String,
    asset_uid: String,
    target: Target,
    request: &Parts,
) -> Result<Response> {
    let headers = &request.headers;
    let params = &Params::from_query(request.uri.query());
    let method = &request.method;
    let req = DeliveryRequest {
        api_key,
        asset_uid,
        target,
        environment: params
            .get("environment")
            .filter(|e| !e.is_empty())
            .map(str::to_owned),
        locale: params
            .get("locale")
            .filter(|l| !l.is_empty())
            .map(str::to_owned),
        access_token: params.get("access_token").map(str::to_owned),
        credentials: credentials(headers),
    };
    let resolved = delivery::resolve(app, &req).await?;
    let conditionals = Conditionals {
        if_match: header_str(headers, header::IF_MATCH),
        if_none_match: header_str(headers, header::IF_NONE_MATCH),
        if_modified_since: header_str(headers, header::IF_MODIFIED_SINCE),
        if_unmodified_since: header_str(headers, header::IF_UNMODIFIED_SINCE),
        if_range: header_str(headers, header::IF_RANGE),
        range: header_str(headers, header::RANGE),
    };
    let download = params.flag("dl") || params.flag("download");
    let file = &resolved.file;
    let outcome = delivery::evaluate(&conditionals, file);
    let not_modified = outcome == Outcome::NotModified;
    let mut out = HeaderMap::with_capacity(16);
    delivery::response_headers(
        app,
        resolved.answer(),
        download,
        not_modified,
        |name, value| {
            out.insert(HeaderName::from_static(name), hv(value));
        },
    );
    if not_modified {
        return Ok((StatusCode::NOT_MODIFIED, out).into_response());
    }
    let len = file.size;
    let (status, start, count) = match outcome {
        Outcome::NotModified => unreachable!("answered above"),
        Outcome::PreconditionFailed => {
            return Ok((StatusCode::PRECONDITION_FAILED, out).into_response())
        }
        Outcome::RangeNotSatisfiable => {
            out.insert(header::CONTENT_RANGE, hv(&format!("bytes */{len}")));
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, out).into_response());
        }
        Outcome::Full => (StatusCode::OK, 0, len),
        Outcome::Partial { start, end } => {
            out.insert(
                header::CONTENT_RANGE,
                hv(&format!("bytes {start}-{end}/{len}")),
            );
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
    };
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if *method == Method::HEAD {
        return Ok((status, out).into_response());
    }
    let sha = file.sha256();
    let missing = |e: std::io::Error| {
        Error::Internal(
            anyhow::Error::new(e)
                .context(format!("blob {sha} of file {} cannot be read", file.uid())),
        )
    };
    // Small files: bytes from memory.
    if len <= delivery::MAX_BODY {
        let bytes = delivery::small_body(app, sha, len).await.map_err(missing)?;
        let body = bytes.slice(start as usize..(start + count) as usize);
        return Ok((status, out, Body::from(body)).into_response());
    }
    // Large files: the blob is opened before answering, so this request reads these exact
    // bytes even if the asset is replaced or the blob collected meanwhile (§4 atomicity);
    // streamed in bounded chunks.
    let stream = app
        .blobs
        .read_range(sha, start, count, CHUNK)
        .await
        .map_err(missing)?;
    let body = Body::from_stream(stream);
    Ok((status, out, body).into_response())
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

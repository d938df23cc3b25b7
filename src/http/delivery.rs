//! Serving bytes (§2, §4): version URLs, permanent URLs and management downloads, with
//! ETags, conditional requests, single ranges, cache headers and a streamed body.

use std::io::SeekFrom;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::extract::{credentials, Params};
use crate::app::App;
use crate::delivery::{self, Conditionals, DeliveryRequest, Outcome, Resolved, Target, UrlKind};
use crate::error::{Error, Result};

/// Sandbox for active content so an uploaded file can never run script in our origin (§4).
const ACTIVE_CSP: &str = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// Read buffer of the streamed body: large enough for throughput, small enough that
/// memory per request stays bounded whatever the file size.
const CHUNK: usize = 256 * 1024;

/// `GET|HEAD /v3/assets/{api_key}/{asset_uid}/{file_uid}/{filename}`.
pub async fn version(
    State(app): State<Arc<App>>,
    Path((api_key, asset_uid, file_uid, _filename)): Path<(String, String, String, String)>,
    method: Method,
    headers: HeaderMap,
    params: Params,
) -> Result<Response> {
    serve(
        &app,
        api_key,
        asset_uid,
        Target::Version { file_uid },
        method,
        &headers,
        &params,
    )
    .await
}

/// `GET|HEAD /v3/assets/{api_key}/{asset_uid}/{slug}`.
pub async fn permanent(
    State(app): State<Arc<App>>,
    Path((api_key, asset_uid, slug)): Path<(String, String, String)>,
    method: Method,
    headers: HeaderMap,
    params: Params,
) -> Result<Response> {
    serve(
        &app,
        api_key,
        asset_uid,
        Target::Slug(slug),
        method,
        &headers,
        &params,
    )
    .await
}

/// `GET|HEAD /v3/assets/{api_key}/{asset_uid}`: management download of the latest file
/// (the Python SDK's `download()` calls this path). Needs management credentials.
pub async fn latest(
    State(app): State<Arc<App>>,
    Path((api_key, asset_uid)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    params: Params,
) -> Result<Response> {
    if !credentials(&headers).present() {
        return Err(Error::Unauthorized);
    }
    let asset = app.db.asset(&api_key, &asset_uid).await?;
    let name = asset
        .and_then(|a| a.file)
        .map(|f| f.filename)
        .unwrap_or_default();
    serve(
        &app,
        api_key,
        asset_uid,
        Target::Slug(name),
        method,
        &headers,
        &params,
    )
    .await
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn serve(
    app: &App,
    api_key: String,
    asset_uid: String,
    target: Target,
    method: Method,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Response> {
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
    let outcome = delivery::evaluate(&conditionals, &resolved.file);
    let mut out = HeaderMap::new();
    common_headers(app, &resolved, download, &mut out);
    let len = resolved.file.size.max(0) as u64;
    let (status, start, count) = match outcome {
        Outcome::NotModified => return Ok((StatusCode::NOT_MODIFIED, out).into_response()),
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
    if method == Method::HEAD {
        return Ok((status, out).into_response());
    }
    // The blob is opened before answering: from here on this request reads these exact
    // bytes even if the asset is replaced or the blob collected meanwhile (§4 atomicity).
    let mut file = app
        .blobs
        .open_read(&resolved.file.sha256)
        .await
        .map_err(|e| {
            Error::Internal(anyhow::Error::new(e).context(format!(
                "blob {} of file {} is missing",
                resolved.file.sha256, resolved.file.uid
            )))
        })?;
    if start > 0 {
        file.seek(SeekFrom::Start(start)).await?;
    }
    let body = Body::from_stream(ReaderStream::with_capacity(file.take(count), CHUNK));
    Ok((status, out, body).into_response())
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn common_headers(app: &App, r: &Resolved, download: bool, out: &mut HeaderMap) {
    let f = &r.file;
    out.insert(header::CONTENT_TYPE, hv(&f.content_type));
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    out.insert(header::ETAG, hv(&delivery::etag(f)));
    out.insert(
        header::LAST_MODIFIED,
        hv(&httpdate::fmt_http_date(delivery::last_modified(f))),
    );
    let scope = if r.private { "private" } else { "public" };
    let cache = match r.kind {
        UrlKind::Version => format!("{scope}, max-age=31536000, immutable"),
        UrlKind::Permanent => format!(
            "{scope}, max-age={}, stale-while-revalidate={}",
            app.config.permanent_max_age, app.config.permanent_stale_while_revalidate
        ),
    };
    out.insert(header::CACHE_CONTROL, hv(&cache));
    let keys = format!("asset-{} stack-{}", r.asset_uid, r.api_key);
    out.insert("surrogate-key", hv(&keys));
    out.insert("cache-tag", hv(&keys.replace(' ', ",")));
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if delivery::is_active_content(&f.content_type) {
        out.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(ACTIVE_CSP),
        );
    }
    out.insert(
        header::CONTENT_DISPOSITION,
        hv(&disposition(&f.filename, download)),
    );
    if r.private || r.kind == UrlKind::Permanent {
        // A CDN keying on the URL must not mix answers given for different credentials.
        out.insert(
            header::VARY,
            HeaderValue::from_static("authtoken, authorization"),
        );
    }
}

/// RFC 8187 `attr-char`s stay as they are; everything else is percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `inline|attachment; filename="ascii"; filename*=UTF-8''…` (RFC 6266).
fn disposition(filename: &str, download: bool) -> String {
    let kind = if download { "attachment" } else { "inline" };
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = utf8_percent_encode(filename, ATTR_CHAR);
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

//! The router's writer of delivery answers (§2, §4): version URLs, permanent URLs and
//! management downloads. It reads the request into a [`Classified`], lets
//! [`crate::delivery`] resolve and plan it, and writes the [`Plan`] with a streamed body.
//! The fast path (`fast.rs`) writes the same plans for the requests it takes.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method as HttpMethod, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::delivery::{
    self, Classified, DeliveryHeaders, DeliveryPath, DeliveryQuery, Method, Plan, Writer,
};
use crate::error::{Error, Result};
use crate::insights::{Hit, Kind};

/// Read buffer of the streamed body: large enough for throughput, small enough that
/// memory per request stays bounded whatever the file size.
const CHUNK: usize = 1024 * 1024;

/// `GET|HEAD /v3/assets/{api_key}/{asset_uid}[/{slug} | /{file_uid}/{filename}]`.
/// Internal errors are logged once, by the router's middleware. Public answers (not
/// management downloads) are counted for link insights (§17), errors included.
pub async fn deliver(State(app): State<Arc<App>>, req: Request) -> Result<Response> {
    let counted = DeliveryPath::parse(req.uri().path())
        .filter(|p| !matches!(p.target, delivery::Target::Latest))
        .filter(|_| {
            !req.headers().contains_key("authtoken")
                && !req.headers().contains_key(header::AUTHORIZATION)
        })
        .map(|p| {
            let kind = match p.target {
                delivery::Target::Version { .. } => Kind::Version,
                _ => Kind::Permanent,
            };
            let referer = req
                .headers()
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            (
                p.api_key.into_owned(),
                p.asset_uid.into_owned(),
                kind,
                referer,
            )
        });
    let mut rendition = false;
    let result = serve(&app, req, &mut rendition).await;
    if let Some((api_key, asset_uid, kind, referer)) = counted {
        let (status, bytes) = match &result {
            Ok(r) => (
                r.status().as_u16(),
                r.headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .filter(|_| r.status() != StatusCode::NOT_MODIFIED)
                    .unwrap_or(0),
            ),
            Err(e) => (e.status(), 0),
        };
        app.insights.count(Hit {
            api_key: &api_key,
            asset_uid: &asset_uid,
            kind: if rendition { Kind::Rendition } else { kind },
            status,
            bytes,
            referer: referer.as_deref(),
        });
    }
    result
}

async fn serve(app: &Arc<App>, req: Request, rendition: &mut bool) -> Result<Response> {
    let (parts, _) = req.into_parts();
    let client = parts
        .extensions
        .get::<super::extract::ClientAddr>()
        .and_then(|c| c.0);
    let path = DeliveryPath::parse(parts.uri.path()).ok_or(Error::NotFound("Asset"))?;
    // List-valued conditionals may come on several lines: one list (RFC 9110 §5.3). The fast
    // path leaves such requests to this writer.
    let if_none_match = joined(&parts.headers, header::IF_NONE_MATCH);
    let if_match = joined(&parts.headers, header::IF_MATCH);
    let mut headers = DeliveryHeaders::default();
    for (name, value) in &parts.headers {
        if name != header::IF_NONE_MATCH && name != header::IF_MATCH {
            headers.add(name.as_str(), value.as_bytes());
        }
    }
    for (name, value) in [("if-none-match", &if_none_match), ("if-match", &if_match)] {
        if let Some(v) = value {
            headers.add(name, v.as_bytes());
        }
    }
    let request = Classified {
        method: if parts.method == HttpMethod::HEAD {
            Method::Head
        } else {
            Method::Get
        },
        path,
        query: DeliveryQuery::parse(parts.uri.query()),
        headers,
    };
    let d = &app.delivery;
    if request.query.timemap {
        return timemap(d, &request).await;
    }
    let mut resolved = d.resolve(&request).await?;
    d.apply_transform(&mut resolved, &request, client).await?;
    *rendition = resolved.rendition.is_some();
    match answer(d, &resolved, &request).await {
        // A rendition whose blob another process evicted meanwhile: rendered again, once.
        Err(e) if resolved.rendition.is_some() => {
            let key = resolved.rendition.as_ref().map(|r| r.key.clone());
            tracing::warn!("rendition {key:?} could not be read, rendering it again: {e:#}");
            d.renditions.forget(key.as_deref().unwrap_or("")).await;
            resolved.rendition = None;
            d.apply_transform(&mut resolved, &request, client).await?;
            Ok(answer(d, &resolved, &request).await?)
        }
        other => Ok(other?),
    }
}

/// `?timemap=link` on a permanent URL (RFC 7089 §5): its versions with their dates, as
/// `application/link-format`, checked for access as the permanent URL itself is, and
/// cached like its answer.
async fn timemap(d: &delivery::Delivery, request: &Classified<'_>) -> Result<Response> {
    if !matches!(request.path.target, delivery::Target::Slug(_)) {
        return Err(Error::Malformed(
            "A TimeMap (timemap=link) is asked of a permanent URL.".into(),
        ));
    }
    let mut plain = request.clone();
    plain.query.timemap = false;
    plain.query.at = None;
    plain.headers.accept_datetime = None;
    // Access is checked as for the permanent URL itself: an environment's TimeMap is its
    // history there, which stays after the asset is withdrawn from it. (A delivery token
    // names its environment, and is checked with it.)
    let mut check = plain.clone();
    if check.query.access_token.is_none() {
        check.query.environment = None;
        check.query.locale = None;
    }
    let resolved = d.resolve(&check).await?;
    let body = d.timemap(&plain, &resolved).await?;
    let cache = if resolved.private {
        &d.cache_control.private
    } else {
        &d.cache_control.public
    };
    let mut out = HeaderMap::with_capacity(4);
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/link-format"),
    );
    out.insert(header::CACHE_CONTROL, hv(cache));
    out.insert(
        header::VARY,
        HeaderValue::from_static("authtoken, authorization"),
    );
    d.counters.count(Writer::Router);
    if request.method == Method::Head {
        out.insert(header::CONTENT_LENGTH, hv(&body.len().to_string()));
        return Ok((StatusCode::OK, out).into_response());
    }
    Ok((StatusCode::OK, out, body).into_response())
}

/// Writes the plan of a resolved request: head, and the body streamed from its blob.
async fn answer(
    d: &delivery::Delivery,
    resolved: &delivery::Resolved,
    request: &Classified<'_>,
) -> anyhow::Result<Response> {
    let plan = Plan::new(resolved.answer(), request);
    let mut out = HeaderMap::with_capacity(16);
    plan.headers(d, |name, value| {
        out.insert(HeaderName::from_static(name), hv(value));
    });
    let status = StatusCode::from_u16(plan.status()).unwrap_or(StatusCode::OK);
    let Some(range) = plan.body() else {
        d.counters.count(Writer::Router);
        if status == StatusCode::NOT_MODIFIED {
            // A body of unknown length: otherwise axum adds `content-length: 0`, which hyper
            // keeps on a HEAD (RFC 9110 §8.6: a 304 sends none unless it equals a 200's).
            // hyper sends no body on a 304 whatever the body.
            let none = futures_util::stream::empty::<std::io::Result<bytes::Bytes>>();
            return Ok((status, out, Body::from_stream(none)).into_response());
        }
        return Ok((status, out).into_response());
    };
    let (sha, size) = plan.blob();
    let sha = &*sha;
    let context = || {
        format!(
            "reading blob {sha} of file {}",
            &*resolved.answer().file.uid()
        )
    };
    // Small files: bytes from memory.
    if size <= delivery::MAX_BODY {
        let bytes = d
            .small_body(sha, size)
            .await
            .map_err(|e| read_failed(e, context()))?;
        let body = bytes.slice(range.start as usize..(range.start + range.count) as usize);
        d.counters.count(Writer::Router);
        return Ok((status, out, Body::from(body)).into_response());
    }
    // Large files: the blob is opened before answering, so this request reads these exact
    // bytes even if the asset is replaced or the blob collected meanwhile (§4 atomicity);
    // streamed in bounded chunks.
    let stream = d
        .blobs
        .read_range(sha, range.start, range.count, CHUNK)
        .await
        .map_err(|e| read_failed(e, context()))?;
    d.counters.count(Writer::Router);
    Ok((status, out, Body::from_stream(stream)).into_response())
}

/// A blob that cannot be read: 503 when its store is unreachable (an S3 outage, with
/// `Retry-After`), else an internal error that says which blob.
fn read_failed(e: std::io::Error, what: String) -> Error {
    if e.kind() == std::io::ErrorKind::NotConnected {
        Error::from(e)
    } else {
        Error::Internal(anyhow::Error::new(e).context(what))
    }
}

/// Every line of a list-valued header, joined with commas (`None` when absent).
fn joined(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let mut lines = headers.get_all(name).iter().peekable();
    lines.peek()?;
    Some(
        lines
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(", "),
    )
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

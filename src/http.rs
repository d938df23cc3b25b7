//! The HTTP surface: every route on one screen (STYLE rule 2). Handlers live in the child
//! modules, grouped by resource; they extract, call one domain function, and render.

mod admission;
mod assets;
mod audit;
mod bulk;
mod cda;
mod delivery;
mod direct;
mod environments;
mod error;
mod extract;
mod fast;
mod folders;
mod health;
mod insights;
mod metadata;
mod render;
mod roles;
mod server;
mod session;
mod signing;
mod sso;
mod stacks;
mod tokens;
mod trash;
mod ui;
mod uploads;
mod versions;
mod webhooks;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;

use crate::app::App;
use error::InternalCause;

/// Largest JSON body accepted by the management API.
const JSON_LIMIT: usize = 1 << 20;

/// Builds the router for an app.
pub fn router(app: Arc<App>) -> Router {
    // Uploads are limited by `max_upload_bytes` while streaming (ingest.rs); the body limit
    // only has to leave room for that plus the multipart envelope.
    let upload_limit = DefaultBodyLimit::max(
        usize::try_from(app.config.max_upload_bytes)
            .unwrap_or(usize::MAX)
            .saturating_add(1 << 20),
    );
    let uploads = Router::new()
        .route("/v3/assets", get(assets::list).post(assets::create))
        // The older `contentstack` delivery SDK (npm) lists at `/v3/assets/`.
        .route("/v3/assets/", get(assets::list))
        .route(
            "/v3/assets/{uid}",
            get(assets::fetch)
                .put(assets::update)
                .delete(assets::delete),
        )
        .layer(upload_limit);
    // Resumable uploads (§16): bodies are streamed into the upload's file, each limited by
    // the upload's announced length.
    let resumable = Router::new()
        .route(
            "/v3/uploads",
            post(uploads::create).options(uploads::options),
        )
        .route(
            "/v3/uploads/{uid}",
            axum::routing::head(uploads::head)
                .patch(uploads::patch)
                .delete(uploads::delete)
                .options(uploads::options),
        )
        .layer(DefaultBodyLimit::disable())
        .layer(middleware::from_fn(uploads::protocol_headers));
    // Direct uploads (§16): JSON calls; the bytes go to the object store.
    let direct = Router::new()
        .route("/v3/uploads/direct", post(direct::create))
        .route(
            "/v3/uploads/direct/{uid}",
            get(direct::get).delete(direct::delete),
        )
        .route("/v3/uploads/direct/{uid}/parts", get(direct::parts))
        .route("/v3/uploads/direct/{uid}/complete", post(direct::complete));
    let api = Router::new()
        .route(
            "/v3/user-session",
            post(session::login).delete(session::logout),
        )
        .route("/v3/user", get(session::user))
        .route("/v3/sso", get(sso::status))
        .route("/v3/sso/login", get(sso::login))
        .route("/v3/sso/callback", get(sso::callback))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/v3/organizations", get(session::organizations))
        .route(
            "/v3/stacks",
            get(stacks::get)
                .post(stacks::create)
                .put(stacks::update)
                .delete(stacks::delete),
        )
        .route("/v3/stacks/sync", get(cda::sync))
        .route("/v3/bulk/publish", post(bulk::publish))
        .route("/v3/bulk/unpublish", post(bulk::unpublish))
        .route("/v3/bulk/delete", post(bulk::delete))
        .route("/v3/trash", get(trash::list).delete(trash::empty_all))
        .route("/v3/trash/{uid}", delete(trash::empty_one))
        .route("/v3/trash/{uid}/restore", post(trash::restore))
        .route("/v3/bulk/jobs/{job_id}", get(bulk::job))
        .route("/v3/bulk/jobs/{job_id}/items", get(bulk::items))
        .route("/v3/stacks/share", post(roles::share))
        .route(
            "/v3/stacks/users/roles",
            get(roles::users_roles)
                .post(roles::set_users_roles)
                .put(roles::set_users_roles),
        )
        .route("/v3/roles", get(roles::list).post(roles::create))
        .route("/v3/audit-logs", get(audit::list))
        .route("/v3/audit-logs/{uid}", get(audit::get))
        .route(
            "/v3/roles/{uid}",
            get(roles::get).put(roles::update).delete(roles::delete),
        )
        .route("/v3/stacks/unshare", post(stacks::unshare))
        .route("/v3/stacks/users", get(stacks::users))
        .route("/v3/stacks/settings/reset", post(stacks::reset_settings))
        .route(
            "/v3/stacks/settings",
            get(stacks::settings).post(stacks::set_settings),
        )
        .route(
            "/v3/extensions",
            get(metadata::list_extensions).post(metadata::create_extension),
        )
        .route(
            "/v3/extensions/{uid}",
            get(metadata::get_extension)
                .put(metadata::update_extension)
                .delete(metadata::delete_extension),
        )
        .route(
            "/v3/metadata",
            get(metadata::list_metadata).post(metadata::create_metadata),
        )
        .route(
            "/v3/metadata/{uid}",
            get(metadata::get_metadata)
                .put(metadata::update_metadata)
                .delete(metadata::delete_metadata),
        )
        .route(
            "/v3/metadata/{uid}/publish",
            post(metadata::publish_metadata),
        )
        .route(
            "/v3/metadata/{uid}/unpublish",
            post(metadata::unpublish_metadata),
        )
        .route("/v3/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/v3/webhooks/{uid}",
            get(webhooks::get)
                .put(webhooks::update)
                .delete(webhooks::delete),
        )
        .route("/v3/webhooks/{uid}/executions", get(webhooks::executions))
        .route("/v3/webhooks/{uid}/retry", post(webhooks::retry))
        .route("/v3/webhooks/{uid}/logs", get(webhooks::logs))
        .route("/v3/webhooks/{uid}/export", get(webhooks::export))
        .route("/v3/webhooks/{uid}/import", post(webhooks::import_existing))
        .route("/v3/webhooks/import", post(webhooks::import))
        .route(
            "/v3/stacks/management_tokens",
            get(tokens::list_management).post(tokens::create_management),
        )
        .route(
            "/v3/stacks/management_tokens/{uid}",
            get(tokens::get_management)
                .put(tokens::update_management)
                .delete(tokens::delete_management),
        )
        .route(
            "/v3/stacks/delivery_tokens",
            get(tokens::list_delivery).post(tokens::create_delivery),
        )
        .route(
            "/v3/stacks/delivery_tokens/{uid}",
            get(tokens::get_delivery)
                .put(tokens::update_delivery)
                .delete(tokens::delete_delivery),
        )
        .route(
            "/v3/environments",
            get(environments::list).post(environments::create),
        )
        .route(
            "/v3/environments/{name}",
            get(environments::get)
                .put(environments::update)
                .delete(environments::delete),
        )
        .route(
            "/v3/locales",
            get(environments::list_locales).post(environments::create_locale),
        )
        .route(
            "/v3/locales/{code}",
            get(environments::get_locale)
                .put(environments::update_locale)
                .delete(environments::delete_locale),
        )
        .route("/v3/assets/images", get(assets::images))
        .route("/v3/assets/videos", get(assets::videos))
        .route("/v3/assets/folders", post(folders::create))
        .route(
            "/v3/assets/folders/{uid}",
            get(folders::get)
                .put(folders::update)
                .delete(folders::delete),
        )
        .route("/v3/assets/{uid}/versions", get(versions::list))
        .route(
            "/v3/assets/{uid}/versions/{n}/name",
            post(versions::name).delete(versions::unname),
        )
        .route("/v3/assets/{uid}/publish", post(versions::publish))
        .route("/v3/assets/{uid}/signed_url", post(signing::sign))
        .route(
            "/v3/stacks/signing_keys",
            get(signing::keys).post(signing::rotate),
        )
        .route("/v3/assets/{uid}/unpublish", post(versions::unpublish))
        .route("/v3/assets/{uid}/references", get(assets::references))
        .route("/v3/assets/{uid}/insights", get(insights::asset))
        .route("/v3/assets/{uid}/referrers", get(insights::referrers))
        .route("/v3/insights/top", get(insights::top))
        .route("/v3/insights/unused", get(insights::unused))
        .route("/v3/insights/dead_links", get(insights::dead_links))
        // Delivery (§2, §4). The first segment is the api key; axum wants one name per position.
        .route("/v3/assets/{uid}/{asset_uid}", get(delivery::deliver))
        .route(
            "/v3/assets/{uid}/{asset_uid}/{slug}",
            get(delivery::deliver),
        )
        .route(
            "/v3/assets/{uid}/{asset_uid}/{file_uid}/{filename}",
            get(delivery::deliver),
        )
        .layer(DefaultBodyLimit::max(JSON_LIMIT));
    Router::new()
        .merge(uploads)
        .merge(resumable)
        .merge(direct.layer(DefaultBodyLimit::max(JSON_LIMIT)))
        .merge(api)
        .merge(ui::routes())
        .fallback(|| async { crate::error::Error::NotFound("Route") })
        .layer(middleware::from_fn_with_state(app.clone(), rate_limit))
        .layer(middleware::from_fn(request_hygiene))
        .layer(middleware::from_fn(log_errors))
        .layer(middleware::from_fn_with_state(app.clone(), observe))
        .layer(middleware::from_fn(request_id))
        .with_state(app)
}

/// Gives every request the router answers an id: the client's `X-Request-Id` when it is
/// 1–64 visible ASCII characters (a proxy's id carries through), else a new one. The answer
/// says it in `X-Request-Id`; the access log and the audit log carry it, so an audit entry
/// leads to its request and back. Asset URLs (§2) have none: they change nothing, both
/// delivery paths answer them byte for byte alike, and a CDN would keep the header.
async fn request_id(mut req: Request, next: Next) -> Response {
    if route_class(&req) == crate::metrics::Class::Delivery {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned);
    let id = given.unwrap_or_else(|| crate::ids::random_hex(8));
    req.extensions_mut().insert(extract::RequestId(id.clone()));
    let mut response = next.run(req).await;
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// Largest body of a GET, HEAD or DELETE that is read and ignored.
const MAX_IGNORED_BODY: usize = 64 << 10;

/// Reads the body of a GET, HEAD or DELETE (which has no meaning for any route here, RFC
/// 9110 §9.3) to the end before the handler runs. hyper reads a pipelined next request only
/// once this one's body is consumed; a body the handler drops half-read makes it stop
/// reading the connection instead, and the next request is never answered.
///
/// Also refuses an HTTP/1.1 request without exactly one `Host` header (RFC 9112 §3.2).
async fn request_hygiene(req: Request, next: Next) -> Response {
    use axum::http::{header::HOST, Method, Version};
    use axum::response::IntoResponse;
    if req.version() == Version::HTTP_11 && req.headers().get_all(HOST).iter().count() != 1 {
        return crate::error::Error::Malformed(
            "An HTTP/1.1 request needs exactly one Host header.".into(),
        )
        .into_response();
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::DELETE) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    if axum::body::to_bytes(body, MAX_IGNORED_BODY).await.is_err() {
        return crate::error::Error::Malformed(
            "A GET, HEAD or DELETE request must not carry a body this large.".into(),
        )
        .into_response();
    }
    next.run(Request::from_parts(parts, axum::body::Body::empty()))
        .await
}

/// What kind of route a request is, for metrics: asset bytes (`/v3/assets/{api_key}/
/// {asset_uid}/…`), the delivery API (an `access_token` and no management credentials,
/// or sync), the management API, health, or the UI.
fn route_class(req: &Request) -> crate::metrics::Class {
    use crate::ids::{ApiKey, Uid};
    use crate::metrics::Class;
    let path = req.uri().path();
    if matches!(path, "/healthz" | "/readyz" | "/metrics") {
        return Class::Health;
    }
    let Some(rest) = path.strip_prefix("/v3/") else {
        return Class::Ui;
    };
    if let Some(tail) = rest.strip_prefix("assets/") {
        let mut segs = tail.split('/');
        if let (Some(a), Some(b)) = (segs.next(), segs.next()) {
            if ApiKey::parse(a).is_some() && Uid::parse(b).is_some() {
                return Class::Delivery;
            }
        }
    }
    let h = req.headers();
    let delivery_token = h.contains_key("access_token")
        && !h.contains_key("authtoken")
        && !h.contains_key("authorization");
    if rest == "stacks/sync" || delivery_token {
        Class::DeliveryApi
    } else {
        Class::Management
    }
}

/// Counts every answer of the router for `/metrics` and writes its access log line: status,
/// body bytes (its `Content-Length`), and the time until the answer's head is ready.
async fn observe(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    req: Request,
    next: Next,
) -> Response {
    use crate::metrics::{Access, Path};
    if !app.metrics.enabled() && app.access_log.is_none() {
        return next.run(req).await;
    }
    let started = std::time::Instant::now();
    let class = route_class(&req);
    let head_only = req.method() == axum::http::Method::HEAD;
    let logged = app.access_log.as_ref().map(|_| {
        let client = req
            .extensions()
            .get::<extract::ClientAddr>()
            .and_then(|c| c.0);
        let target = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
        let id = req
            .extensions()
            .get::<extract::RequestId>()
            .map(|r| r.0.clone());
        (client, req.method().clone(), target, id)
    });
    let response = next.run(req).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let bytes = response
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let bytes = if head_only { 0 } else { bytes };
    app.metrics
        .record(class, Path::Router, status, bytes, elapsed);
    if let (Some(log), Some((client, method, target, id))) = (&app.access_log, &logged) {
        log.log(&Access {
            client: *client,
            method: method.as_str(),
            target,
            status,
            bytes,
            elapsed,
            path: Path::Router,
            request_id: id.as_deref(),
        });
    }
    response
}

/// The optional management API limit (`PERMA_RATE_LIMIT`): a token bucket per credential
/// (`authtoken` or `authorization`); requests without credentials (delivery, login) are not
/// counted. Every counted answer says `X-RateLimit-Limit` and `X-RateLimit-Remaining`; past
/// the limit, 429 with `Retry-After` (the official SDKs wait and retry).
async fn rate_limit(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    req: Request,
    next: Next,
) -> Response {
    use crate::throttle::Verdict;
    use axum::http::HeaderValue;
    use axum::response::IntoResponse;
    let Some(limiter) = &app.rate_limit else {
        return next.run(req).await;
    };
    let creds = extract::credentials(req.headers());
    let Some(credential) = creds
        .authtoken
        .as_deref()
        .or(creds.authorization.as_deref())
    else {
        return next.run(req).await;
    };
    let (mut response, remaining) = match limiter.take(credential) {
        Verdict::Allowed { remaining } => (next.run(req).await, remaining),
        Verdict::Limited { retry_after } => {
            // A client still sending a body (an upload) reads the 429 instead of a reset
            // connection, so that it can wait and retry: up to 1 MiB of the body is read
            // and dropped, for at most a second (as for other refused uploads).
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(1),
                axum::body::to_bytes(req.into_body(), 1 << 20),
            )
            .await;
            let secs = (retry_after.as_secs_f64().ceil() as u64).max(1);
            (
                crate::error::Error::RateLimited(limiter.limit(), secs).into_response(),
                0,
            )
        }
    };
    let h = response.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(limiter.limit()));
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    response
}

/// Logs each internal error once, with its cause; the client only saw a generic message.
/// Also gives the router's own bodiless 405 the CMA error body (§5), keeping its `Allow`.
async fn log_errors(req: Request, next: Next) -> Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let method = req.method().clone();
    let uri = req.uri().clone();
    let response = next.run(req).await;
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && !response.headers().contains_key(header::CONTENT_TYPE)
    {
        let allow = response.headers().get(header::ALLOW).cloned();
        let mut r = crate::error::Error::MethodNotAllowed(method.to_string()).into_response();
        if let Some(allow) = allow {
            r.headers_mut().insert(header::ALLOW, allow);
        }
        return r;
    }
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        let path = uri.path();
        tracing::error!(%method, %path, status = %response.status(), "internal error: {cause}");
    }
    response
}

pub use server::serve;

/// Entry points for the fuzz targets in `fuzz/`; not part of perma's API.
#[doc(hidden)]
pub mod fuzzing {
    /// The delivery fast path's head parser and classifier on arbitrary bytes.
    pub fn fast_path_head(bytes: &[u8]) {
        super::fast::fuzz_head(bytes);
    }
}

//! The web UI (§7): static HTML, CSS and plain JavaScript modules (`web/app.js` and
//! `web/js/`, one per view and helper, no build step), embedded in the binary and
//! served with a strict Content-Security-Policy. The UI talks to the same `/v3` API as the
//! SDKs; nothing here is generated at run time.

use std::sync::Arc;

use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::app::App;

/// Only our own scripts, styles and images (plus same-origin asset previews); no inline
/// code, no framing, no plugins.
const UI_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; media-src 'self'; connect-src 'self'; font-src 'self'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'; object-src 'none'";

/// Routes for `/`, `/app.js`, `/app.css`, `/favicon.ico`, and the UI's own addresses
/// (`/stacks/{api_key}` with `?folder=`, `?q=`, `?asset=`, `/stacks/{api_key}/settings`,
/// `/stacks/{api_key}/trash` and `/stacks/{api_key}/links`),
/// which serve the same page: the UI reads its state from the address (§7), so a view can
/// be linked to, reloaded and reached with Back and Forward.
pub fn routes() -> Router<Arc<App>> {
    let index = || async {
        page(
            "text/html; charset=utf-8",
            include_str!("../../web/index.html"),
        )
    };
    Router::new()
        .route("/", get(index))
        .route("/stacks/{api_key}", get(index))
        .route("/stacks/{api_key}/settings", get(index))
        .route("/stacks/{api_key}/trash", get(index))
        .route("/stacks/{api_key}/links", get(index))
        .route(
            "/app.js",
            get(|| async {
                page(
                    "text/javascript; charset=utf-8",
                    include_str!("../../web/app.js"),
                )
            }),
        )
        .route("/js/{module}", get(module))
        // tus-js-client (MIT), for resumable uploads (§16): a classic script, vendored.
        .route(
            "/vendor/tus.min.js",
            get(|| async {
                page(
                    "text/javascript; charset=utf-8",
                    include_str!("../../web/vendor/tus.min.js"),
                )
            }),
        )
        .route(
            "/app.css",
            get(|| async { page("text/css; charset=utf-8", include_str!("../../web/app.css")) }),
        )
        .route("/favicon.ico", get(|| async { favicon() }))
}

/// The UI's ES modules (`web/js/`, one per view and helper), embedded like the rest.
const MODULES: &[(&str, &str)] = &[
    ("api.js", include_str!("../../web/js/api.js")),
    ("assets.js", include_str!("../../web/js/assets.js")),
    ("audit.js", include_str!("../../web/js/audit.js")),
    ("dom.js", include_str!("../../web/js/dom.js")),
    ("insights.js", include_str!("../../web/js/insights.js")),
    ("library.js", include_str!("../../web/js/library.js")),
    ("links.js", include_str!("../../web/js/links.js")),
    ("metadata.js", include_str!("../../web/js/metadata.js")),
    ("nav.js", include_str!("../../web/js/nav.js")),
    ("panel.js", include_str!("../../web/js/panel.js")),
    ("resumable.js", include_str!("../../web/js/resumable.js")),
    ("router.js", include_str!("../../web/js/router.js")),
    ("settings.js", include_str!("../../web/js/settings.js")),
    ("shell.js", include_str!("../../web/js/shell.js")),
    ("state.js", include_str!("../../web/js/state.js")),
    ("trash.js", include_str!("../../web/js/trash.js")),
];

async fn module(Path(name): Path<String>) -> Response {
    match MODULES.iter().find(|(n, _)| *n == name) {
        Some((_, text)) => page("text/javascript; charset=utf-8", text),
        None => crate::error::Error::NotFound("Route").into_response(),
    }
}

/// The icon browsers ask for on every page (a 32 px PNG in an ICO container); cached for a
/// day, since it changes only with the binary.
fn favicon() -> Response {
    let mut r = include_bytes!("../../web/favicon.ico")
        .as_slice()
        .into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/vnd.microsoft.icon"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    r
}

fn page(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(UI_CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Small and versioned with the binary; revalidate so an upgrade shows at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

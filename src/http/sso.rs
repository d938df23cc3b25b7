//! `/v3/sso`: single sign-on through OpenID Connect (§14). The browser is sent to the
//! provider and back; the callback hands it a one-time code in the address's fragment
//! (never sent to a server, removed by the UI at once), which `POST /v3/user-session`
//! trades for a session.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::extract::{origin, Params};
use crate::app::App;
use crate::error::{Error, Result};
use crate::identity::sso::SignOn;

fn sign_on(app: &App) -> Result<&SignOn> {
    app.sign_on
        .as_ref()
        .ok_or(Error::NotFound("Single sign-on"))
}

fn found(location: &str) -> Response {
    (
        StatusCode::FOUND,
        [(LOCATION, location), (CACHE_CONTROL, "no-store")],
    )
        .into_response()
}

/// `GET /v3/sso`: whether single sign-on is on, for the sign-in page (no credentials).
pub async fn status(State(app): State<Arc<App>>) -> Json<Value> {
    Json(match &app.sign_on {
        Some(s) => json!({ "sso": {
            "enabled": true,
            "issuer": s.issuer(),
            "login_url": "/v3/sso/login",
        }}),
        None => json!({ "sso": { "enabled": false } }),
    })
}

/// `GET /v3/sso/login?return_to=/path`: 302 to the provider's authorization endpoint.
pub async fn login(State(app): State<Arc<App>>, params: Params) -> Result<Response> {
    let url = sign_on(&app)?
        .begin(&app.db, params.get("return_to"))
        .await?;
    Ok(found(&url))
}

/// `GET /v3/sso/callback?code=…&state=…` (or `error=…`): the provider's answer. 302 to
/// `return_to#sso_code=…`; a refused sign-in answers 401 (`error_code` 106) or 403 (a
/// disabled account), or, for a browser (`Accept: text/html`), 302 to
/// `/#sso_error=…` for the sign-in page to show.
pub async fn callback(State(app): State<Arc<App>>, parts: Parts, params: Params) -> Response {
    let browser = parts
        .headers
        .get(axum::http::header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let result = async {
        let sso = sign_on(&app)?;
        let state = params
            .get("state")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::SignOnRefused("the provider's answer has no state".into()))?;
        let answer = match (params.get("code"), params.get("error")) {
            (_, Some(e)) => Err(params.get("error_description").unwrap_or(e)),
            (Some(c), None) if !c.is_empty() => Ok(c),
            _ => Err("no code"),
        };
        sso.finish(&app.db, state, answer, &origin(&parts)).await
    }
    .await;
    match result {
        Ok(done) => found(&format!("{}#sso_code={}", done.return_to, done.code)),
        Err(e) if browser && !matches!(e, Error::Internal(_)) => {
            let message: String =
                form_urlencoded::byte_serialize(e.to_string().as_bytes()).collect();
            found(&format!("/#sso_error={message}"))
        }
        Err(e) => e.into_response(),
    }
}

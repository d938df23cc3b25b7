//! `/v3/user-session`, `/v3/user`, `/v3/organizations` (§5 Identity).

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use super::extract::{
    credentials, envelope, str_field, ClientAddr, JsonBody, RequestId, SessionUser,
};
use crate::app::App;
use crate::error::{Error, Result};
use crate::identity;
use crate::records::User;

/// `POST /v3/user-session`: log in, with e-mail and password (and `invitation_token` at
/// an invited account's first sign-in), or with the `sso_code` a single sign-on ended with.
/// Failed logins are slowed per (e-mail, client address), per address and per e-mail
/// (`throttle.rs`): 429 with `Retry-After` while held back, even for the right password.
pub async fn login(
    State(app): State<Arc<App>>,
    client: Option<Extension<ClientAddr>>,
    request_id: Option<Extension<RequestId>>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>> {
    let user = envelope(&body, "user")?;
    let origin = identity::Origin {
        client: client.and_then(|Extension(ClientAddr(a))| a),
        request_id: request_id.map(|Extension(RequestId(r))| r),
    };
    if let Some(code) = str_field(user, "sso_code") {
        let (user, token) =
            identity::sso::sign_in_with_code(&app.db, code, app.config.session_ttl, &origin)
                .await?;
        return signed_in(&app, &user, &token).await;
    }
    let email = str_field(user, "email").ok_or_else(|| Error::field("email", "is required"))?;
    let password =
        str_field(user, "password").ok_or_else(|| Error::field("password", "is required"))?;
    let address = origin.client;
    let throttle = &app.login_throttle;
    if let Err(wait) = throttle.check(email, address) {
        // Rounded up: a client that waits this long is let in.
        return Err(Error::TooManyRequests(
            wait.as_secs_f64().ceil().max(1.0) as u64
        ));
    }
    let (user, token) = match identity::login(
        &app.db,
        email,
        password,
        app.config.session_ttl,
        &origin,
        str_field(user, "invitation_token"),
    )
    .await
    {
        Ok(ok) => ok,
        Err(Error::BadLogin) => {
            throttle.failed(email, address);
            return Err(Error::BadLogin);
        }
        Err(e) => return Err(e),
    };
    throttle.succeeded(email, address);
    signed_in(&app, &user, &token).await
}

async fn signed_in(app: &App, user: &User, token: &str) -> Result<Json<Value>> {
    let org = app.db.organization(&user.org_uid).await?;
    Ok(Json(json!({
        "notice": "Login Successful.",
        "user": user.json(org.as_ref(), Some(token)),
    })))
}

/// `DELETE /v3/user-session`: log out.
pub async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Json<Value>> {
    let creds = credentials(&headers);
    let token = creds.authtoken.ok_or(Error::Unauthorized)?;
    identity::logout(&app.db, &token).await?;
    Ok(Json(json!({ "notice": "You've logged out successfully." })))
}

/// `GET /v3/user`.
pub async fn user(
    State(app): State<Arc<App>>,
    SessionUser(user): SessionUser,
) -> Result<Json<Value>> {
    let org = app.db.organization(&user.org_uid).await?;
    Ok(Json(json!({ "user": user.json(org.as_ref(), None) })))
}

/// `GET /v3/organizations`.
pub async fn organizations(
    State(app): State<Arc<App>>,
    SessionUser(user): SessionUser,
) -> Result<Json<Value>> {
    let orgs: Vec<Value> = app
        .db
        .organization(&user.org_uid)
        .await?
        .iter()
        .map(|o| o.json())
        .collect();
    Ok(Json(json!({ "organizations": orgs })))
}

//! `/v3/user-session`, `/v3/user`, `/v3/organizations` (§5 Identity).

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use super::extract::{credentials, envelope, str_field, JsonBody, SessionUser};
use crate::app::App;
use crate::error::{Error, Result};
use crate::identity;

/// `POST /v3/user-session`: log in.
pub async fn login(State(app): State<Arc<App>>, JsonBody(body): JsonBody) -> Result<Json<Value>> {
    let user = envelope(&body, "user")?;
    let email = str_field(user, "email").ok_or_else(|| Error::field("email", "is required"))?;
    let password =
        str_field(user, "password").ok_or_else(|| Error::field("password", "is required"))?;
    let (user, token) = identity::login(&app.db, email, password, app.config.session_ttl).await?;
    let org = app.db.organization(&user.org_uid).await?;
    Ok(Json(json!({
        "notice": "Login Successful.",
        "user": user.json(org.as_ref(), Some(&token)),
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

//! Extractors: credentials, stack access, user sessions, JSON bodies and query pairs.
//! Bad input is refused here, at the edge, with the CMA error body.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use serde_json::Value;

use crate::app::App;
use crate::error::{Error, Result};
use crate::identity::{self, Credentials, StackAccess};
use crate::records::User;

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Credentials from `authtoken` / `authorization` headers (first value of each, read by
/// [`identity::credential_value`] as delivery reads them).
pub fn credentials(headers: &HeaderMap) -> Credentials {
    let value = |name: &str| {
        headers
            .get(name)
            .and_then(|v| identity::credential_value(v.as_bytes()))
            .map(str::to_owned)
    };
    Credentials {
        authtoken: value("authtoken"),
        authorization: value("authorization"),
    }
}

/// The address of the client at the other end of the connection (set by `server.rs` on
/// every request the router sees).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<std::net::IpAddr>);

/// The id of the request (set by the `request_id` layer on every request the router sees).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Where a request comes from (for the audit log).
pub fn origin(parts: &Parts) -> identity::Origin {
    identity::Origin {
        client: parts.extensions.get::<ClientAddr>().and_then(|c| c.0),
        request_id: parts.extensions.get::<RequestId>().map(|r| r.0.clone()),
    }
}

/// The caller's access to the stack named by the `api_key` header (§5).
pub struct Stack(pub StackAccess);

/// The `branch` header Contentstack's SDKs send: `main` (perma's one branch) or none;
/// another branch is refused rather than answered from `main`.
fn check_branch(headers: &HeaderMap) -> Result<(), Error> {
    match header(headers, "branch") {
        Some(b) if b != "main" => Err(Error::UnknownBranch(b)),
        _ => Ok(()),
    }
}

impl FromRequestParts<Arc<App>> for Stack {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Error> {
        check_branch(&parts.headers)?;
        let api_key = header(&parts.headers, "api_key");
        let mut access =
            identity::stack_access(&app.db, api_key.as_deref(), &credentials(&parts.headers))
                .await?;
        access.origin = origin(parts);
        Ok(Stack(access))
    }
}

/// Who reads `GET /v3/assets[/{uid}]`: a management caller (§5), or a website with a
/// delivery token (§12: `access_token` and no management credentials).
pub enum Reader {
    /// Management API.
    Management(StackAccess),
    /// Content Delivery API.
    Delivery(identity::DeliveryAccess),
}

impl FromRequestParts<Arc<App>> for Reader {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Error> {
        check_branch(&parts.headers)?;
        let creds = credentials(&parts.headers);
        let api_key = header(&parts.headers, "api_key");
        let access_token = parts
            .headers
            .get("access_token")
            .and_then(|v| identity::credential_value(v.as_bytes()));
        match access_token {
            Some(token) if !creds.present() => {
                let params = Params::from_query(parts.uri.query());
                // The Python delivery SDK sends the environment as a header.
                let environment = params
                    .get("environment")
                    .map(str::to_owned)
                    .or_else(|| header(&parts.headers, "environment"));
                let access = identity::delivery_access(
                    &app.db,
                    api_key.as_deref(),
                    Some(token),
                    environment.as_deref(),
                    params.get("locale"),
                    params.flag("include_fallback"),
                )
                .await?;
                Ok(Reader::Delivery(access))
            }
            _ => {
                let mut access =
                    identity::stack_access(&app.db, api_key.as_deref(), &creds).await?;
                access.origin = origin(parts);
                Ok(Reader::Management(access))
            }
        }
    }
}

/// A logged-in user (routes that management tokens may not call).
pub struct SessionUser(pub User);

impl FromRequestParts<Arc<App>> for SessionUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Error> {
        let user = identity::authenticate_user(&app.db, &credentials(&parts.headers)).await?;
        Ok(SessionUser(user))
    }
}

/// A JSON body of any shape. Clients differ in content types (the Python SDK sends
/// `application/json` on every call, the JS SDK sometimes none), so the body is parsed
/// whatever the header says; an empty body is `{}`.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = Error;

    async fn from_request(req: Request, _: &S) -> Result<Self, Error> {
        JsonBody::read(req, super::JSON_LIMIT).await
    }
}

impl JsonBody {
    /// Reads and parses a body of at most `limit` bytes (413 beyond it).
    pub async fn read(req: Request, limit: usize) -> Result<Self, Error> {
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|e| {
                let too_large = std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
                if too_large {
                    Error::BodyTooLarge(limit as u64)
                } else {
                    Error::Malformed(format!("Could not read the request body: {e}"))
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Value::Object(Default::default())));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| Error::Malformed(format!("The request body is not valid JSON: {e}")))
    }
}

/// Query string as ordered pairs (keeps repeated keys such as `only[BASE][]`).
pub struct Params(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        Ok(Params::from_query(parts.uri.query()))
    }
}

impl Params {
    /// The field projections `(only, except)`: `only[BASE][]` and `except[BASE][]`, and
    /// the `only[]` / `except[]` forms the SDKs also send.
    pub fn projection(&self) -> (Vec<String>, Vec<String>) {
        let fields = |base: &str, bare: &str| {
            let mut v = self.all(base);
            v.extend(self.all(bare).into_iter().filter(|o| o != "BASE"));
            v
        };
        (
            fields("only[BASE][]", "only[]"),
            fields("except[BASE][]", "except[]"),
        )
    }

    /// Parses a query string (no allocation when there is none).
    pub fn from_query(query: Option<&str>) -> Self {
        match query {
            None | Some("") => Params(Vec::new()),
            Some(q) => Params(
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect(),
            ),
        }
    }

    /// Last value of a parameter.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// How asset JSON is rendered for this request (`relative_urls`, `include_dimension`,
    /// `include_branch`).
    pub fn render(&self) -> crate::wire::Render {
        crate::wire::Render {
            relative_urls: self.flag("relative_urls"),
            include_dimension: self.flag("include_dimension"),
            include_branch: self.flag("include_branch"),
        }
    }

    /// A boolean flag: `true`, `1` or `yes` in any case (the Python SDK sends `True`).
    pub fn flag(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| {
            ["true", "1", "yes"]
                .iter()
                .any(|t| v.eq_ignore_ascii_case(t))
        })
    }

    /// A non-negative integer, or 422 naming the parameter.
    pub fn uint(&self, key: &str) -> Result<Option<i64>, Error> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(Some)
                .ok_or_else(|| Error::field(key, "must be a non-negative integer")),
        }
    }

    /// `skip` as the CMA takes it: a non-negative integer, or any non-negative number in
    /// another form (the JS SDK writes 10¹⁰⁰ as `1e+100`), clamped to 10¹⁵ rather than
    /// refused. A negative number or a non-number is a 422.
    pub fn skip(&self) -> Result<u64, Error> {
        const MAX: u64 = 1_000_000_000_000_000;
        let bad = || Error::field("skip", "must be a non-negative number");
        match self.get("skip") {
            None | Some("") => Ok(0),
            Some(v) => {
                if let Ok(n) = v.parse::<u64>() {
                    return Ok(n.min(MAX));
                }
                let f = v
                    .parse::<f64>()
                    .ok()
                    .filter(|f| !f.is_nan())
                    .ok_or_else(bad)?;
                if f < 0.0 {
                    return Err(bad());
                }
                Ok(f.min(MAX as f64) as u64)
            }
        }
    }

    /// Every value of a parameter.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// A string field of a JSON object.
pub fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The envelope object (`{"asset": {...}}`), or 422 when missing.
pub fn envelope<'a>(v: &'a Value, key: &str) -> Result<&'a Value, Error> {
    v.get(key)
        .filter(|x| x.is_object())
        .ok_or_else(|| Error::field(key, "is required"))
}

/// A JSON list of strings (`environments`, `locales`): missing or null is empty, a single
/// string is a list of one; anything else is a 422 naming `field`.
pub fn string_list(v: Option<&Value>, field: &str) -> Result<Vec<String>> {
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| Error::field(field, "must be strings"))
            })
            .collect(),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(_) => Err(Error::field(field, "must be an array of strings")),
    }
}

//! The one boundary error (STYLE rule 5). Inside the crate, `anyhow` with context; at the
//! edge, every client-visible failure is one of these variants, each with a stable HTTP
//! status and `error_code`, rendered in the CMA shape of §5:
//! `{"error_message": "…", "error_code": <int>, "errors": {"field": ["…"]}}`.
//!
//! The codes are documented in `docs/api.md`; never renumber them.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Field-level validation messages (`errors` in the body).
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// A client-visible failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400 / 100: the request could not be parsed (bad JSON, bad multipart, bad query).
    #[error("{0}")]
    Malformed(String),
    /// 401 / 104: wrong email or password at login.
    #[error("Looks like your email or password is invalid. Please try again.")]
    BadLogin,
    /// 401 / 105: no credentials, or credentials that are not valid (any more).
    #[error("You're not allowed in here unless you're logged in.")]
    Unauthorized,
    /// 403 / 161: valid credentials without permission for this action.
    #[error("{0}")]
    Forbidden(String),
    /// 404 / 145 for assets and folders, 141 for everything else.
    #[error("{0} was not found.")]
    NotFound(&'static str),
    /// 410 / 147: the asset was deleted; its URLs stay dead (§4).
    #[error("This asset has been deleted.")]
    Gone,
    /// 409 / 119: the request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 412 / 109: `api_key` missing, malformed or unknown.
    #[error("The api_key provided is invalid.")]
    InvalidApiKey,
    /// 413 / 113: upload larger than `max_upload_bytes`.
    #[error("The file is too large. The maximum upload size is {0} bytes.")]
    TooLarge(u64),
    /// 415 / 115: a body in a media type this route does not take.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422 / 422 (field rules) — see `errors` for which field broke which rule.
    #[error("{message}")]
    Validation {
        /// Summary for `error_message`.
        message: String,
        /// Per-field messages.
        errors: FieldErrors,
    },
    /// 500 / 500: a bug or an infrastructure failure. The client never sees the cause.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Result alias for handlers and domain functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A 422 with a single field message.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut errors = FieldErrors::new();
        errors.insert(field.to_owned(), vec![message.clone()]);
        Error::Validation {
            message: format!("{field} {message}"),
            errors,
        }
    }

    /// HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Malformed(_) => StatusCode::BAD_REQUEST,
            Error::BadLogin | Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Gone => StatusCode::GONE,
            Error::InvalidApiKey => StatusCode::PRECONDITION_FAILED,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable `error_code` of this error (docs/api.md lists them).
    pub fn code(&self) -> i64 {
        match self {
            Error::Malformed(_) => 100,
            Error::BadLogin => 104,
            Error::Unauthorized => 105,
            Error::Forbidden(_) => 161,
            Error::NotFound("Asset") | Error::NotFound("Folder") => 145,
            Error::NotFound(_) => 141,
            Error::Conflict(_) => 119,
            Error::Gone => 147,
            Error::InvalidApiKey => 109,
            Error::TooLarge(_) => 113,
            Error::UnsupportedMediaType(_) => 115,
            Error::Validation { .. } => 422,
            Error::Internal(_) => 500,
        }
    }
}

/// The internal cause of a 500, stashed in the response so that the logging middleware
/// can record it exactly once.
#[derive(Clone, Debug)]
pub struct InternalCause(pub String);

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code();
        let (message, errors) = match &self {
            Error::Validation { message, errors } => (message.clone(), errors.clone()),
            Error::Internal(_) => (
                "Something went wrong on our side. Please try again.".to_owned(),
                FieldErrors::new(),
            ),
            other => (other.to_string(), FieldErrors::new()),
        };
        let body = json!({ "error_message": message, "error_code": code, "errors": errors });
        let mut response = (status, axum::Json(body)).into_response();
        if let Error::Internal(cause) = self {
            response
                .extensions_mut()
                .insert(InternalCause(format!("{cause:#}")));
        }
        response
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Internal(anyhow::Error::new(e).context("database"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Internal(anyhow::Error::new(e).context("i/o"))
    }
}

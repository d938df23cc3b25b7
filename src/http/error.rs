//! The boundary [`Error`] as an HTTP answer: status, and the CMA error body of §5
//! (`{"error_message", "error_code", "errors"}`). A 500's cause is stashed in the response
//! for the logging middleware ([`super::log_errors`]), which records it exactly once.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::Error;

/// The internal cause of a 500, with its context chain.
#[derive(Clone, Debug)]
pub struct InternalCause(pub String);

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (message, errors) = self.public_message();
        let body = json!({ "error_message": message, "error_code": self.code(), "errors": errors });
        let mut response = (status, axum::Json(body)).into_response();
        if let Error::TooManyRequests(secs)
        | Error::RateLimited(_, secs)
        | Error::TooManyRenders(_, secs)
        | Error::Unavailable(_, secs) = self
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        if let Error::Internal(cause) = self {
            response
                .extensions_mut()
                .insert(InternalCause(format!("{cause:#}")));
        }
        response
    }
}

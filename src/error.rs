//! The one boundary error (STYLE rule 5). Inside the crate, `anyhow` with context; at the
//! edge, every client-visible failure is one of these variants, each with a stable HTTP
//! status and `error_code`. The HTTP layer renders it in the CMA shape of §5
//! (`http/error.rs`): `{"error_message": "…", "error_code": <int>, "errors": {"field": ["…"]}}`.
//!
//! The codes are documented in `docs/api.md`; never renumber them.

use std::collections::BTreeMap;

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
    /// 401 / 106: a single sign-on (§14) that cannot be completed: an unknown, used or
    /// expired sign-in, a provider that refused, an ID token that does not verify.
    #[error("Single sign-on failed: {0}.")]
    SignOnRefused(String),
    /// 401 / 105: no credentials, or credentials that are not valid (any more).
    #[error("You're not allowed in here unless you're logged in.")]
    Unauthorized,
    /// 401 / 105: a Content Delivery API request (§12) without a delivery token of this
    /// stack (missing, unknown, expired, or another stack's).
    #[error("The access_token is missing or not valid for this stack.")]
    BadAccessToken,
    /// 403 / 161: valid credentials without permission for this action.
    #[error("{0}")]
    Forbidden(String),
    /// 404 / 145 for assets and folders, 141 for everything else.
    #[error("{0} was not found.")]
    NotFound(&'static str),
    /// 410 / 147: the asset was deleted; its URLs stay dead (§4).
    #[error("This asset has been deleted.")]
    Gone,
    /// 410 / 148: a signed URL past its `expires` (§13).
    #[error("This signed URL has expired.")]
    Expired,
    /// 410 / 149: a resumable upload (§16) past its expiry; its bytes are gone.
    #[error("This upload has expired and its bytes were removed; start a new upload.")]
    UploadExpired,
    /// 412 / 117: a tus request (§16) without `Tus-Resumable: 1.0.0`.
    #[error("{0}")]
    TusVersion(String),
    /// 423 / 423: a resumable upload (§16) is still receiving bytes from another request.
    #[error("This upload is receiving bytes from another request; try again in a moment.")]
    UploadLocked,
    /// 429 / 429: this user or token has too many unfinished resumable uploads, or too
    /// many bytes announced in them (§16); finish or delete some first.
    #[error("{0}")]
    TooManyUploads(String),
    /// 460 / 460: a PATCH body (§16) whose SHA-256 is not its `Upload-Checksum`; none of
    /// its bytes were kept.
    #[error("The bytes received do not match Upload-Checksum; none of them were kept.")]
    ChecksumMismatch,
    /// 405 / 405: the route exists but not with this method (`Allow` names those it has).
    #[error("The {0} method is not allowed on this route.")]
    MethodNotAllowed(String),
    /// 409 / 119: the request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 412 / 109: `api_key` missing, malformed or unknown.
    #[error("The api_key provided is invalid.")]
    InvalidApiKey,
    /// 413 / 113: upload larger than `max_upload_bytes`.
    #[error("The file is too large. The maximum upload size is {}.", human_size(*.0))]
    TooLarge(u64),
    /// 413 / 113: a JSON body larger than the JSON limit.
    #[error("The request body is too large. The maximum is {}.", human_size(*.0))]
    BodyTooLarge(u64),
    /// 429 / 429: too many failed logins for this e-mail or client address; retry after
    /// this many seconds (sent as `Retry-After`).
    #[error("Too many failed logins. Try again in {0} seconds.")]
    TooManyRequests(u64),
    /// 429 / 429: the management API limit per credential (`PERMA_RATE_LIMIT`, requests
    /// per second) is used up; retry after this many seconds (sent as `Retry-After`).
    #[error("Too many requests: the limit is {0} per second. Try again in {1} seconds.")]
    RateLimited(u32, u64),
    /// 429 / 429: this client asked for more renditions not stored yet than it may per
    /// minute (`PERMA_RENDER_MISSES_PER_MINUTE`); retry after this many seconds (sent as
    /// `Retry-After`). Stored renditions are still served.
    #[error("Too many new image renditions from this client: the limit is {0} a minute. Try again in {1} seconds.")]
    TooManyRenders(u64, u64),
    /// 422 / 905: a `branch` header naming a branch other than `main` (a stack in perma has
    /// that one branch; an answer from it would be silently wrong).
    #[error("The branch {0:?} does not exist: this stack has one branch, main.")]
    UnknownBranch(String),
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
    /// 503 / 503: the database is busy or unreachable for now (locked past its busy
    /// timeout, restarting, out of connections); retry after this many seconds (sent as
    /// `Retry-After`). Nothing was changed.
    #[error(
        "The {0} is busy or unavailable right now. Nothing was changed; try again in {1} seconds."
    )]
    Unavailable(&'static str, u64),
    /// 507 / 507: the blob store's disk is full (or over quota); nothing was kept.
    #[error("There is no room left to store this file. Nothing was kept; try again later.")]
    InsufficientStorage,
    /// 500 / 500: a bug or an infrastructure failure. The client never sees the cause.
    #[error(transparent)]
    Internal(anyhow::Error),
}

/// A size for people: `1 MB (1048576 bytes)`, `512 bytes`.
fn human_size(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "KB")];
    for (unit, name) in UNITS {
        if n >= unit {
            let v = n as f64 / unit as f64;
            let v = if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.1}")
            };
            return format!("{v} {name} ({n} bytes)");
        }
    }
    format!("{n} bytes")
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

    /// HTTP status code of this error.
    pub fn status(&self) -> u16 {
        match self {
            Error::Malformed(_) => 400,
            Error::BadLogin
            | Error::Unauthorized
            | Error::BadAccessToken
            | Error::SignOnRefused(_) => 401,
            Error::Forbidden(_) => 403,
            Error::NotFound(_) => 404,
            Error::MethodNotAllowed(_) => 405,
            Error::Conflict(_) => 409,
            Error::Gone | Error::Expired | Error::UploadExpired => 410,
            Error::InvalidApiKey | Error::TusVersion(_) => 412,
            Error::UploadLocked => 423,
            Error::ChecksumMismatch => 460,
            Error::TooLarge(_) | Error::BodyTooLarge(_) => 413,
            Error::UnsupportedMediaType(_) => 415,
            Error::Validation { .. } | Error::UnknownBranch(_) => 422,
            Error::TooManyRequests(_)
            | Error::RateLimited(..)
            | Error::TooManyRenders(..)
            | Error::TooManyUploads(_) => 429,
            Error::Unavailable(..) => 503,
            Error::InsufficientStorage => 507,
            Error::Internal(_) => 500,
        }
    }

    /// What the client is told: `error_message` and the field errors. Internal causes
    /// stay inside (§5: a 500 never carries internals).
    pub fn public_message(&self) -> (String, FieldErrors) {
        match self {
            Error::Validation { message, errors } => (message.clone(), errors.clone()),
            Error::Internal(_) => (
                "Something went wrong on our side. Please try again.".to_owned(),
                FieldErrors::new(),
            ),
            other => (other.to_string(), FieldErrors::new()),
        }
    }

    /// Stable `error_code` of this error (docs/api.md lists them).
    pub fn code(&self) -> i64 {
        match self {
            Error::Malformed(_) => 100,
            Error::BadLogin => 104,
            Error::SignOnRefused(_) => 106,
            Error::Unauthorized | Error::BadAccessToken => 105,
            Error::Forbidden(_) => 161,
            Error::NotFound("Asset") | Error::NotFound("Folder") => 145,
            Error::NotFound(_) => 141,
            Error::MethodNotAllowed(_) => 405,
            Error::Conflict(_) => 119,
            Error::Gone => 147,
            Error::Expired => 148,
            Error::UploadExpired => 149,
            Error::InvalidApiKey => 109,
            Error::TusVersion(_) => 117,
            Error::UploadLocked => 423,
            Error::ChecksumMismatch => 460,
            Error::TooLarge(_) | Error::BodyTooLarge(_) => 113,
            Error::UnsupportedMediaType(_) => 115,
            Error::Validation { .. } => 422,
            Error::UnknownBranch(_) => 905,
            Error::TooManyRequests(_)
            | Error::RateLimited(..)
            | Error::TooManyRenders(..)
            | Error::TooManyUploads(_) => 429,
            Error::Unavailable(..) => 503,
            Error::InsufficientStorage => 507,
            Error::Internal(_) => 500,
        }
    }
}

/// Whether a database error is the database being busy or away for now (a 503 the client
/// may retry), not a bug: SQLite busy or locked past `busy_timeout`, a pool out of
/// connections or closed, a broken connection, PostgreSQL shutting down, starting or
/// refusing connections (SQLSTATE classes 08 and 57P0x), or a PostgreSQL transaction
/// chosen to end a deadlock or a serialization conflict (40P01, 40001; two moves between
/// the same folders in opposite directions take the folders' totals in opposite orders).
fn transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            matches!(
                &*code,
                "5" | "6" | "517" | "261" | "262" | "40P01" | "40001"
            ) || code.starts_with("08")
                || code.starts_with("57P0")
        }
        _ => false,
    }
}

/// An internal failure; but a client-visible [`Error`] that travelled inside an
/// `anyhow::Error` (through code that adds context) keeps its own status, so that, say, a
/// storage outage is still a 503 after it crossed such code.
impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        let e = match e.downcast::<Error>() {
            Ok(inner) => return inner,
            Err(e) => e,
        };
        // The same for the causes that are 503s (a database or blob store away).
        if e.downcast_ref::<sqlx::Error>().is_some_and(transient) {
            tracing::warn!("database unavailable: {e:#}");
            return Error::Unavailable("database", 5);
        }
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::NotConnected)
        {
            tracing::warn!("blob storage unavailable: {e:#}");
            return Error::Unavailable("storage", 5);
        }
        Error::Internal(e)
    }
}

/// A database failure becomes a 500 whose logged cause says where it happened: `?` calls
/// this at the failing call site, which `#[track_caller]` records.
impl From<sqlx::Error> for Error {
    #[track_caller]
    fn from(e: sqlx::Error) -> Self {
        if transient(&e) {
            tracing::warn!("database unavailable: {e}");
            return Error::Unavailable("database", 5);
        }
        let at = std::panic::Location::caller();
        Error::Internal(anyhow::Error::new(e).context(format!("database query failed at {at}")))
    }
}

/// As for database failures: the cause records the call site.
impl From<std::io::Error> for Error {
    #[track_caller]
    fn from(e: std::io::Error) -> Self {
        // ENOSPC and EDQUOT: a full disk is the client's to know about (507), not a bug.
        if e.kind() == std::io::ErrorKind::StorageFull || matches!(e.raw_os_error(), Some(28 | 122))
        {
            tracing::warn!("blob storage is full: {e}");
            return Error::InsufficientStorage;
        }
        // The blob store's server cannot be reached (blob.rs marks S3 outages so).
        if e.kind() == std::io::ErrorKind::NotConnected {
            tracing::warn!("blob storage unavailable: {e}");
            return Error::Unavailable("storage", 5);
        }
        let at = std::panic::Location::caller();
        Error::Internal(anyhow::Error::new(e).context(format!("i/o failed at {at}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails() -> Result<()> {
        Err(std::io::Error::other("disk on fire"))?;
        Ok(())
    }

    #[test]
    fn sizes_are_written_for_people() {
        assert_eq!(human_size(512), "512 bytes");
        assert_eq!(human_size(1 << 20), "1 MB (1048576 bytes)");
        assert_eq!(human_size(1536 << 10), "1.5 MB (1572864 bytes)");
        assert_eq!(
            Error::TooLarge(4 << 20).to_string(),
            "The file is too large. The maximum upload size is 4 MB (4194304 bytes)."
        );
    }

    #[test]
    fn internal_errors_say_where_and_tell_the_client_nothing() {
        let e = fails().unwrap_err();
        let Error::Internal(cause) = &e else {
            panic!("{e:?}")
        };
        let cause = format!("{cause:#}");
        assert!(cause.contains("src/error.rs:"), "{cause}");
        assert!(cause.contains("disk on fire"), "{cause}");
        let (message, errors) = e.public_message();
        assert!(!message.contains("disk") && errors.is_empty());
        assert_eq!((e.status(), e.code()), (500, 500));
    }
}

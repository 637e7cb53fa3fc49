//! The one error type of the service and its one mapping to HTTP.
//!
//! Every failure a handler can return is an [`AppError`]; [`IntoResponse`] turns it into the JSON
//! error shape every answer of the API uses ([`ErrorBody`]: `{"error", "code", "details"}`, the
//! `ErrorBody` schema of `/api/openapi.json`). The cause of an internal error travels with the
//! response to `http::middleware`, which logs it once inside the request's span (which carries
//! the request id); the caller gets an opaque 500.

use std::collections::BTreeMap;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

/// Field name → human message, as `details` of a 400.
pub type FieldErrors = BTreeMap<String, String>;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400 with per-field messages.
    #[error("invalid input")]
    Validation(FieldErrors),
    /// 400 with a specific code (e.g. `invalid_json`, `invalid_path`).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 401: no, invalid, expired or revoked credentials.
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    /// 403.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 410: the thing existed but has ended for good (an expired or used-up share link).
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    /// 409.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 409 `job_running` with `details: {"job_id"}`: a running job holds the path (or is the
    /// job asked about), so the request would race it.
    #[error("a job is running: {job_id}")]
    JobRunning { job_id: String },
    /// 413.
    #[error("{message}")]
    TooLarge { code: &'static str, message: String },
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 416, with `Content-Range: bytes */<size>`.
    #[error("range not satisfiable")]
    RangeNotSatisfiable { size: u64 },
    /// 429 with `Retry-After` seconds.
    #[error("too many requests")]
    Throttled { retry_after_secs: u64 },
    /// 408: the request body stopped arriving (local server); the connection is closed.
    #[error("request body timed out")]
    RequestTimeout,
    /// 503 with `Retry-After` seconds: every worker of a bounded pool (password hashing) is busy
    /// and its queue is full.
    #[error("busy")]
    Busy { retry_after_secs: u64 },
    /// 503: a backing store cannot be reached. The cause is logged, never answered.
    #[error("service unavailable: {0:#}")]
    Unavailable(anyhow::Error),
    /// 503 with its own code and message: the work stopped midway and repeating the request
    /// resumes it. The cause is logged, never answered.
    #[error("{message}: {cause:#}")]
    Incomplete {
        code: &'static str,
        message: String,
        cause: anyhow::Error,
    },
    /// 500: anything unexpected. The cause is logged, never answered.
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unauthorized {
            code,
            message: message.into(),
        }
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            message: message.into(),
        }
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::NotFound {
            code,
            message: message.into(),
        }
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }
    pub fn job_running(job_id: impl Into<String>) -> Self {
        Self::JobRunning {
            job_id: job_id.into(),
        }
    }
    pub fn gone(code: &'static str, message: impl Into<String>) -> Self {
        Self::Gone {
            code,
            message: message.into(),
        }
    }
    pub fn too_large(code: &'static str, message: impl Into<String>) -> Self {
        Self::TooLarge {
            code,
            message: message.into(),
        }
    }
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(FieldErrors::from([(field.to_owned(), message.into())]))
    }
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }
    /// The credentials presented are not (or no longer) valid.
    pub fn invalid_token() -> Self {
        Self::unauthorized("invalid_token", "The token is invalid, expired or revoked.")
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Gone { .. } => StatusCode::GONE,
            Self::Conflict { .. } | Self::JobRunning { .. } => StatusCode::CONFLICT,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unavailable(_) | Self::Incomplete { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn body(&self) -> ErrorBody {
        let (error, code, details): (String, &str, Value) = match self {
            Self::Validation(fields) => (
                "Invalid input.".into(),
                "validation_error",
                serde_json::to_value(fields).unwrap_or(Value::Null),
            ),
            Self::BadRequest { code, message }
            | Self::Unauthorized { code, message }
            | Self::Forbidden { code, message }
            | Self::NotFound { code, message }
            | Self::Gone { code, message }
            | Self::Conflict { code, message }
            | Self::TooLarge { code, message } => (message.clone(), code, Value::Null),
            Self::JobRunning { job_id } => (
                format!(
                    "A job is working on this file or folder: wait for it to end, or cancel \
                     it (DELETE /api/jobs/{job_id})."
                ),
                "job_running",
                serde_json::json!({ "job_id": job_id }),
            ),
            Self::MethodNotAllowed => (
                "Method not allowed.".into(),
                "method_not_allowed",
                Value::Null,
            ),
            Self::UnsupportedMediaType(message) => {
                (message.clone(), "unsupported_media_type", Value::Null)
            }
            Self::RangeNotSatisfiable { size } => (
                format!("The range asked for is not within the file's {size} bytes."),
                "range_not_satisfiable",
                Value::Null,
            ),
            Self::Throttled { retry_after_secs } => (
                "Too many attempts. Try again later.".into(),
                "throttled",
                Value::String(format!("retry after {retry_after_secs} seconds")),
            ),
            Self::RequestTimeout => (
                "The request body stopped arriving.".into(),
                "request_timeout",
                Value::Null,
            ),
            Self::Busy { retry_after_secs } => (
                "The server is busy. Try again shortly.".into(),
                "busy",
                Value::String(format!("retry after {retry_after_secs} seconds")),
            ),
            Self::Incomplete { code, message, .. } => (message.clone(), code, Value::Null),
            Self::Unavailable(_) => (
                "A backing service is unavailable.".into(),
                "service_unavailable",
                Value::Null,
            ),
            Self::Internal(_) => (
                "Internal server error.".into(),
                "internal_error",
                Value::Null,
            ),
        };
        ErrorBody {
            error,
            code: code.to_owned(),
            details,
        }
    }
}

/// The JSON error shape of every error answer (`ErrorBody` in the OpenAPI document).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Human-readable message.
    pub error: String,
    /// Stable snake_case code for programs.
    pub code: String,
    /// `null`, a string, or field → message for validation errors.
    #[schema(schema_with = details_schema)]
    pub details: Value,
}

/// What `details` holds: `null`, a string (429), or field → message (`validation_error`).
fn details_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(
            [Type::Null, Type::String, Type::Object]
                .into_iter()
                .collect::<utoipa::openapi::schema::SchemaType>(),
        )
        .additional_properties(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(
            "`null`, a string, field → message for validation errors, or `{\"job_id\"}` for \
             `job_running`.",
        ))
        .build()
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, axum::Json(self.body())).into_response();
        match &self {
            Self::Throttled { retry_after_secs } | Self::Busy { retry_after_secs } => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from((*retry_after_secs).max(1)),
                );
            }
            Self::RangeNotSatisfiable { size } => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, v);
                }
            }
            _ => {}
        }
        // For the logging middleware (`http::middleware`), which logs the cause once.
        response.extensions_mut().insert(std::sync::Arc::new(self));
        response
    }
}

impl From<anyhow::Error> for AppError {
    fn from(err: anyhow::Error) -> Self {
        Self::Internal(err)
    }
}

impl From<crate::store::StoreError> for AppError {
    fn from(err: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match err {
            StoreError::Unavailable(e) => Self::Unavailable(e),
            StoreError::Other(e) => Self::Internal(e),
        }
    }
}

impl From<crate::objects::ObjectError> for AppError {
    fn from(err: crate::objects::ObjectError) -> Self {
        use crate::objects::ObjectError;
        match err {
            ObjectError::Unavailable(e) => Self::Unavailable(e),
            ObjectError::TooLarge { limit } => Self::too_large(
                "too_large",
                format!("The upload is larger than the {limit} bytes allowed."),
            ),
            ObjectError::Invalid(message) => Self::bad_request("invalid_upload", message),
            ObjectError::Other(e) => Self::Internal(e),
        }
    }
}

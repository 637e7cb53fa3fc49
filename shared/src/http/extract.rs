//! Extractors that turn every malformed request into the JSON error shape.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use super::AppState;
use crate::error::AppError;
use crate::services::Principal;

/// Longest message of a parser (JSON, query, path) answered as is; such messages quote the input.
const ECHO_LIMIT: usize = 300;

/// `text`, cut to `max` characters with "…": errors never echo unbounded input.
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// `axum::Json`, with its rejections mapped to [`AppError`].
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(json_error(rejection)),
        }
    }
}

fn json_error(rejection: JsonRejection) -> AppError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => AppError::UnsupportedMediaType(
            "Expected a request with `Content-Type: application/json`.".into(),
        ),
        JsonRejection::JsonDataError(e) => AppError::BadRequest {
            code: "invalid_json",
            message: format!("Invalid request body: {}", clip(&e.body_text(), ECHO_LIMIT)),
        },
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            AppError::too_large("payload_too_large", "The request body is too large.")
        }
        other => AppError::BadRequest {
            code: "invalid_json",
            message: format!("Malformed JSON: {}", clip(&other.body_text(), ECHO_LIMIT)),
        },
    }
}

/// `axum::extract::Query`, with its rejection mapped to [`AppError`].
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e: QueryRejection| {
                AppError::bad_request("invalid_query", clip(&e.body_text(), ECHO_LIMIT))
            })
    }
}

/// `axum::extract::Path`, with its rejection mapped to [`AppError`].
pub struct PathParam<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParam<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e: PathRejection| {
                AppError::bad_request("invalid_path", clip(&e.body_text(), ECHO_LIMIT))
            })
    }
}

/// The authenticated caller: `Authorization: Bearer <access JWT | API key>`, re-checked against
/// the store on every request.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                AppError::unauthorized(
                    "not_authenticated",
                    "Authentication credentials were not provided.",
                )
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                AppError::unauthorized("not_authenticated", "Use `Authorization: Bearer <token>`.")
            })?;
        let principal = state.authenticate(token).await?;
        tracing::Span::current().record("user_id", principal.user.id.as_str());
        Ok(Self(principal))
    }
}

/// The client's address as the platform saw it: the TCP peer locally, API Gateway's `sourceIp`
/// on Lambda. Headers such as `X-Forwarded-For` are not trusted.
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            return Ok(Self(Some(addr.ip())));
        }
        use lambda_http::request::RequestContext;
        // The template routes through an HTTP API (payload 2.0), the only kind compiled in.
        let source = match parts.extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
            _ => None,
        };
        Ok(Self(source.and_then(|s| s.parse().ok())))
    }
}

/// Where this server is reached, for the transfer URLs it signs to itself: `VERTEX_PUBLIC_URL`,
/// or the request's `Host` with `X-Forwarded-Proto`'s scheme (whoever sets false ones only
/// misleads themselves).
pub struct Origin(pub String);

impl FromRequestParts<AppState> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(url) = &state.config.public_url {
            return Ok(Self(url.clone()));
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            })
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or("localhost");
        // Behind a TLS-terminating proxy the request arrives as http; the proxy says so.
        let https = parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|h| h.to_str().ok())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
        let scheme = if https { "https" } else { "http" };
        Ok(Self(format!("{scheme}://{host}")))
    }
}

#[cfg(test)]
mod tests {
    use super::clip;

    #[test]
    fn clip_cuts_long_text_on_a_character() {
        assert_eq!(clip("short", 100), "short");
        assert_eq!(clip(&"é".repeat(150), 100), format!("{}…", "é".repeat(100)));
        assert_eq!(clip(&"x".repeat(100), 100), "x".repeat(100));
    }
}

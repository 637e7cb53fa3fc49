//! Extractors that turn every malformed request into the JSON error shape.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use super::AppState;
use crate::config::TrustedProxies;
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

/// The client's address. On Lambda, API Gateway's `sourceIp` (headers are never read there).
/// Locally, the TCP peer; only when the peer is one of `VERTEX_TRUSTED_PROXIES` is
/// `X-Forwarded-For` read, right to left, and its first address that is not itself a trusted
/// proxy taken (the hops to its left are the client's to invent).
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        use lambda_http::request::RequestContext;
        // The template routes through an HTTP API (payload 2.0), the only kind compiled in.
        if let Some(RequestContext::ApiGatewayV2(ctx)) = parts.extensions.get::<RequestContext>() {
            let source = ctx
                .http
                .source_ip
                .as_deref()
                .and_then(|s| s.parse::<IpAddr>().ok());
            return Ok(Self(source.map(|ip: IpAddr| ip.to_canonical())));
        }
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Ok(Self(None));
        };
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Ok(Self(Some(client_of(
            peer.ip(),
            forwarded,
            &state.config.trusted_proxies,
        ))))
    }
}

/// The client behind `peer`: see [`ClientIp`]. Several `X-Forwarded-For` fields are one list,
/// in order. An entry that is not an address ends the walk at the hop that sent it.
fn client_of<'a>(
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'a str>,
    trusted: &TrustedProxies,
) -> IpAddr {
    let mut client = peer.to_canonical();
    if !trusted.contains(client) {
        return client;
    }
    let hops: Vec<&str> = forwarded.flat_map(|field| field.split(',')).collect();
    for hop in hops.iter().rev() {
        match parse_hop(hop.trim()) {
            Some(ip) => {
                client = ip;
                if !trusted.contains(ip) {
                    break;
                }
            }
            None => break,
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:4711`), as some proxies write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let ip = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))?;
    Some(ip.to_canonical())
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
    use super::{client_of, clip};
    use crate::config::TrustedProxies;

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let trusted: TrustedProxies = "10.0.0.0/8, fd00::/8".parse().unwrap();
        let from = |peer: &str, fields: &[&str]| {
            client_of(ip(peer), fields.iter().copied(), &trusted).to_string()
        };
        // An untrusted peer is the client, whatever it claims.
        assert_eq!(from("203.0.113.5", &["198.51.100.1"]), "203.0.113.5");
        // A trusted one: the right-most hop that is not a trusted proxy.
        assert_eq!(
            from("10.0.0.2", &["1.1.1.1, 198.51.100.1, 10.0.0.9"]),
            "198.51.100.1"
        );
        assert_eq!(
            from("10.0.0.2", &["1.1.1.1", "198.51.100.1"]),
            "198.51.100.1"
        );
        assert_eq!(
            from("::ffff:10.0.0.2", &["[2001:db8::7]:443"]),
            "2001:db8::7"
        );
        assert_eq!(from("fd00::1", &["198.51.100.1:5000"]), "198.51.100.1");
        // Only proxies: the left-most of them; no header: the peer.
        assert_eq!(from("10.0.0.2", &["10.0.0.3"]), "10.0.0.3");
        assert_eq!(from("10.0.0.2", &[]), "10.0.0.2");
        // Garbage ends the walk at the proxy that passed it on.
        assert_eq!(
            from("10.0.0.2", &["198.51.100.1, junk, 10.0.0.4"]),
            "10.0.0.4"
        );
        // No proxies configured: the header is never read.
        let none = TrustedProxies::default();
        assert_eq!(
            client_of(ip("10.0.0.2"), ["198.51.100.1"].into_iter(), &none).to_string(),
            "10.0.0.2"
        );
    }

    #[test]
    fn clip_cuts_long_text_on_a_character() {
        assert_eq!(clip("short", 100), "short");
        assert_eq!(clip(&"é".repeat(150), 100), format!("{}…", "é".repeat(100)));
        assert_eq!(clip(&"x".repeat(100), 100), "x".repeat(100));
    }
}

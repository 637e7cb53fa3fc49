//! Visitor routes of share links: info, token, listing, downloads. No account: a link's
//! password travels as `Authorization: Basic` or `X-Share-Password` (only to get a token, or
//! with any request), its token as `X-Share-Token` or `Authorization: Bearer`. Never in a URL.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ClientIp, Origin, PathParam, QueryParams};
use super::files::{conditions, deliver, ConditionalHeaders};
use super::AppState;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::services::schema::{FileBytes, HomePath};
use crate::services::{
    Delivery, ListQuery, Listing, PathQuery, ShareCredential, ShareInfo, ShareToken, SignedUrl,
};

const TOKEN_HEADER: &str = "x-share-token";
const PASSWORD_HEADER: &str = "x-share-password";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(info))
        .routes(routes!(token))
        .routes(routes!(list))
        .routes(routes!(download))
}

/// The credential a visitor sent: `X-Share-Token`, `X-Share-Password`, or `Authorization`
/// (`Bearer <token>` or `Basic base64(anything:password)`); none is [`ShareCredential::None`].
pub(crate) struct ShareCred(pub ShareCredential);

impl<S: Send + Sync> FromRequestParts<S> for ShareCred {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        credential(&parts.headers).map(Self)
    }
}

/// A header's value as UTF-8 (a password may be any text).
fn text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let value = headers.get(name)?;
    std::str::from_utf8(value.as_bytes()).ok()
}

fn credential(headers: &HeaderMap) -> AppResult<ShareCredential> {
    if let Some(token) = text(headers, TOKEN_HEADER) {
        return Ok(ShareCredential::Token(token.trim().to_owned()));
    }
    if let Some(password) = text(headers, PASSWORD_HEADER) {
        return Ok(ShareCredential::Password(password.to_owned()));
    }
    let Some(authorization) = text(headers, header::AUTHORIZATION.as_str()) else {
        return Ok(ShareCredential::None);
    };
    let (scheme, value) = authorization
        .trim()
        .split_once(' ')
        .unwrap_or((authorization, ""));
    let malformed = || {
        AppError::unauthorized(
            "invalid_share_password",
            "Use `Authorization: Basic base64(name:password)`, `Bearer <share token>`, or \
             `X-Share-Password`.",
        )
    };
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(ShareCredential::Token(value.trim().to_owned()));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed());
    }
    let decoded = STANDARD.decode(value.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    // RFC 7617: the user-id ends at the first colon; the password may hold more.
    let (_, password) = decoded.split_once(':').ok_or_else(malformed)?;
    Ok(ShareCredential::Password(password.to_owned()))
}

/// The headers a visitor route reads (documentation only: [`ShareCred`] reads them).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(super) struct ShareHeaders {
    /// A share token from `POST /api/s/{id}/token` (or send it as `Authorization: Bearer`).
    #[param(rename = "X-Share-Token")]
    token: Option<String>,
    /// The link's password (or send it as `Authorization: Basic`); throttled.
    #[param(rename = "X-Share-Password")]
    password: Option<String>,
}

/// The header the token route reads besides `Authorization: Basic` (documentation only).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
struct PasswordHeader {
    /// The link's password (or send it as `Authorization: Basic`); throttled.
    #[param(rename = "X-Share-Password")]
    password: Option<String>,
}

/// What a share link offers: its kind, expiry and whether it asks for a password; once
/// unlocked (no password, or a valid token or password sent) also the name and size. Never the
/// owner or the path above the shared item. Counts no use.
#[utoipa::path(get, path = "/api/s/{id}", tag = "shares",
    params(("id" = String, Path, description = "The share id"), ShareHeaders),
    responses((status = 200, body = ShareInfo),
              (status = 401, description = "`invalid_share_password`, `invalid_share_token`", body = ErrorBody),
              (status = 404, description = "`share_not_found`", body = ErrorBody),
              (status = 429, description = "`throttled`: too many wrong passwords or unknown links from this address", body = ErrorBody)))]
async fn info(
    State(core): State<AppState>,
    PathParam(id): PathParam<String>,
    ShareCred(cred): ShareCred,
    ClientIp(client): ClientIp,
) -> AppResult<Json<ShareInfo>> {
    Ok(Json(core.share_info(&id, &cred, client).await?))
}

/// A short-lived share token for a password-protected link, for the password sent as
/// `Authorization: Basic base64(anything:password)` or `X-Share-Password`. Send the token as
/// `X-Share-Token` or `Authorization: Bearer` with the other visitor routes.
#[utoipa::path(post, path = "/api/s/{id}/token", tag = "shares",
    params(("id" = String, Path, description = "The share id"), PasswordHeader),
    responses((status = 200, body = ShareToken),
              (status = 400, description = "`no_share_password`: the link has no password", body = ErrorBody),
              (status = 401, description = "`share_password_required`, `invalid_share_password`", body = ErrorBody),
              (status = 404, description = "`share_not_found`", body = ErrorBody)))]
async fn token(
    State(core): State<AppState>,
    PathParam(id): PathParam<String>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
) -> AppResult<Json<ShareToken>> {
    // Only a password is looked for here: a token sent along does not hide it.
    let password = match text(&headers, PASSWORD_HEADER) {
        Some(password) => Some(password.to_owned()),
        None => match credential(&headers)? {
            ShareCredential::Password(password) => Some(password),
            _ => None,
        },
    };
    Ok(Json(
        core.issue_share_token(&id, password.as_deref(), client)
            .await?,
    ))
}

/// A page of a shared folder (download shares), paths relative to the shared folder.
#[utoipa::path(get, path = "/api/s/{id}/list", tag = "shares",
    params(("id" = String, Path, description = "The share id"), ListQuery, ShareHeaders),
    responses((status = 200, body = Listing),
              (status = 400, description = "`invalid_path`, `invalid_cursor`, `not_a_directory`", body = ErrorBody),
              (status = 403, description = "`share_action_not_allowed`: an upload link", body = ErrorBody),
              (status = 404, description = "`share_not_found`, `not_found`", body = ErrorBody)))]
async fn list(
    State(core): State<AppState>,
    PathParam(id): PathParam<String>,
    ShareCred(cred): ShareCred,
    ClientIp(client): ClientIp,
    QueryParams(query): QueryParams<ListQuery>,
) -> AppResult<Json<Listing>> {
    Ok(Json(core.share_list(&id, &cred, client, query).await?))
}

/// A visitor's download: which file, and how it is handed over.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ShareDownloadQuery {
    /// A file inside the shared folder, relative to it (folder links only; a file link takes
    /// none).
    #[param(value_type = Option<HomePath>, inline)]
    path: Option<String>,
    /// `false`: answer 200 `{url, expires_at}` (a short-lived URL serving the file as an
    /// attachment to whoever holds it: presigned by S3 on AWS, signed by this service
    /// locally) instead of redirecting or sending the bytes. For browsers, which cannot send
    /// `X-Share-Token` on a plain link. Counts a use as the 302 does. A URL signed locally
    /// names neither the owner nor the link (its claims are encrypted) and stops serving once
    /// the link is deleted, expires or gets a new password.
    redirect: Option<bool>,
}

/// Download the shared file, or (`path`) a file in the shared folder, always as an
/// attachment: on AWS a 302 to a short-lived presigned URL, on the embedded backend the bytes
/// (with `Range`, `If-Range`, `If-None-Match`); with `redirect=false` 200 `{url, expires_at}`
/// on every backend. Each download from the first byte counts a use of the link, and so does
/// each URL handed out (its ranges within its lifetime are that use); a resume (`Range` from a
/// later byte) of a version whose download started from the same address within
/// `VERTEX_TRANSFER_URL_TTL_SECS` does not (any other counts as one).
#[utoipa::path(get, path = "/api/s/{id}/download", tag = "shares",
    params(("id" = String, Path, description = "The share id"), ShareDownloadQuery, ShareHeaders, ConditionalHeaders),
    responses((status = 200, description = "The file, or `{url, expires_at}` with redirect=false",
               content((SignedUrl = "application/json"), (FileBytes = "*/*"))),
              (status = 206, description = "A range of the file"),
              (status = 302, description = "To a presigned URL"),
              (status = 304, description = "`If-None-Match` names the current version: no body"),
              (status = 400, description = "`invalid_path`, `is_a_directory`", body = ErrorBody),
              (status = 401, description = "`share_password_required`, `invalid_share_password`, `invalid_share_token`", body = ErrorBody),
              (status = 403, description = "`share_action_not_allowed`: an upload link", body = ErrorBody),
              (status = 404, description = "`share_not_found`, `not_found`", body = ErrorBody),
              (status = 410, description = "`share_expired`: expired or used up", body = ErrorBody),
              (status = 416, body = ErrorBody)))]
async fn download(
    method: Method,
    State(core): State<AppState>,
    PathParam(id): PathParam<String>,
    ClientIp(client): ClientIp,
    Origin(origin): Origin,
    QueryParams(query): QueryParams<ShareDownloadQuery>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let cred = credential(&headers)?;
    let head = method == Method::HEAD;
    let redirect = query.redirect.unwrap_or(true);
    let query = PathQuery { path: query.path };
    let delivery = core
        .share_download(
            &id,
            &cred,
            client,
            query,
            redirect,
            head,
            conditions(&headers),
            &origin,
        )
        .await?;
    // A HEAD counts no use, so it must not carry a URL that serves the file.
    if head && matches!(delivery, Delivery::Redirect(_) | Delivery::Link(_)) {
        return Ok(StatusCode::OK.into_response());
    }
    Ok(deliver(delivery))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> AppResult<ShareCredential> {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        credential(&headers)
    }

    #[test]
    fn credentials_come_from_headers() {
        use ShareCredential::*;
        assert_eq!(with(&[]).unwrap(), None);
        assert_eq!(
            with(&[("x-share-token", "t1")]).unwrap(),
            Token("t1".into())
        );
        assert_eq!(
            with(&[("authorization", "Bearer t2")]).unwrap(),
            Token("t2".into())
        );
        assert_eq!(
            with(&[("x-share-password", "p w")]).unwrap(),
            Password("p w".into())
        );
        let basic = format!("Basic {}", STANDARD.encode("any:pa:ss"));
        assert_eq!(
            with(&[("authorization", &basic)]).unwrap(),
            Password("pa:ss".into())
        );
        assert!(with(&[("authorization", "Basic !!")]).is_err());
        assert!(with(&[("authorization", "Digest x")]).is_err());
    }
}

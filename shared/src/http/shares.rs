//! The owner's routes of the `shares` endpoint group: thin handlers over [`Core`](crate::Core).
//! The visitors' routes are in [`super::share_links`] and [`super::share_uploads`].

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Auth, JsonBody, Origin, PathParam, QueryParams};
use super::AppState;
use crate::error::{AppResult, ErrorBody};
use crate::services::{NewShareInput, SharePage, ShareQuery, ShareUpdate, ShareView};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_share, list_shares))
        .routes(routes!(get_share, update_share, delete_share))
}

/// Create a link to a file or folder of the caller's home: `download` links let anyone holding
/// them read it, `upload` links let them add files to a folder. The link's `url` is what to hand
/// out; it works until it expires, is used up, deleted, or its item is deleted or moved.
#[utoipa::path(post, path = "/api/shares", tag = "shares", security(("bearer" = [])),
    request_body = NewShareInput,
    responses((status = 201, description = "The link; `Location` names it", body = ShareView,
               headers(("Location" = String, description = "`/api/shares/{id}`"))),
              (status = 400, description = "Field errors, `invalid_path` (incl. the home itself), `not_a_directory` (an upload link to a file)", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 404, description = "`not_found`: no such file or folder", body = ErrorBody),
              (status = 409, description = "`share_limit_reached`: as many links as a user may hold (dead ones are removed first)", body = ErrorBody)))]
async fn create_share(
    State(core): State<AppState>,
    Auth(me): Auth,
    Origin(origin): Origin,
    JsonBody(input): JsonBody<NewShareInput>,
) -> AppResult<Response> {
    let share = core.create_share(&me, input, &origin).await?;
    let location = format!("/api/shares/{}", share.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(share),
    )
        .into_response())
}

/// The caller's links, a page at a time, in id order.
#[utoipa::path(get, path = "/api/shares", tag = "shares", security(("bearer" = [])),
    params(ShareQuery),
    responses((status = 200, body = SharePage),
              (status = 400, description = "`invalid_cursor`, field errors", body = ErrorBody),
              (status = 401, body = ErrorBody)))]
async fn list_shares(
    State(core): State<AppState>,
    Auth(me): Auth,
    Origin(origin): Origin,
    QueryParams(query): QueryParams<ShareQuery>,
) -> AppResult<Json<SharePage>> {
    Ok(Json(core.list_shares(&me, query, &origin).await?))
}

/// One of the caller's links.
#[utoipa::path(get, path = "/api/shares/{id}", tag = "shares", security(("bearer" = [])),
    params(("id" = String, Path, description = "The link's id")),
    responses((status = 200, body = ShareView), (status = 401, body = ErrorBody),
              (status = 404, description = "`share_not_found`: the caller has no such link", body = ErrorBody)))]
async fn get_share(
    State(core): State<AppState>,
    Auth(me): Auth,
    Origin(origin): Origin,
    PathParam(id): PathParam<String>,
) -> AppResult<Json<ShareView>> {
    Ok(Json(core.get_share(&me, &id, &origin).await?))
}

/// Change a link's password, expiry, use limit or note. A new or removed password ends every
/// token issued for the old one; the expiry never passes the link's creation plus the maximum.
#[utoipa::path(patch, path = "/api/shares/{id}", tag = "shares", security(("bearer" = [])),
    params(("id" = String, Path, description = "The link's id")),
    request_body = ShareUpdate,
    responses((status = 200, body = ShareView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 404, description = "`share_not_found`: the caller has no such link", body = ErrorBody),
              (status = 409, description = "`concurrent_update`: the link's password changed twice while this request ran; try again", body = ErrorBody)))]
async fn update_share(
    State(core): State<AppState>,
    Auth(me): Auth,
    Origin(origin): Origin,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<ShareUpdate>,
) -> AppResult<Json<ShareView>> {
    Ok(Json(core.update_share(&me, &id, input, &origin).await?))
}

/// Delete a link: its visitors get 404 from their next request on.
#[utoipa::path(delete, path = "/api/shares/{id}", tag = "shares", security(("bearer" = [])),
    params(("id" = String, Path, description = "The link's id")),
    responses((status = 204), (status = 401, body = ErrorBody),
              (status = 404, description = "`share_not_found`: the caller has no such link", body = ErrorBody)))]
async fn delete_share(
    State(core): State<AppState>,
    Auth(me): Auth,
    PathParam(id): PathParam<String>,
) -> AppResult<StatusCode> {
    core.delete_share(&me, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! The `users` endpoint group (managers and superusers): thin handlers over [`Core`](crate::Core).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Auth, JsonBody, Origin, PathParam, QueryParams};
use super::AppState;
use crate::domain::UserView;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::services::{
    ApiKeyView, NewUserInput, PasswordReset, ResetPasswordInput, SharePage, ShareQuery, UserDetail,
    UserPage, UserQuery, UserUpdate,
};

/// What the writes of users administration answer when refused.
const FORBIDDEN_WRITE: &str = "`permission_denied` (role rules), `api_key_not_allowed` (an API \
    key cannot change accounts)";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(list_users_seed_path))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(reset_password))
        .routes(routes!(list_keys))
        .routes(routes!(delete_key))
        .routes(routes!(list_user_shares))
        .routes(routes!(delete_user_share))
}

/// Every user, a page at a time, in username order; `search` finds text in username, email and
/// names.
#[utoipa::path(get, path = "/api/users", tag = "users", security(("bearer" = [])),
    params(UserQuery),
    responses((status = 200, body = UserPage),
              (status = 400, description = "`invalid_cursor`, field errors", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = "Not a manager or superuser", body = ErrorBody)))]
async fn list_users(
    State(core): State<AppState>,
    Auth(me): Auth,
    QueryParams(query): QueryParams<UserQuery>,
) -> AppResult<Json<UserPage>> {
    Ok(Json(core.list_users(&me, query).await?))
}

/// The user list at the path older clients call: the same as `GET /api/users`.
#[utoipa::path(get, path = "/api/auth/users", tag = "users", security(("bearer" = [])),
    params(UserQuery),
    responses((status = 200, body = UserPage), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_users_seed_path(
    state: State<AppState>,
    auth: Auth,
    query: QueryParams<UserQuery>,
) -> AppResult<Json<UserPage>> {
    list_users(state, auth, query).await
}

/// Create a user. Managers create users of role `user` only.
#[utoipa::path(post, path = "/api/users", tag = "users", security(("bearer" = [])),
    request_body = NewUserInput,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = FORBIDDEN_WRITE, body = ErrorBody),
              (status = 409, description = "`username_taken` or `email_taken`", body = ErrorBody)))]
async fn create_user(
    State(core): State<AppState>,
    Auth(me): Auth,
    body: Result<JsonBody<NewUserInput>, AppError>,
) -> AppResult<(StatusCode, Json<UserView>)> {
    let input = body.map(|JsonBody(input)| input);
    let user = core.admin_create_user(&me, input).await?;
    Ok((StatusCode::CREATED, Json(user.view())))
}

/// One user with storage usage.
#[utoipa::path(get, path = "/api/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 200, body = UserDetail), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_user(
    State(core): State<AppState>,
    Auth(me): Auth,
    PathParam(id): PathParam<String>,
) -> AppResult<Json<UserDetail>> {
    Ok(Json(core.admin_get_user(&me, &id).await?))
}

/// Change role, active flag, quota, names or email. Takes effect on the user's next request;
/// disabling a user also ends their sessions.
#[utoipa::path(patch, path = "/api/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id")),
    request_body = UserUpdate,
    responses((status = 200, body = UserDetail), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = FORBIDDEN_WRITE, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, description = "`last_superuser`, `email_taken`, `concurrent_update`", body = ErrorBody)))]
async fn update_user(
    State(core): State<AppState>,
    Auth(me): Auth,
    PathParam(id): PathParam<String>,
    body: Result<JsonBody<UserUpdate>, AppError>,
) -> AppResult<Json<UserDetail>> {
    let input = body.map(|JsonBody(input)| input);
    Ok(Json(UserDetail::of(
        &core.admin_update_user(&me, &id, input).await?,
    )))
}

/// Delete a user with their sessions, API keys, usage, archives and files. If storage fails
/// midway the answer is 503 and the user stays, disabled: repeat the request to finish.
#[utoipa::path(delete, path = "/api/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 204), (status = 401, body = ErrorBody),
              (status = 403, description = FORBIDDEN_WRITE, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, description = "`last_superuser`", body = ErrorBody),
              (status = 503, description = "Not every file could be deleted yet", body = ErrorBody)))]
async fn delete_user(
    State(core): State<AppState>,
    Auth(me): Auth,
    PathParam(id): PathParam<String>,
) -> AppResult<StatusCode> {
    core.admin_delete_user(&me, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Set a new password for the user; every session of theirs ends and every API key of theirs
/// is revoked.
#[utoipa::path(post, path = "/api/users/{id}/reset-password", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id")),
    request_body = ResetPasswordInput,
    responses((status = 200, body = PasswordReset), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = FORBIDDEN_WRITE, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn reset_password(
    State(core): State<AppState>,
    Auth(me): Auth,
    PathParam(id): PathParam<String>,
    body: Result<JsonBody<ResetPasswordInput>, AppError>,
) -> AppResult<Json<PasswordReset>> {
    let input = body.map(|JsonBody(input)| input);
    Ok(Json(core.admin_reset_password(&me, &id, input).await?))
}

/// The user's API keys, as the user sees them (never the secrets).
#[utoipa::path(get, path = "/api/users/{id}/keys", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 200, body = Vec<ApiKeyView>), (status = 401, body = ErrorBody),
              (status = 403, description = "`permission_denied`", body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn list_keys(
    State(core): State<AppState>,
    Auth(me): Auth,
    PathParam(id): PathParam<String>,
) -> AppResult<Json<Vec<ApiKeyView>>> {
    Ok(Json(core.admin_list_keys(&me, &id).await?))
}

/// Revoke one API key of the user: it stops working on its next request.
#[utoipa::path(delete, path = "/api/users/{id}/keys/{key_id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id"),
           ("key_id" = String, Path, description = "The key's id")),
    responses((status = 204), (status = 401, body = ErrorBody),
              (status = 403, description = FORBIDDEN_WRITE, body = ErrorBody),
              (status = 404, description = "No such user, or no such key of theirs", body = ErrorBody)))]
async fn delete_key(
    State(core): State<AppState>,
    Auth(me): Auth,
    PathParam((id, key_id)): PathParam<(String, String)>,
) -> AppResult<StatusCode> {
    core.admin_delete_key(&me, &id, &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The user's share links, as the user sees them.
#[utoipa::path(get, path = "/api/users/{id}/shares", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id"), ShareQuery),
    responses((status = 200, body = SharePage),
              (status = 400, description = "`invalid_cursor`, field errors", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = "`permission_denied`", body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn list_user_shares(
    State(core): State<AppState>,
    Auth(me): Auth,
    Origin(origin): Origin,
    PathParam(id): PathParam<String>,
    QueryParams(query): QueryParams<ShareQuery>,
) -> AppResult<Json<SharePage>> {
    Ok(Json(
        core.admin_list_shares(&me, &id, query, &origin).await?,
    ))
}

/// Revoke one share link of the user: its visitors get 404 from their next request on.
#[utoipa::path(delete, path = "/api/users/{id}/shares/{share_id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id"),
           ("share_id" = String, Path, description = "The link's id")),
    responses((status = 204), (status = 401, body = ErrorBody),
              (status = 403, description = "`permission_denied` (role rules), `api_key_not_allowed` (an API key cannot revoke links of others)", body = ErrorBody),
              (status = 404, description = "No such user (`no_such_user`), or no such link of theirs (`share_not_found`)", body = ErrorBody)))]
async fn delete_user_share(
    State(core): State<AppState>,
    Auth(me): Auth,
    PathParam((id, share_id)): PathParam<(String, String)>,
) -> AppResult<StatusCode> {
    core.admin_delete_share(&me, &id, &share_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

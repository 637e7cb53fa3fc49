//! The `users` endpoint group (managers and superusers): thin handlers over [`Core`](crate::Core).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Auth, JsonBody, PathParam, QueryParams};
use super::{AppState, Message};
use crate::domain::UserView;
use crate::error::{AppResult, ErrorBody};
use crate::services::{
    NewUserInput, ResetPasswordInput, UserDetail, UserPage, UserQuery, UserUpdate,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(list_users_seed_path))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(reset_password))
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
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, description = "`username_taken` or `email_taken`", body = ErrorBody)))]
async fn create_user(
    State(core): State<AppState>,
    Auth(me): Auth,
    JsonBody(input): JsonBody<NewUserInput>,
) -> AppResult<(StatusCode, Json<UserView>)> {
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
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, description = "`last_superuser`, `email_taken`, `concurrent_update`", body = ErrorBody)))]
async fn update_user(
    State(core): State<AppState>,
    Auth(me): Auth,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<UserUpdate>,
) -> AppResult<Json<UserDetail>> {
    Ok(Json(UserDetail::of(
        &core.admin_update_user(&me, &id, input).await?,
    )))
}

/// Delete a user with their sessions, API keys, usage, archives and files. If storage fails
/// midway the answer is 503 and the user stays, disabled: repeat the request to finish.
#[utoipa::path(delete, path = "/api/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
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

/// Set a new password for the user; every session of theirs ends.
#[utoipa::path(post, path = "/api/users/{id}/reset-password", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id")),
    request_body = ResetPasswordInput,
    responses((status = 200, body = Message), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn reset_password(
    State(core): State<AppState>,
    Auth(me): Auth,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<ResetPasswordInput>,
) -> AppResult<Json<Message>> {
    core.admin_reset_password(&me, &id, &input.new_password()?)
        .await?;
    Ok(Message::json(
        "Password reset; the user's sessions have ended",
    ))
}

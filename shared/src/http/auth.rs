//! The `auth` endpoint group: thin handlers over [`Core`](crate::Core).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Auth, ClientIp, JsonBody, PathParam};
use super::{AppState, Message};
use crate::domain::UserView;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::services::{
    ApiKeyCreated, ApiKeyView, ChangePasswordInput, CreateKeyInput, DeleteAccountInput, LoginInput,
    LoginOutput, LogoutInput, PasswordChanged, ProfileUpdate, RefreshInput, RegisterInput,
    TokenPair, UserDetail,
};

/// What the operations that change an account answer to an API key.
pub(super) const API_KEY_NOT_ALLOWED: &str =
    "`api_key_not_allowed`: an API key cannot change the account; sign in with a password";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(profile, put_profile, patch_profile))
        .routes(routes!(change_password))
        .routes(routes!(user_info))
        .routes(routes!(delete_account))
        .routes(routes!(create_key, list_keys))
        .routes(routes!(delete_key))
}

/// Register a new account (role `user`).
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = RegisterInput,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody),
              (status = 403, description = "`registration_closed`: only administrators create accounts", body = ErrorBody),
              (status = 409, description = "`username_taken` or `email_taken`", body = ErrorBody)))]
async fn register(
    State(core): State<AppState>,
    JsonBody(input): JsonBody<RegisterInput>,
) -> AppResult<(StatusCode, Json<UserView>)> {
    let user = core.register_self(input).await?;
    Ok((StatusCode::CREATED, Json(user.view())))
}

/// Log in with username (or email) and password.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginInput,
    responses((status = 200, body = LoginOutput), (status = 400, body = ErrorBody),
              (status = 401, description = "`invalid_credentials`", body = ErrorBody),
              (status = 403, description = "`account_disabled`", body = ErrorBody),
              (status = 429, description = "`throttled`: too many attempts for this login from this address, or from this address; see `Retry-After`", body = ErrorBody),
              (status = 503, description = "`busy`: every password hasher is busy; see `Retry-After`", body = ErrorBody)))]
async fn login(
    State(core): State<AppState>,
    ClientIp(client): ClientIp,
    JsonBody(input): JsonBody<LoginInput>,
) -> AppResult<Json<LoginOutput>> {
    Ok(Json(core.login(input.parse()?, client).await?))
}

/// Exchange a refresh token for a new pair; the old refresh token stops working. Presenting a
/// token that was already rotated ends the whole session (`token_reused`).
#[utoipa::path(post, path = "/api/auth/token/refresh", tag = "auth", request_body = RefreshInput,
    responses((status = 200, body = TokenPair), (status = 400, body = ErrorBody),
              (status = 401, description = "`invalid_token` or `token_reused`", body = ErrorBody)))]
async fn refresh(
    State(core): State<AppState>,
    JsonBody(input): JsonBody<RefreshInput>,
) -> AppResult<Json<TokenPair>> {
    Ok(Json(core.refresh(&input.token()?).await?))
}

/// End the session of this refresh token; its access tokens stop working at once.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", request_body = LogoutInput,
    responses((status = 200, body = Message), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody)))]
async fn logout(
    State(core): State<AppState>,
    JsonBody(input): JsonBody<LogoutInput>,
) -> AppResult<Json<Message>> {
    core.logout(&input.token()?).await?;
    Ok(Message::json("Logged out successfully"))
}

/// End every session of the caller.
#[utoipa::path(post, path = "/api/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody),
              (status = 403, description = API_KEY_NOT_ALLOWED, body = ErrorBody)))]
async fn logout_all(State(core): State<AppState>, Auth(me): Auth) -> AppResult<Json<Message>> {
    core.logout_all(&me).await?;
    Ok(Message::json("Logged out of every session"))
}

/// The caller's user object.
#[utoipa::path(get, path = "/api/auth/profile", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)))]
async fn profile(Auth(me): Auth) -> Json<UserView> {
    Json(me.user.view())
}

/// Change names or email (username and role cannot be changed here). With an API key only the
/// names: a key cannot change the email.
#[utoipa::path(put, path = "/api/auth/profile", tag = "auth", security(("bearer" = [])),
    request_body = ProfileUpdate,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = API_KEY_NOT_ALLOWED, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
async fn put_profile(
    State(core): State<AppState>,
    Auth(me): Auth,
    JsonBody(input): JsonBody<ProfileUpdate>,
) -> AppResult<Json<UserView>> {
    Ok(Json(core.update_profile(&me, input).await?.view()))
}

/// Same as PUT: every field is optional.
#[utoipa::path(patch, path = "/api/auth/profile", tag = "auth", security(("bearer" = [])),
    request_body = ProfileUpdate,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = API_KEY_NOT_ALLOWED, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
async fn patch_profile(
    state: State<AppState>,
    auth: Auth,
    body: JsonBody<ProfileUpdate>,
) -> AppResult<Json<UserView>> {
    put_profile(state, auth, body).await
}

/// Change the password; every other session ends, and with `revoke_api_keys` every API key.
#[utoipa::path(post, path = "/api/auth/change-password", tag = "auth", security(("bearer" = [])),
    request_body = ChangePasswordInput,
    responses((status = 200, body = PasswordChanged), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = API_KEY_NOT_ALLOWED, body = ErrorBody),
              (status = 429, description = "`throttled`: too many password attempts from this address; see `Retry-After`", body = ErrorBody),
              (status = 503, description = "`busy`: every password hasher is busy; see `Retry-After`", body = ErrorBody)))]
async fn change_password(
    State(core): State<AppState>,
    ClientIp(client): ClientIp,
    Auth(me): Auth,
    body: Result<JsonBody<ChangePasswordInput>, AppError>,
) -> AppResult<Json<PasswordChanged>> {
    let input = body.map(|JsonBody(input)| input);
    Ok(Json(core.change_password(&me, input, client).await?))
}

/// The caller's user object with storage usage.
#[utoipa::path(get, path = "/api/auth/user-info", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserDetail), (status = 401, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn user_info(State(core): State<AppState>, Auth(me): Auth) -> AppResult<Json<UserDetail>> {
    Ok(Json(core.user_detail(me.user).await?))
}

/// Delete the caller's account with its sessions, keys and files.
#[utoipa::path(post, path = "/api/auth/delete-account", tag = "auth", security(("bearer" = [])),
    request_body = DeleteAccountInput,
    responses((status = 200, body = Message), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = API_KEY_NOT_ALLOWED, body = ErrorBody),
              (status = 409, description = "`last_superuser`: the last active superuser cannot leave", body = ErrorBody),
              (status = 429, description = "`throttled`: too many password attempts from this address; see `Retry-After`", body = ErrorBody),
              (status = 503, description = "`busy`: every password hasher is busy; see `Retry-After`", body = ErrorBody)))]
async fn delete_account(
    State(core): State<AppState>,
    ClientIp(client): ClientIp,
    Auth(me): Auth,
    body: Result<JsonBody<DeleteAccountInput>, AppError>,
) -> AppResult<Json<Message>> {
    let input = body.map(|JsonBody(input)| input);
    core.delete_account(&me, input, client).await?;
    Ok(Message::json("Account deleted"))
}

/// Create an API key for scripts. `key` is shown only in this response.
#[utoipa::path(post, path = "/api/auth/keys", tag = "auth", security(("bearer" = [])),
    request_body = CreateKeyInput,
    responses((status = 201, body = ApiKeyCreated), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = API_KEY_NOT_ALLOWED, body = ErrorBody)))]
async fn create_key(
    State(core): State<AppState>,
    Auth(me): Auth,
    body: Result<JsonBody<CreateKeyInput>, AppError>,
) -> AppResult<(StatusCode, Json<ApiKeyCreated>)> {
    let input = body.map(|JsonBody(input)| input);
    Ok((
        StatusCode::CREATED,
        Json(core.create_api_key(&me, input).await?),
    ))
}

/// The caller's API keys (never their secrets).
#[utoipa::path(get, path = "/api/auth/keys", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Vec<ApiKeyView>), (status = 401, body = ErrorBody)))]
async fn list_keys(
    State(core): State<AppState>,
    Auth(me): Auth,
) -> AppResult<Json<Vec<ApiKeyView>>> {
    Ok(Json(core.list_api_keys(&me).await?))
}

/// Revoke an API key.
#[utoipa::path(delete, path = "/api/auth/keys/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 204), (status = 401, body = ErrorBody),
              (status = 403, description = API_KEY_NOT_ALLOWED, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn delete_key(
    State(core): State<AppState>,
    Auth(me): Auth,
    PathParam(id): PathParam<String>,
) -> AppResult<StatusCode> {
    core.delete_api_key(&me, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

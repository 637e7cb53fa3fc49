//! The `files` endpoint group: thin handlers over [`Core`](crate::Core).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Auth, JsonBody, QueryParams};
use super::{AppState, Message};
use crate::error::{AppResult, ErrorBody};
use crate::services::{
    CreateFolderInput, DeleteInput, FileItem, FolderCreated, ListQuery, Listing, PathQuery,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(stat))
        .routes(routes!(create_folder))
        .routes(routes!(delete))
}

/// List a folder of the caller's home, a page at a time.
#[utoipa::path(get, path = "/api/files/list", tag = "files", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, body = Listing),
              (status = 400, description = "`invalid_path`, `invalid_cursor`, `not_a_directory`", body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list(
    State(core): State<AppState>,
    Auth(me): Auth,
    QueryParams(query): QueryParams<ListQuery>,
) -> AppResult<Json<Listing>> {
    Ok(Json(core.list_files(&me, query).await?))
}

/// One file or folder.
#[utoipa::path(get, path = "/api/files/stat", tag = "files", security(("bearer" = [])),
    params(PathQuery),
    responses((status = 200, body = FileItem), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn stat(
    State(core): State<AppState>,
    Auth(me): Auth,
    QueryParams(query): QueryParams<PathQuery>,
) -> AppResult<Json<FileItem>> {
    Ok(Json(core.stat(&me, query).await?))
}

/// Create a folder in an existing folder.
#[utoipa::path(post, path = "/api/files/create-folder", tag = "files", security(("bearer" = [])),
    request_body = CreateFolderInput,
    responses((status = 201, body = FolderCreated), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "`already_exists`", body = ErrorBody)))]
async fn create_folder(
    State(core): State<AppState>,
    Auth(me): Auth,
    JsonBody(input): JsonBody<CreateFolderInput>,
) -> AppResult<(StatusCode, Json<FolderCreated>)> {
    Ok((
        StatusCode::CREATED,
        Json(core.create_folder(&me, input).await?),
    ))
}

/// Delete a file, or a folder with everything in it.
#[utoipa::path(post, path = "/api/files/delete", tag = "files", security(("bearer" = [])),
    request_body = DeleteInput,
    responses((status = 200, body = Message), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete(
    State(core): State<AppState>,
    Auth(me): Auth,
    JsonBody(input): JsonBody<DeleteInput>,
) -> AppResult<Json<Message>> {
    Ok(Message::json(core.delete_path(&me, input).await?))
}

//! The `files` endpoint group: thin handlers over [`Core`](crate::Core).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::TryStreamExt;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Auth, JsonBody, Origin, PathParam, QueryParams};
use super::{upload, AppState, Message};
use crate::error::{AppResult, ErrorBody};
use crate::objects::PartInfo;
use crate::services::schema::FileBytes;
use crate::services::{
    CompleteUploadInput, Conditions, CreateFolderInput, DeleteInput, Delivery, DirectUpload,
    DownloadQuery, FileItem, FolderCreated, JobView, ListQuery, Listing, MoveInput, Moved,
    NewUploadInput, PathQuery, Relocated, RenameInput, SignedUrl,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(stat))
        .routes(routes!(upload::upload))
        .routes(routes!(start_upload))
        .routes(routes!(upload_status, abort_upload))
        .routes(routes!(complete_upload))
        .routes(routes!(transfer_get, transfer_put))
        .routes(routes!(download))
        .routes(routes!(create_folder))
        .routes(routes!(delete))
        .routes(routes!(rename))
        .routes(routes!(move_item))
        .routes(routes!(copy_item))
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

/// One file or folder. While a running job copies, moves, renames or deletes it (or puts a
/// folder at this path), `job` names that job; its target folder is shown from the start.
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

/// Start a direct upload: the bytes go straight to storage, in parts.
///
/// `PUT` each part's exact bytes to its `url` (no `Authorization` header) and keep the `ETag`
/// header of each answer; then `POST .../complete` with every `{part_number, etag}`. Files up
/// to 16 MiB are one part. Resume with `GET /api/files/uploads/{upload_id}`.
#[utoipa::path(post, path = "/api/files/uploads", tag = "files", security(("bearer" = [])),
    request_body = NewUploadInput,
    responses((status = 201, body = DirectUpload),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 409, description = "`already_exists`; `job_running`: a job works on the path (`details.job_id`)", body = ErrorBody),
              (status = 413, description = "`quota_exceeded`, `file_limit_exceeded`, `too_large`", body = ErrorBody)))]
async fn start_upload(
    State(core): State<AppState>,
    Auth(me): Auth,
    Origin(origin): Origin,
    JsonBody(input): JsonBody<NewUploadInput>,
) -> AppResult<(StatusCode, Json<DirectUpload>)> {
    let upload = core.start_upload(&me, input.parse()?, &origin).await?;
    Ok((StatusCode::CREATED, Json(upload)))
}

/// A direct upload's parts received so far, and fresh URLs for the others.
#[utoipa::path(get, path = "/api/files/uploads/{upload_id}", tag = "files",
    security(("bearer" = [])), params(("upload_id" = String, Path)),
    responses((status = 200, body = DirectUpload), (status = 401, body = ErrorBody),
              (status = 404, description = "`upload_not_found`", body = ErrorBody)))]
async fn upload_status(
    State(core): State<AppState>,
    Auth(me): Auth,
    Origin(origin): Origin,
    PathParam(upload_id): PathParam<String>,
) -> AppResult<Json<DirectUpload>> {
    Ok(Json(core.upload_status(&me, &upload_id, &origin).await?))
}

/// Finish a direct upload: the file appears, replacing any (with `overwrite`).
#[utoipa::path(post, path = "/api/files/uploads/{upload_id}/complete", tag = "files",
    security(("bearer" = [])), params(("upload_id" = String, Path)),
    request_body = CompleteUploadInput,
    responses((status = 201, body = FileItem),
              (status = 400, description = "`incomplete_upload`, `invalid_parts`", body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody),
              (status = 413, description = "`quota_exceeded`, `file_limit_exceeded`", body = ErrorBody)))]
async fn complete_upload(
    State(core): State<AppState>,
    Auth(me): Auth,
    PathParam(upload_id): PathParam<String>,
    JsonBody(input): JsonBody<CompleteUploadInput>,
) -> AppResult<(StatusCode, Json<FileItem>)> {
    let item = core.complete_direct_upload(&me, &upload_id, input).await?;
    Ok((StatusCode::CREATED, Json(item)))
}

/// Abort a direct upload; the parts sent are discarded.
#[utoipa::path(delete, path = "/api/files/uploads/{upload_id}", tag = "files",
    security(("bearer" = [])), params(("upload_id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn abort_upload(
    State(core): State<AppState>,
    Auth(me): Auth,
    PathParam(upload_id): PathParam<String>,
) -> AppResult<StatusCode> {
    core.abort_direct_upload(&me, &upload_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The bytes behind a download URL this server signed (embedded backend; no other
/// credentials needed). `Range` (with `If-Range`) and `If-None-Match` are supported. The URL
/// names one version of the file: once the file is deleted or replaced by other bytes it
/// answers 404.
#[utoipa::path(get, path = "/api/files/transfer/{ticket}", tag = "files",
    params(("ticket" = String, Path), ConditionalHeaders),
    responses((status = 200, description = "The file"), (status = 206, description = "A range of it"),
              (status = 304, description = "`If-None-Match` names the current version: no body"),
              (status = 403, description = "`invalid_signature`, `url_expired`", body = ErrorBody),
              (status = 404, description = "`not_found`: no such file, or not the version the URL was signed for", body = ErrorBody),
              (status = 416, body = ErrorBody)))]
async fn transfer_get(
    State(core): State<AppState>,
    PathParam(ticket): PathParam<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let delivery = core.transfer_get(&ticket, conditions(&headers)).await?;
    Ok(deliver(delivery))
}

/// Receive one part of a direct upload at a URL this server signed (embedded backend): exactly
/// the part's size, answered with its `ETag`.
#[utoipa::path(put, path = "/api/files/transfer/{ticket}", tag = "files",
    params(("ticket" = String, Path)),
    request_body(content_type = "application/octet-stream"),
    responses((status = 200, description = "Stored; the `ETag` header names the part"),
              (status = 400, description = "`invalid_upload`: wrong size or ended upload", body = ErrorBody),
              (status = 403, description = "`invalid_signature`, `url_expired`", body = ErrorBody),
              (status = 413, body = ErrorBody)))]
async fn transfer_put(
    State(core): State<AppState>,
    PathParam(ticket): PathParam<String>,
    request: Request,
) -> AppResult<Response> {
    let body = request
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    let part: PartInfo = core.receive_part(&ticket, Box::pin(body)).await?;
    let mut response = Json(serde_json::json!({
        "part_number": part.part_number,
        "size": part.size,
        "etag": part.etag,
    }))
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&part.etag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    Ok(response)
}

/// Download a file: on AWS a 302 to a short-lived presigned S3 URL (S3 answers the conditional
/// headers there); on the embedded backend the bytes (with `Range`, `If-Range` and
/// `If-None-Match`). `redirect=false` answers `{url, expires_at}` instead.
#[utoipa::path(get, path = "/api/files/download", tag = "files", security(("bearer" = [])),
    params(DownloadQuery, ConditionalHeaders),
    responses((status = 200, description = "The file (its own media type), or `{url, expires_at}` with redirect=false",
               content((SignedUrl = "application/json"), (FileBytes = "*/*"))),
              (status = 206, description = "A range of the file"),
              (status = 304, description = "`If-None-Match` names the current version: no body"),
              (status = 302, description = "To a presigned URL"),
              (status = 400, description = "`invalid_path`, `is_a_directory`", body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 416, body = ErrorBody)))]
async fn download(
    State(core): State<AppState>,
    Auth(me): Auth,
    Origin(origin): Origin,
    QueryParams(query): QueryParams<DownloadQuery>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let delivery = core
        .download(&me, query, conditions(&headers), &origin)
        .await?;
    Ok(deliver(delivery))
}

/// The request headers a download honours (RFC 9110 §13.1.2, §13.1.5, §14.2).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // documentation only: `conditions` reads the headers
pub(super) struct ConditionalHeaders {
    /// `bytes=first-last`, `bytes=first-` or `bytes=-suffix`: 206 with that range (one range;
    /// several are answered with the whole file).
    #[param(rename = "Range")]
    range: Option<String>,
    /// An `ETag` or `Last-Modified` value: the `Range` is served only if the file is still that
    /// version; otherwise the whole file, with 200.
    #[param(rename = "If-Range")]
    if_range: Option<String>,
    /// `ETag`s the client holds (or `*`): 304 without a body if one is the current version.
    #[param(rename = "If-None-Match")]
    if_none_match: Option<String>,
}

pub(super) fn conditions(headers: &HeaderMap) -> Conditions<'_> {
    let get = |name| headers.get(name).and_then(|v| v.to_str().ok());
    Conditions {
        range: get(header::RANGE),
        if_range: get(header::IF_RANGE),
        if_none_match: get(header::IF_NONE_MATCH),
    }
}

pub(super) fn deliver(delivery: Delivery) -> Response {
    match delivery {
        Delivery::Redirect(signed) => super::found(signed.url),
        Delivery::Link(signed) => Json(signed).into_response(),
        Delivery::NotModified { etag } => {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            let headers = response.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&etag) {
                headers.insert(header::ETAG, v);
            }
            // The same caching rule as the 200 it stands for (RFC 9110 §15.4.5).
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-cache"),
            );
            response
        }
        Delivery::Bytes {
            download,
            range,
            content_disposition,
        } => {
            let info = &download.info;
            let mut response = Response::new(Body::from_stream(download.body));
            let headers = response.headers_mut();
            let mut set = |name, value: String| {
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(name, v);
                }
            };
            set(header::CONTENT_TYPE, info.content_type.clone());
            set(header::CONTENT_DISPOSITION, content_disposition);
            set(header::ETAG, info.etag.clone());
            set(
                header::LAST_MODIFIED,
                info.modified
                    .format("%a, %d %b %Y %H:%M:%S GMT")
                    .to_string(),
            );
            set(header::ACCEPT_RANGES, "bytes".into());
            set(header::X_CONTENT_TYPE_OPTIONS, "nosniff".into());
            // Served from the API's own origin: whatever the file is, it runs no script here.
            set(header::CONTENT_SECURITY_POLICY, "sandbox".into());
            set(header::CACHE_CONTROL, "private, no-cache".into());
            match range {
                Some(r) => {
                    set(header::CONTENT_LENGTH, r.byte_count().to_string());
                    set(
                        header::CONTENT_RANGE,
                        format!("bytes {}-{}/{}", r.start, r.end, info.size),
                    );
                    *response.status_mut() = StatusCode::PARTIAL_CONTENT;
                }
                None => set(header::CONTENT_LENGTH, info.size.to_string()),
            }
            response
        }
    }
}

/// Create a folder in an existing folder.
#[utoipa::path(post, path = "/api/files/create-folder", tag = "files", security(("bearer" = [])),
    request_body = CreateFolderInput,
    responses((status = 201, body = FolderCreated), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "`already_exists`; `job_running`: a job works on the path (`details.job_id`)", body = ErrorBody),
              (status = 413, description = "`file_limit_exceeded` (a folder's marker counts as one stored object)", body = ErrorBody)))]
async fn create_folder(
    State(core): State<AppState>,
    Auth(me): Auth,
    JsonBody(input): JsonBody<CreateFolderInput>,
) -> AppResult<(StatusCode, Json<FolderCreated>)> {
    Ok((
        StatusCode::CREATED,
        Json(core.create_folder(&me, input.parse()?).await?),
    ))
}

/// Delete a file, or a folder with everything in it.
///
/// The folder it was in stays, empty if this was its last item (the folder is then given a
/// marker, which counts as one stored object); the home never needs one. A folder of more
/// objects than one request takes (`VERTEX_FOLDER_SYNC_MAX_OBJECTS`) is deleted by a job: 202
/// with the job and `Location: /api/jobs/{job_id}` to poll.
#[utoipa::path(post, path = "/api/files/delete", tag = "files", security(("bearer" = [])),
    request_body = DeleteInput,
    responses((status = 200, body = Message),
              (status = 202, description = JOB_STARTED, body = JobView, headers(("Location" = String, description = "`/api/jobs/{job_id}`, the job to poll"))),
              (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "`job_running`: a job works on the path (`details.job_id`)", body = ErrorBody),
              (status = 429, description = THROTTLED, body = ErrorBody)))]
async fn delete(
    State(core): State<AppState>,
    Auth(me): Auth,
    Origin(origin): Origin,
    JsonBody(input): JsonBody<DeleteInput>,
) -> AppResult<Response> {
    let deleted = core.delete_path(&me, input.parse()?, &origin).await?;
    Ok(relocated(deleted.map(|message| Message { message })))
}

/// Rename a file or folder within its folder.
///
/// A folder of more objects than one request takes (`VERTEX_FOLDER_SYNC_MAX_OBJECTS`) is renamed
/// by a job: 202 with the job and `Location: /api/jobs/{job_id}` to poll.
#[utoipa::path(post, path = "/api/files/rename", tag = "files", security(("bearer" = [])),
    request_body = RenameInput,
    responses((status = 200, body = Moved),
              (status = 202, description = JOB_STARTED, body = JobView, headers(("Location" = String, description = "`/api/jobs/{job_id}`, the job to poll"))),
              (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "`already_exists`; `job_running`: a job works on the source or the target (`details.job_id`)", body = ErrorBody),
              (status = 429, description = THROTTLED, body = ErrorBody)))]
async fn rename(
    State(core): State<AppState>,
    Auth(me): Auth,
    Origin(origin): Origin,
    JsonBody(input): JsonBody<RenameInput>,
) -> AppResult<Response> {
    Ok(relocated(core.rename(&me, input.parse()?, &origin).await?))
}

/// Move a file or folder into another folder.
///
/// The folder it left stays, empty if this was its last item, as after a delete (when the
/// marker that keeps it would pass the file limit, the move still succeeds and the emptied
/// folder goes). A folder of more objects than one request takes
/// (`VERTEX_FOLDER_SYNC_MAX_OBJECTS`) is moved by a job: 202 with the job and
/// `Location: /api/jobs/{job_id}` to poll.
#[utoipa::path(post, path = "/api/files/move", tag = "files", security(("bearer" = [])),
    request_body = MoveInput,
    responses((status = 200, body = Moved),
              (status = 202, description = JOB_STARTED, body = JobView, headers(("Location" = String, description = "`/api/jobs/{job_id}`, the job to poll"))),
              (status = 400, description = "`invalid_destination` (a folder into itself), `not_a_directory`", body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "`already_exists`; `job_running`: a job works on the source or the target (`details.job_id`)", body = ErrorBody),
              (status = 429, description = THROTTLED, body = ErrorBody)))]
async fn move_item(
    State(core): State<AppState>,
    Auth(me): Auth,
    Origin(origin): Origin,
    JsonBody(input): JsonBody<MoveInput>,
) -> AppResult<Response> {
    Ok(relocated(
        core.move_item(&me, input.parse()?, &origin).await?,
    ))
}

/// Copy a file or folder into another folder.
///
/// A folder of more objects than one request takes (`VERTEX_FOLDER_SYNC_MAX_OBJECTS`) is copied
/// by a job, charged as it copies: 202 with the job and `Location: /api/jobs/{job_id}` to poll.
#[utoipa::path(post, path = "/api/files/copy", tag = "files", security(("bearer" = [])),
    request_body = MoveInput,
    responses((status = 200, body = Moved),
              (status = 202, description = JOB_STARTED, body = JobView, headers(("Location" = String, description = "`/api/jobs/{job_id}`, the job to poll"))),
              (status = 400, description = "`invalid_destination` (a folder into itself), `not_a_directory`", body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "`already_exists`; `job_running`: a job works on the source or the target (`details.job_id`)", body = ErrorBody),
              (status = 413, description = "`quota_exceeded`, `file_limit_exceeded`", body = ErrorBody),
              (status = 429, description = THROTTLED, body = ErrorBody)))]
async fn copy_item(
    State(core): State<AppState>,
    Auth(me): Auth,
    Origin(origin): Origin,
    JsonBody(input): JsonBody<MoveInput>,
) -> AppResult<Response> {
    Ok(relocated(
        core.copy_item(&me, input.parse()?, &origin).await?,
    ))
}

const JOB_STARTED: &str = "A job was started for a large folder; poll `GET /api/jobs/{job_id}`";
const THROTTLED: &str = "`throttled`: as many of the caller's jobs as allowed are running; retry after `Retry-After` seconds";

/// 200 with what was done, or 202 with the job doing it.
fn relocated<T: serde::Serialize>(outcome: Relocated<T>) -> Response {
    match outcome {
        Relocated::Done(done) => Json(done).into_response(),
        Relocated::Started(job) => super::jobs::accepted(job),
    }
}

//! Visitor routes of share links that make something: ZIP archives of download links, and
//! uploads into upload links. Credentials as on the other visitor routes
//! ([`ShareCred`]); no account.

use axum::extract::State;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ClientIp, JsonBody, Origin, PathParam, QueryParams};
use super::share_links::{ShareCred, ShareHeaders};
use super::AppState;
use crate::error::{AppResult, ErrorBody};
use crate::services::schema::{HomePath, ItemPath, MediaType};
use crate::services::{
    CompleteUploadInput, DirectUpload, FileItem, JobView, NewUploadInput, ZipFolderQuery, Zipped,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(share_download_zip))
        .routes(routes!(share_zip_job))
        .routes(routes!(share_start_upload))
        .routes(routes!(share_upload_status, share_abort_upload))
        .routes(routes!(share_complete_upload))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ShareZipQuery {
    /// The folder to download, relative to the shared folder ("" or absent: all of it).
    #[param(value_type = Option<HomePath>, inline)]
    path: Option<String>,
    /// `false`: answer the job (with `url` when done) as JSON instead of redirecting.
    redirect: Option<bool>,
}

/// A file to upload into an upload link's folder.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ShareUploadInput {
    /// The file to create, relative to the shared folder; missing folders are created. A name
    /// already taken becomes `name (1).ext`, `name (2).ext`, …: the answer's `path` says which.
    #[schema(value_type = ItemPath)]
    path: Option<String>,
    /// Exact size in bytes (at most 5 TiB).
    #[schema(value_type = u64, maximum = 5497558138880u64)]
    size: Option<u64>,
    /// Default: guessed from the file name.
    #[schema(value_type = Option<MediaType>)]
    content_type: Option<String>,
}

/// 202 with the job and a `Location` to poll.
fn accepted(id: &str, job: JobView) -> Response {
    let location = format!("/api/s/{id}/zip/{}", job.job_id);
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(job),
    )
        .into_response()
}

/// Download the shared folder, or (`path`) a folder inside it, as a ZIP archive (download
/// links). Small folders are archived within the request: 302 to the archive. Larger ones: 202
/// with a job to poll at `Location`. Each archive counts a use of the link.
/// `HEAD` only checks the request (200, or the error a `GET` would answer) and counts nothing.
#[utoipa::path(get, path = "/api/s/{id}/download-zip", tag = "shares",
    params(("id" = String, Path, description = "The share id"), ShareZipQuery, ShareHeaders),
    responses((status = 302, description = "To the finished archive (a short-lived URL)"),
              (status = 200, description = "`redirect=false`: the finished job with `url`", body = JobView),
              (status = 202, description = "A job was started; poll `Location` (`GET /api/s/{id}/zip/{job_id}`)", body = JobView),
              (status = 400, description = "`invalid_path`, `not_a_directory` (a file, or a link to one file)", body = ErrorBody),
              (status = 403, description = "`share_action_not_allowed`: an upload link", body = ErrorBody),
              (status = 404, description = "`share_not_found`, `not_found`", body = ErrorBody),
              (status = 409, description = "`duplicate_name`", body = ErrorBody),
              (status = 413, description = "`quota_exceeded`: the archive would not fit the owner's room left", body = ErrorBody),
              (status = 429, description = "`throttled`: too many wrong passwords or unknown links from this address, or as many archives running as the owner may have", body = ErrorBody)))]
async fn share_download_zip(
    method: Method,
    State(core): State<AppState>,
    PathParam(id): PathParam<String>,
    ShareCred(cred): ShareCred,
    ClientIp(client): ClientIp,
    Origin(origin): Origin,
    QueryParams(query): QueryParams<ShareZipQuery>,
) -> AppResult<Response> {
    let redirect = query.redirect.unwrap_or(true);
    let query = ZipFolderQuery {
        path: query.path,
        redirect: query.redirect,
    };
    // axum answers HEAD with the GET handler: without this, each HEAD would write an archive.
    if method == Method::HEAD {
        core.check_share_zip(&id, &cred, client, &query).await?;
        return Ok(StatusCode::OK.into_response());
    }
    Ok(
        match core.share_zip(&id, &cred, client, query, &origin).await? {
            Zipped::Done(job) => match (&job.url, redirect) {
                (Some(url), true) => super::found(url.clone()),
                _ => Json(job).into_response(),
            },
            Zipped::Started(job) => accepted(&id, job),
        },
    )
}

/// A ZIP job started through this link: progress, and when done a fresh short-lived `url`.
/// Polling counts no use (and works once the link's uses are taken).
#[utoipa::path(get, path = "/api/s/{id}/zip/{job_id}", tag = "shares",
    params(("id" = String, Path, description = "The share id"),
           ("job_id" = String, Path, description = "The job's id"), ShareHeaders),
    responses((status = 200, body = JobView),
              (status = 403, description = "`share_action_not_allowed`: an upload link", body = ErrorBody),
              (status = 404, description = "`share_not_found`; `not_found`: no such job of this link (or expired)", body = ErrorBody)))]
async fn share_zip_job(
    State(core): State<AppState>,
    PathParam((id, job_id)): PathParam<(String, String)>,
    ShareCred(cred): ShareCred,
    ClientIp(client): ClientIp,
    Origin(origin): Origin,
) -> AppResult<Json<JobView>> {
    let job = core
        .share_zip_job(&id, &cred, client, &job_id, &origin)
        .await?;
    Ok(Json(job))
}

/// Start uploading a file into an upload link's folder, straight to storage in parts (as
/// `POST /api/files/uploads`). Never replaces a file: a taken name gets a free numbered one.
/// The bytes count against the owner's quota.
#[utoipa::path(post, path = "/api/s/{id}/uploads", tag = "shares",
    params(("id" = String, Path, description = "The share id"), ShareHeaders),
    request_body = ShareUploadInput,
    responses((status = 201, body = DirectUpload),
              (status = 400, description = "`validation_error`, `invalid_json`, `invalid_path`, `not_a_directory`", body = ErrorBody),
              (status = 403, description = "`share_action_not_allowed`: a download link", body = ErrorBody),
              (status = 404, description = "`share_not_found`", body = ErrorBody),
              (status = 409, description = "`already_exists`: the name and its numbered names are taken; `job_running`: the owner's folder is being changed", body = ErrorBody),
              (status = 413, description = "`quota_exceeded`, `file_limit_exceeded`: no room left in the owner's storage; `too_large`", body = ErrorBody)))]
async fn share_start_upload(
    State(core): State<AppState>,
    PathParam(id): PathParam<String>,
    ShareCred(cred): ShareCred,
    ClientIp(client): ClientIp,
    Origin(origin): Origin,
    JsonBody(input): JsonBody<ShareUploadInput>,
) -> AppResult<(StatusCode, Json<DirectUpload>)> {
    let input = NewUploadInput {
        path: input.path,
        size: input.size,
        content_type: input.content_type,
        overwrite: None,
    };
    let upload = core
        .share_start_upload(&id, &cred, client, input, &origin)
        .await?;
    Ok((StatusCode::CREATED, Json(upload)))
}

/// An upload's parts received so far, and fresh URLs for the others.
#[utoipa::path(get, path = "/api/s/{id}/uploads/{upload_id}", tag = "shares",
    params(("id" = String, Path, description = "The share id"),
           ("upload_id" = String, Path), ShareHeaders),
    responses((status = 200, body = DirectUpload),
              (status = 403, description = "`share_action_not_allowed`: a download link", body = ErrorBody),
              (status = 404, description = "`share_not_found`, `upload_not_found`", body = ErrorBody)))]
async fn share_upload_status(
    State(core): State<AppState>,
    PathParam((id, upload_id)): PathParam<(String, String)>,
    ShareCred(cred): ShareCred,
    ClientIp(client): ClientIp,
    Origin(origin): Origin,
) -> AppResult<Json<DirectUpload>> {
    let upload = core
        .share_upload_status(&id, &cred, client, &upload_id, &origin)
        .await?;
    Ok(Json(upload))
}

/// Finish an upload: the file appears in the shared folder (never over another one). Counts a
/// use of the link.
#[utoipa::path(post, path = "/api/s/{id}/uploads/{upload_id}/complete", tag = "shares",
    params(("id" = String, Path, description = "The share id"),
           ("upload_id" = String, Path), ShareHeaders),
    request_body = CompleteUploadInput,
    responses((status = 201, description = "The file, its `path` relative to the shared folder", body = FileItem),
              (status = 400, description = "`incomplete_upload`, `invalid_parts`", body = ErrorBody),
              (status = 403, description = "`share_action_not_allowed`: a download link", body = ErrorBody),
              (status = 404, description = "`share_not_found`, `upload_not_found`", body = ErrorBody),
              (status = 409, description = "`already_exists`: a file or folder of that name appeared meanwhile", body = ErrorBody),
              (status = 413, description = "`quota_exceeded`, `file_limit_exceeded`: no room left in the owner's storage", body = ErrorBody)))]
async fn share_complete_upload(
    State(core): State<AppState>,
    PathParam((id, upload_id)): PathParam<(String, String)>,
    ShareCred(cred): ShareCred,
    ClientIp(client): ClientIp,
    JsonBody(input): JsonBody<CompleteUploadInput>,
) -> AppResult<(StatusCode, Json<FileItem>)> {
    let item = core
        .share_complete_upload(&id, &cred, client, &upload_id, input)
        .await?;
    Ok((StatusCode::CREATED, Json(item)))
}

/// Abort an upload; the parts sent are discarded and the owner's room given back.
#[utoipa::path(delete, path = "/api/s/{id}/uploads/{upload_id}", tag = "shares",
    params(("id" = String, Path, description = "The share id"),
           ("upload_id" = String, Path), ShareHeaders),
    responses((status = 204),
              (status = 403, description = "`share_action_not_allowed`: a download link", body = ErrorBody),
              (status = 404, description = "`share_not_found`, `upload_not_found`", body = ErrorBody)))]
async fn share_abort_upload(
    State(core): State<AppState>,
    PathParam((id, upload_id)): PathParam<(String, String)>,
    ShareCred(cred): ShareCred,
    ClientIp(client): ClientIp,
) -> AppResult<StatusCode> {
    core.share_abort_upload(&id, &cred, client, &upload_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

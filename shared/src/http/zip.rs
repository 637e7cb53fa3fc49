//! The `zip` endpoint group: thin handlers over [`Core`](crate::Core).

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Auth, JsonBody, Origin, PathParam, QueryParams};
use super::jobs::accepted;
use super::AppState;
use crate::error::{AppResult, ErrorBody};
use crate::services::{JobView, ZipFolderQuery, ZipInput, Zipped};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(download_zip))
        .routes(routes!(create_zip))
        .routes(routes!(zip_job))
}

/// Download a folder as a ZIP archive (entries named below the folder). Small folders are
/// archived within the request: 302 to the archive. Larger ones: 202 with a job to poll, or
/// 429 while the caller already has as many jobs running as allowed.
/// `HEAD` only checks the request (200, or the error a `GET` would answer) and writes nothing.
#[utoipa::path(get, path = "/api/files/download-zip", tag = "zip", security(("bearer" = [])),
    params(ZipFolderQuery),
    responses((status = 302, description = "To the finished archive (a short-lived URL)"),
              (status = 200, description = "`redirect=false`: the finished job with `url`", body = JobView),
              (status = 202, description = "A job was started; poll `Location` (`GET /api/jobs/{job_id}`)", body = JobView),
              (status = 400, description = "`invalid_path`, `not_a_directory`", body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 413, description = "`quota_exceeded`: the archive would not fit the room left", body = ErrorBody),
              (status = 429, description = "`throttled`: as many of the caller's jobs as allowed are running; retry after `Retry-After` seconds", body = ErrorBody)))]
async fn download_zip(
    method: Method,
    State(core): State<AppState>,
    Auth(me): Auth,
    Origin(origin): Origin,
    QueryParams(query): QueryParams<ZipFolderQuery>,
) -> AppResult<Response> {
    // axum answers HEAD with the GET handler: without this, each HEAD would write an archive.
    if method == Method::HEAD {
        core.check_zip_folder(&me, &query).await?;
        return Ok(StatusCode::OK.into_response());
    }
    let redirect = query.redirect.unwrap_or(true);
    Ok(match core.zip_folder(&me, query, &origin).await? {
        Zipped::Done(job) => match (&job.url, redirect) {
            (Some(url), true) => super::found(url.clone()),
            _ => Json(job).into_response(),
        },
        Zipped::Started(job) => accepted(job),
    })
}

/// Archive several files and folders (each under its own name). 200 with `url` when written
/// within the request; otherwise 202 with a job to poll, or 429 while the caller already has
/// as many jobs running as allowed.
#[utoipa::path(post, path = "/api/zip", tag = "zip", security(("bearer" = [])),
    request_body = ZipInput,
    responses((status = 200, description = "Done: `status` is `done` and `url` set", body = JobView),
              (status = 202, description = "A job was started; poll `Location` (`GET /api/jobs/{job_id}`)", body = JobView),
              (status = 400, description = "`validation_error`, `invalid_path`, `invalid_json`, `nested_paths` (a path inside another listed one)", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, description = "`duplicate_name`: two paths share a name", body = ErrorBody),
              (status = 413, description = "`quota_exceeded`: the archive would not fit the room left", body = ErrorBody),
              (status = 429, description = "`throttled`: as many of the caller's jobs as allowed are running; retry after `Retry-After` seconds", body = ErrorBody)))]
async fn create_zip(
    State(core): State<AppState>,
    Auth(me): Auth,
    Origin(origin): Origin,
    JsonBody(input): JsonBody<ZipInput>,
) -> AppResult<Response> {
    Ok(match core.zip_paths(&me, input.parse()?, &origin).await? {
        Zipped::Done(job) => Json(job).into_response(),
        Zipped::Started(job) => accepted(job),
    })
}

/// A job of the caller, as `GET /api/jobs/{job_id}` shows it (kept for clients that poll
/// archives here): progress, and when a ZIP job is done a fresh short-lived `url`.
#[utoipa::path(get, path = "/api/zip/{job_id}", tag = "zip", security(("bearer" = [])),
    params(("job_id" = String, Path, description = "The job's id")),
    responses((status = 200, body = JobView), (status = 401, body = ErrorBody),
              (status = 404, description = "No such job of the caller (or expired)", body = ErrorBody)))]
async fn zip_job(
    State(core): State<AppState>,
    Auth(me): Auth,
    Origin(origin): Origin,
    PathParam(job_id): PathParam<String>,
) -> AppResult<Json<JobView>> {
    Ok(Json(core.zip_job(&me, &job_id, &origin).await?))
}

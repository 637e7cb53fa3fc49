//! The `jobs` endpoints (served by the files function): thin handlers over
//! [`Core`](crate::Core).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Auth, Origin, PathParam, QueryParams};
use super::AppState;
use crate::error::{AppResult, ErrorBody};
use crate::services::{JobList, JobQuery, JobView};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(jobs))
        .routes(routes!(job, cancel_job))
        .routes(routes!(resume_job))
        .routes(routes!(undo_job))
}

/// 202 with the job and `Location: /api/jobs/{job_id}` to poll.
pub fn accepted(job: JobView) -> Response {
    let location = format!("/api/jobs/{}", job.job_id);
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(job),
    )
        .into_response()
}

/// The caller's jobs that have not expired (archives, and folder jobs of the last day), newest
/// first, a page at a time, each as `GET /api/jobs/{job_id}` shows it: what a reloaded page
/// shows, and can cancel, resume or undo.
#[utoipa::path(get, path = "/api/jobs", tag = "jobs", security(("bearer" = [])),
    params(JobQuery),
    responses((status = 200, body = JobList),
              (status = 400, description = "`invalid_cursor`, or `limit` below 1", body = ErrorBody),
              (status = 401, body = ErrorBody)))]
async fn jobs(
    State(core): State<AppState>,
    Auth(me): Auth,
    Origin(origin): Origin,
    QueryParams(query): QueryParams<JobQuery>,
) -> AppResult<Json<JobList>> {
    Ok(Json(core.jobs(&me, &query, &origin).await?))
}

/// A job of the caller (an archive, or a folder copy, move, rename or delete): progress, the
/// outcome, and for a done archive a fresh short-lived `url`.
#[utoipa::path(get, path = "/api/jobs/{job_id}", tag = "jobs", security(("bearer" = [])),
    params(("job_id" = String, Path, description = "The job's id")),
    responses((status = 200, body = JobView), (status = 401, body = ErrorBody),
              (status = 404, description = "No such job of the caller (or expired)", body = ErrorBody)))]
async fn job(
    State(core): State<AppState>,
    Auth(me): Auth,
    Origin(origin): Origin,
    PathParam(job_id): PathParam<String>,
) -> AppResult<Json<JobView>> {
    Ok(Json(core.job(&me, &job_id, &origin).await?))
}

/// Cancel a running job: it stops at the next object, leaving every object whole (a move:
/// each under its old or its new name) and its usage exact. 202 while it stops
/// (`cancel_requested`; poll until `cancelled`); an ended job is answered unchanged (200).
#[utoipa::path(delete, path = "/api/jobs/{job_id}", tag = "jobs", security(("bearer" = [])),
    params(("job_id" = String, Path, description = "The job's id")),
    responses((status = 202, description = "Asked to stop: `cancel_requested` is true", body = JobView),
              (status = 200, description = "The job had ended: unchanged", body = JobView),
              (status = 401, body = ErrorBody),
              (status = 404, description = "No such job of the caller (or expired)", body = ErrorBody)))]
async fn cancel_job(
    State(core): State<AppState>,
    Auth(me): Auth,
    Origin(origin): Origin,
    PathParam(job_id): PathParam<String>,
) -> AppResult<Response> {
    Ok(match core.cancel_job(&me, &job_id, &origin).await? {
        (true, job) => (StatusCode::ACCEPTED, Json(job)).into_response(),
        (false, job) => Json(job).into_response(),
    })
}

/// Run a failed or cancelled folder job again from where it stopped (`resumable`).
#[utoipa::path(post, path = "/api/jobs/{job_id}/resume", tag = "jobs", security(("bearer" = [])),
    params(("job_id" = String, Path, description = "The job's id")),
    responses((status = 202, description = "Running again; poll `Location`", body = JobView),
              (status = 401, body = ErrorBody),
              (status = 404, description = "No such job of the caller (or expired)", body = ErrorBody),
              (status = 409, description = "`job_not_resumable` (an archive, or a job that ended done or undone); `job_running` (it runs, or another job now works on its folders: `details.job_id`)", body = ErrorBody),
              (status = 429, description = "`throttled`: as many of the caller's jobs as allowed are running; retry after `Retry-After` seconds", body = ErrorBody)))]
async fn resume_job(
    State(core): State<AppState>,
    Auth(me): Auth,
    Origin(origin): Origin,
    PathParam(job_id): PathParam<String>,
) -> AppResult<Response> {
    Ok(accepted(core.resume_job(&me, &job_id, &origin).await?))
}

/// Put back what a failed or cancelled copy, move or rename did (`undoable`): a copy's
/// objects are deleted, moved objects go back to their old names. The job ends `undone`.
#[utoipa::path(post, path = "/api/jobs/{job_id}/undo", tag = "jobs", security(("bearer" = [])),
    params(("job_id" = String, Path, description = "The job's id")),
    responses((status = 202, description = "Undoing; poll `Location`", body = JobView),
              (status = 401, body = ErrorBody),
              (status = 404, description = "No such job of the caller (or expired)", body = ErrorBody),
              (status = 409, description = "`job_not_undoable` (an archive, a delete, or a job that ended done or undone); `job_running` (it runs, or another job now works on its folders: `details.job_id`)", body = ErrorBody),
              (status = 429, description = "`throttled`: as many of the caller's jobs as allowed are running; retry after `Retry-After` seconds", body = ErrorBody)))]
async fn undo_job(
    State(core): State<AppState>,
    Auth(me): Auth,
    Origin(origin): Origin,
    PathParam(job_id): PathParam<String>,
) -> AppResult<Response> {
    Ok(accepted(core.undo_job(&me, &job_id, &origin).await?))
}

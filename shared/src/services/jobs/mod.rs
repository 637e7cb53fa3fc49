//! One job model for every long piece of work of a user: ZIP archives and folder copy, move,
//! rename and delete. `GET /api/jobs`, `GET/DELETE /api/jobs/{job_id}`,
//! `POST /api/jobs/{job_id}/resume` and `/undo`.
//!
//! A job is a record of its owner ([`Job`]) and runs in the background ([`Launcher`]): a task
//! locally, asynchronous invocations on AWS. Every run owns the job through its `run` number:
//! writes are conditional on it, and a hand-over to the next run, a resume or a take-over
//! after a restart or a stall adds one, so a run that lost the job changes nothing more.
//! Cancellation is a flag beside the record, read back by each write of the run (and set
//! directly on a run of the same process). A run that died with no successor is taken over
//! when its owner next looks, or by the next sweep ([`Core::sweep_jobs`]). Another user's job
//! id is simply not found.

mod cancel;
mod launch;
mod list;
mod run;
mod slots;
mod sweep;

use std::sync::Arc;

use chrono::Duration;
use serde::Serialize;
use utoipa::ToSchema;

pub use cancel::CancelFlags;
pub use launch::{job_event, JobEvent, Launcher, JOB_EVENT_KEY};
pub use list::{JobList, JobQuery};
pub use slots::{JobRef, JobRole};
pub use sweep::{sweep_event, Swept, SWEEP_EVENT_KEY, SWEEP_PERIOD};

use super::{now, Core, Principal};
use crate::domain::{rfc3339, UserPath};
use crate::error::{AppError, AppResult};
use crate::store::{FolderPhase, Job, JobKind, JobStatus, JobWrite};

/// A running job that has not moved for this long was interrupted (a restart, a crash).
pub(crate) const STALL_MINUTES: i64 = 10;
/// What the owner of an interrupted archive is told.
pub(crate) const INTERRUPTED: &str =
    "The job was interrupted (the server restarted); start it again.";
/// How long a folder job is kept after its last write (its record, not its work).
const FOLDER_JOB_HOURS: i64 = 24;

/// A job as its owner sees it. Archives and folder jobs share the shape; the `files_*` and
/// `objects_*` counts are the same numbers (objects, markers included, for folder jobs).
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub job_id: String,
    pub kind: JobKind,
    /// `running`, then `done`, `failed`, `cancelled` or `undone` (treat any other as ended).
    pub status: JobStatus,
    /// Folder jobs: where the work is (totals are 0 while `counting`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<FolderPhase>,
    pub objects_done: u64,
    pub objects_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub files_done: u64,
    pub files_total: u64,
    /// The archive's file name; folder jobs: the folder's name.
    pub name: String,
    /// Folder jobs: the folder worked on, relative to the home.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_path: Option<String>,
    /// Copy, move, rename: where the folder goes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_path: Option<String>,
    /// When a ZIP job is done: a short-lived URL of the archive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When `url` stops working (ask again for a fresh one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_expires_at: Option<String>,
    /// When failed: why, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When failed: the code of the failure (`quota_exceeded`, `file_limit_exceeded`,
    /// `service_unavailable`, `interrupted`, `destination_changed`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Its owner asked it to stop; it stops at the next object.
    pub cancel_requested: bool,
    /// `POST /api/jobs/{job_id}/resume` would run it again from where it stopped.
    pub resumable: bool,
    /// `POST /api/jobs/{job_id}/undo` would put its work back.
    pub undoable: bool,
    pub created_at: String,
    pub updated_at: String,
    /// The job (and an archive) is removed after this time.
    pub expires_at: String,
}

/// Whether a job that ended as it did may run again from where it stopped.
fn resumable(job: &Job) -> bool {
    job.kind != JobKind::Zip && matches!(job.status, JobStatus::Failed | JobStatus::Cancelled)
}

/// Whether a job's work may be put back: what a copy, move or rename did before it stopped.
/// Not while a step is still recorded open (storage failed as the job stopped): that step is
/// the forward work's, which only a resume closes.
fn undoable(job: &Job) -> bool {
    matches!(job.kind, JobKind::Copy | JobKind::Move | JobKind::Rename)
        && matches!(job.status, JobStatus::Failed | JobStatus::Cancelled)
        && job.folder.as_ref().is_none_or(|work| work.step.is_none())
}

/// A running job that wrote nothing for [`STALL_MINUTES`] was interrupted.
pub(crate) fn stalled(job: &Job) -> bool {
    job.status == JobStatus::Running && now() - job.updated_at > Duration::minutes(STALL_MINUTES)
}

/// Dates a write of the job: a folder job lives a day past its last write, so a record never
/// expires (DynamoDB's TTL) while its job runs.
pub(crate) fn touch(job: &mut Job) {
    job.updated_at = now();
    if job.kind != JobKind::Zip {
        job.expires_at = job.updated_at + Duration::hours(FOLDER_JOB_HOURS);
    }
}

/// The paths a folder job reserves: its source, and its target if it has one.
pub(crate) fn reserved_paths(job: &Job) -> AppResult<Vec<UserPath>> {
    let work = job
        .folder
        .as_ref()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("folder job {} has no work", job.id)))?;
    std::iter::once(&work.source)
        .chain(work.target.as_ref())
        .map(|p| {
            UserPath::parse(p)
                .map_err(|e| AppError::internal(anyhow::anyhow!("stored path {p:?}: {e}")))
        })
        .collect()
}

pub(crate) fn no_job() -> AppError {
    AppError::not_found("not_found", "No such job.")
}

/// True when `id` could name a job: the service makes UUIDs; anything longer than 64
/// characters or beyond letters, digits and `-` is not looked up (DynamoDB refuses keys over
/// 1 KiB with an error, not a miss).
pub(crate) fn is_job_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl Core {
    /// The caller's job `job_id`, as stored.
    async fn owned_job(&self, me: &Principal, job_id: &str) -> AppResult<Job> {
        if !is_job_id(job_id) {
            return Err(no_job());
        }
        self.store
            .get_job(&me.user.id, job_id)
            .await?
            .ok_or_else(no_job)
    }

    /// `GET /api/jobs/{job_id}`: the job; a folder job found stalled (its run died) is taken
    /// over and runs on.
    pub async fn job(
        self: &Arc<Self>,
        me: &Principal,
        job_id: &str,
        origin: &str,
    ) -> AppResult<JobView> {
        let job = self.owned_job(me, job_id).await?;
        self.looked_at(job, origin).await
    }

    /// The job as its owner sees it when looking: a folder job found stalled (its run died) is
    /// taken over first, and runs on.
    async fn looked_at(self: &Arc<Self>, mut job: Job, origin: &str) -> AppResult<JobView> {
        if job.kind != JobKind::Zip && stalled(&job) {
            self.take_over(&mut job).await?;
        }
        self.job_view(job, origin).await
    }

    /// `GET /api/zip/{job_id}` (the zip function): the job of any kind, only viewed.
    pub async fn zip_job(&self, me: &Principal, job_id: &str, origin: &str) -> AppResult<JobView> {
        let job = self.owned_job(me, job_id).await?;
        self.job_view(job, origin).await
    }

    /// `DELETE /api/jobs/{job_id}`: asks a running job to stop (true, with the view showing
    /// `cancel_requested`); an ended job is answered unchanged (false).
    pub async fn cancel_job(
        self: &Arc<Self>,
        me: &Principal,
        job_id: &str,
        origin: &str,
    ) -> AppResult<(bool, JobView)> {
        let job = self.owned_job(me, job_id).await?;
        if job.status != JobStatus::Running || (job.kind == JobKind::Zip && stalled(&job)) {
            return Ok((false, self.job_view(job, origin).await?));
        }
        if !self.store.cancel_job(&job.user_id, &job.id).await? {
            // It ended meanwhile.
            let job = self.owned_job(me, job_id).await?;
            return Ok((false, self.job_view(job, origin).await?));
        }
        self.cancels.raise(&job.id);
        let mut job = job;
        job.cancel_requested = true;
        tracing::info!(user_id = %job.user_id, job_id = %job.id, "job cancellation asked");
        if job.kind != JobKind::Zip && stalled(&job) {
            // No run is left to see the flag: a new one ends the job.
            self.take_over(&mut job).await?;
        }
        Ok((true, self.job_view(job, origin).await?))
    }

    /// `POST /api/jobs/{job_id}/resume`: a failed or cancelled folder job runs again from
    /// where it stopped.
    pub async fn resume_job(
        self: &Arc<Self>,
        me: &Principal,
        job_id: &str,
        origin: &str,
    ) -> AppResult<JobView> {
        self.run_again(me, job_id, false, origin).await
    }

    /// `POST /api/jobs/{job_id}/undo`: the work of a failed or cancelled copy, move or rename
    /// is put back (the copy removed, the moved objects moved back); the job ends `undone`.
    pub async fn undo_job(
        self: &Arc<Self>,
        me: &Principal,
        job_id: &str,
        origin: &str,
    ) -> AppResult<JobView> {
        self.run_again(me, job_id, true, origin).await
    }

    /// Resume or undo the caller's job, if it has stopped and may (409 otherwise).
    async fn run_again(
        self: &Arc<Self>,
        me: &Principal,
        job_id: &str,
        undo: bool,
        origin: &str,
    ) -> AppResult<JobView> {
        let job = self.owned_job(me, job_id).await?;
        if job.status == JobStatus::Running {
            return Err(AppError::job_running(job.id));
        }
        if undo && !undoable(&job) {
            return Err(AppError::conflict(
                "job_not_undoable",
                "Only a failed or cancelled copy, move or rename can be undone (and not while its \
                 last step is still open: resume it first).",
            ));
        }
        if !undo && !resumable(&job) {
            return Err(AppError::conflict(
                "job_not_resumable",
                "Only a failed or cancelled copy, move, rename or delete can be resumed.",
            ));
        }
        self.restart(job, undo, origin).await
    }

    /// Resume or undo: reserve the job's paths again, take it over as running, and launch its
    /// next run. The stored cancel flag went with the write that ended the job; this process's
    /// own flag is lowered here.
    async fn restart(
        self: &Arc<Self>,
        mut job: Job,
        undo: bool,
        origin: &str,
    ) -> AppResult<JobView> {
        let paths = reserved_paths(&job)?;
        self.reserve_for_job(&job.user_id, &job.id, &paths).await?;
        let previous = job.run;
        job.run += 1;
        job.status = JobStatus::Running;
        job.error = None;
        job.error_code = None;
        if let Some(work) = job.folder.as_mut() {
            work.failures = 0;
            if undo {
                work.phase = FolderPhase::Undoing;
                work.after = None;
            }
        }
        touch(&mut job);
        match self.store.update_job(&job, previous, None).await {
            Ok(JobWrite::Saved { .. }) => {}
            // Another request resumed it first: that run holds the slot just renewed.
            Ok(JobWrite::Superseded) => return Err(AppError::job_running(job.id)),
            Ok(JobWrite::OverCaps) => unreachable!("a job write without usage has no caps"),
            Err(e) => {
                self.release_slot(&job).await;
                return Err(e.into());
            }
        }
        self.cancels.lower(&job.id);
        tracing::info!(user_id = %job.user_id, job_id = %job.id, undo, "job restarted");
        self.launch_run(&mut job).await?;
        self.job_view(job, origin).await
    }

    /// The job as its owner sees it. An archive found stalled is recorded as interrupted
    /// first (its charge and slot given back now rather than when it expires); a done
    /// archive comes with a fresh short-lived URL.
    pub(crate) async fn job_view(&self, mut job: Job, origin: &str) -> AppResult<JobView> {
        if job.kind == JobKind::Zip && stalled(&job) {
            self.record_job_failure(&mut job, INTERRUPTED.into()).await;
        }
        let link = self.archive_link(&job, origin).await?;
        let (source_path, target_path) = match &job.folder {
            Some(work) => (Some(work.source.clone()), work.target.clone()),
            None => (None, None),
        };
        Ok(JobView {
            resumable: resumable(&job),
            undoable: undoable(&job),
            job_id: job.id,
            kind: job.kind,
            status: job.status,
            phase: job.folder.as_ref().map(|w| w.phase),
            objects_done: job.files_done,
            objects_total: job.files_total,
            bytes_done: job.bytes_done,
            bytes_total: job.bytes_total,
            files_done: job.files_done,
            files_total: job.files_total,
            name: job.name,
            source_path,
            target_path,
            url_expires_at: link.as_ref().map(|l| l.expires_at.clone()),
            url: link.map(|l| l.url),
            error: job.error,
            error_code: job.error_code,
            cancel_requested: job.cancel_requested,
            created_at: rfc3339(job.created_at),
            updated_at: rfc3339(job.updated_at),
            expires_at: rfc3339(job.expires_at),
        })
    }
}

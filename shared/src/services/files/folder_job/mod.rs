//! Folder copy, move, rename and delete as background jobs, for folders too large to finish
//! within one request (see `relocate` and `delete_path` for the threshold).
//!
//! A job works in steps of at most `job_step_objects` objects and `job_step_bytes` bytes (or
//! one larger object), listed by key from the position it recorded (`FolderWork.after`). Each
//! step is written before its objects are touched (with the usage it will need, in the same
//! atomic write) and again when they are done, every write conditional on the job's run: a run
//! that another took over writes nothing. Every step is
//! safe to run twice (a crash between the record and the object work): copies go only where
//! nothing is, or find their own copy there; a move deletes a source only once its copy is
//! verified, and never deletes a copy. So after a cancel, a failure or the end, every object is
//! whole exactly once and usage equals what is stored.
//!
//! A run hands over to a fresh one when its time is up (a new Lambda invocation on AWS, a task
//! locally), so no folder is too large.

mod close;
mod place;
mod steps;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Duration as Age;
use uuid::Uuid;

use crate::domain::{User, UserPath};
use crate::error::{AppError, AppResult};
use crate::layout::Home;
use crate::objects::ObjectInfo;
use crate::services::files::target::Replace;
use crate::services::jobs::{JobEvent, JobView};
use crate::services::{now, Core, Principal};
use crate::store::{Caps, FolderPhase, FolderWork, Job, JobKind, JobStatus, JobWrite, UsageChange};

/// A folder job lives this long after its last write (every write pushes it forward, so a
/// running job never expires).
const LIFETIME_HOURS: i64 = 24;
/// Failed steps in a row before the job fails (each after a longer pause).
const STEP_ATTEMPTS: u32 = 5;
/// The longest pause between two tries of a step.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(30);
/// How often a long run renews its slot (which lapses after `STALL_MINUTES` without).
const RENEW_EVERY: Duration = Duration::from_secs(60);
/// Writes that collided with another write in flight are tried again this often.
const WRITE_ATTEMPTS: usize = 3;
/// Hand-overs that failed (nothing written) are tried again this often.
const HAND_OVER_ATTEMPTS: u32 = 3;
/// What a job that ran out of tries tells its owner.
const STORAGE_FAILED: &str =
    "Storage was unavailable for too long; the job stopped. Resume it to go on.";

/// What one step of the run loop came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Go on with the next step.
    Next,
    /// The phase's listing is at its end.
    AtEnd,
    /// The job ended, or another run owns it: this run writes nothing more.
    Stop,
}

/// The work a phase does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    Copy,
    Move,
    Delete,
}

/// What a phase works on: objects listed below `from` (key prefixes of the home), copied or
/// moved to the same place below `to` (empty for deletes).
#[derive(Debug, Clone)]
struct Lane {
    work: Work,
    from: String,
    to: String,
    /// Undoing a copy: only objects that are copies of the source below this prefix go. The
    /// target's reservation ended with the job, so its owner may have added files there.
    copies_of: Option<String>,
}

/// What a run knows besides its job.
struct Run {
    owner: User,
    caps: Caps,
    cancel: Arc<AtomicBool>,
    home: Home,
    source: UserPath,
    target: Option<UserPath>,
}

impl Run {
    fn cancelled(&self, job: &Job) -> bool {
        job.cancel_requested || self.cancel.load(Ordering::Acquire)
    }

    /// The keys the job's current phase works on.
    fn lane(&self, job: &Job) -> Lane {
        let source = self.home.folder(&self.source);
        let target = self
            .target
            .as_ref()
            .map(|t| self.home.folder(t))
            .unwrap_or_default();
        let undoing = folder(job).phase == FolderPhase::Undoing;
        let (work, from, to, copies_of) = match (job.kind, undoing) {
            (JobKind::Copy, false) => (Work::Copy, source, target, None),
            (JobKind::Copy, true) => (Work::Delete, target, String::new(), Some(source)),
            (JobKind::Delete, _) => (Work::Delete, source, String::new(), None),
            (_, false) => (Work::Move, source, target, None),
            (_, true) => (Work::Move, target, source, None),
        };
        Lane {
            work,
            from,
            to,
            copies_of,
        }
    }
}

/// Whether `there` is a copy of `source`: the same size, and the same ETag where copies keep
/// it (multipart ETags, `…-N`, change on copy).
fn same_object(source: &ObjectInfo, there: &ObjectInfo) -> bool {
    let multipart = |etag: &str| etag.contains('-');
    there.size == source.size
        && (there.etag == source.etag || multipart(&there.etag) || multipart(&source.etag))
}

/// The folder part of a folder job (always there: only folder jobs get here).
fn folder(job: &Job) -> &FolderWork {
    job.folder.as_ref().expect("a folder job")
}

fn folder_mut(job: &mut Job) -> &mut FolderWork {
    job.folder.as_mut().expect("a folder job")
}

/// Failures worth another try: the stores could not be reached, or answered oddly.
fn transient(e: &AppError) -> bool {
    matches!(
        e,
        AppError::Unavailable(_) | AppError::Incomplete { .. } | AppError::Internal(_)
    )
}

/// The words and code of a failure that ends a job.
fn failure_of(e: &AppError) -> (String, String) {
    match e {
        AppError::Conflict { code, message }
        | AppError::NotFound { code, message }
        | AppError::TooLarge { code, message }
        | AppError::BadRequest { code, message } => (message.clone(), (*code).to_owned()),
        _ => (STORAGE_FAILED.to_owned(), "service_unavailable".to_owned()),
    }
}

impl Core {
    /// Starts a folder job (the caller decided the folder is too large to work on within the
    /// request): reserves its paths and a slot (429 `throttled`, 409 `job_running`), ends the
    /// shares of what moves or goes, records the job and hands it to the background.
    pub(crate) async fn start_folder_job(
        self: &Arc<Self>,
        me: &Principal,
        kind: JobKind,
        source: UserPath,
        target: Option<UserPath>,
        origin: &str,
    ) -> AppResult<JobView> {
        let mut job = new_job(&me.user, kind, &source, target.as_ref());
        let mut paths = vec![source.clone()];
        paths.extend(target.clone());
        self.reserve_for_job(&me.user.id, &job.id, &paths).await?;
        if let Err(e) = self.prepare_job(me, kind, &source, target.as_ref()).await {
            self.release_slot(&job).await;
            return Err(e);
        }
        if let Err(e) = self.store.save_job(&job).await {
            self.release_slot(&job).await;
            return Err(e.into());
        }
        let event = JobEvent {
            user_id: job.user_id.clone(),
            job_id: job.id.clone(),
            run: job.run,
        };
        if let Err(e) = self.launcher.launch(self.clone(), &event).await {
            job.status = JobStatus::Failed;
            job.error = Some("The job could not be started; try again.".into());
            job.error_code = Some("service_unavailable".into());
            if let Err(e) = self.store.save_job(&job).await {
                tracing::error!(job_id = %job.id, error = %e, "folder job outcome not recorded");
            }
            self.release_slot(&job).await;
            return Err(e);
        }
        tracing::info!(user_id = %job.user_id, job_id = %job.id, ?kind, "folder job started");
        self.job_view(job, origin).await
    }

    /// What must hold before a job starts, checked again once its paths are reserved (a
    /// request may have taken the target's name meanwhile): the target is free; shares of
    /// what moves or goes end first, as they do within a request.
    async fn prepare_job(
        &self,
        me: &Principal,
        kind: JobKind,
        source: &UserPath,
        target: Option<&UserPath>,
    ) -> AppResult<()> {
        let home = Home::of_user(&me.user);
        if let Some(target) = target {
            self.target_free(&home, target, Replace::Never).await?;
        }
        if kind != JobKind::Copy {
            self.end_shares_under(&me.user.id, source).await?;
        }
        Ok(())
    }

    /// Runs a folder job for at most `budget` (what is left of a Lambda invocation), then
    /// hands it over to a fresh run. Its outcome is recorded in the job.
    pub async fn run_folder_job(self: &Arc<Self>, job: Job, budget: Duration) {
        if job.status != JobStatus::Running || job.folder.is_none() {
            return;
        }
        let cancel = self.register_cancel(&job.id);
        let job_id = job.id.clone();
        self.run_steps(job, budget, cancel).await;
        self.unregister_cancel(&job_id);
    }

    async fn run_steps(self: &Arc<Self>, mut job: Job, budget: Duration, cancel: Arc<AtomicBool>) {
        let slice = budget.min(Duration::from_secs(self.config.job_slice_secs));
        let deadline = Instant::now().checked_add(slice);
        let Some(run) = self.run_of(&mut job, cancel).await else {
            return;
        };
        if let Err(e) = self.renew_slot(&job).await {
            tracing::warn!(job_id = %job.id, error = %e, "folder job slot not renewed");
        }
        let mut renewed = Instant::now();
        loop {
            if run.cancelled(&job) {
                self.end_early(&mut job, &run, JobStatus::Cancelled, None)
                    .await;
                return;
            }
            let flow = match self.advance(&mut job, &run).await {
                Ok(flow) => flow,
                Err(e) => self.after_failure(&mut job, &run, e).await,
            };
            if flow == Flow::Stop {
                return;
            }
            if renewed.elapsed() >= RENEW_EVERY {
                if let Err(e) = self.renew_slot(&job).await {
                    tracing::warn!(job_id = %job.id, error = %e, "folder job slot not renewed");
                }
                renewed = Instant::now();
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.hand_over_folder_job(&mut job).await;
                return;
            }
        }
    }

    /// The run's owner and keys; `None` when the job cannot go on (its owner is gone, its
    /// paths no longer parse), recorded as failed.
    async fn run_of(&self, job: &mut Job, cancel: Arc<AtomicBool>) -> Option<Run> {
        let owner = match self.store.get_user(&job.user_id).await {
            Ok(Some(owner)) => owner,
            Ok(None) => {
                job.status = JobStatus::Failed;
                job.error = Some("The account is gone.".into());
                job.error_code = Some("not_found".into());
                if self.write(job, None).await.is_ok() {
                    self.release_slot(job).await;
                }
                return None;
            }
            Err(e) => {
                // Nothing written: the job stalls and is taken over when next looked at.
                tracing::error!(job_id = %job.id, error = %e, "folder job owner cannot be read");
                return None;
            }
        };
        let work = folder(job);
        let source = UserPath::parse(&work.source);
        let target = work.target.as_deref().map(UserPath::parse).transpose();
        let (Ok(source), Ok(target)) = (source, target) else {
            tracing::error!(job_id = %job.id, "folder job with paths that do not parse");
            job.status = JobStatus::Failed;
            job.error = Some("The job's paths are not valid.".into());
            job.error_code = Some("internal_error".into());
            if self.write(job, None).await.is_ok() {
                self.release_slot(job).await;
            }
            return None;
        };
        Some(Run {
            caps: Caps::of(&owner),
            home: Home::of_user(&owner),
            owner,
            cancel,
            source,
            target,
        })
    }

    /// One unit of work of the job's phase.
    async fn advance(&self, job: &mut Job, run: &Run) -> AppResult<Flow> {
        let phase = folder(job).phase;
        if phase == FolderPhase::Counting {
            return self.count(job, run).await;
        }
        let lane = run.lane(job);
        match self.step(job, run, &lane).await? {
            Flow::AtEnd => self.at_end(job, run).await,
            flow => Ok(flow),
        }
    }

    /// Counting: one listing page of the source added to the totals.
    async fn count(&self, job: &mut Job, run: &Run) -> AppResult<Flow> {
        let prefix = run.home.folder(&run.source);
        let after = folder(job).after.as_ref().map(|a| format!("{prefix}{a}"));
        let page = self
            .objects
            .list_after(&prefix, after.as_deref(), crate::objects::MAX_LIST_PAGE)
            .await?;
        let objects = steps::objects(page.items);
        let mut next = job.clone();
        for object in &objects {
            next.files_total += 1;
            next.bytes_total += object.size;
        }
        let work = folder_mut(&mut next);
        match (page.next, objects.last()) {
            (Some(_), Some(last)) => work.after = Some(last.key[prefix.len()..].to_owned()),
            _ => {
                work.phase = FolderPhase::Working;
                work.after = None;
            }
        }
        self.commit_step(job, next, None).await
    }

    /// After a failed step: a pause and another try, or after too many the job fails; a
    /// failure no try can mend ends it at once.
    async fn after_failure(&self, job: &mut Job, run: &Run, e: AppError) -> Flow {
        tracing::warn!(job_id = %job.id, error = %e, "folder job step failed");
        if !transient(&e) {
            let (why, code) = failure_of(&e);
            return self
                .end_early(job, run, JobStatus::Failed, Some((why, code)))
                .await;
        }
        let work = folder_mut(job);
        work.failures += 1;
        let failures = work.failures;
        if failures >= STEP_ATTEMPTS {
            let why = (STORAGE_FAILED.to_owned(), "service_unavailable".to_owned());
            return self.end_early(job, run, JobStatus::Failed, Some(why)).await;
        }
        job.error = Some("Storage is unavailable; retrying.".into());
        // Best effort: the count shows the owner that the job is retrying.
        if let Ok(Flow::Stop) = self.commit_step(job, job.clone(), None).await {
            return Flow::Stop;
        }
        let pause = Duration::from_millis(self.config.job_retry_pause_ms)
            .saturating_mul(1 << (failures - 1).min(16))
            .min(MAX_RETRY_PAUSE);
        tokio::time::sleep(pause).await;
        Flow::Next
    }

    /// The run's time is up: the next run takes over (run + 1) and this one ends. A hand-over
    /// that wrote nothing is tried again after a pause; if it keeps failing the job stalls, and
    /// is taken over when next looked at.
    async fn hand_over_folder_job(self: &Arc<Self>, job: &mut Job) {
        for attempt in 0..HAND_OVER_ATTEMPTS {
            match self.hand_over(job).await {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(job_id = %job.id, error = %e, "folder job not handed over");
                    let pause = Duration::from_millis(self.config.job_retry_pause_ms);
                    tokio::time::sleep(pause.saturating_mul(1 << attempt)).await;
                }
            }
        }
        tracing::error!(job_id = %job.id, "folder job stalls: it could not be handed over");
    }

    /// Writes the job as this run owns it, with `usage` in the same atomic step: Superseded
    /// when another run owns it. A write that collided with another one in flight (the owner
    /// asking to cancel) is tried again while the job is still this run's.
    async fn write(&self, job: &mut Job, usage: Option<UsageChange>) -> AppResult<JobWrite> {
        let at = now();
        job.updated_at = at;
        job.expires_at = at + Age::hours(LIFETIME_HOURS);
        for _ in 0..WRITE_ATTEMPTS {
            match self.store.update_job(job, job.run, usage).await? {
                JobWrite::Saved { cancel_requested } => {
                    job.cancel_requested |= cancel_requested;
                    return Ok(JobWrite::Saved { cancel_requested });
                }
                JobWrite::Superseded => {
                    let stored = self.store.get_job(&job.user_id, &job.id).await?;
                    // A run writes only jobs that still run (its last write ends them).
                    let ours =
                        stored.is_some_and(|s| s.run == job.run && s.status == JobStatus::Running);
                    if !ours {
                        return Ok(JobWrite::Superseded);
                    }
                }
                JobWrite::OverCaps => return Ok(JobWrite::OverCaps),
            }
        }
        Ok(JobWrite::Superseded)
    }

    /// Writes `next`, the job as a step leaves it (with `usage` in the same atomic step); the
    /// job becomes `next` only once written, so a write that failed leaves the job as stored.
    async fn commit(
        &self,
        job: &mut Job,
        mut next: Job,
        usage: Option<UsageChange>,
    ) -> AppResult<JobWrite> {
        let written = self.write(&mut next, usage).await?;
        if let JobWrite::Saved { .. } = written {
            *job = next;
        }
        Ok(written)
    }

    /// [`Core::commit`] of a step: `Stop` when another run owns the job.
    async fn commit_step(
        &self,
        job: &mut Job,
        next: Job,
        usage: Option<UsageChange>,
    ) -> AppResult<Flow> {
        Ok(match self.commit(job, next, usage).await? {
            JobWrite::Saved { .. } => Flow::Next,
            JobWrite::Superseded | JobWrite::OverCaps => Flow::Stop,
        })
    }
}

fn new_job(owner: &User, kind: JobKind, source: &UserPath, target: Option<&UserPath>) -> Job {
    let at = now();
    Job {
        id: Uuid::new_v4().to_string(),
        user_id: owner.id.to_string(),
        kind,
        status: JobStatus::Running,
        name: source.name().to_owned(),
        paths: Vec::new(),
        folder_contents: false,
        files_done: 0,
        files_total: 0,
        bytes_done: 0,
        bytes_total: 0,
        error: None,
        error_code: None,
        share_id: None,
        folder: Some(FolderWork {
            source: source.to_string(),
            target: target.map(UserPath::to_string),
            phase: FolderPhase::Counting,
            after: None,
            step: None,
            failures: 0,
            skipped: 0,
        }),
        run: 0,
        cancel_requested: false,
        created_at: at,
        updated_at: at,
        expires_at: at + Age::hours(LIFETIME_HOURS),
    }
}

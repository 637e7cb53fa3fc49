//! Running jobs: one run per invocation (or task), handed over to the next run when its time
//! is up, taken over when its run died, resumed when the local server starts again.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::{reserved_paths, touch, JobEvent};
use crate::error::{AppError, AppResult};
use crate::services::Core;
use crate::store::{Job, JobKind, JobStatus, JobWrite};

/// At most this many running jobs are taken over when the local server starts.
const RESUMED_AT_START: usize = 1000;
/// Tries of the write that makes a run the job's owner before the job is left to stall.
const CLAIM_ATTEMPTS: u32 = 3;
/// What the owner of a folder job is told when it cannot hold its paths after its run died.
const INTERRUPTED_FOLDER: &str =
    "The job was interrupted and another job now works on its folders; resume it later.";
/// What the owner of a job is told when its next run cannot be started.
const NOT_CONTINUED: &str =
    "The job could not be continued (a service was unavailable); resume it.";

impl Core {
    /// One run of the job `event` names, given at most `budget` (what is left of a Lambda
    /// invocation; unbounded for a task). A run the job has left (a duplicate or retried
    /// event) does nothing.
    ///
    /// Boxed: a run may launch the next run (a hand-over), so its future contains itself, and
    /// only a named type lets the compiler see that it can be sent to another thread.
    pub fn run_job<'a>(
        self: &'a Arc<Self>,
        event: &'a JobEvent,
        budget: Duration,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let job = match self.store.get_job(&event.user_id, &event.job_id).await {
                Ok(Some(job)) => job,
                Ok(None) => return,
                Err(e) => {
                    tracing::error!(job_id = %event.job_id, error = %e, "job cannot be read");
                    return;
                }
            };
            if job.status != JobStatus::Running || job.run != event.run {
                tracing::info!(job_id = %job.id, run = event.run, "job event for a run it has left");
                return;
            }
            match job.kind {
                JobKind::Zip => self.run_zip_job_within(event, budget).await,
                _ => {
                    let Some(job) = self.claim_run(job).await else {
                        return;
                    };
                    let slice = Duration::from_secs(self.config.job_slice_secs);
                    self.run_folder_job(job, budget.min(slice)).await
                }
            }
        })
    }

    /// Makes the job this run's alone (`run + 1`, conditional on the event's run) before any
    /// work: Lambda delivers an asynchronous event at least once, and a duplicate of the same
    /// run must not work (and charge) beside it. `None`: another run has it.
    async fn claim_run(&self, mut job: Job) -> Option<Job> {
        let previous = job.run;
        job.run += 1;
        let pause = Duration::from_millis(self.config.job_retry_pause_ms);
        for attempt in 0..CLAIM_ATTEMPTS {
            touch(&mut job);
            match self.store.update_job(&job, previous, None).await {
                Ok(JobWrite::Saved { cancel_requested }) => {
                    job.cancel_requested = cancel_requested;
                    return Some(job);
                }
                Ok(_) => return None,
                Err(e) => {
                    tracing::warn!(job_id = %job.id, error = %e, "job run not claimed");
                    tokio::time::sleep(pause.saturating_mul(1 << attempt)).await;
                }
            }
        }
        // Nothing written: the job stalls and is taken over when next looked at.
        tracing::error!(job_id = %job.id, "job run could not be claimed; it stalls");
        None
    }

    /// Hands the job to its next run (`run + 1`, written, then launched). `Ok(true)`: the next
    /// run has it (or, when it could not be launched, the job is recorded failed); `Ok(false)`:
    /// another run owns the job. Either way this run stops. `Err`: nothing was written.
    pub(crate) async fn hand_over(self: &Arc<Self>, job: &mut Job) -> AppResult<bool> {
        // The stored cancel flag survives this write: a stop asked meanwhile reaches the next run.
        let previous = job.run;
        job.run += 1;
        touch(job);
        match self.store.update_job(job, previous, None).await {
            Ok(JobWrite::Saved { .. }) => {}
            Ok(JobWrite::Superseded) => {
                job.run = previous;
                return Ok(false);
            }
            Ok(JobWrite::OverCaps) => unreachable!("a job write without usage has no caps"),
            Err(e) => {
                job.run = previous;
                return Err(e.into());
            }
        }
        // A launch that failed is recorded in the job.
        let _ = self.launch_run(job).await;
        Ok(true)
    }

    /// Starts the run `job.run`. When it cannot be started the job is recorded failed (an
    /// archive as today's failures are; a folder job resumable) and its slot given back.
    pub(crate) async fn launch_run(self: &Arc<Self>, job: &mut Job) -> AppResult<()> {
        let event = JobEvent {
            user_id: job.user_id.clone(),
            job_id: job.id.clone(),
            run: job.run,
        };
        let Err(e) = self.launcher.launch(self.clone(), &event).await else {
            return Ok(());
        };
        tracing::warn!(job_id = %job.id, error = %e, "job run not started");
        if job.kind == JobKind::Zip {
            self.fail(job, &e).await;
            return Err(e);
        }
        job.status = JobStatus::Failed;
        job.error = Some(NOT_CONTINUED.into());
        job.error_code = Some("service_unavailable".into());
        touch(job);
        // The slot goes only once the failure is written: a launch that timed out may still
        // have started the run, which then owns the job (and its slot) before this write.
        match self.store.update_job(job, job.run, None).await {
            Ok(JobWrite::Saved { .. }) => self.release_slot(job).await,
            Ok(_) => {}
            Err(store) => {
                tracing::error!(job_id = %job.id, error = %store, "job outcome not recorded")
            }
        }
        Err(e)
    }

    /// Takes over a running folder job whose run is gone (a stall, a restart): its paths
    /// reserved again (its own live slot renewed), `run + 1`, a new run launched. When another
    /// job now holds its paths it is recorded failed (resumable). `job` ends as stored.
    pub(crate) async fn take_over(self: &Arc<Self>, job: &mut Job) -> AppResult<()> {
        let paths = reserved_paths(job)?;
        let reserved = self.reserve_for_job(&job.user_id, &job.id, &paths).await;
        let previous = job.run;
        job.run += 1;
        touch(job);
        match reserved {
            Ok(()) => {}
            Err(AppError::JobRunning { .. } | AppError::Throttled { .. }) => {
                job.status = JobStatus::Failed;
                job.error = Some(INTERRUPTED_FOLDER.into());
                job.error_code = Some("interrupted".into());
            }
            Err(e) => return Err(e),
        }
        match self.store.update_job(job, previous, None).await? {
            JobWrite::Saved { .. } => {}
            JobWrite::Superseded => {
                // Someone else took it first: show theirs.
                if let Some(stored) = self.store.get_job(&job.user_id, &job.id).await? {
                    *job = stored;
                }
                return Ok(());
            }
            JobWrite::OverCaps => unreachable!("a job write without usage has no caps"),
        }
        tracing::info!(user_id = %job.user_id, job_id = %job.id, run = job.run, status = ?job.status,
            "job taken over");
        if job.status != JobStatus::Running {
            return Ok(());
        }
        // A launch that failed is recorded in the job.
        let _ = self.launch_run(job).await;
        Ok(())
    }

    /// An archive found running at a start is written again from the beginning (same archive
    /// key, same charge; its slot renewed, or it runs without one).
    async fn rerun_zip(self: &Arc<Self>, job: &mut Job) -> AppResult<()> {
        let previous = job.run;
        job.run += 1;
        job.files_done = 0;
        job.bytes_done = 0;
        touch(job);
        match self.store.update_job(job, previous, None).await? {
            JobWrite::Saved { .. } => {}
            JobWrite::Superseded => return Ok(()),
            JobWrite::OverCaps => unreachable!("a job write without usage has no caps"),
        }
        if self.runs_in_background(job) {
            self.renew_slot(job).await?;
        }
        tracing::info!(user_id = %job.user_id, job_id = %job.id, "zip job written again");
        self.launch_run(job).await
    }

    /// At the local server's start: every job the store has running lost its process, and
    /// runs on (folder jobs from where they were, archives from the beginning).
    pub async fn resume_jobs(self: &Arc<Self>) {
        let jobs = match self.store.running_jobs(RESUMED_AT_START).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::error!(error = %e, "running jobs cannot be listed; none resumed");
                return;
            }
        };
        for mut job in jobs {
            let result = match job.kind {
                JobKind::Zip => self.rerun_zip(&mut job).await,
                _ => self.take_over(&mut job).await,
            };
            if let Err(e) = result {
                tracing::warn!(job_id = %job.id, error = %e, "job not resumed");
            }
        }
    }
}

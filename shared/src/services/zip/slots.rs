//! At most `limits.max_running_zip_jobs` background jobs per user run at once.
//!
//! On AWS each job runs in its own invocation, so no process can count them: a job holds one of
//! its owner's slots in the metadata store (see [`crate::store::JobSlot`]), claimed when it is
//! handed to the background and given back when it ends. A slot lapses [`STALL_MINUTES`] after
//! the job last saved progress, the time after which a running job is called interrupted, so a
//! job that dies without finishing frees its slot by itself. Archives small enough to be
//! written within the request take no slot: the request itself is their bound.

use chrono::Duration;

use super::{Core, STALL_MINUTES};
use crate::error::{AppError, AppResult};
use crate::services::now;
use crate::store::ZipJob;

/// `Retry-After` when every slot is held: jobs mostly end within seconds to minutes, so a
/// slot's expiry (up to [`STALL_MINUTES`] away) would be too pessimistic a hint.
const BUSY_RETRY_SECS: u64 = 15;

impl Core {
    /// Takes a slot for `job`, or answers 429 `throttled` with `Retry-After`.
    pub(super) async fn claim_slot(&self, job: &ZipJob) -> AppResult<()> {
        let at = now();
        let slots = self.config.limits.max_running_zip_jobs;
        let until = at + Duration::minutes(STALL_MINUTES);
        if self
            .store
            .claim_job_slot(&job.user_id, &job.id, slots, at, until)
            .await?
        {
            return Ok(());
        }
        tracing::info!(user_id = %job.user_id, slots, "zip job refused: every slot is held");
        Err(AppError::Throttled {
            retry_after_secs: BUSY_RETRY_SECS,
        })
    }

    /// Keeps the job's slot while it makes progress. A job whose slot lapsed (it stalled and
    /// another took over) goes on: it is logged, not stopped.
    pub(super) async fn renew_slot(&self, job: &ZipJob) -> AppResult<()> {
        let until = now() + Duration::minutes(STALL_MINUTES);
        if !self
            .store
            .renew_job_slot(&job.user_id, &job.id, until)
            .await?
        {
            tracing::warn!(job_id = %job.id, "zip job runs without its slot");
        }
        Ok(())
    }

    /// Gives the job's slot back (a no-op for jobs that hold none). A failure is logged: the
    /// slot then lapses by itself.
    pub(super) async fn release_slot(&self, job: &ZipJob) {
        if let Err(e) = self.store.release_job_slot(&job.user_id, &job.id).await {
            tracing::warn!(job_id = %job.id, error = %e, "zip job slot not given back");
        }
    }
}

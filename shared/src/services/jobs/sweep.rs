//! A periodic look at every running job, so that a job whose run died with no successor (its
//! Lambda retries spent, a task lost) goes on without waiting for its owner to look at it:
//! on AWS a schedule invokes the files function with [`SWEEP_EVENT_KEY`]; the local server
//! sweeps on a timer of the same period.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::{stalled, INTERRUPTED};
use crate::services::Core;
use crate::store::{JobKind, JobStatus};

/// The key of a sweep's invocation payload: `{"vertex_sweep": {}}` (the template's schedule
/// sends exactly this).
pub const SWEEP_EVENT_KEY: &str = "vertex_sweep";
/// How often jobs are swept; the template's schedule says the same (`rate(5 minutes)`). With
/// a stall declared after [`super::STALL_MINUTES`], a dead job goes on within 15 minutes.
pub const SWEEP_PERIOD: Duration = Duration::from_secs(5 * 60);
/// At most this many running jobs are looked at by one sweep: far more than a deployment's
/// users run at once (each holds at most a few).
const SWEPT_AT_MOST: usize = 10_000;

/// Whether an invocation's payload asks for a sweep.
pub fn sweep_event(payload: &serde_json::Value) -> bool {
    payload.get(SWEEP_EVENT_KEY).is_some()
}

/// What one sweep found and did (the invocation's answer, and a log line).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Swept {
    /// Running jobs seen.
    pub running: usize,
    /// Stalled folder jobs running again (a new run launched).
    pub taken_over: usize,
    /// Stalled jobs recorded as ended: archives interrupted (their charge and slot given
    /// back), folder jobs failed because another job now holds their folders (resumable).
    pub interrupted: usize,
    /// Stalled jobs that could not be handled now (storage unavailable): the next sweep tries.
    pub failed: usize,
}

impl Core {
    /// Takes over every stalled folder job and records every stalled archive interrupted, as
    /// `GET /api/jobs/{id}` would when its owner looks. A job whose run is alive is left alone.
    pub async fn sweep_jobs(self: &Arc<Self>) -> Swept {
        let mut swept = Swept::default();
        let jobs = match self.store.running_jobs(SWEPT_AT_MOST).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::error!(error = %e, "running jobs cannot be listed; none swept");
                swept.failed = 1;
                return swept;
            }
        };
        swept.running = jobs.len();
        for seen in jobs.into_iter().filter(stalled) {
            // The listing (an index on DynamoDB) may lag: the job is acted on only as it is
            // stored now, and only if it is still stalled.
            let mut job = match self.store.get_job(&seen.user_id, &seen.id).await {
                Ok(Some(job)) if stalled(&job) => job,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(job_id = %seen.id, error = %e, "stalled job not read");
                    swept.failed += 1;
                    continue;
                }
            };
            if job.kind == JobKind::Zip {
                self.record_job_failure(&mut job, INTERRUPTED.into()).await;
                swept.interrupted += 1;
                continue;
            }
            match self.take_over(&mut job).await {
                Ok(()) if job.status == JobStatus::Running => swept.taken_over += 1,
                Ok(()) => swept.interrupted += 1,
                Err(e) => {
                    tracing::warn!(job_id = %job.id, error = %e, "stalled job not taken over");
                    swept.failed += 1;
                }
            }
        }
        tracing::info!(?swept, "running jobs swept");
        swept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_payload_with_the_key_is_a_sweep() {
        assert!(sweep_event(&serde_json::json!({"vertex_sweep": {}})));
        assert!(!sweep_event(&serde_json::json!({"vertex_job": {}})));
        assert!(!sweep_event(&serde_json::json!({"version": "2.0"})));
    }
}

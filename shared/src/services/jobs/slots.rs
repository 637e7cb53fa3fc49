//! At most `limits.max_running_jobs` background jobs per user run at once, and a folder job
//! reserves the paths it works on.
//!
//! On AWS each job runs in its own invocations, so no process can count them: a job holds one
//! of its owner's slots in the metadata store (see [`crate::store::JobSlot`]), claimed when it
//! is handed to the background and given back when it ends. A slot lapses [`STALL_MINUTES`]
//! after the job last renewed it, the time after which a running job is called interrupted, so
//! a job that dies without finishing frees its slot by itself. Archives small enough to be
//! written within the request take no slot: the request itself is their bound.
//!
//! A folder job's slot also names the paths it works on (source and target). While the slot
//! lives, requests that would write at or below those paths, or above them, are refused
//! (409 `job_running`), and a second job on an overlapping path cannot start: checking the
//! overlap and taking the slot are one guarded write, so of two concurrent starts one wins.

use chrono::Duration;
use serde::Serialize;
use utoipa::ToSchema;

use super::STALL_MINUTES;
use crate::domain::UserPath;
use crate::error::{AppError, AppResult};
use crate::services::{now, Core};
use crate::store::{GuardedClaim, Job, JobKind, JobSlot, JobStatus};

/// `Retry-After` when every slot is held: jobs mostly end within seconds to minutes, so a
/// slot's expiry (up to [`STALL_MINUTES`] away) would be too pessimistic a hint.
const BUSY_RETRY_SECS: u64 = 15;
/// How often a reservation is tried again when another claim changed the slots meanwhile.
const CLAIM_ATTEMPTS: usize = 3;

/// What a folder job does to a path it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobRole {
    /// Its objects are read (copy), moved away (move, rename) or deleted.
    Source,
    /// Objects are being put there.
    Target,
}

/// The running job that holds a path, as `stat` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct JobRef {
    pub job_id: String,
    pub kind: JobKind,
    pub role: JobRole,
    pub status: JobStatus,
}

/// True when one path is the other or lies below it (segment-wise: `a` and `ab` do not).
fn overlaps(a: &UserPath, b: &UserPath) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// The paths a slot reserves (paths that no longer parse reserve nothing).
fn reserved(slot: &JobSlot) -> impl Iterator<Item = UserPath> + '_ {
    slot.paths.iter().filter_map(|p| UserPath::parse(p).ok())
}

impl Core {
    /// Takes a slot for a zip `job` (which reserves no path), or answers 429 `throttled` with
    /// `Retry-After`.
    pub(crate) async fn claim_slot(&self, job: &Job) -> AppResult<()> {
        let at = now();
        let slots = self.config.limits.max_running_jobs;
        let until = at + Duration::minutes(STALL_MINUTES);
        if self
            .store
            .claim_job_slot(&job.user_id, &job.id, slots, at, until)
            .await?
        {
            return Ok(());
        }
        tracing::info!(user_id = %job.user_id, slots, "job refused: every slot is held");
        Err(busy())
    }

    /// Slot + reservation of `paths` for a folder job: 429 `throttled` (every slot held), 409
    /// `job_running` with the other job's id (a live slot's path overlaps one of `paths`). A
    /// job that still holds a live slot (taken over after a restart or a stall) renews it
    /// instead of claiming a second one. Retried when the guarded claim loses a race.
    pub(crate) async fn reserve_for_job(
        &self,
        user_id: &str,
        job_id: &str,
        paths: &[UserPath],
    ) -> AppResult<()> {
        let wanted: Vec<String> = paths.iter().map(UserPath::to_string).collect();
        for _ in 0..CLAIM_ATTEMPTS {
            let seen = self.store.job_slots(user_id).await?;
            let at = now();
            let until = at + Duration::minutes(STALL_MINUTES);
            let live = seen.iter().filter(|s| s.expires_at > at);
            let (own, others): (Vec<&JobSlot>, Vec<&JobSlot>) =
                live.partition(|s| s.job_id == job_id);
            refuse_overlaps(&others, paths.iter())?;
            if !own.is_empty() {
                if self.store.renew_job_slot(user_id, job_id, until).await? {
                    return Ok(());
                }
                continue;
            }
            let slots = self.config.limits.max_running_jobs;
            let held: Vec<u32> = others.iter().map(|s| s.slot).collect();
            let Some(free) = (0..slots as u32).find(|i| !held.contains(i)) else {
                tracing::info!(user_id, slots, "job refused: every slot is held");
                return Err(busy());
            };
            let claim = GuardedClaim {
                user_id,
                job_id,
                slot: free,
                slots,
                paths: &wanted,
                now: at,
                until,
                seen: &seen,
            };
            if self.store.claim_guarded_slot(&claim).await? {
                return Ok(());
            }
        }
        tracing::info!(user_id, job_id, "job refused: the slots kept changing");
        Err(busy())
    }

    /// 409 `job_running` when any of `paths` overlaps a live reservation. Pass the paths the
    /// request writes (the file, the new folder), not their folder: the home overlaps every
    /// reservation.
    pub(crate) async fn refuse_reserved(
        &self,
        user_id: &str,
        paths: &[&UserPath],
    ) -> AppResult<()> {
        let slots = self.store.job_slots(user_id).await?;
        let at = now();
        let live: Vec<&JobSlot> = slots.iter().filter(|s| s.expires_at > at).collect();
        refuse_overlaps(&live, paths.iter().copied())
    }

    /// The running job whose reservation holds `path` (at or below a reserved path), for
    /// `stat`.
    pub(crate) async fn job_at(&self, user_id: &str, path: &UserPath) -> AppResult<Option<JobRef>> {
        let slots = self.store.job_slots(user_id).await?;
        let at = now();
        let held = slots.iter().filter(|s| s.expires_at > at).find_map(|s| {
            let role = reserved(s).position(|r| path.starts_with(&r))?;
            Some((
                s,
                if role == 0 {
                    JobRole::Source
                } else {
                    JobRole::Target
                },
            ))
        });
        let Some((slot, role)) = held else {
            return Ok(None);
        };
        let job = self.store.get_job(user_id, &slot.job_id).await?;
        Ok(job
            .filter(|j| j.status == JobStatus::Running)
            .map(|j| JobRef {
                job_id: j.id,
                kind: j.kind,
                role,
                status: j.status,
            }))
    }

    /// Keeps the job's slot while it makes progress (its paths stay reserved). A job whose
    /// slot lapsed (it stalled and another took over) goes on: it is logged, not stopped.
    pub(crate) async fn renew_slot(&self, job: &Job) -> AppResult<()> {
        let until = now() + Duration::minutes(STALL_MINUTES);
        if !self
            .store
            .renew_job_slot(&job.user_id, &job.id, until)
            .await?
        {
            tracing::warn!(job_id = %job.id, "job runs without its slot");
        }
        Ok(())
    }

    /// Gives the job's slot (and its reservation) back; a no-op for jobs that hold none. A
    /// failure is logged: the slot then lapses by itself.
    pub(crate) async fn release_slot(&self, job: &Job) {
        if let Err(e) = self.store.release_job_slot(&job.user_id, &job.id).await {
            tracing::warn!(job_id = %job.id, error = %e, "job slot not given back");
        }
    }
}

/// 409 `job_running` naming the first of `slots` that holds a path overlapping `paths`.
fn refuse_overlaps<'a>(
    slots: &[&JobSlot],
    paths: impl Iterator<Item = &'a UserPath>,
) -> AppResult<()> {
    let paths: Vec<&UserPath> = paths.collect();
    for slot in slots {
        if reserved(slot).any(|r| paths.iter().any(|p| overlaps(p, &r))) {
            return Err(AppError::job_running(slot.job_id.clone()));
        }
    }
    Ok(())
}

fn busy() -> AppError {
    AppError::Throttled {
        retry_after_secs: BUSY_RETRY_SECS,
    }
}

#[cfg(test)]
mod tests {
    use super::overlaps;
    use crate::domain::UserPath;

    #[test]
    fn paths_overlap_segment_wise() {
        let p = |s: &str| UserPath::parse(s).unwrap();
        assert!(overlaps(&p("a"), &p("a")));
        assert!(overlaps(&p("a/b"), &p("a")));
        assert!(overlaps(&p("a"), &p("a/b/c")));
        assert!(!overlaps(&p("a"), &p("ab")));
        assert!(!overlaps(&p("a/b"), &p("a/c")));
        assert!(overlaps(&p(""), &p("x")));
    }
}

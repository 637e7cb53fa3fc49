//! How a folder job ends: done (after a pass over stragglers and the folders' markers),
//! undone, cancelled or failed. Whatever the end, a step in progress is closed first so usage
//! equals what is stored, and the job's slot (its reservation) is given back.

use std::collections::HashMap;
use std::time::Duration;

use super::{folder, folder_mut, same_object, Flow, Run, Work};
use crate::error::AppResult;
use crate::objects::{ObjectInfo, MAX_LIST_PAGE};
use crate::services::files::usage::tally;
use crate::services::Core;
use crate::store::{FolderPhase, Job, JobKind, JobStatus, JobWrite, UsageChange};

/// Tries of closing a step before a job ends without it closed.
const CLOSE_ATTEMPTS: u32 = 3;

impl Core {
    /// The phase's listing is at its end.
    pub(super) async fn at_end(&self, job: &mut Job, run: &Run) -> AppResult<Flow> {
        let phase = folder(job).phase;
        match (phase, job.kind) {
            (FolderPhase::Counting, _) => return Ok(Flow::Next),
            // Once more from the start: objects that slipped in before the reservation.
            (FolderPhase::Working, kind) if kind != JobKind::Copy => {
                let mut next = job.clone();
                let work = folder_mut(&mut next);
                work.phase = FolderPhase::Finishing;
                work.after = None;
                return self.commit_step(job, next, None).await;
            }
            _ => {}
        }
        if !self.still_ours(job).await? {
            return Ok(Flow::Stop);
        }
        if phase == FolderPhase::Undoing {
            // The folder the target was put in stays, as it was before the job.
            if let Some(target) = &run.target {
                self.keep_parent(&run.owner, target).await;
            }
            return self.complete(job, JobStatus::Undone).await;
        }
        self.keep_folders(run, job.kind).await;
        self.complete(job, JobStatus::Done).await
    }

    /// False when another run owns the job (checked by a write before the markers are
    /// written: a run that was taken over writes nothing more).
    async fn still_ours(&self, job: &mut Job) -> AppResult<bool> {
        Ok(self.commit_step(job, job.clone(), None).await? == Flow::Next)
    }

    /// The folder a move or delete took the source out of stays, empty if it was its last
    /// item (as within a request; a rename or a move within the folder leaves it in use).
    async fn keep_folders(&self, run: &Run, kind: JobKind) {
        let stays = match (&run.target, run.source.parent()) {
            (Some(target), Some(parent)) => target.starts_with(&parent),
            _ => false,
        };
        if kind == JobKind::Delete || (kind != JobKind::Copy && !stays) {
            self.keep_parent(&run.owner, &run.source).await;
        }
    }

    /// Records the job's end: done (counts at least the totals: objects moved before a crash
    /// were not counted) or undone.
    async fn complete(&self, job: &mut Job, status: JobStatus) -> AppResult<Flow> {
        let mut ended = job.clone();
        if status == JobStatus::Done {
            ended.files_done = ended.files_done.max(ended.files_total);
            ended.bytes_done = ended.bytes_done.max(ended.bytes_total);
        }
        ended.status = status;
        ended.error = None;
        ended.error_code = None;
        // The paths are free before anyone can see the end (a write that fails leaves the job
        // running without its slot: taken over when next looked at, it ends again).
        self.release_slot(job).await;
        if let JobWrite::Saved { .. } = self.write(&mut ended, None).await? {
            tracing::info!(job_id = %ended.id, ?status, "folder job ended");
        }
        *job = ended;
        Ok(Flow::Stop)
    }

    /// Ends the job early (cancelled, or failed with words and a code for its owner): the step
    /// in progress is closed, the end recorded and the slot given back.
    pub(super) async fn end_early(
        &self,
        job: &mut Job,
        run: &Run,
        status: JobStatus,
        failure: Option<(String, String)>,
    ) -> Flow {
        let mut closed = job.clone();
        let usage = self.closed_step(&mut closed, run).await;
        // The closed step is written first (still running, and only if the job is still this
        // run's), the slot given back, then the end: whoever sees the end finds the paths free.
        match self.commit(job, closed, usage).await {
            Ok(JobWrite::Saved { .. }) => {}
            Ok(_) => return Flow::Stop,
            Err(e) => {
                // The job stalls and is taken over when next looked at.
                tracing::error!(job_id = %job.id, error = %e, "folder job end not recorded");
                return Flow::Stop;
            }
        }
        self.release_slot(job).await;
        let mut ended = job.clone();
        ended.status = status;
        (ended.error, ended.error_code) =
            failure.map_or((None, None), |(why, code)| (Some(why), Some(code)));
        match self.write(&mut ended, None).await {
            Ok(JobWrite::Saved { .. }) => {
                tracing::info!(job_id = %ended.id, ?status, "folder job ended early");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(job_id = %job.id, error = %e, "folder job end not recorded"),
        }
        *job = ended;
        Flow::Stop
    }

    /// [`Core::close_step`], tried a few times (it often runs because storage fails). If it
    /// keeps failing the step stays recorded with the usage it holds: a resumed run redoes it.
    async fn closed_step(&self, job: &mut Job, run: &Run) -> Option<UsageChange> {
        for attempt in 0..CLOSE_ATTEMPTS {
            match self.close_step(job, run).await {
                Ok(usage) => return usage,
                Err(e) => {
                    tracing::warn!(job_id = %job.id, error = %e, "folder job step not closed");
                    let pause = Duration::from_millis(self.config.job_retry_pause_ms);
                    tokio::time::sleep(pause.saturating_mul(1 << attempt)).await;
                }
            }
        }
        None
    }

    /// Puts the range of a step that cannot finish back to a state the job can resume from,
    /// with usage equal to what is stored: a copy step's copies go (their sources are whole;
    /// anything else found there stays) and its charge is given back; a delete step counts
    /// back what is still there; a move step's objects are each under one name already. The
    /// usage change to write with it.
    async fn close_step(&self, job: &mut Job, run: &Run) -> AppResult<Option<UsageChange>> {
        let Some(step) = folder(job).step.clone() else {
            return Ok(None);
        };
        let lane = run.lane(job);
        let (after, through) = (folder(job).after.clone(), Some(step.through.as_str()));
        let usage = match lane.work {
            Work::Move => None,
            Work::Copy => {
                let sources = self
                    .list_range(&lane.from, after.as_deref(), through, MAX_LIST_PAGE)
                    .await?;
                let copies = self
                    .list_range(&lane.to, after.as_deref(), through, MAX_LIST_PAGE)
                    .await?;
                // Only the step's own copies go: whatever else is there stays.
                let sources: HashMap<&str, &ObjectInfo> = sources
                    .iter()
                    .map(|s| (&s.key[lane.from.len()..], s))
                    .collect();
                let ours: Vec<String> = copies
                    .into_iter()
                    .filter(|c| {
                        let source = sources.get(&c.key[lane.to.len()..]);
                        source.is_some_and(|s| same_object(s, c))
                    })
                    .map(|c| c.key)
                    .collect();
                self.objects.delete(&ours).await?;
                Some(UsageChange {
                    bytes: -(step.bytes as i64),
                    files: -(step.files as i64),
                    caps: None,
                })
            }
            Work::Delete => {
                let left = self
                    .list_range(&lane.from, after.as_deref(), through, MAX_LIST_PAGE)
                    .await?;
                let (bytes, files) = tally(&left);
                Some(UsageChange {
                    bytes: bytes as i64,
                    files: files as i64,
                    caps: None,
                })
            }
        };
        folder_mut(job).step = None;
        Ok(usage)
    }
}

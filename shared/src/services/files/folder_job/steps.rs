//! One step of a folder job: list the next objects, record the step (with the usage it
//! needs, in the same write), work on the objects, record what was done.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{folder, folder_mut, same_object, Flow, Lane, Run, Work};
use crate::error::AppResult;
use crate::objects::{Listed, ObjectInfo, MAX_LIST_PAGE};
use crate::services::files::usage::tally;
use crate::services::{now, Core};
use crate::store::{FolderPhase, Job, JobStatus, JobWrite, Step, UsageChange};

/// What the objects of a step came to.
#[derive(Debug, Default)]
pub(super) struct Worked {
    /// Key (relative to the lane's `from`) of the last object dealt with, in key order: the
    /// step's objects up to it are done, those after it untouched.
    pub last: Option<String>,
    /// Every object of the step was dealt with.
    pub complete: bool,
    /// Objects (and their bytes) now where the step puts them.
    pub files: u64,
    pub bytes: u64,
    /// Sources that were gone (or kept changing) when their turn came.
    pub skipped: u64,
}

/// The objects of an undelimited listing page.
pub(super) fn objects(items: Vec<Listed>) -> Vec<ObjectInfo> {
    items
        .into_iter()
        .filter_map(|item| match item {
            Listed::Object(o) => Some(o),
            Listed::Prefix(_) => None,
        })
        .collect()
}

/// `key` relative to the prefix `from`.
pub(super) fn relative(key: &str, from: &str) -> String {
    key[from.len()..].to_owned()
}

/// How many of `listed` a new step takes: those whose sizes add up to at most `bytes`, and at
/// least one (an object larger than a step is a step of its own).
fn within_bytes(listed: &[ObjectInfo], bytes: u64) -> usize {
    let mut total = 0u64;
    let fit = listed
        .iter()
        .take_while(|o| {
            total = total.saturating_add(o.size);
            total <= bytes
        })
        .count();
    fit.max(1).min(listed.len())
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn change(bytes: i64, files: i64) -> Option<UsageChange> {
    (bytes != 0 || files != 0).then_some(UsageChange {
        bytes,
        files,
        caps: None,
    })
}

impl Core {
    /// The objects below `prefix` after the relative key `after`, at most `limit`, up to the
    /// relative key `through` when given.
    pub(super) async fn list_range(
        &self,
        prefix: &str,
        after: Option<&str>,
        through: Option<&str>,
        limit: usize,
    ) -> AppResult<Vec<ObjectInfo>> {
        let after = after.map(|a| format!("{prefix}{a}"));
        let page = self
            .objects
            .list_after(prefix, after.as_deref(), limit)
            .await?;
        let mut listed = objects(page.items);
        if let Some(through) = through {
            listed.retain(|o| o.key[prefix.len()..] <= *through);
        }
        Ok(listed)
    }

    /// One step of the lane: `AtEnd` when nothing is left to list.
    pub(super) async fn step(&self, job: &mut Job, run: &Run, lane: &Lane) -> AppResult<Flow> {
        let after = folder(job).after.clone();
        let through = folder(job).step.as_ref().map(|s| s.through.clone());
        // A recorded step is redone whole, even if the setting shrank since: a delete gave
        // back its whole range when it was recorded.
        let limit = match through {
            Some(_) => MAX_LIST_PAGE,
            None => self.config.job_step_objects.clamp(1, MAX_LIST_PAGE),
        };
        let mut listed = self
            .list_range(&lane.from, after.as_deref(), through.as_deref(), limit)
            .await?;
        // Bytes bound the time a step's copies take (a delete's do not depend on them).
        if through.is_none() && lane.work != Work::Delete {
            listed.truncate(within_bytes(&listed, self.config.job_step_bytes));
        }
        if let Some(source) = &lane.copies_of {
            let last = listed.last().map(|o| relative(&o.key, &lane.from));
            self.keep_copies_of(source, lane, after.as_deref(), &mut listed)
                .await?;
            if let (true, Some(last)) = (listed.is_empty(), last) {
                return self.pass_over(job, lane, last).await;
            }
        }
        match folder_mut(job).step.as_mut() {
            None if listed.is_empty() => return Ok(Flow::AtEnd),
            // A recorded range larger than a listing page (objects slipped in): its first part.
            Some(step) if listed.len() == limit => {
                step.through = relative(&listed[limit - 1].key, &lane.from);
            }
            _ => {}
        }
        match self.plan(job, run, lane, &mut listed).await? {
            Flow::Next => {}
            flow => return Ok(flow),
        }
        let asked = job.cancel_requested;
        let work = async {
            match lane.work {
                Work::Copy => self.copy_objects(run, asked, lane, &listed).await,
                Work::Move => self.move_objects(run, asked, lane, &listed).await,
                Work::Delete => self.delete_objects(lane, &listed).await,
            }
        };
        let worked = self.beating(job, run, work).await?;
        self.record(job, lane, worked).await
    }

    /// Runs a step's object work while its job stays alive: every `job_heartbeat_ms` the job
    /// is written as recorded (a fresh `updated_at`: a run that writes is never taken for a
    /// stalled one, however large the step's objects) and its slot renewed. A stop asked
    /// meanwhile (the stored flag, set by a request another process served) stops the work at
    /// the next object. A beat that fails is tried again at the next one.
    async fn beating<T>(&self, job: &Job, run: &Run, work: impl Future<Output = T>) -> T {
        let period = Duration::from_millis(self.config.job_heartbeat_ms.max(1));
        let mut work = std::pin::pin!(work);
        let mut beat = job.clone();
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = every.tick() => {
                    if let Ok(JobWrite::Saved { cancel_requested: true }) = self.write(&mut beat, None).await {
                        run.cancel.store(true, Ordering::Release);
                    }
                    if let Err(e) = self.renew_slot(&beat).await {
                        tracing::warn!(job_id = %beat.id, error = %e, "folder job slot not renewed");
                    }
                }
            }
        }
    }

    /// Keeps in `listed` (objects of the target, in key order) only copies of the source's
    /// objects at the same relative keys: what else is there is someone else's and stays.
    async fn keep_copies_of(
        &self,
        source: &str,
        lane: &Lane,
        after: Option<&str>,
        listed: &mut Vec<ObjectInfo>,
    ) -> AppResult<()> {
        let Some(last) = listed.last().map(|o| relative(&o.key, &lane.from)) else {
            return Ok(());
        };
        let sources = self
            .list_range(source, after, Some(&last), MAX_LIST_PAGE)
            .await?;
        let sources: HashMap<&str, &ObjectInfo> = sources
            .iter()
            .map(|s| (&s.key[source.len()..], s))
            .collect();
        listed.retain(|copy| {
            let original = sources.get(&copy.key[lane.from.len()..]);
            original.is_some_and(|s| same_object(s, copy))
        });
        Ok(())
    }

    /// Nothing of this part of the listing is the job's: the position moves past it (and a
    /// step recorded there is closed: what it gave back is gone).
    async fn pass_over(&self, job: &mut Job, lane: &Lane, last: String) -> AppResult<Flow> {
        if folder(job).step.is_some() {
            let worked = Worked {
                complete: true,
                ..Worked::default()
            };
            return self.record(job, lane, worked).await;
        }
        let mut next = job.clone();
        folder_mut(&mut next).after = Some(last);
        self.commit_step(job, next, None).await
    }

    /// Records the step before its objects are touched. A copy charges what it will store in
    /// the same write (refused past the caps: fewer objects, down to one that does not fit,
    /// which fails the job); a delete gives back what it removes. A step an earlier run
    /// recorded is done again as recorded: a copy charges only what its objects now need
    /// beyond what it holds.
    async fn plan(
        &self,
        job: &mut Job,
        run: &Run,
        lane: &Lane,
        listed: &mut Vec<ObjectInfo>,
    ) -> AppResult<Flow> {
        let mut next = job.clone();
        if let Some(held) = folder(job).step.clone() {
            let usage = match lane.work {
                Work::Copy => top_up(&mut next, run, &held, listed),
                _ => None,
            };
            return match self.commit(job, next, usage).await? {
                JobWrite::Saved { .. } => Ok(Flow::Next),
                JobWrite::Superseded => Ok(Flow::Stop),
                JobWrite::OverCaps => {
                    let files = usage.map_or(0, |u| u.files);
                    Ok(self.over_caps(job, run, files).await)
                }
            };
        }
        if lane.work == Work::Copy {
            return self.plan_copy(job, run, lane, listed).await;
        }
        let (bytes, files) = tally(listed);
        folder_mut(&mut next).step = Some(Step {
            through: relative(&listed[listed.len() - 1].key, &lane.from),
            bytes,
            files,
        });
        let give_back = match lane.work {
            Work::Delete => change(-signed(bytes), -signed(files)),
            _ => None,
        };
        self.commit_step(job, next, give_back).await
    }

    /// Records a new copy step with its charge; past the caps, half as many objects, down to
    /// one (expired charges of the owner are swept once before giving up).
    async fn plan_copy(
        &self,
        job: &mut Job,
        run: &Run,
        lane: &Lane,
        listed: &mut Vec<ObjectInfo>,
    ) -> AppResult<Flow> {
        let mut n = listed.len();
        let mut swept = false;
        loop {
            let (bytes, files) = tally(&listed[..n]);
            let mut next = job.clone();
            folder_mut(&mut next).step = Some(Step {
                through: relative(&listed[n - 1].key, &lane.from),
                bytes,
                files,
            });
            let usage = UsageChange {
                bytes: signed(bytes),
                files: signed(files),
                caps: Some(run.caps),
            };
            match self.commit(job, next, Some(usage)).await? {
                JobWrite::Saved { .. } => {
                    listed.truncate(n);
                    return Ok(Flow::Next);
                }
                JobWrite::Superseded => return Ok(Flow::Stop),
                JobWrite::OverCaps if n > 1 => n /= 2,
                // Expired charges may still hold the room: given back, it may fit.
                JobWrite::OverCaps if !swept => {
                    swept = true;
                    if self.store.sweep_charges(&run.owner.id, now()).await? == 0 {
                        return Ok(self.over_caps(job, run, signed(files)).await);
                    }
                }
                JobWrite::OverCaps => return Ok(self.over_caps(job, run, signed(files)).await),
            }
        }
    }

    /// The job fails as its owner's quota or file limit refuses what is left: what was
    /// copied stays (resume once there is room, or undo).
    async fn over_caps(&self, job: &mut Job, run: &Run, files: i64) -> Flow {
        let refused = self.refusal(&run.owner, files).await;
        let (why, code) = super::failure_of(&refused);
        self.end_early(job, run, JobStatus::Failed, Some((why, code)))
            .await
    }

    /// Records what the step did: the position moves past what was done, the counts grow, a
    /// copy's charge becomes what it stored (exactly, whatever it planned).
    async fn record(&self, job: &mut Job, lane: &Lane, worked: Worked) -> AppResult<Flow> {
        let Some(step) = folder(job).step.clone() else {
            return Ok(Flow::Next);
        };
        let (files, bytes) = match lane.work {
            // A delete gave back what it recorded; all of that is gone now.
            Work::Delete => (step.files, step.bytes),
            _ => (worked.files, worked.bytes),
        };
        let usage = match lane.work {
            Work::Copy => change(
                signed(bytes) - signed(step.bytes),
                signed(files) - signed(step.files),
            ),
            _ => None,
        };
        let mut next = job.clone();
        if folder(job).phase != FolderPhase::Undoing {
            next.files_done += files;
            next.bytes_done += bytes;
        }
        next.error = None;
        let work = folder_mut(&mut next);
        work.skipped += worked.skipped;
        work.failures = 0;
        if worked.complete {
            work.after = Some(step.through);
        } else if let Some(last) = worked.last {
            work.after = Some(last);
        }
        work.step = None;
        self.commit_step(job, next, usage).await
    }
}

/// What a recorded copy step still needs to charge (its sources may have grown), added to
/// the step in `next`.
fn top_up(next: &mut Job, run: &Run, held: &Step, listed: &[ObjectInfo]) -> Option<UsageChange> {
    let (bytes, files) = tally(listed);
    let more = (
        bytes.saturating_sub(held.bytes),
        files.saturating_sub(held.files),
    );
    if more == (0, 0) {
        return None;
    }
    if let Some(step) = folder_mut(next).step.as_mut() {
        step.bytes += more.0;
        step.files += more.1;
    }
    Some(UsageChange {
        bytes: signed(more.0),
        files: signed(more.1),
        caps: Some(run.caps),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sized(sizes: &[u64]) -> Vec<ObjectInfo> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| ObjectInfo {
                key: format!("k{i}"),
                size,
                etag: String::new(),
                content_type: String::new(),
                modified: chrono::Utc::now(),
            })
            .collect()
    }

    #[test]
    fn a_step_takes_objects_up_to_its_bytes_and_at_least_one() {
        assert_eq!(within_bytes(&sized(&[4, 4, 4]), 8), 2);
        assert_eq!(within_bytes(&sized(&[4, 4, 4]), 7), 1);
        assert_eq!(within_bytes(&sized(&[10, 1]), 8), 1);
        assert_eq!(within_bytes(&sized(&[1, 1]), 8), 2);
        assert_eq!(within_bytes(&sized(&[]), 8), 0);
        assert_eq!(within_bytes(&sized(&[u64::MAX, 1]), u64::MAX - 1), 1);
    }
}

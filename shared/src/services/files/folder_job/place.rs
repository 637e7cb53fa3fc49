//! The object work of a step: copies that are safe to make twice, moves that never lose an
//! object, deletes.
//!
//! A copy goes only where nothing is (`IfDest::Absent`); when something is there already and
//! it is the same object (a run before this one copied it and stopped), it counts as copied.
//! A move deletes its source only once the copy is verified, and only the version copied; a
//! source removed meanwhile (a twin run moved it) counts as moved. Forward work never deletes
//! a copy: with two runs at once, a copy may be the only place the object is left.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;

use super::steps::{relative, Worked};
use super::{same_object, Lane, Run};
use crate::error::{AppError, AppResult};
use crate::objects::{CopyRefused, IfDest, ObjectInfo};
use crate::services::Core;

/// Objects worked on at once: enough to hide S3's per-request latency, few enough for a small
/// Lambda and S3's per-prefix request rates (as requests do).
const CONCURRENCY: usize = 16;
/// Tries of one object whose source or destination keeps changing.
const ATTEMPTS: usize = 3;

/// How a copy came to be where it should.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placed {
    /// This call made it.
    Copied,
    /// It was there already: an earlier run of the job made it.
    AlreadyThere,
}

/// A source (the version copied) and its copy.
#[derive(Debug, Clone)]
pub(crate) struct Placement {
    pub source: ObjectInfo,
    pub copy: ObjectInfo,
    pub how: Placed,
}

/// The destination holds something else than the job put there: only a write that bypassed
/// the reservation can do that, and the job will not write over it.
fn destination_changed(key: &str) -> AppError {
    AppError::conflict(
        "destination_changed",
        format!(
            "'{}' was changed by something else while the job ran; the job stopped.",
            shown(key)
        ),
    )
}

/// A home's key as its owner names it (`users/<id>/a/b` → `a/b`).
fn shown(key: &str) -> &str {
    key.splitn(3, '/')
        .nth(2)
        .unwrap_or(key)
        .trim_end_matches('/')
}

fn destination(lane: &Lane, source: &ObjectInfo) -> String {
    format!("{}{}", lane.to, &source.key[lane.from.len()..])
}

/// Runs `work` (one future per object, in key order) with bounded concurrency, starting a
/// new one only while `stopped` is false; every started one runs to its end. The outcomes of
/// the started ones, in order, or the first failure among them.
async fn in_order<T, F>(work: Vec<F>, stopped: impl Fn() -> bool) -> AppResult<Vec<T>>
where
    F: Future<Output = AppResult<T>>,
{
    let outcomes: Vec<AppResult<T>> = futures::stream::iter(work)
        .take_while(|_| std::future::ready(!stopped()))
        .buffered(CONCURRENCY)
        .collect()
        .await;
    outcomes.into_iter().collect()
}

/// What a step with these outcomes (of the first `listed` objects, in order) came to.
fn worked<T>(
    lane: &Lane,
    listed: &[ObjectInfo],
    done: &[Option<T>],
    size: impl Fn(&T) -> u64,
) -> Worked {
    let mut worked = Worked {
        last: done
            .len()
            .checked_sub(1)
            .map(|i| relative(&listed[i].key, &lane.from)),
        complete: done.len() == listed.len(),
        ..Worked::default()
    };
    for outcome in done {
        match outcome {
            Some(made) => {
                worked.files += 1;
                worked.bytes += size(made);
            }
            None => worked.skipped += 1,
        }
    }
    worked
}

impl Core {
    /// Copies `source` to `to` unless its copy is there already; `None` when the source is
    /// gone (or kept changing).
    pub(crate) async fn place(
        &self,
        source: &ObjectInfo,
        to: &str,
    ) -> AppResult<Option<Placement>> {
        let mut source = source.clone();
        for _ in 0..ATTEMPTS {
            let copied = self
                .objects
                .copy_if(&source.key, &source.etag, to, IfDest::Absent)
                .await?;
            match copied {
                Ok(copy) => return self.verified(source, copy).await.map(Some),
                Err(CopyRefused::DestinationTaken) => match self.objects.head(to).await? {
                    Some(there) if same_object(&source, &there) => {
                        return Ok(Some(Placement {
                            source,
                            copy: there,
                            how: Placed::AlreadyThere,
                        }))
                    }
                    Some(_) => return Err(destination_changed(to)),
                    None => {}
                },
                Err(CopyRefused::SourceChanged) => match self.objects.head(&source.key).await? {
                    Some(now) => source = now,
                    None => return Ok(None),
                },
            }
        }
        Ok(None)
    }

    /// The copy as stored: its ETag and the source's size (what a move may delete its
    /// source for).
    async fn verified(&self, source: ObjectInfo, copy: ObjectInfo) -> AppResult<Placement> {
        match self.objects.head(&copy.key).await? {
            Some(there) if there.etag == copy.etag && there.size == source.size => Ok(Placement {
                source,
                copy: there,
                how: Placed::Copied,
            }),
            Some(_) => Err(destination_changed(&copy.key)),
            None => Err(AppError::Unavailable(anyhow::anyhow!(
                "the copy {} is not there after copying",
                copy.key
            ))),
        }
    }

    /// Moves `source` to `to`: copy, verify, then delete the source (the version copied). The
    /// size moved, or `None` when the source was gone or kept changing (it stays where it is).
    async fn move_one(&self, source: &ObjectInfo, to: &str) -> AppResult<Option<u64>> {
        let Some(mut placed) = self.place(source, to).await? else {
            return Ok(None);
        };
        for attempt in 0..ATTEMPTS {
            let (key, etag) = (&placed.source.key, &placed.source.etag);
            if self.objects.delete_if_match(key, etag).await? {
                return Ok(Some(placed.copy.size));
            }
            match self.objects.head(key).await? {
                // Removed meanwhile (a twin run moved it): the copy is the object now.
                None => return Ok(Some(placed.copy.size)),
                // Another call holds it while removing it: see again shortly.
                Some(now) if now.etag == placed.source.etag => {
                    tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
                }
                // Replaced: the new version goes over the copy, then the source goes.
                Some(now) => {
                    let copied = self
                        .objects
                        .copy_if(&now.key, &now.etag, to, IfDest::Matches(&placed.copy.etag))
                        .await?;
                    match copied {
                        Ok(copy) => placed = self.verified(now, copy).await?,
                        Err(CopyRefused::DestinationTaken) => return Err(destination_changed(to)),
                        Err(CopyRefused::SourceChanged) => {}
                    }
                }
            }
        }
        Ok(None)
    }

    pub(super) async fn copy_objects(
        &self,
        run: &Run,
        asked: bool,
        lane: &Lane,
        listed: &[ObjectInfo],
    ) -> AppResult<Worked> {
        // Futures of a named async fn, not closures: their borrows stay provably `Send`.
        let mut work = Vec::with_capacity(listed.len());
        for source in listed {
            work.push(self.place_at(source, destination(lane, source)));
        }
        let done = in_order(work, || asked || run.cancel.load(Ordering::Acquire)).await?;
        Ok(worked(lane, listed, &done, |p: &Placement| p.copy.size))
    }

    async fn place_at(&self, source: &ObjectInfo, to: String) -> AppResult<Option<Placement>> {
        let placed = self.place(source, &to).await?;
        if let Some(p) = placed.as_ref().filter(|p| p.how == Placed::AlreadyThere) {
            tracing::debug!(key = %p.copy.key, "copy made by an earlier run of the job");
        }
        Ok(placed)
    }

    pub(super) async fn move_objects(
        &self,
        run: &Run,
        asked: bool,
        lane: &Lane,
        listed: &[ObjectInfo],
    ) -> AppResult<Worked> {
        let mut work = Vec::with_capacity(listed.len());
        for source in listed {
            work.push(self.move_to(source, destination(lane, source)));
        }
        let done = in_order(work, || asked || run.cancel.load(Ordering::Acquire)).await?;
        Ok(worked(lane, listed, &done, |size: &u64| *size))
    }

    async fn move_to(&self, source: &ObjectInfo, to: String) -> AppResult<Option<u64>> {
        self.move_one(source, &to).await
    }

    /// Deletes the step's objects in one batch (the folder is reserved: nothing else writes
    /// there, so no version check is needed). A cancel waits for the step's end.
    pub(super) async fn delete_objects(
        &self,
        lane: &Lane,
        listed: &[ObjectInfo],
    ) -> AppResult<Worked> {
        let keys: Vec<String> = listed.iter().map(|o| o.key.clone()).collect();
        self.objects.delete(&keys).await?;
        Ok(Worked {
            last: listed.last().map(|o| relative(&o.key, &lane.from)),
            complete: true,
            ..Worked::default()
        })
    }
}

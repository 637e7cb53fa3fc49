//! Writing a job's archive: the objects are listed and handed in order to the archive's
//! pipeline (which opens a few ahead and compresses on every core), and the archive is
//! streamed into one object of the store, with progress saved as it goes.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::channel::mpsc;
use futures::SinkExt as _;
use futures::Stream;
use tokio::io::DuplexStream;
use tokio::sync::watch;
use tokio_util::io::ReaderStream;

use super::{Pages, Source};
use crate::archive::{ArchiveError, ArchiveWriter, EntryInput, OpenBody};
use crate::domain::UserPath;
use crate::error::{AppError, AppResult};
use crate::layout::job_archive_key;
use crate::objects::{Listed, ObjectInfo};
use crate::services::{now, Core};
use crate::store::{JobStatus, ZipJob};

/// Bytes in flight between the archive writer and the store.
const PIPE_BYTES: usize = 256 * 1024;
/// Progress is saved this often (also during one long entry: the save renews the slot and
/// learns of a cancellation).
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// Entries listed ahead of the archive writer (each opens its file only when it comes near).
const LIST_AHEAD: usize = 64;

/// The archive's bytes on their way to the store. It ends in an error unless the writer
/// finished, so a failed archive is never stored as a truncated one.
struct Outgoing {
    bytes: ReaderStream<DuplexStream>,
    finished: Arc<AtomicBool>,
}

impl Stream for Outgoing {
    type Item = std::io::Result<bytes::Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.bytes).poll_next(cx) {
            Poll::Ready(None) if !self.finished.load(Ordering::Acquire) => Poll::Ready(Some(Err(
                std::io::Error::other("the archive was not finished"),
            ))),
            other => other,
        }
    }
}

fn archive_failed(err: ArchiveError) -> AppError {
    match err {
        // Reading a stored object failed midway, or the store stopped taking the archive.
        ArchiveError::Io(e) => AppError::Unavailable(e.into()),
        ArchiveError::Open(e) => e.into(),
        ArchiveError::Invalid(message) => AppError::internal(anyhow::anyhow!(message)),
    }
}

/// The archive entry name of `key` below a folder source, if it is a safe relative name.
fn entry_name(prefix: &str, base: &str, key: &str) -> Option<String> {
    let rest = key.strip_prefix(prefix)?;
    let name = format!("{base}{rest}");
    let trimmed = name.trim_end_matches('/');
    // Keys are built from parsed paths; this only guards the archive against anything else.
    (!trimmed.is_empty() && UserPath::parse(trimmed).is_ok()).then_some(name)
}

impl Core {
    /// Writes the job's archive and records it done (or returns why not, leaving no archive).
    pub(super) async fn build(&self, job: &mut ZipJob, sources: &[Source]) -> AppResult<()> {
        let (sink, source) = tokio::io::duplex(PIPE_BYTES);
        let finished = Arc::new(AtomicBool::new(false));
        let outgoing = Outgoing {
            bytes: ReaderStream::with_capacity(source, 64 * 1024),
            finished: finished.clone(),
        };
        let key = job_archive_key(&job.user_id, &job.id, job.share_id.as_deref());
        let store = self
            .objects
            .put(&key, Box::pin(outgoing), "application/zip", u64::MAX);
        let write = async {
            let mut zip = ArchiveWriter::new(sink);
            let result = self.write_entries(&mut zip, job, sources).await;
            let result = match result {
                Ok(()) => zip.finish().await.map_err(archive_failed).map(drop),
                Err(e) => Err(e),
            };
            finished.store(result.is_ok(), Ordering::Release);
            result
        };
        // Both run to the end: a failed writer ends the stream with an error (the store then
        // keeps nothing); a failed store breaks the writer's pipe.
        let (stored, written) = tokio::join!(store, write);
        written?;
        let info = stored?;
        if self.runs_in_background(job) && self.seen_interrupted(job).await? {
            // Its charge is gone: the archive must not stay uncounted.
            self.objects.delete(&[key]).await?;
            tracing::warn!(job_id = %job.id, "zip job finished after it was seen interrupted");
            return Ok(());
        }
        // Freed before the job reads as done, so its owner may start the next one at once.
        if self.runs_in_background(job) {
            self.release_slot(job).await;
        }
        job.status = JobStatus::Done;
        job.files_done = job.files_total.max(job.files_done);
        job.updated_at = now();
        if self.runs_in_background(job) {
            // Only while this run owns the job: a run taken over (a restart wrote it again)
            // leaves the record to the run that now owns it.
            if let crate::store::JobWrite::Superseded =
                self.store.update_job(job, job.run, None).await?
            {
                tracing::warn!(job_id = %job.id, "zip run superseded; its end is not recorded");
                return Ok(());
            }
        } else {
            self.store.save_job(job).await?;
        }
        tracing::info!(user_id = %job.user_id, job_id = %job.id, files = job.files_done,
            bytes = job.bytes_done, archive_bytes = info.size, "zip archive written");
        Ok(())
    }

    /// Whether the job, stalled for a while, was meanwhile recorded as interrupted (its
    /// charge and slot given back): then `job` is that record.
    async fn seen_interrupted(&self, job: &mut ZipJob) -> AppResult<bool> {
        match self.store.get_job(&job.user_id, &job.id).await? {
            Some(stored) if stored.status == JobStatus::Failed => {
                *job = stored;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Lists the sources into the archive's pipeline while following what it has written.
    async fn write_entries<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        zip: &mut ArchiveWriter<W>,
        job: &mut ZipJob,
        sources: &[Source],
    ) -> AppResult<()> {
        let (listed, entries) = mpsc::channel(LIST_AHEAD);
        let (written_tx, written) = watch::channel((0, 0));
        // The closure (and its sender) ends with the writer: that ends `follow`.
        let write = async move {
            let progress = move |files, bytes| {
                let _ = written_tx.send((files, bytes));
            };
            zip.write_all_entries(entries, progress)
                .await
                .map_err(archive_failed)
        };
        tokio::try_join!(
            self.list_entries(sources, listed),
            write,
            self.follow(job, written)
        )?;
        Ok(())
    }

    /// The entries of `sources` in archive order; files are opened by the pipeline.
    async fn list_entries<'a>(
        &'a self,
        sources: &'a [Source],
        mut listed: mpsc::Sender<EntryInput<'a>>,
    ) -> AppResult<()> {
        for source in sources {
            match source {
                Source::File { key, entry } => {
                    if let Some(info) = self.objects.head(key).await? {
                        self.send_entry(&mut listed, entry.clone(), info).await?;
                    }
                }
                Source::Folder { prefix, base } => {
                    let mut pages = Pages::new(prefix);
                    while let Some(page) = pages.next(self).await? {
                        for item in page.items {
                            let Listed::Object(info) = item else { continue };
                            if let Some(name) = entry_name(prefix, base, &info.key) {
                                self.send_entry(&mut listed, name, info).await?;
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    async fn send_entry<'a>(
        &'a self,
        listed: &mut mpsc::Sender<EntryInput<'a>>,
        name: String,
        info: ObjectInfo,
    ) -> AppResult<()> {
        (listed.send(self.entry(name, info)).await)
            .map_err(|_| AppError::internal(anyhow::anyhow!("the archive writer stopped")))
    }

    /// The entry of one listed object (a directory entry for a folder marker).
    fn entry(&self, name: String, info: ObjectInfo) -> EntryInput<'_> {
        let body = (!name.ends_with('/')).then(|| {
            let key = info.key;
            // Deleted since it was listed: no entry (the archive is of what exists now).
            Box::pin(async move { Ok(self.objects.get(&key, None).await?.map(|d| d.body)) })
                as OpenBody<'_>
        });
        EntryInput {
            name,
            modified: info.modified,
            size: info.size,
            body,
        }
    }

    /// Counts what the writer has written into `job`, saving it every [`PROGRESS_EVERY`]
    /// until the writer ends.
    async fn follow(
        &self,
        job: &mut ZipJob,
        mut written: watch::Receiver<(u64, u64)>,
    ) -> AppResult<()> {
        let (files, bytes) = (job.files_done, job.bytes_done);
        let mut saved = Instant::now();
        loop {
            let ended = tokio::select! {
                changed = written.changed() => changed.is_err(),
                () = tokio::time::sleep_until((saved + PROGRESS_EVERY).into()) => false,
            };
            let (f, b) = *written.borrow_and_update();
            (job.files_done, job.bytes_done) = (files + f, bytes + b);
            if ended {
                return Ok(());
            }
            if saved.elapsed() >= PROGRESS_EVERY {
                self.zip_progress(job).await?;
                saved = Instant::now();
            }
        }
    }

    /// Records the job's progress and keeps its slot (the one progress call of a build).
    async fn zip_progress(&self, job: &mut ZipJob) -> AppResult<()> {
        use crate::store::JobWrite;
        job.updated_at = now();
        // Written only while this run owns the job; the write tells whether its owner asked
        // it to stop (the build then ends, and nothing is stored).
        match self.store.update_job(job, job.run, None).await? {
            JobWrite::Saved {
                cancel_requested: true,
            } => return Err(super::cancelled()),
            JobWrite::Saved { .. } => {}
            JobWrite::Superseded | JobWrite::OverCaps => return Err(super::superseded()),
        }
        if self.runs_in_background(job) {
            self.renew_slot(job).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::entry_name;
    use crate::domain::UserPath;
    use crate::layout::Home;

    #[test]
    fn entry_names_are_relative_to_the_folder() {
        let home = Home::of("u");
        let p = &home.folder(&UserPath::parse("photos").unwrap());
        let key = |rest: &str| format!("{p}{rest}");
        assert_eq!(entry_name(p, "", &key("a.jpg")).as_deref(), Some("a.jpg"));
        assert_eq!(
            entry_name(p, "photos/", &key("2024/a.jpg")).as_deref(),
            Some("photos/2024/a.jpg")
        );
        assert_eq!(entry_name(p, "", &key("empty/")).as_deref(), Some("empty/"));
        assert_eq!(
            entry_name(p, "photos/", &key("")).as_deref(),
            Some("photos/")
        );
        // The zipped folder's own marker, when entries are named below it: no entry.
        assert_eq!(entry_name(p, "", &key("")), None);
        assert_eq!(entry_name(p, "", &key("../x")), None);
        let elsewhere = format!("{}other/a", home.prefix());
        assert_eq!(entry_name(p, "", &elsewhere), None);
    }
}

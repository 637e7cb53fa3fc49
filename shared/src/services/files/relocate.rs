//! Rename, move and copy, of files and of whole folders.
//!
//! S3 has no rename, so all three copy first and (rename, move) delete the source after. Every
//! copy is conditional: it writes only where nothing is (two operations cannot both take one
//! name) and only the version of the source that was read (what is charged is what was
//! copied). A move deletes its source only if no other request removed it first, so of
//! concurrent moves of one file exactly one succeeds and the others remove their copies.
//!
//! A folder of at most `folder_sync_max_objects` objects (the first listing page decides) goes
//! within the request, its copies with bounded concurrency; a failure midway undoes what was
//! done: copies are removed, objects already moved are moved back. A larger folder is a job's
//! work (`folder_job`): the request answers 202 with the job. Paths a running job holds are
//! refused first (409 `job_running`). Once written, a copy is checked against the other kind of
//! its name (a file copied to `a` against a folder `a/` made meanwhile, and the reverse) and
//! undone if that appeared, as uploads and create-folder do (see `target`).

use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use super::input::home_refused;
use super::target::{already_exists, Replace};
use super::usage::tally;
use super::{not_found, MoveRequest, Relocation};
use crate::domain::UserPath;
use crate::error::{AppError, AppResult};
use crate::layout::Home;
use crate::objects::{CopyRefused, IfDest, Listed, ObjectInfo, MAX_LIST_PAGE};
use crate::services::{Core, JobView, Principal};
use crate::store::JobKind;

/// Copies in flight at once: enough to hide S3's per-request latency, few enough for a small
/// Lambda and S3's per-prefix request rates.
const COPY_CONCURRENCY: usize = 16;

#[derive(Debug, Serialize, ToSchema)]
pub struct Moved {
    pub message: String,
    pub new_path: String,
}

/// What a rename, move, copy (`Moved`) or delete (its message) did: all of it within the
/// request, or, for a folder of more objects than one request may take
/// (`folder_sync_max_objects`), started a job that does it in the background.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one answer per request, never stored or collected
pub enum Relocated<T = Moved> {
    Done(T),
    Started(JobView),
}

impl<T> Relocated<T> {
    pub fn map<U>(self, done: impl FnOnce(T) -> U) -> Relocated<U> {
        match self {
            Self::Done(outcome) => Relocated::Done(done(outcome)),
            Self::Started(job) => Relocated::Started(job),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Copy,
    Move,
}

impl Mode {
    fn of(kind: JobKind) -> Self {
        match kind {
            JobKind::Copy => Self::Copy,
            _ => Self::Move,
        }
    }
}

/// A source object as it was copied (its version) and the copy made of it.
type Copied = (ObjectInfo, ObjectInfo);

impl Core {
    pub async fn rename(
        self: &Arc<Self>,
        me: &Principal,
        rename: Relocation,
        origin: &str,
    ) -> AppResult<Relocated> {
        let (source, target) = (&rename.source, &rename.target);
        self.refuse_reserved(&me.user.id, &[source, target]).await?;
        let started = self
            .relocate(me, source, target, JobKind::Rename, origin)
            .await?;
        Ok(answer(started, "Item renamed successfully", target))
    }

    pub async fn move_item(
        self: &Arc<Self>,
        me: &Principal,
        request: MoveRequest,
        origin: &str,
    ) -> AppResult<Relocated> {
        let moved = self.destination(me, request).await?;
        let (source, target) = (&moved.source, &moved.target);
        let started = self
            .relocate(me, source, target, JobKind::Move, origin)
            .await?;
        Ok(answer(started, "Item moved successfully", target))
    }

    pub async fn copy_item(
        self: &Arc<Self>,
        me: &Principal,
        request: MoveRequest,
        origin: &str,
    ) -> AppResult<Relocated> {
        let copy = self.destination(me, request).await?;
        let (source, target) = (&copy.source, &copy.target);
        let started = self
            .relocate(me, source, target, JobKind::Copy, origin)
            .await?;
        Ok(answer(started, "Item copied successfully", target))
    }

    /// Source and target of a move or copy: the destination must be an existing folder, and no
    /// job may hold either (409 `job_running`).
    async fn destination(&self, me: &Principal, request: MoveRequest) -> AppResult<Relocation> {
        let MoveRequest { source, dest } = request;
        let target = dest.join(source.name());
        // Before the destination is looked at: a job's target exists for it (and for `stat`)
        // before its first object does.
        let held: Vec<&UserPath> = std::iter::once(&source)
            .chain(target.as_ref().ok())
            .collect();
        self.refuse_reserved(&me.user.id, &held).await?;
        let home = Home::of_user(&me.user);
        if !self.folder_exists(&home, &dest).await? {
            self.refuse_file_at(&home, &dest).await?;
            return Err(AppError::not_found(
                "not_found",
                "The destination folder does not exist.",
            ));
        }
        let target = target.map_err(|e| AppError::bad_request("invalid_path", e.to_string()))?;
        Ok(Relocation { source, target })
    }

    /// Relocates within the request (`None`), or starts a job for a large folder. The caller
    /// has refused paths a job holds.
    async fn relocate(
        self: &Arc<Self>,
        me: &Principal,
        source: &UserPath,
        target: &UserPath,
        kind: JobKind,
        origin: &str,
    ) -> AppResult<Option<JobView>> {
        if source.is_home() {
            return Err(home_refused());
        }
        let mode = Mode::of(kind);
        let home = Home::of_user(&me.user);
        if let Some(file) = self.objects.head(&home.file(source)).await? {
            self.target_free(&home, target, Replace::Never).await?;
            self.end_moved_shares(me, source, mode).await?;
            self.relocate_file(me, &home, &file, target, mode).await?;
            self.keep_source_folder(me, source, target, mode).await;
            return Ok(None);
        }
        if !self.folder_exists(&home, source).await? {
            return Err(not_found());
        }
        if target.starts_with(source) {
            return Err(AppError::bad_request(
                "invalid_destination",
                "A folder cannot be moved or copied into itself.",
            ));
        }
        self.target_free(&home, target, Replace::Never).await?;
        let (from, to) = (home.folder(source), home.folder(target));
        let Some(sources) = self.small_folder(&from).await? else {
            let (source, target) = (source.clone(), Some(target.clone()));
            let job = self.start_folder_job(me, kind, source, target, origin);
            return Ok(Some(job.await?));
        };
        self.end_moved_shares(me, source, mode).await?;
        self.relocate_folder(me, &home, &sources, (&from, &to), (source, target), mode)
            .await?;
        Ok(None)
    }

    /// The synchronous relocation of a folder whose objects (`sources`) one request takes.
    async fn relocate_folder(
        &self,
        me: &Principal,
        home: &Home,
        sources: &[ObjectInfo],
        (from, to): (&str, &str),
        (source, target): (&UserPath, &UserPath),
        mode: Mode,
    ) -> AppResult<()> {
        let mut result = match mode {
            Mode::Copy => self.copy_page(me, sources, from, to).await.map(drop),
            Mode::Move => self.move_page(sources, from, to).await,
        };
        // Write-then-verify (see `target`): a file of the target's name made meanwhile wins.
        if result.is_ok() {
            result = match self.file_at(home, target).await {
                Ok(false) => Ok(()),
                Ok(true) => Err(already_exists(format!(
                    "A file '{target}' was created by another request meanwhile."
                ))),
                Err(e) => Err(e),
            };
        }
        if result.is_err() {
            self.undo(&me.user.id, from, to, mode).await;
        } else {
            self.keep_source_folder(me, source, target, mode).await;
        }
        result
    }

    /// The objects below `prefix` (its marker included) when one request may take them all
    /// (at most `folder_sync_max_objects`); `None` when the folder is a job's work. One listing
    /// page decides, and is the work itself when small.
    pub(super) async fn small_folder(&self, prefix: &str) -> AppResult<Option<Vec<ObjectInfo>>> {
        let most = self.config.folder_sync_max_objects;
        let page = self.objects.list_after(prefix, None, most + 1).await?;
        if page.items.len() > most || page.next.is_some() {
            return Ok(None);
        }
        Ok(Some(objects(page.items)))
    }

    /// A move out of a folder leaves that folder in place, empty if it took its last item
    /// (see [`Core::keep_parent`]). A rename, or a move into a folder within it, does not need
    /// it: the folder still holds what was moved.
    async fn keep_source_folder(
        &self,
        me: &Principal,
        source: &UserPath,
        target: &UserPath,
        mode: Mode,
    ) {
        let stays = source
            .parent()
            .is_some_and(|folder| target.starts_with(&folder));
        if mode == Mode::Move && !stays {
            self.keep_parent(&me.user, source).await;
        }
    }

    /// A move (or rename) ends the shares of what it moves, before anything moves: a share
    /// names a path, and must not follow the item nor lead to what comes to live there.
    async fn end_moved_shares(
        &self,
        me: &Principal,
        source: &UserPath,
        mode: Mode,
    ) -> AppResult<()> {
        if mode == Mode::Move {
            self.end_shares_under(&me.user.id, source).await?;
        }
        Ok(())
    }

    /// Copies or moves one file to `target`; then, if a folder of that name was created
    /// meanwhile, takes the copy back (the source stays) and answers 409.
    async fn relocate_file(
        &self,
        me: &Principal,
        home: &Home,
        file: &ObjectInfo,
        target: &UserPath,
        mode: Mode,
    ) -> AppResult<()> {
        let to = home.file(target);
        if mode == Mode::Copy {
            let copies = self
                .copy_page(me, std::slice::from_ref(file), &file.key, &to)
                .await?;
            let written: Vec<(&UserPath, &ObjectInfo)> =
                copies.iter().map(|c| (target, c)).collect();
            return self.keep_unless_folder(&me.user.id, home, &written).await;
        }
        let Some((source, copy)) = self.copy_object(file, &to).await? else {
            return Err(not_found());
        };
        if self.folder_exists(home, target).await? {
            // A move changes no usage: the copy only goes again.
            self.objects.delete_if_match(&copy.key, &copy.etag).await?;
            return Err(already_exists(format!(
                "A folder '{target}' was created by another request meanwhile."
            )));
        }
        if !self
            .objects
            .delete_if_match(&source.key, &source.etag)
            .await?
        {
            // Another request moved or deleted the file first: this copy must not stay.
            self.objects.delete(&[copy.key]).await?;
            return Err(not_found());
        }
        Ok(())
    }

    /// Copies `sources` (below `from`) below `to`, charging what was really copied: the
    /// copies. On failure this page is undone on its own: its copies go and its charge is given
    /// back whole.
    async fn copy_page(
        &self,
        me: &Principal,
        sources: &[ObjectInfo],
        from: &str,
        to: &str,
    ) -> AppResult<Vec<ObjectInfo>> {
        let (bytes, files) = tally(sources);
        let planned = (bytes as i64, files as i64);
        self.charge(&me.user, planned.0, planned.1).await?;
        let (copies, failure) = self.copy_each(sources, from, to).await;
        let copies: Vec<ObjectInfo> = copies.into_iter().map(|(_, copy)| copy).collect();
        let settled = match failure {
            Some(e) => Err(e),
            None => {
                // A source replaced meanwhile was copied as it is now: charge the difference.
                let (bytes, files) = tally(&copies);
                let extra = (bytes as i64 - planned.0, files as i64 - planned.1);
                self.charge(&me.user, extra.0, extra.1).await
            }
        };
        if let Err(e) = settled {
            let keys: Vec<String> = copies.into_iter().map(|c| c.key).collect();
            if let Err(cleanup) = self.objects.delete(&keys).await {
                tracing::error!(error = %cleanup, "could not remove partial copies");
            }
            self.refund(&me.user.id, planned.0, planned.1).await;
            return Err(e);
        }
        Ok(copies)
    }

    /// Moves `sources` (below `from`) below `to`. A source another request removed first is
    /// not this request's to move: its copy goes again.
    async fn move_page(&self, sources: &[ObjectInfo], from: &str, to: &str) -> AppResult<()> {
        let (copies, mut failure) = self.copy_each(sources, from, to).await;
        let mut deletes = Vec::with_capacity(copies.len());
        for copied in &copies {
            deletes.push(self.remove_source(copied));
        }
        let outcomes: Vec<AppResult<Option<String>>> = futures::stream::iter(deletes)
            .buffer_unordered(COPY_CONCURRENCY)
            .collect()
            .await;
        let mut stray = Vec::new();
        for outcome in outcomes {
            match outcome {
                Ok(Some(copy)) => stray.push(copy),
                Ok(None) => {}
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        self.objects.delete(&stray).await?;
        failure.map_or(Ok(()), Err)
    }

    /// Deletes the source of a copy if it still is the version copied and nobody else removes
    /// it; otherwise the copy's key, which must go.
    async fn remove_source(&self, (source, copy): &Copied) -> AppResult<Option<String>> {
        let removed = self
            .objects
            .delete_if_match(&source.key, &source.etag)
            .await?;
        Ok((!removed).then(|| copy.key.clone()))
    }

    /// Copies each of `sources` with bounded concurrency: the copies made, and the first
    /// failure (the others still run to their end, so every copy made is known).
    async fn copy_each(
        &self,
        sources: &[ObjectInfo],
        from: &str,
        to: &str,
    ) -> (Vec<Copied>, Option<AppError>) {
        // Futures of a named async fn, not closures: their borrows stay provably `Send`.
        let mut copies = Vec::with_capacity(sources.len());
        for source in sources {
            copies.push(self.copy_in_folder(source, format!("{to}{}", &source.key[from.len()..])));
        }
        let results: Vec<AppResult<Copied>> = futures::stream::iter(copies)
            .buffer_unordered(COPY_CONCURRENCY)
            .collect()
            .await;
        let mut made = Vec::with_capacity(results.len());
        let mut failure = None;
        for result in results {
            match result {
                Ok(copied) => made.push(copied),
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        (made, failure)
    }
}

impl Core {
    async fn copy_in_folder(&self, source: &ObjectInfo, to: String) -> AppResult<Copied> {
        self.copy_object(source, &to).await?.ok_or_else(|| {
            AppError::conflict(
                "source_changed",
                "A source file disappeared during the operation; nothing was changed.",
            )
        })
    }

    /// Copies `source` to the free key `to`; if the source was replaced since it was read, the
    /// version there now. `None` when the source is gone.
    async fn copy_object(&self, source: &ObjectInfo, to: &str) -> AppResult<Option<Copied>> {
        let mut source = source.clone();
        for _ in 0..3 {
            let copied = self
                .objects
                .copy_if(&source.key, &source.etag, to, IfDest::Absent)
                .await?;
            match copied {
                Ok(copy) => return Ok(Some((source, copy))),
                Err(CopyRefused::DestinationTaken) => {
                    return Err(already_exists(format!(
                        "'{}' was created by another request meanwhile.",
                        relative(to)
                    )))
                }
                Err(CopyRefused::SourceChanged) => match self.objects.head(&source.key).await? {
                    Some(now) => source = now,
                    None => return Ok(None),
                },
            }
        }
        Err(AppError::conflict(
            "source_changed",
            "A source file kept changing during the operation.",
        ))
    }

    /// Puts back what a failed relocation did below `to`: copies are removed (with the usage
    /// they were charged), objects already moved go back to `from`. Best effort: it runs
    /// after a failure, whose cause the request answers.
    async fn undo(&self, owner: &str, from: &str, to: &str, mode: Mode) {
        let result = match mode {
            Mode::Copy => self.remove_copies(owner, to).await,
            Mode::Move => self.move_back(from, to).await,
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "could not undo a failed move or copy");
        }
    }

    /// Deletes every object below `to`, giving back only what this call removed: another
    /// request undoing the same target at once cannot have the bytes given back twice.
    async fn remove_copies(&self, owner: &str, to: &str) -> AppResult<()> {
        let mut cursor = None;
        loop {
            let page = self
                .objects
                .list(to, false, cursor.as_deref(), MAX_LIST_PAGE)
                .await?;
            let mut removed = Vec::new();
            for copy in objects(page.items) {
                if self.objects.delete_if_match(&copy.key, &copy.etag).await? {
                    removed.push(copy);
                }
            }
            self.release(owner, &removed).await?;
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
    }

    async fn move_back(&self, from: &str, to: &str) -> AppResult<()> {
        let mut cursor = None;
        loop {
            let page = self
                .objects
                .list(to, false, cursor.as_deref(), MAX_LIST_PAGE)
                .await?;
            for copy in objects(page.items) {
                let back = format!("{from}{}", &copy.key[to.len()..]);
                // Where the source is still there (not yet deleted), only the copy goes.
                match self
                    .objects
                    .copy_if(&copy.key, &copy.etag, &back, IfDest::Absent)
                    .await?
                {
                    Ok(_) | Err(CopyRefused::DestinationTaken) => {
                        self.objects.delete_if_match(&copy.key, &copy.etag).await?;
                    }
                    Err(CopyRefused::SourceChanged) => {}
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
    }
}

/// The answer of a rename, move or copy done within the request, or its job.
fn answer(started: Option<JobView>, message: &str, target: &UserPath) -> Relocated {
    match started {
        Some(job) => Relocated::Started(job),
        None => Relocated::Done(Moved {
            message: message.into(),
            new_path: target.to_string(),
        }),
    }
}

/// The objects of a listing page (an undelimited listing has no prefixes).
pub(super) fn objects(items: Vec<Listed>) -> Vec<ObjectInfo> {
    items
        .into_iter()
        .filter_map(|item| match item {
            Listed::Object(o) => Some(o),
            Listed::Prefix(_) => None,
        })
        .collect()
}

/// A home's key as the user names it (`users/<id>/a/b` → `a/b`).
fn relative(key: &str) -> &str {
    key.splitn(3, '/')
        .nth(2)
        .unwrap_or(key)
        .trim_end_matches('/')
}

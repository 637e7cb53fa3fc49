//! Rename, move and copy, of files and of whole folders.
//!
//! S3 has no rename, so all three copy first and (rename, move) delete the source after: a
//! failure midway removes the copies made and leaves the source as it was. A folder's objects
//! are listed once up front (so objects added meanwhile are neither copied nor deleted), then
//! copied with bounded concurrency.

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use utoipa::ToSchema;

use super::input::home_refused;
use super::target::Replace;
use super::usage::tally;
use super::{not_found, MoveRequest, Relocation};
use crate::domain::UserPath;
use crate::error::{AppError, AppResult};
use crate::layout::Home;
use crate::objects::{Listed, ObjectInfo, MAX_LIST_PAGE};
use crate::services::{Core, Principal};

/// Copies in flight at once: enough to hide S3's per-request latency, few enough for a small
/// Lambda and S3's per-prefix request rates.
const COPY_CONCURRENCY: usize = 16;

#[derive(Debug, Serialize, ToSchema)]
pub struct Moved {
    pub message: String,
    pub new_path: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Copy,
    Move,
}

/// The objects of one file or folder, with their keys at the destination.
struct Plan {
    moves: Vec<(ObjectInfo, String)>,
}

impl Core {
    pub async fn rename(&self, me: &Principal, rename: Relocation) -> AppResult<Moved> {
        self.relocate(me, &rename.source, &rename.target, Mode::Move)
            .await?;
        Ok(Moved {
            message: "Item renamed successfully".into(),
            new_path: rename.target.to_string(),
        })
    }

    pub async fn move_item(&self, me: &Principal, request: MoveRequest) -> AppResult<Moved> {
        let moved = self.destination(me, request).await?;
        self.relocate(me, &moved.source, &moved.target, Mode::Move)
            .await?;
        Ok(Moved {
            message: "Item moved successfully".into(),
            new_path: moved.target.to_string(),
        })
    }

    pub async fn copy_item(&self, me: &Principal, request: MoveRequest) -> AppResult<Moved> {
        let copy = self.destination(me, request).await?;
        self.relocate(me, &copy.source, &copy.target, Mode::Copy)
            .await?;
        Ok(Moved {
            message: "Item copied successfully".into(),
            new_path: copy.target.to_string(),
        })
    }

    /// Source and target of a move or copy: the destination must be an existing folder.
    async fn destination(&self, me: &Principal, request: MoveRequest) -> AppResult<Relocation> {
        let MoveRequest { source, dest } = request;
        let home = Home::of_user(&me.user);
        if !self.folder_exists(&home, &dest).await? {
            self.refuse_file_at(&home, &dest).await?;
            return Err(AppError::not_found(
                "not_found",
                "The destination folder does not exist.",
            ));
        }
        let target = dest
            .join(source.name())
            .map_err(|e| AppError::bad_request("invalid_path", e.to_string()))?;
        Ok(Relocation { source, target })
    }

    async fn relocate(
        &self,
        me: &Principal,
        source: &UserPath,
        target: &UserPath,
        mode: Mode,
    ) -> AppResult<()> {
        if source.is_home() {
            return Err(home_refused());
        }
        let home = Home::of_user(&me.user);
        let plan = self.plan(&home, source, target).await?;
        if target.starts_with(source) && plan.is_folder(&home, source) {
            return Err(AppError::bad_request(
                "invalid_destination",
                "A folder cannot be moved or copied into itself.",
            ));
        }
        self.target_free(&home, target, Replace::Never).await?;
        let sources: Vec<ObjectInfo> = plan.moves.iter().map(|(o, _)| o.clone()).collect();
        let (bytes, files) = tally(&sources);
        if mode == Mode::Copy {
            self.charge(&me.user, bytes as i64, files as i64).await?;
        }
        if let Err(e) = self.copy_all(&plan).await {
            if mode == Mode::Copy {
                self.refund(&me.user.id, bytes as i64, files as i64).await;
            }
            return Err(e);
        }
        if mode == Mode::Move {
            let keys: Vec<String> = sources.into_iter().map(|o| o.key).collect();
            self.objects.delete(&keys).await?;
        }
        Ok(())
    }

    /// Every object of the file or folder at `source`, paired with its key under `target`.
    async fn plan(&self, home: &Home, source: &UserPath, target: &UserPath) -> AppResult<Plan> {
        if let Some(file) = self.objects.head(&home.file(source)).await? {
            return Ok(Plan {
                moves: vec![(file, home.file(target))],
            });
        }
        let (from, to) = (home.folder(source), home.folder(target));
        let mut moves = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .objects
                .list(&from, false, cursor.as_deref(), MAX_LIST_PAGE)
                .await?;
            for item in page.items {
                if let Listed::Object(o) = item {
                    let dest = format!("{to}{}", &o.key[from.len()..]);
                    moves.push((o, dest));
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        if moves.is_empty() {
            return Err(not_found());
        }
        Ok(Plan { moves })
    }

    /// Copies every object of the plan; on failure, removes the copies already made.
    async fn copy_all(&self, plan: &Plan) -> AppResult<()> {
        let copied = std::sync::Mutex::new(Vec::new());
        // Futures of a named async fn, not closures: their borrows stay provably `Send`.
        let mut copies = Vec::with_capacity(plan.moves.len());
        for (from, to) in &plan.moves {
            copies.push(self.copy_one(&copied, from, to));
        }
        let result: AppResult<Vec<()>> = futures::stream::iter(copies)
            .buffer_unordered(COPY_CONCURRENCY)
            .try_collect()
            .await;
        if let Err(e) = result {
            let copied = copied.into_inner().unwrap_or_else(|e| e.into_inner());
            if let Err(cleanup) = self.objects.delete(&copied).await {
                tracing::error!(error = %cleanup, "could not remove partial copies");
            }
            return Err(e);
        }
        Ok(())
    }
}

impl Core {
    async fn copy_one(
        &self,
        copied: &std::sync::Mutex<Vec<String>>,
        from: &ObjectInfo,
        to: &str,
    ) -> AppResult<()> {
        match self.objects.copy(&from.key, to).await? {
            Some(_) => {
                copied
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(to.to_owned());
                Ok(())
            }
            None => Err(AppError::conflict(
                "source_changed",
                "A source file disappeared during the operation; nothing was changed.",
            )),
        }
    }
}

impl Plan {
    fn is_folder(&self, home: &Home, source: &UserPath) -> bool {
        self.moves
            .first()
            .is_some_and(|(o, _)| o.key != home.file(source))
    }
}

//! What may go where in a home: whether a path may take a new file or folder (every
//! `already_exists`), and whether a file stands where a folder is wanted (every
//! `not_a_directory`).
//!
//! A file `a` and a folder `a/` are different keys, so no single conditional write can keep
//! both from appearing. Each side therefore writes first (conditionally, against its own
//! kind) and then looks for the other kind ([`Core::keep_unless_folder`],
//! [`Core::keep_unless_file`]): if it is there, it removes what it wrote and answers 409. Of
//! a file and a folder created at once, whichever writes second sees the first, so at most
//! one stays (both may lose when both write before either looks; neither is then kept).

use futures::StreamExt;

use crate::domain::UserPath;
use crate::error::{AppError, AppResult};
use crate::layout::Home;
use crate::objects::ObjectInfo;
use crate::services::Core;

/// Folder checks in flight at once after a many-file upload.
const CHECK_CONCURRENCY: usize = 16;

/// Whether an operation may replace a file already at its target (a folder never is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replace {
    /// Creating a folder, renaming, moving, copying.
    Never,
    /// Uploads: when the request sets `overwrite`.
    IfAsked { overwrite: bool },
}

pub(crate) fn already_exists(message: String) -> AppError {
    AppError::conflict("already_exists", message)
}

fn not_a_directory(path: &UserPath) -> AppError {
    AppError::bad_request(
        "not_a_directory",
        format!("'{path}' is a file, not a folder."),
    )
}

impl Core {
    /// True when a file (not a folder) is at `path`; the home never is one.
    pub(crate) async fn file_at(&self, home: &Home, path: &UserPath) -> AppResult<bool> {
        Ok(!path.is_home() && self.objects.head(&home.file(path)).await?.is_some())
    }

    /// 400 `not_a_directory` when a file is where the folder `path` is wanted.
    pub(crate) async fn refuse_file_at(&self, home: &Home, path: &UserPath) -> AppResult<()> {
        if self.file_at(home, path).await? {
            return Err(not_a_directory(path));
        }
        Ok(())
    }

    /// `Ok` when nothing is at `path`, or a file that `replace` allows replacing (returned, so
    /// what it held can be counted); otherwise 409 `already_exists`.
    pub(crate) async fn target_free(
        &self,
        home: &Home,
        path: &UserPath,
        replace: Replace,
    ) -> AppResult<Option<ObjectInfo>> {
        let existing = self.objects.head(&home.file(path)).await?;
        if existing.is_some() {
            match replace {
                Replace::Never => {
                    return Err(already_exists(format!("A file '{path}' already exists.")))
                }
                Replace::IfAsked { overwrite: false } => {
                    return Err(already_exists(format!(
                        "A file '{path}' already exists (send overwrite=true to replace it)."
                    )))
                }
                Replace::IfAsked { overwrite: true } => {}
            }
        }
        if self.folder_exists(home, path).await? {
            return Err(already_exists(format!("A folder '{path}' already exists.")));
        }
        Ok(existing)
    }
}

impl Core {
    /// Write-then-verify for files just written at `path` (`written`, one per path): if a
    /// folder of the same name exists now, every one of them that is still the version
    /// written is removed and given back to `owner`'s usage; 409 `already_exists`.
    pub(crate) async fn keep_unless_folder(
        &self,
        owner: &str,
        home: &Home,
        written: &[(&UserPath, &ObjectInfo)],
    ) -> AppResult<()> {
        let mut checks = Vec::with_capacity(written.len());
        for (path, _) in written {
            checks.push(self.folder_at(home, path));
        }
        let found: Vec<AppResult<Option<&UserPath>>> = futures::stream::iter(checks)
            .buffer_unordered(CHECK_CONCURRENCY)
            .collect()
            .await;
        let mut clash = None;
        for outcome in found {
            clash = clash.or(outcome?);
        }
        let Some(path) = clash else { return Ok(()) };
        let infos: Vec<&ObjectInfo> = written.iter().map(|(_, info)| *info).collect();
        self.remove_written(owner, &infos).await;
        Err(already_exists(format!(
            "A folder '{path}' was created by another request meanwhile."
        )))
    }

    /// `path` if a folder is there (a future of a named fn: its borrows stay `Send`).
    async fn folder_at<'p>(
        &self,
        home: &Home,
        path: &'p UserPath,
    ) -> AppResult<Option<&'p UserPath>> {
        Ok(self.folder_exists(home, path).await?.then_some(path))
    }

    /// Write-then-verify for the folder marker just written at `path`: if a file of the same
    /// name exists now, the marker goes again (with its count); 409 `already_exists`.
    pub(crate) async fn keep_unless_file(
        &self,
        owner: &str,
        home: &Home,
        path: &UserPath,
        marker: &ObjectInfo,
    ) -> AppResult<()> {
        if !self.file_at(home, path).await? {
            return Ok(());
        }
        self.remove_written(owner, &[marker]).await;
        Err(already_exists(format!(
            "A file '{path}' was created by another request meanwhile."
        )))
    }

    /// Removes objects this request wrote, each only if still the version written, giving
    /// back what the removed ones held. Best effort: the request already fails with a 409.
    async fn remove_written(&self, owner: &str, written: &[&ObjectInfo]) {
        let mut removed = Vec::new();
        for info in written {
            match self.objects.delete_if_match(&info.key, &info.etag).await {
                Ok(true) => removed.push((*info).clone()),
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "could not remove a clashing write"),
            }
        }
        if let Err(e) = self.release(owner, &removed).await {
            tracing::warn!(owner, error = %e, "usage not given back");
        }
    }
}

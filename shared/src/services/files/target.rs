//! What may go where in a home: whether a path may take a new file or folder (every
//! `already_exists`), and whether a file stands where a folder is wanted (every
//! `not_a_directory`).

use crate::domain::UserPath;
use crate::error::{AppError, AppResult};
use crate::layout::Home;
use crate::objects::ObjectInfo;
use crate::services::Core;

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

//! The JSON bodies of the files endpoints, and the commands they parse into: once a command
//! exists, its paths are valid and its names single segments.

use serde::Deserialize;
use utoipa::ToSchema;

use super::{parse_path, HomePath, ItemName, ItemPath};
use crate::domain::UserPath;
use crate::error::{AppError, AppResult};
use crate::services::check::{Check, REQUIRED};

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateFolderInput {
    /// The folder to create it in ("" = home); it must exist.
    #[schema(value_type = Option<HomePath>)]
    pub parent_path: Option<String>,
    /// One path segment.
    #[schema(value_type = ItemName)]
    pub folder_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DeleteInput {
    /// File or folder (folders are deleted with everything in them).
    #[schema(value_type = ItemPath)]
    pub path: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RenameInput {
    #[schema(value_type = ItemPath)]
    pub old_path: Option<String>,
    /// One path segment: the new name in the same folder.
    #[schema(value_type = ItemName)]
    pub new_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MoveInput {
    /// The file or folder to move or copy.
    #[schema(value_type = ItemPath)]
    pub source_path: Option<String>,
    /// The folder to put it in ("" = the home); it must exist.
    #[schema(value_type = HomePath)]
    pub dest_path: Option<String>,
}

/// A folder to create: `target`, in the folder `parent`.
pub struct NewFolder {
    pub parent: UserPath,
    pub target: UserPath,
}

/// A file or folder (never the home) and where it goes.
pub struct Relocation {
    pub source: UserPath,
    pub target: UserPath,
}

/// A file or folder (never the home) to move or copy into the folder `dest`.
pub struct MoveRequest {
    pub source: UserPath,
    pub dest: UserPath,
}

/// The field's value, which may be "" (the home); absent is a field error.
fn given<'a>(check: &mut Check, field: &str, value: &'a Option<String>) -> Option<&'a str> {
    if value.is_none() {
        check.fail(field, REQUIRED);
    }
    value.as_deref()
}

/// A required file or folder name: one path segment.
fn name<'a>(check: &mut Check, field: &str, value: &'a Option<String>) -> Option<&'a str> {
    let name = check.required(field, value)?;
    match UserPath::check_name(name) {
        Ok(()) => Some(name),
        Err(e) => {
            check.fail(field, e.to_string());
            None
        }
    }
}

pub(crate) fn home_refused() -> AppError {
    AppError::bad_request(
        "invalid_path",
        "The home folder itself cannot be renamed, moved or copied.",
    )
}

impl CreateFolderInput {
    pub fn parse(self) -> AppResult<NewFolder> {
        let mut check = Check::default();
        let name = name(&mut check, "folder_name", &self.folder_name);
        let name = check.done(name)?;
        let parent = parse_path("parent_path", self.parent_path.as_deref())?;
        let target = parent
            .join(name)
            .map_err(|e| AppError::bad_request("invalid_path", e.to_string()))?;
        Ok(NewFolder { parent, target })
    }
}

impl DeleteInput {
    /// The file or folder to delete (not the home).
    pub fn parse(self) -> AppResult<UserPath> {
        let mut check = Check::default();
        // "" is a path (the home, refused below), not a missing one.
        let raw = given(&mut check, "path", &self.path);
        let path = parse_path("path", Some(check.done(raw)?))?;
        if path.is_home() {
            return Err(AppError::bad_request(
                "invalid_path",
                "The home folder itself cannot be deleted.",
            ));
        }
        Ok(path)
    }
}

impl RenameInput {
    pub fn parse(self) -> AppResult<Relocation> {
        let mut check = Check::default();
        let old = given(&mut check, "old_path", &self.old_path);
        let new_name = name(&mut check, "new_name", &self.new_name);
        let (old, new_name) = check.done(old.zip(new_name))?;
        let source = parse_path("old_path", Some(old))?;
        let parent = source.parent().ok_or_else(home_refused)?;
        let target = parent
            .join(new_name)
            .map_err(|e| AppError::bad_request("invalid_path", format!("new_name: {e}")))?;
        Ok(Relocation { source, target })
    }
}

impl MoveInput {
    pub fn parse(self) -> AppResult<MoveRequest> {
        let mut check = Check::default();
        let source = given(&mut check, "source_path", &self.source_path);
        let dest = given(&mut check, "dest_path", &self.dest_path);
        let (source, dest) = check.done(source.zip(dest))?;
        let source = parse_path("source_path", Some(source))?;
        let dest = parse_path("dest_path", Some(dest))?;
        if source.is_home() {
            return Err(home_refused());
        }
        Ok(MoveRequest { source, dest })
    }
}

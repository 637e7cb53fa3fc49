//! What an archive is made of: the requested paths resolved to files and folders (with
//! distinct names in the archive), and the listing of a folder, page after page.

use std::collections::HashSet;

use crate::domain::UserPath;
use crate::error::{AppError, AppResult};
use crate::layout::Home;
use crate::objects::{ListPage, Listed, MAX_LIST_PAGE};
use crate::services::Core;

/// One requested path, resolved: a file, or a folder with everything below it.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// The file's key and its name in the archive.
    File { key: String, entry: String },
    /// The folder's key prefix (ending in `/`) and the name prefix of its entries (`photos/`,
    /// or "" for the contents of the zipped folder itself).
    Folder { prefix: String, base: String },
}

/// The pages of a recursive listing of everything below `prefix`, one after another.
pub(crate) struct Pages<'a> {
    prefix: &'a str,
    cursor: Option<String>,
    done: bool,
}

impl<'a> Pages<'a> {
    pub(crate) fn new(prefix: &'a str) -> Self {
        Self {
            prefix,
            cursor: None,
            done: false,
        }
    }

    /// The next page; `None` after the last.
    pub(crate) async fn next(&mut self, core: &Core) -> AppResult<Option<ListPage>> {
        if self.done {
            return Ok(None);
        }
        let page = core
            .objects
            .list(self.prefix, false, self.cursor.as_deref(), MAX_LIST_PAGE)
            .await?;
        self.cursor = page.next.clone();
        self.done = self.cursor.is_none();
        Ok(Some(page))
    }
}

impl Core {
    /// Turns paths into sources: a file or a folder each, with distinct names in the archive.
    pub(crate) async fn resolve(
        &self,
        user_id: &str,
        paths: &[UserPath],
        folder_contents: bool,
    ) -> AppResult<Vec<Source>> {
        let home = Home::of(user_id);
        let mut sources = Vec::with_capacity(paths.len());
        let mut names = HashSet::new();
        for path in paths {
            let source = if folder_contents {
                Source::Folder {
                    prefix: home.folder(path),
                    base: String::new(),
                }
            } else if self.file_at(&home, path).await? {
                Source::File {
                    key: home.file(path),
                    entry: path.name().to_owned(),
                }
            } else if self.folder_exists(&home, path).await? {
                Source::Folder {
                    prefix: home.folder(path),
                    base: if path.is_home() {
                        String::new()
                    } else {
                        format!("{}/", path.name())
                    },
                }
            } else {
                return Err(AppError::not_found(
                    "not_found",
                    format!("No such file or folder: '{path}'."),
                ));
            };
            let top = match &source {
                Source::File { entry, .. } => entry.clone(),
                Source::Folder { base, .. } => base.trim_end_matches('/').to_owned(),
            };
            if !names.insert(top.clone()) || (top.is_empty() && paths.len() > 1) {
                return Err(AppError::conflict(
                    "duplicate_name",
                    format!("Two of the paths would have the same name in the archive: '{top}'."),
                ));
            }
            sources.push(source);
        }
        Ok(sources)
    }

    /// Files and bytes below the sources (one listing pass).
    pub(super) async fn measure(&self, sources: &[Source]) -> AppResult<(u64, u64)> {
        let (mut files, mut bytes) = (0, 0);
        for source in sources {
            match source {
                Source::File { key, .. } => {
                    if let Some(info) = self.objects.head(key).await? {
                        files += 1;
                        bytes += info.size;
                    }
                }
                Source::Folder { prefix, .. } => {
                    let mut pages = Pages::new(prefix);
                    while let Some(page) = pages.next(self).await? {
                        for item in &page.items {
                            if let Listed::Object(o) = item {
                                if !o.key.ends_with('/') {
                                    files += 1;
                                    bytes += o.size;
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok((files, bytes))
    }
}

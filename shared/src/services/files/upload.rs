//! Uploads through the service (`POST /api/files/upload`, a multipart form of one or more files).
//!
//! All or nothing: each file streams to a staging key outside every home
//! ([`layout::new_staging_key`]), and only when the whole form has arrived, every name is
//! free (or `overwrite` is on) and the quota holds, are the staged files copied into place. A
//! failure at any point deletes what was staged and leaves the home as it was.

use serde::Serialize;
use utoipa::ToSchema;

use super::target::{already_exists, Replace};
use super::usage::quota_exceeded;
use super::{is_segment, parse_path, SEGMENT_RULE};
use crate::domain::UserPath;
use crate::error::{AppError, AppResult};
use crate::layout::{self, Home};
use crate::objects::{content_type_of, ByteSource, CopyRefused, IfDest, ObjectError, ObjectInfo};
use crate::services::{Core, Principal};

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadedFile {
    pub name: String,
    pub size: u64,
    pub path: String,
    pub content_type: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    pub message: String,
    pub files: Vec<UploadedFile>,
}

struct Staged {
    key: String,
    target: UserPath,
    info: ObjectInfo,
}

/// One upload request in progress. End it with [`UploadBatch::finish`] or
/// [`UploadBatch::abandon`].
pub struct UploadBatch<'a> {
    core: &'a Core,
    me: &'a Principal,
    home: Home,
    folder: UserPath,
    overwrite: bool,
    staged: Vec<Staged>,
    /// Bytes the quota still allows for this request (`None`: unlimited).
    room: Option<u64>,
}

impl Core {
    /// Starts an upload into `path` (a folder, created if missing).
    pub async fn begin_upload_batch<'a>(
        &'a self,
        me: &'a Principal,
        path: Option<&str>,
        overwrite: bool,
    ) -> AppResult<UploadBatch<'a>> {
        let folder = parse_path("path", path)?;
        let home = Home::of_user(&me.user);
        self.refuse_file_at(&home, &folder).await?;
        let room = self.room(&me.user);
        if room == Some(0) {
            return Err(quota_exceeded(&me.user));
        }
        Ok(UploadBatch {
            core: self,
            me,
            home,
            folder,
            overwrite,
            staged: Vec::new(),
            room,
        })
    }
}

impl UploadBatch<'_> {
    /// Stages one file. Its name is parsed like any path segment.
    pub async fn add(&mut self, file_name: Option<&str>, body: ByteSource<'_>) -> AppResult<()> {
        let name = file_name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| AppError::field("files", "Every file part needs a file name."))?;
        if !is_segment(name) {
            return Err(AppError::bad_request(
                "invalid_path",
                format!("files: {name:?}: {SEGMENT_RULE}"),
            ));
        }
        let target = self
            .folder
            .join(name)
            .map_err(|e| AppError::bad_request("invalid_path", format!("files: {e}")))?;
        if self.staged.iter().any(|s| s.target == target) {
            return Err(AppError::bad_request(
                "duplicate_name",
                format!("'{target}' appears twice in this upload."),
            ));
        }
        // Each file, not the folder: the folder may be the home, which holds every job's paths.
        self.core
            .refuse_reserved(&self.me.user.id, &[&target])
            .await?;
        self.check_free(&target).await?;
        let key = layout::new_staging_key(&self.me.user.id);
        let content_type = content_type_of(name);
        let limit = self.room.unwrap_or(u64::MAX);
        let info = match self.core.objects.put(&key, body, content_type, limit).await {
            Ok(info) => info,
            Err(ObjectError::TooLarge { .. }) => return Err(quota_exceeded(&self.me.user)),
            Err(e) => return Err(e.into()),
        };
        if let Some(room) = &mut self.room {
            *room -= info.size;
        }
        self.staged.push(Staged { key, target, info });
        Ok(())
    }

    async fn check_free(&self, target: &UserPath) -> AppResult<Option<ObjectInfo>> {
        let replace = Replace::IfAsked {
            overwrite: self.overwrite,
        };
        self.core.target_free(&self.home, target, replace).await
    }

    /// The answer to a form without files.
    pub fn no_files() -> AppError {
        AppError::field("files", "Send at least one file part named `files`.")
    }

    /// Moves the staged files into place, once the quota allows all of them.
    pub async fn finish(self) -> AppResult<Uploaded> {
        if self.staged.is_empty() {
            return Err(Self::no_files());
        }
        let result = self.commit().await;
        self.discard().await;
        result
    }

    async fn commit(&self) -> AppResult<Uploaded> {
        // Names may have been taken while the bytes were arriving: check again, and count what
        // the overwritten files held. Each copy below then writes only if its target still is
        // what was checked here, so of uploads racing for one name exactly one wins.
        // What each file adds to the usage (bytes, files): with overwrite, the difference.
        let mut replaced = Vec::with_capacity(self.staged.len());
        let mut deltas = Vec::with_capacity(self.staged.len());
        for s in &self.staged {
            let old = self.check_free(&s.target).await?;
            deltas.push((
                s.info.size as i64 - old.as_ref().map_or(0, |r| r.size as i64),
                i64::from(old.is_none()),
            ));
            replaced.push(old.map(|o| o.etag));
        }
        let sum = |d: &[(i64, i64)]| d.iter().fold((0, 0), |(b, f), (db, df)| (b + db, f + df));
        let (bytes, files) = sum(&deltas);
        self.core.charge(&self.me.user, bytes, files).await?;
        let mut placed = Vec::with_capacity(self.staged.len());
        for (done, (s, old)) in self.staged.iter().zip(&replaced).enumerate() {
            let dest = match old {
                Some(etag) => IfDest::Matches(etag),
                None => IfDest::Absent,
            };
            let target = self.home.file(&s.target);
            let copied = self
                .core
                .objects
                .copy_if(&s.key, &s.info.etag, &target, dest)
                .await;
            let failure = match copied {
                Ok(Ok(copy)) => {
                    placed.push((&s.target, copy));
                    continue;
                }
                Ok(Err(CopyRefused::DestinationTaken)) => already_exists(format!(
                    "'{}' was written by another request meanwhile.",
                    s.target
                )),
                Ok(Err(CopyRefused::SourceChanged)) => {
                    AppError::internal(anyhow::anyhow!("a staged upload vanished"))
                }
                Err(e) => e.into(),
            };
            // Give back exactly what the files not placed were counted for.
            let (rest_bytes, rest_files) = sum(&deltas[done..]);
            self.core
                .refund(&self.me.user.id, rest_bytes, rest_files)
                .await;
            return Err(failure);
        }
        // A folder of one of these names may have been created meanwhile: then none stays (a
        // file this upload overwrote is gone with it: that name now belongs to the folder).
        let written: Vec<(&UserPath, &ObjectInfo)> = placed.iter().map(|(p, i)| (*p, i)).collect();
        self.core
            .keep_unless_folder(&self.me.user.id, &self.home, &written)
            .await?;
        let files: Vec<UploadedFile> = self
            .staged
            .iter()
            .map(|s| UploadedFile {
                name: super::name_of(s.target.as_str()),
                size: s.info.size,
                path: s.target.to_string(),
                content_type: s.info.content_type.clone(),
            })
            .collect();
        Ok(Uploaded {
            message: format!(
                "Successfully uploaded {} file{}",
                files.len(),
                if files.len() == 1 { "" } else { "s" }
            ),
            files,
        })
    }

    /// Drops everything staged; the home is left as it was.
    pub async fn abandon(self) {
        self.discard().await;
    }

    async fn discard(&self) {
        let keys: Vec<String> = self.staged.iter().map(|s| s.key.clone()).collect();
        if let Err(e) = self.core.objects.delete(&keys).await {
            // The staging lifecycle rule (S3) or the sweeper (local) removes them later.
            tracing::warn!(error = %e, "could not remove staged uploads");
        }
    }
}

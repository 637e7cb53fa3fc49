//! Files in a user's home: listing, stat, folders, deletion (here), uploads through the
//! service ([`upload`]), direct uploads ([`direct`]), downloads ([`download`]), rename, move and
//! copy ([`relocate`]) and the usage counters behind quotas ([`usage`]).
//!
//! Every key is built by [`crate::layout`] from the authenticated user's id and a parsed
//! [`UserPath`]; no key ever comes from the client.

mod direct;
pub(crate) mod download;
mod folder_job;
mod input;
mod relocate;
mod target;
mod upload;
mod usage;

pub(crate) use direct::{no_upload, StartedUpload};
pub use direct::{CompleteUploadInput, DirectUpload, NewUpload, NewUploadInput, PartUrl};
pub(crate) use download::SharedFile;
pub use download::{parse_range, Conditions, Delivery, DownloadQuery, RangeError, SignedUrl};
pub use input::{
    CreateFolderInput, DeleteInput, MoveInput, MoveRequest, NewFolder, Relocation, RenameInput,
};
pub use relocate::{Moved, Relocated};
pub use upload::{UploadBatch, Uploaded, UploadedFile};

use target::{already_exists, Replace};

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::schema::{HomePath, ItemName, ItemPath};
use super::{Core, Principal};
use crate::domain::{rfc3339, UserPath};
use crate::error::{AppError, AppResult};
use crate::layout::Home;
use crate::objects::{IfDest, Listed, ObjectInfo, MAX_LIST_PAGE};
use crate::services::jobs::JobRef;
use crate::services::page_limit;
use crate::store::JobKind;

const FOLDER_TYPE: &str = "application/x-directory";
/// Conditional deletes in flight at once when a folder goes (each is a few round trips on S3).
const DELETE_CONCURRENCY: usize = 16;
/// Passes over a folder being deleted, for objects another request held or replaced meanwhile.
const DELETE_ROUNDS: usize = 4;

/// One file or folder, as listings and stat show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileItem {
    pub name: String,
    /// Relative to the home, no leading slash.
    pub path: String,
    pub is_directory: bool,
    /// Bytes; 0 for folders.
    pub size: u64,
    /// Unix seconds with a fraction, the same instant as `modified_at`; `null` for folders
    /// without a marker.
    pub modified: Option<f64>,
    /// RFC 3339 UTC; `null` like `modified`.
    pub modified_at: Option<String>,
    /// `null` for folders.
    pub content_type: Option<String>,
    /// `null` for folders.
    pub etag: Option<String>,
    /// `stat` only: the running job that holds this path (copies, moves, renames or deletes
    /// it, or puts a folder here); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<JobRef>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Listing {
    /// The folder listed.
    pub path: String,
    pub items: Vec<FileItem>,
    /// Number of items on this page.
    pub total_items: usize,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Folder to list; empty or absent: the home.
    #[param(value_type = Option<HomePath>, inline)]
    pub path: Option<String>,
    /// Page size, 1–1000 (default 100; larger values are capped at 1000).
    #[param(minimum = 1)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `true`: every file below the folder, at any depth.
    pub recursive: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PathQuery {
    /// A path relative to the home; empty or absent: the home.
    #[param(value_type = Option<HomePath>, inline)]
    pub path: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FolderCreated {
    pub message: String,
    pub folder_path: String,
}

pub(crate) fn parse_path(field: &str, raw: Option<&str>) -> AppResult<UserPath> {
    UserPath::parse(raw.unwrap_or_default()).map_err(|e| AppError::BadRequest {
        code: "invalid_path",
        message: format!("{field}: {e}"),
    })
}

pub(crate) fn not_found() -> AppError {
    AppError::not_found("not_found", "No such file or folder.")
}

pub(crate) fn name_of(path: &str) -> String {
    path.rsplit('/').next().unwrap_or_default().to_owned()
}

fn folder_item(path: &str, marker: Option<&ObjectInfo>) -> FileItem {
    FileItem {
        name: name_of(path),
        path: path.to_owned(),
        is_directory: true,
        size: 0,
        modified: marker.map(|m| m.modified.timestamp_millis() as f64 / 1000.0),
        modified_at: marker.map(|m| rfc3339(m.modified)),
        content_type: None,
        etag: None,
        job: None,
    }
}

pub(crate) fn file_item(path: &str, info: &ObjectInfo) -> FileItem {
    FileItem {
        name: name_of(path),
        path: path.to_owned(),
        is_directory: false,
        size: info.size,
        modified: Some(info.modified.timestamp_millis() as f64 / 1000.0),
        modified_at: Some(rfc3339(info.modified)),
        content_type: Some(info.content_type.clone()),
        etag: Some(info.etag.clone()),
        job: None,
    }
}

pub(crate) const SEGMENT_RULE: &str =
    "A name is one path segment: no '/', '\\', '.', '..' or control characters.";

/// True when `name` is one valid path segment (a file or folder name).
pub(crate) fn is_segment(name: &str) -> bool {
    !name.contains('/') && UserPath::parse(name).is_ok()
}

/// Cursors name the folder they page through, so one cannot be replayed on another listing.
#[derive(Serialize, Deserialize)]
struct Cursor {
    p: String,
    r: bool,
    c: String,
}

pub(crate) fn encode_cursor(path: &UserPath, recursive: bool, store: String) -> String {
    let json = serde_json::to_vec(&Cursor {
        p: path.to_string(),
        r: recursive,
        c: store,
    })
    .unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

pub(crate) fn decode_cursor(raw: &str, path: &UserPath, recursive: bool) -> AppResult<String> {
    let invalid = || AppError::bad_request("invalid_cursor", "The cursor is not valid here.");
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if cursor.p != path.as_str() || cursor.r != recursive {
        return Err(invalid());
    }
    Ok(cursor.c)
}

impl Core {
    /// True when the folder has a marker or anything below it.
    pub(crate) async fn folder_exists(&self, home: &Home, path: &UserPath) -> AppResult<bool> {
        if path.is_home() {
            return Ok(true);
        }
        let prefix = home.folder(path);
        if self.objects.head(&prefix).await?.is_some() {
            return Ok(true);
        }
        Ok(!self
            .objects
            .list(&prefix, false, None, 1)
            .await?
            .items
            .is_empty())
    }

    /// `Ok` when the folder exists; 404, or 409 `not_a_directory` on a file, when not.
    async fn existing_folder(&self, home: &Home, path: &UserPath) -> AppResult<()> {
        if self.folder_exists(home, path).await? {
            return Ok(());
        }
        self.refuse_file_at(home, path).await?;
        Err(not_found())
    }

    /// One file or folder; while a job holds the path, with that job. A folder a job is
    /// putting in place is shown (without a date) even before its first object arrived.
    pub async fn stat(&self, me: &Principal, query: PathQuery) -> AppResult<FileItem> {
        let path = parse_path("path", query.path.as_deref())?;
        let home = Home::of_user(&me.user);
        if path.is_home() {
            return Ok(folder_item("", None));
        }
        let (item, job) = tokio::join!(
            self.stat_item(&home, &path),
            self.job_at(&me.user.id, &path)
        );
        let (item, job) = (item?, job?);
        let mut item = match (item, &job) {
            (Some(item), _) => item,
            (None, Some(job)) if self.holds_exactly(&me.user.id, job, &path).await? => {
                folder_item(path.as_str(), None)
            }
            (None, _) => return Err(not_found()),
        };
        item.job = job;
        Ok(item)
    }

    /// The item at `path` as the stores show it, if any.
    async fn stat_item(&self, home: &Home, path: &UserPath) -> AppResult<Option<FileItem>> {
        if let Some(info) = self.objects.head(&home.file(path)).await? {
            return Ok(Some(file_item(path.as_str(), &info)));
        }
        let marker = self.objects.head(&home.folder(path)).await?;
        if marker.is_some() || self.folder_exists(home, path).await? {
            return Ok(Some(folder_item(path.as_str(), marker.as_ref())));
        }
        Ok(None)
    }

    /// True when `path` is itself one of the paths `job` works on (its source or target
    /// folder), not merely below one.
    async fn holds_exactly(&self, user_id: &str, job: &JobRef, path: &UserPath) -> AppResult<bool> {
        let Some(job) = self.store.get_job(user_id, &job.job_id).await? else {
            return Ok(false);
        };
        let path = path.to_string();
        Ok(job
            .folder
            .is_some_and(|f| f.source == path || f.target.as_ref() == Some(&path)))
    }

    pub async fn list_files(&self, me: &Principal, query: ListQuery) -> AppResult<Listing> {
        let path = parse_path("path", query.path.as_deref())?;
        let recursive = query.recursive.unwrap_or(false);
        // At most one page of the object listing under it.
        let limit = page_limit(query.limit)?.min(MAX_LIST_PAGE);
        let home = Home::of_user(&me.user);
        let cursor = query
            .cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(|c| decode_cursor(c, &path, recursive));
        let cursor = match cursor.transpose() {
            Ok(cursor) => cursor,
            // A missing folder is answered first, whatever the cursor.
            Err(invalid) => {
                self.existing_folder(&home, &path).await?;
                return Err(invalid);
            }
        };
        let prefix = home.folder(&path);
        let page = self
            .objects
            .list(&prefix, !recursive, cursor.as_deref(), limit)
            .await?;
        // Anything listed (the folder's marker included) shows the folder exists; only an empty
        // page needs the separate check (a listing costs one store round trip, not three).
        if page.items.is_empty() {
            self.existing_folder(&home, &path).await?;
        }
        let items: Vec<FileItem> = page
            .items
            .iter()
            // The folder's own marker is the folder, not an entry in it.
            .filter(|entry| entry.key() != prefix)
            .map(|entry| match entry {
                Listed::Prefix(p) => folder_item(home.relative(p), None),
                Listed::Object(o) if o.key.ends_with('/') => {
                    folder_item(home.relative(&o.key), Some(o))
                }
                Listed::Object(o) => file_item(home.relative(&o.key), o),
            })
            .collect();
        Ok(Listing {
            path: path.to_string(),
            total_items: items.len(),
            items,
            next_cursor: page.next.map(|c| encode_cursor(&path, recursive, c)),
        })
    }

    pub async fn create_folder(
        &self,
        me: &Principal,
        folder: NewFolder,
    ) -> AppResult<FolderCreated> {
        let NewFolder { parent, target } = folder;
        self.refuse_reserved(&me.user.id, &[&target]).await?;
        let home = Home::of_user(&me.user);
        if !self.folder_exists(&home, &parent).await? {
            return Err(AppError::not_found(
                "not_found",
                "The parent folder does not exist.",
            ));
        }
        self.target_free(&home, &target, Replace::Never).await?;
        // The marker is a stored object: counted first, so a refusal writes nothing.
        self.charge(&me.user, 0, 1).await?;
        let empty: crate::objects::ByteStream = Box::pin(futures::stream::empty());
        let written = self
            .objects
            .put_if(&home.folder(&target), empty, FOLDER_TYPE, 0, IfDest::Absent)
            .await;
        let marker = match written {
            Ok(Some(marker)) => marker,
            outcome => {
                self.refund(&me.user.id, 0, 1).await;
                return Err(match outcome {
                    Err(e) => e.into(),
                    _ => already_exists(format!("A folder '{target}' already exists.")),
                });
            }
        };
        self.keep_unless_file(&me.user.id, &home, &target, &marker)
            .await?;
        Ok(FolderCreated {
            message: "Folder created successfully".into(),
            folder_path: target.to_string(),
        })
    }

    /// Gives an existing folder a marker if it has none, so that it stays until it is deleted or
    /// moved itself: a folder known only by the files below it vanishes with its last file, and
    /// a share link to it would then lead to whatever later comes to live at its path.
    pub(crate) async fn pin_folder(
        &self,
        user: &crate::domain::User,
        path: &UserPath,
    ) -> AppResult<()> {
        let marker = Home::of_user(user).folder(path);
        if path.is_home() || self.objects.head(&marker).await?.is_some() {
            return Ok(());
        }
        self.charge(user, 0, 1).await?;
        let empty: crate::objects::ByteStream = Box::pin(futures::stream::empty());
        let written = self
            .objects
            .put_if(&marker, empty, FOLDER_TYPE, 0, IfDest::Absent)
            .await;
        if !matches!(written, Ok(Some(_))) {
            // Written meanwhile by someone else (counted there), or not at all.
            self.refund(&user.id, 0, 1).await;
        }
        written.map(|_| ()).map_err(Into::into)
    }

    /// After `gone` left its folder (deleted, or moved elsewhere): if that was the folder's last
    /// item, the folder stays, empty, pinned with a marker (see [`Core::pin_folder`]); never
    /// the home. A folder that still holds something needs none yet (it costs an object of the
    /// file limit), and of concurrent removals of its last items the one that ends last finds
    /// it empty. Done after the operation, so a delete at the file limit first frees the object
    /// the marker takes. Best effort, as the operation is done: where the marker does not fit
    /// the file limit (a move at the limit) or cannot be written, the emptied folder goes, as
    /// it did before markers were kept, and the reason is logged.
    pub(crate) async fn keep_parent(&self, user: &crate::domain::User, gone: &UserPath) {
        let Some(parent) = gone.parent().filter(|p| !p.is_home()) else {
            return;
        };
        let home = Home::of_user(user);
        let kept = match self.folder_exists(&home, &parent).await {
            Ok(true) => Ok(()),
            Ok(false) => self.pin_folder(user, &parent).await,
            Err(e) => Err(e),
        };
        match kept {
            Ok(()) => {}
            Err(e @ AppError::TooLarge { .. }) => {
                tracing::info!(user_id = %user.id, reason = %e, "emptied folder left without a marker");
            }
            Err(e) => {
                tracing::warn!(user_id = %user.id, error = %e, "emptied folder left without a marker");
            }
        }
    }

    /// Deletes a file, or a folder with everything below it: within the request, or for a
    /// folder of more objects than one request may take, by a job (started here).
    pub async fn delete_path(
        self: &Arc<Self>,
        me: &Principal,
        path: UserPath,
        origin: &str,
    ) -> AppResult<Relocated<String>> {
        self.refuse_reserved(&me.user.id, &[&path]).await?;
        let home = Home::of_user(&me.user);
        let listed = match self.objects.head(&home.file(&path)).await? {
            Some(_) => None,
            None => match self.small_folder(&home.folder(&path)).await? {
                Some(objects) => Some(objects),
                None => {
                    let job = self.start_folder_job(me, JobKind::Delete, path, None, origin);
                    return Ok(Relocated::Started(job.await?));
                }
            },
        };
        let deleted = self.delete_now(me, &home, &path, listed).await?;
        Ok(Relocated::Done(deleted))
    }

    /// Deletes within the request; `listed`: the folder's objects as just listed (its first
    /// pass), `None` for a file.
    async fn delete_now(
        &self,
        me: &Principal,
        home: &Home,
        path: &UserPath,
        listed: Option<Vec<ObjectInfo>>,
    ) -> AppResult<String> {
        self.end_shares_under(&me.user.id, path).await?;
        let file = home.file(path);
        // A few tries: the file may be replaced between reading and deleting it.
        for _ in 0..3 {
            let Some(info) = self.objects.head(&file).await? else {
                break;
            };
            // Of concurrent deletes only the one that removed the file gives its bytes back.
            if self.objects.delete_if_match(&file, &info.etag).await? {
                self.release(&me.user.id, &[info]).await?;
                self.keep_parent(&me.user, path).await;
                return Ok(format!("File '{path}' deleted successfully"));
            }
        }
        if !self.folder_exists(home, path).await? {
            return Err(not_found());
        }
        self.delete_rounds(&me.user.id, &home.folder(path), listed)
            .await?;
        self.keep_parent(&me.user, path).await;
        Ok(format!("Folder '{path}' deleted successfully"))
    }

    /// Deletes every object whose key starts with `prefix`, a listing page at a time.
    /// `owner`: whose usage the objects count in (`None`: objects no quota counts, like
    /// archives, deleted in batches).
    pub(crate) async fn delete_prefix(&self, owner: Option<&str>, prefix: &str) -> AppResult<()> {
        match owner {
            Some(owner) => self.delete_rounds(owner, prefix, None).await,
            None => self.delete_uncounted(prefix).await,
        }
    }

    /// Passes over `prefix` until one finds nothing (at most [`DELETE_ROUNDS`]); `listed`: the
    /// objects of the first pass when the caller has just listed them.
    async fn delete_rounds(
        &self,
        owner: &str,
        prefix: &str,
        mut listed: Option<Vec<ObjectInfo>>,
    ) -> AppResult<()> {
        // Rounds from the start: objects another delete had claimed, or that were replaced
        // while this one ran, are seen again (gone, or as their new version).
        for round in 0..DELETE_ROUNDS {
            if round > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20 * round as u64)).await;
            }
            if !self.delete_counted(owner, prefix, listed.take()).await? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// One pass over `prefix`: each object deleted only if still the version listed, and only
    /// what this call removed given back, so concurrent deletes of one folder give its usage
    /// back once. True when something was listed (another round may find more).
    async fn delete_counted(
        &self,
        owner: &str,
        prefix: &str,
        mut listed: Option<Vec<ObjectInfo>>,
    ) -> AppResult<bool> {
        let mut cursor = None;
        let mut listed_any = false;
        loop {
            // The objects the caller listed are the whole first page (no page follows them).
            let (objects, next) = match listed.take() {
                Some(objects) => (objects, None),
                None => {
                    let page = self
                        .objects
                        .list(prefix, false, cursor.as_deref(), MAX_LIST_PAGE)
                        .await?;
                    (relocate::objects(page.items), page.next)
                }
            };
            listed_any |= !objects.is_empty();
            let mut deletes = Vec::with_capacity(objects.len());
            for o in objects {
                deletes.push(self.delete_one(o));
            }
            let outcomes: Vec<AppResult<Option<ObjectInfo>>> = futures::stream::iter(deletes)
                .buffer_unordered(DELETE_CONCURRENCY)
                .collect()
                .await;
            let mut removed = Vec::new();
            let mut failure = None;
            for outcome in outcomes {
                match outcome {
                    Ok(gone) => removed.extend(gone),
                    Err(e) => failure = failure.or(Some(e)),
                }
            }
            self.release(owner, &removed).await?;
            if let Some(e) = failure {
                return Err(e);
            }
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(listed_any),
            }
        }
    }

    /// The object, if this call removed it as it was listed.
    async fn delete_one(&self, object: ObjectInfo) -> AppResult<Option<ObjectInfo>> {
        let removed = self
            .objects
            .delete_if_match(&object.key, &object.etag)
            .await?;
        Ok(removed.then_some(object))
    }

    async fn delete_uncounted(&self, prefix: &str) -> AppResult<()> {
        self.delete_in_batches(None, prefix).await
    }

    /// Deletes the home of an account that goes (`prefix`), a listing page per batch delete,
    /// giving back what each page listed. Not exact under a concurrent delete of the same
    /// objects (each would give them back), which no longer matters once the user is gone; it
    /// keeps an account of many files within one request's time, which per-object conditional
    /// deletes would not. A failure midway leaves the usage of what remains.
    pub(crate) async fn delete_home(&self, owner: &str, prefix: &str) -> AppResult<()> {
        self.delete_in_batches(Some(owner), prefix).await
    }

    async fn delete_in_batches(&self, owner: Option<&str>, prefix: &str) -> AppResult<()> {
        loop {
            let page = self
                .objects
                .list(prefix, false, None, MAX_LIST_PAGE)
                .await?;
            if page.items.is_empty() {
                return Ok(());
            }
            let keys: Vec<String> = page.items.iter().map(|i| i.key().to_owned()).collect();
            self.objects.delete(&keys).await?;
            let Some(owner) = owner else { continue };
            let gone: Vec<ObjectInfo> = page
                .items
                .into_iter()
                .filter_map(|i| match i {
                    Listed::Object(o) => Some(o),
                    Listed::Prefix(_) => None,
                })
                .collect();
            self.release(owner, &gone).await?;
        }
    }
}

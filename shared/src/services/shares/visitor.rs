//! What a visitor of a download share may read: info, listing, downloads.
//!
//! Everything goes through the owner's own services with a [`Principal`] of the owner made by
//! [`OpenShare::principal`], on paths resolved inside the shared item; what comes back is
//! re-rooted (paths and cursors relative to the shared item) and errors are scrubbed, so a
//! visitor never sees the owner or anything above the shared item.

use std::net::IpAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::access::{claim_use, OpenShare, ShareCredential, Uses};
use super::{effective_expiry, share_expired};
use crate::domain::{rfc3339, UserPath};
use crate::error::{AppError, AppResult};
use crate::layout::Home;
use crate::objects::{Listed, MAX_LIST_PAGE};
use crate::services::files::{decode_cursor, encode_cursor, not_found, SharedFile};
use crate::services::{
    now, Conditions, Core, Delivery, DownloadQuery, ListQuery, Listing, PathQuery,
};
use crate::store::ShareKind;

/// Objects a folder share's info counts at most (ten listing pages); beyond, no count.
const INFO_MAX_OBJECTS: usize = 10_000;

/// What a link offers. Before it is unlocked (a password and no valid token or password):
/// only `id`, `kind`, `password_required`, `expires_at`. Never the owner, the path above the
/// shared item, or the owner's note.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShareInfo {
    pub id: String,
    pub kind: ShareKind,
    pub password_required: bool,
    /// RFC 3339 UTC: when the link stops working.
    pub expires_at: String,
    /// True when the rest is shown: no password, or a valid token or password was sent.
    pub unlocked: bool,
    /// The shared file's or folder's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Download shares.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_folder: Option<bool>,
    /// Download shares: bytes of the file, or of every file in the folder (absent for a folder
    /// of more than 10,000 objects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Download shares of a folder: files in it at any depth (absent beyond 10,000 objects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_count: Option<u64>,
}

/// A visitor's listing cursor: the page position relative to the shared item, so it names
/// neither the owner nor the folders above.
#[derive(Serialize, Deserialize)]
struct VisitorCursor {
    /// The folder listed, relative to the shared item.
    p: String,
    r: bool,
    /// The store's position: a key relative to the shared item, or the store's own opaque
    /// token (`o`).
    c: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    o: bool,
}

fn invalid_cursor() -> AppError {
    AppError::bad_request("invalid_cursor", "The cursor is not valid here.")
}

impl OpenShare {
    fn home(&self) -> Home {
        Home::of_user(&self.owner)
    }

    /// The owner's listing cursor for the visitor's `raw` one on folder `path`.
    fn owner_cursor(&self, raw: &str, path: &UserPath, recursive: bool) -> AppResult<String> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid_cursor())?;
        let cursor: VisitorCursor = serde_json::from_slice(&bytes).map_err(|_| invalid_cursor())?;
        if cursor.p != self.relative(path.as_str()) || cursor.r != recursive {
            return Err(invalid_cursor());
        }
        let store = match cursor.o {
            true => cursor.c,
            false => format!("{}{}", self.home().folder(&self.root), cursor.c),
        };
        Ok(encode_cursor(path, recursive, store))
    }

    /// The visitor's cursor for the owner's `next` one.
    fn visitor_cursor(&self, next: &str, path: &UserPath, recursive: bool) -> AppResult<String> {
        let store = decode_cursor(next, path, recursive)?;
        let root_prefix = self.home().folder(&self.root);
        let (c, o) = match store.strip_prefix(&root_prefix) {
            Some(rel) => (rel.to_owned(), false),
            // Not a key (S3's continuation token): opaque, passed through.
            None => (store, true),
        };
        let cursor = VisitorCursor {
            p: self.relative(path.as_str()).to_owned(),
            r: recursive,
            c,
            o,
        };
        Ok(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).unwrap_or_default()))
    }

    /// The file a download names: the shared file itself (no `path`), or a file inside the
    /// shared folder (`path` required).
    fn download_target(&self, rel: Option<&str>) -> AppResult<UserPath> {
        let rel = rel.filter(|p| !p.is_empty());
        match (self.share.is_folder, rel) {
            (false, None) => Ok(self.root.clone()),
            (false, Some(_)) => Err(AppError::bad_request(
                "invalid_path",
                "path: this link is one file: leave `path` out.",
            )),
            (true, None) => Err(is_a_directory()),
            (true, rel) => self.resolve(rel),
        }
    }
}

fn is_a_directory() -> AppError {
    AppError::bad_request(
        "is_a_directory",
        "This is a folder: name a file in it with `path`, or download it as a ZIP with \
         GET /api/s/{id}/download-zip.",
    )
}

impl Core {
    /// What the link offers; the details only once unlocked. Counts no use.
    pub async fn share_info(
        &self,
        id: &str,
        cred: &ShareCredential,
        client: Option<IpAddr>,
    ) -> AppResult<ShareInfo> {
        let open = self.find_share(id, client).await?;
        open.require_uses_left()?;
        let password_required = open.share.password_hash.is_some();
        // Without any credential a protected link still says what it is (and that it asks
        // for a password); a wrong credential is answered as such.
        let unlocked = match (password_required, cred) {
            (true, ShareCredential::None) => false,
            _ => {
                self.unlock(&open, cred, client).await?;
                true
            }
        };
        let mut info = ShareInfo {
            id: open.share.id.clone(),
            kind: open.share.kind,
            password_required,
            expires_at: rfc3339(effective_expiry(&open.share, &self.config.shares)),
            unlocked,
            name: None,
            is_folder: None,
            size: None,
            file_count: None,
        };
        if !unlocked {
            return Ok(info);
        }
        info.name = Some(open.root.name().to_owned());
        if open.share.kind == ShareKind::Download {
            info.is_folder = Some(open.share.is_folder);
            (info.size, info.file_count) = self.shared_size(&open).await?;
        }
        Ok(info)
    }

    /// (bytes, files) of the shared item; a folder's only within [`INFO_MAX_OBJECTS`].
    async fn shared_size(&self, open: &OpenShare) -> AppResult<(Option<u64>, Option<u64>)> {
        let home = open.home();
        if !open.share.is_folder {
            let info = self.objects.head(&home.file(&open.root)).await?;
            return Ok((info.map(|i| i.size), None));
        }
        let prefix = home.folder(&open.root);
        let (mut bytes, mut files, mut seen) = (0u64, 0u64, 0usize);
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .objects
                .list(&prefix, false, cursor.as_deref(), MAX_LIST_PAGE)
                .await?;
            seen += page.items.len();
            if seen > INFO_MAX_OBJECTS {
                return Ok((None, None));
            }
            for item in &page.items {
                if let Listed::Object(o) = item {
                    if !o.key.ends_with('/') {
                        bytes += o.size;
                        files += 1;
                    }
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok((Some(bytes), Some(files))),
            }
        }
    }

    /// A page of a folder of a download share, paths relative to the shared folder.
    pub async fn share_list(
        &self,
        id: &str,
        cred: &ShareCredential,
        client: Option<IpAddr>,
        query: ListQuery,
    ) -> AppResult<Listing> {
        let open = self
            .open_share(id, cred, client, Some(ShareKind::Download), Uses::Needed)
            .await?;
        if !open.share.is_folder {
            return Err(AppError::bad_request(
                "not_a_directory",
                "This link is one file: download it with GET /api/s/{id}/download.",
            ));
        }
        let path = open.resolve(query.path.as_deref())?;
        let recursive = query.recursive.unwrap_or(false);
        let cursor = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
            Some(raw) => Some(open.owner_cursor(raw, &path, recursive)?),
            None => None,
        };
        let owner_query = ListQuery {
            path: Some(path.to_string()),
            limit: query.limit,
            cursor,
            recursive: query.recursive,
        };
        let mut listing = self
            .list_files(&open.principal(), owner_query)
            .await
            .map_err(|e| open.scrub(e))?;
        for item in &mut listing.items {
            item.path = open.relative(&item.path).to_owned();
        }
        listing.path = open.relative(&listing.path).to_owned();
        listing.next_cursor = match listing.next_cursor.as_deref() {
            Some(next) => Some(open.visitor_cursor(next, &path, recursive)?),
            None => None,
        };
        Ok(listing)
    }

    /// A file of a download share: on AWS a 302 to a presigned URL, locally the bytes (with
    /// `Range`), always as an attachment; `redirect` false: the URL itself (presigned, or
    /// signed by this service locally), counted as the 302 is. A use is counted whenever the answer gives access to
    /// the file's first byte (a 302, a 200, a 206 from byte 0). Locally a counted download
    /// also marks its version as started at the client's address for the transfer URL
    /// lifetime (as long as a presigned URL on AWS serves its ranges): a `Range` from a later
    /// byte is then served without a use, even once they are all taken; without that mark it
    /// takes a use as a start does. HEAD and 304 count nothing (the HTTP layer answers a HEAD
    /// without the URL a redirect would carry).
    #[allow(clippy::too_many_arguments)]
    pub async fn share_download(
        &self,
        id: &str,
        cred: &ShareCredential,
        client: Option<IpAddr>,
        query: PathQuery,
        redirect: bool,
        head: bool,
        conditions: Conditions<'_>,
        origin: &str,
    ) -> AppResult<Delivery> {
        // A used-up link is 410 before any password, unless this may be a resume.
        let uses = match client.is_some() && resumes(conditions.range) {
            true => Uses::Later,
            false => Uses::Needed,
        };
        let open = self
            .open_share(id, cred, client, Some(ShareKind::Download), uses)
            .await?;
        let path = open.download_target(query.path.as_deref())?;
        let owner_query = DownloadQuery {
            path: Some(path.to_string()),
            inline: Some(false),
            redirect: Some(redirect),
        };
        // A URL this service signs names the link's file, not the owner's key.
        let file = SharedFile {
            id: open.share.id.clone(),
            path: open.relative(path.as_str()).to_owned(),
            password_version: open.share.password_version,
        };
        let delivery = self
            .download_as(
                &open.principal(),
                owner_query,
                conditions,
                origin,
                Some(file),
            )
            .await
            .map_err(|e| match e {
                AppError::BadRequest {
                    code: "is_a_directory",
                    ..
                } => is_a_directory(),
                e => open.scrub(e),
            })?;
        match &delivery {
            // Nothing of the file: no use, but one must be left.
            _ if head => open.require_uses_left()?,
            Delivery::NotModified { .. } => open.require_uses_left()?,
            Delivery::Redirect(_) | Delivery::Link(_) => claim_use(self, &open).await?,
            Delivery::Bytes {
                range, download, ..
            } => {
                let etag = download.info.etag.as_str();
                let resumed = range.as_ref().is_some_and(|r| r.start > 0);
                // A resume of a download started here is part of that download's use.
                let started = match resumed {
                    true => {
                        self.share_download_started(&open.share.id, client, etag)
                            .await?
                    }
                    false => false,
                };
                if !started {
                    claim_use(self, &open).await?;
                    self.mark_share_download(&open.share.id, client, etag).await;
                }
            }
        }
        Ok(delivery)
    }
}

impl Core {
    /// The storage key of a file a visitor's signed URL names: 404 once the link is gone or
    /// its owner disabled, 410 once it expired, 403 `url_expired` once its password changed
    /// (the URL was the use it took: a link used up since still serves it, for the URL's
    /// lifetime and version, as a presigned URL does).
    pub(crate) async fn shared_file_key(&self, file: &SharedFile) -> AppResult<String> {
        let (share, owner) = match self.store.load_share(&file.id).await? {
            Some((share, owner)) if owner.is_active => (share, owner),
            _ => return Err(not_found()),
        };
        if effective_expiry(&share, &self.config.shares) <= now() {
            return Err(share_expired());
        }
        if share.password_version != file.password_version {
            return Err(AppError::forbidden(
                "url_expired",
                "This URL has expired: the link's password changed.",
            ));
        }
        let root = UserPath::parse(&share.path).map_err(|_| not_found())?;
        let open = OpenShare { share, owner, root };
        let path = open.resolve(Some(&file.path))?;
        Ok(open.home().file(&path))
    }
}

/// True when a `Range` header may ask for bytes after the first (`bytes=5-`, `bytes=-3`): a
/// resume of a started download, decided once the file's size is known.
fn resumes(range: Option<&str>) -> bool {
    let Some(spec) = range.and_then(|r| r.trim().strip_prefix("bytes=")) else {
        return false;
    };
    let first = spec.split(['-', ',']).next().unwrap_or("").trim();
    first.is_empty() || first.bytes().any(|b| b != b'0')
}

#[cfg(test)]
mod tests {
    use super::resumes;

    #[test]
    fn only_ranges_after_the_first_byte_may_be_resumes() {
        for range in ["bytes=1-", "bytes=5-9", "bytes=-3", " bytes=10-"] {
            assert!(resumes(Some(range)), "{range}");
        }
        for range in ["bytes=0-", "bytes=0-0", "bytes=00-4", "items=5-", "bytes"] {
            assert!(!resumes(Some(range)), "{range}");
        }
        assert!(!resumes(None));
    }
}

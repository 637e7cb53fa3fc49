//! Visitor uploads into an upload share: `POST /api/s/{id}/uploads`, then status, complete and
//! abort, as the owner's direct uploads (`services::files::direct`) do it in the owner's home.
//!
//! The visitor's `upload_id` is a ticket of its own kind (`share-upload`: never accepted as
//! an owner's upload id, nor an owner's as one) naming the link and the path relative to the
//! shared folder — no owner id, no home path. Every step opens the link again, so a revoked,
//! ended or expired link stops its uploads at once. The bytes are reserved against, then
//! counted in, the owner's quota, for a day at most and never beyond the link's expiry. A
//! visitor never replaces anything: a name already taken gets a free one (`a (1).txt`, …)
//! when the upload starts, and a file that appears at that name before completion makes the
//! completion 409. Each completed upload is one use of the link.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::access::{claim_use, release_use, OpenShare, ShareCredential, Uses};
use super::zip::visitor_error;
use super::{effective_expiry, log_id};
use crate::domain::UserPath;
use crate::error::{AppError, AppResult};
use crate::services::files::{no_upload, StartedUpload};
use crate::services::{
    CompleteUploadInput, Core, DirectUpload, FileItem, NewUpload, NewUploadInput,
};
use crate::store::ShareKind;

/// The ticket kind of visitors' upload ids.
const SHARE_UPLOAD: &str = "share-upload";
/// How many numbered names (`a (1).txt` … `a (100).txt`) a taken name may turn into.
const MAX_NUMBERED: u32 = 100;

/// What a visitor's `upload_id` says. Short names, as the owner's upload tickets.
#[derive(Debug, Serialize, Deserialize)]
struct ShareUploadTicket {
    #[serde(rename = "sh")]
    share_id: String,
    /// The file, relative to the shared folder.
    #[serde(rename = "p")]
    path: String,
    #[serde(rename = "s")]
    size: u64,
    #[serde(rename = "ps")]
    part_size: u64,
    #[serde(rename = "ct")]
    content_type: String,
    #[serde(rename = "x")]
    store_upload_id: String,
    /// Epoch seconds (the same as the ticket's expiry).
    #[serde(rename = "e")]
    expires: i64,
    #[serde(rename = "r")]
    charge: Option<String>,
}

impl ShareUploadTicket {
    fn of(open: &OpenShare, upload: &StartedUpload) -> Self {
        Self {
            share_id: open.share.id.clone(),
            path: open.relative(upload.path.as_str()).to_owned(),
            size: upload.size,
            part_size: upload.part_size,
            content_type: upload.content_type.clone(),
            store_upload_id: upload.store_upload_id.clone(),
            expires: upload.expires,
            charge: upload.charge.clone(),
        }
    }

    /// The upload in the owner's home (below the shared folder, by construction).
    fn started(&self, open: &OpenShare) -> AppResult<StartedUpload> {
        let path = UserPath::parse(&self.path)
            .ok()
            .filter(|rel| !rel.is_home())
            .and_then(|rel| open.root.join(rel.as_str()).ok())
            .ok_or_else(no_upload)?;
        Ok(StartedUpload {
            path,
            size: self.size,
            part_size: self.part_size,
            content_type: self.content_type.clone(),
            overwrite: false,
            store_upload_id: self.store_upload_id.clone(),
            expires: self.expires,
            charge: self.charge.clone(),
        })
    }
}

/// `path` with ` (n)` before its extension: `a.txt` → `a (1).txt`, `notes` → `notes (1)`,
/// `.env` → `.env (1)`.
fn numbered(path: &UserPath, n: u32) -> Option<UserPath> {
    let name = path.name();
    let name = match name.rfind('.').filter(|&dot| dot > 0) {
        Some(dot) => format!("{} ({n}){}", &name[..dot], &name[dot..]),
        None => format!("{name} ({n})"),
    };
    path.parent()?.join(&name).ok()
}

impl Core {
    /// Starts an upload of a new file into the shared folder (`input.path` relative to it);
    /// a name already taken becomes the first free numbered one, which the answer's `path`
    /// names.
    pub async fn share_start_upload(
        &self,
        id: &str,
        cred: &ShareCredential,
        client: Option<IpAddr>,
        input: NewUploadInput,
        origin: &str,
    ) -> AppResult<DirectUpload> {
        let open = self
            .open_share(id, cred, client, Some(ShareKind::Upload), Uses::Needed)
            .await?;
        if input.overwrite == Some(true) {
            return Err(AppError::field(
                "overwrite",
                "Uploads through a link never replace a file.",
            ));
        }
        let upload = input.parse()?;
        let target = open.resolve(Some(upload.path.as_str()))?;
        // A job of the owner working there holds the path; which job is the owner's business.
        if let Err(refused) = self.refuse_reserved(&open.owner.id, &[&target]).await {
            return Err(match refused {
                AppError::JobRunning { .. } => AppError::conflict(
                    "job_running",
                    "This folder is being changed right now: try again later.",
                ),
                other => visitor_error(&open, other),
            });
        }
        let started = self
            .begin_free_upload(&open, target, upload)
            .await
            .map_err(|e| visitor_error(&open, e))?;
        let ticket = ShareUploadTicket::of(&open, &started);
        let upload_id = self.tickets.issue(SHARE_UPLOAD, started.expires, &ticket)?;
        tracing::info!(share = %log_id(&open.share.id), size = started.size, "share upload started");
        self.describe_direct_upload(
            &open.owner.id,
            upload_id,
            &started,
            ticket.path,
            Vec::new(),
            origin,
        )
        .await
    }

    pub async fn share_upload_status(
        &self,
        id: &str,
        cred: &ShareCredential,
        client: Option<IpAddr>,
        upload_id: &str,
        origin: &str,
    ) -> AppResult<DirectUpload> {
        let (open, ticket, started) = self
            .share_upload(id, cred, client, upload_id, Uses::Later)
            .await?;
        let received = self.received_parts(&open.owner.id, &started).await?;
        let id = upload_id.to_owned();
        self.describe_direct_upload(&open.owner.id, id, &started, ticket.path, received, origin)
            .await
    }

    /// Stores the uploaded file (never over another one): one use of the link, given back
    /// when no file comes of it.
    pub async fn share_complete_upload(
        &self,
        id: &str,
        cred: &ShareCredential,
        client: Option<IpAddr>,
        upload_id: &str,
        input: CompleteUploadInput,
    ) -> AppResult<FileItem> {
        let (open, ticket, started) = self
            .share_upload(id, cred, client, upload_id, Uses::Needed)
            .await?;
        let received = self.received_parts(&open.owner.id, &started).await?;
        claim_use(self, &open).await?;
        match self
            .finish_direct_upload(&open.owner, &started, received, input)
            .await
        {
            Ok(mut item) => {
                item.path = open.relative(&item.path).to_owned();
                tracing::info!(share = %log_id(&open.share.id), size = item.size, "share upload completed");
                Ok(item)
            }
            Err(e) => {
                release_use(self, &open).await;
                Err(match e {
                    AppError::Conflict {
                        code: "already_exists",
                        ..
                    } => AppError::conflict(
                        "already_exists",
                        format!(
                            "'{}' was taken meanwhile: start the upload again to get a free name.",
                            ticket.path
                        ),
                    ),
                    other => visitor_error(&open, other),
                })
            }
        }
    }

    pub async fn share_abort_upload(
        &self,
        id: &str,
        cred: &ShareCredential,
        client: Option<IpAddr>,
        upload_id: &str,
    ) -> AppResult<()> {
        let (open, _, started) = self
            .share_upload(id, cred, client, upload_id, Uses::Later)
            .await?;
        self.received_parts(&open.owner.id, &started).await?;
        self.drop_direct_upload(&open.owner.id, &started)
            .await
            .map_err(|e| visitor_error(&open, e))
    }

    /// The open link and the unfinished upload `upload_id` started through it; another
    /// link's upload, or an owner's, is "no such upload".
    async fn share_upload(
        &self,
        id: &str,
        cred: &ShareCredential,
        client: Option<IpAddr>,
        upload_id: &str,
        uses: Uses,
    ) -> AppResult<(OpenShare, ShareUploadTicket, StartedUpload)> {
        let open = self
            .open_share(id, cred, client, Some(ShareKind::Upload), uses)
            .await?;
        let ticket: ShareUploadTicket = self
            .tickets
            .check(SHARE_UPLOAD, upload_id)
            .map_err(|_| no_upload())?;
        if ticket.share_id != open.share.id {
            return Err(no_upload());
        }
        let started = ticket.started(&open)?;
        Ok((open, ticket, started))
    }

    /// Begins the upload at `target`, or at the first free numbered name beside it.
    async fn begin_free_upload(
        &self,
        open: &OpenShare,
        target: UserPath,
        upload: NewUpload,
    ) -> AppResult<StartedUpload> {
        let NewUpload {
            size, content_type, ..
        } = upload;
        // An upload cannot be completed once its link has expired: it holds no room beyond.
        let not_after = Some(effective_expiry(&open.share, &self.config.shares).timestamp());
        for n in 0..=MAX_NUMBERED {
            let path = match n {
                0 => target.clone(),
                _ => match numbered(&target, n) {
                    Some(path) => path,
                    None => break,
                },
            };
            let attempt = NewUpload {
                path,
                size,
                content_type: content_type.clone(),
                overwrite: false,
            };
            match self
                .begin_direct_upload(&open.owner, attempt, not_after)
                .await
            {
                Err(AppError::Conflict {
                    code: "already_exists",
                    ..
                }) => continue,
                outcome => return outcome,
            }
        }
        Err(AppError::conflict(
            "already_exists",
            format!(
                "'{}' and its numbered names are taken: choose another name.",
                open.relative(target.as_str())
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_names_get_numbers_before_the_extension() {
        let path = |p: &str| UserPath::parse(p).unwrap();
        let named = |p: &str, n| numbered(&path(p), n).map(|p| p.to_string());
        assert_eq!(named("drop/a.txt", 1).as_deref(), Some("drop/a (1).txt"));
        assert_eq!(
            named("drop/a.tar.gz", 2).as_deref(),
            Some("drop/a.tar (2).gz")
        );
        assert_eq!(named("drop/notes", 3).as_deref(), Some("drop/notes (3)"));
        assert_eq!(named("drop/.env", 1).as_deref(), Some("drop/.env (1)"));
        // A name already at the length limit has no numbered twin.
        let long = format!("drop/{}", "x".repeat(255));
        assert_eq!(named(&long, 1), None);
    }

    /// Visitors' upload ids stay readable across deploys and name neither owner nor home.
    #[test]
    fn tickets_keep_their_wire_names() {
        let ticket = ShareUploadTicket {
            share_id: "s1".into(),
            path: "a.txt".into(),
            size: 1,
            part_size: 2,
            content_type: "text/plain".into(),
            store_upload_id: "x1".into(),
            expires: 3,
            charge: Some("c1".into()),
        };
        assert_eq!(
            serde_json::to_value(&ticket).unwrap(),
            serde_json::json!({"sh": "s1", "p": "a.txt", "s": 1, "ps": 2, "ct": "text/plain",
                "x": "x1", "e": 3, "r": "c1"})
        );
    }
}

//! Direct uploads: the client sends the bytes straight to storage, in parts, to short-lived URLs
//! bound to one part of one upload and to its exact length.
//!
//! On S3 these are presigned `UploadPart` URLs of a multipart upload (so the object appears only
//! when this service completes it); on the local store the service signs URLs to itself
//! (`/api/files/transfer/{ticket}`) with the same shape and guarantees. The `upload_id` the
//! client holds is itself a signed ticket naming the user, path, size and part size, so no
//! upload state is kept besides the store's own; it is valid for a day, after which the
//! bucket's lifecycle rule (S3) or the sweeper (local) removes the unfinished parts. Visitors
//! of upload share links go through the same steps (the `pub(crate)` ones taking the owner)
//! with ids of their own kind, which name the link instead (`services::shares::uploads`).
//!
//! Starting an upload reserves its declared size and its parts (a [`crate::store::Charge`] that
//! expires with the ticket): the parts occupy storage before `complete` stores the file, so they
//! count against the quota and the file limit from the start. `complete` settles the charge
//! into the file's usage, `abort` gives it back, and once expired it no longer counts.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::target::{already_exists, Replace};
use super::{file_item, parse_path, FileItem, ItemPath};
use crate::domain::{rfc3339, User, UserId, UserPath};
use crate::error::{AppError, AppResult};
use crate::layout::Home;
use crate::objects::{content_type_of, ByteSource, IfDest, PartInfo, Presign};
use crate::security::TicketError;
use crate::services::check::{Check, REQUIRED};
use crate::services::schema::MediaType;
use crate::services::{now, Core, Principal};

const MIB: u64 = 1024 * 1024;
/// Parts of this size or less are one part: most files need one URL and one PUT.
const MIN_PART: u64 = 16 * MIB;
/// Few enough URLs for one response; S3 allows 10,000.
const MAX_PARTS: u64 = 1000;
/// S3's largest part and largest object.
const MAX_PART: u64 = 5 * 1024 * MIB;
pub const MAX_OBJECT: u64 = 5 * 1024 * 1024 * MIB;
/// How long an unfinished upload may be resumed (the lifecycle rule aborts after a day).
const UPLOAD_TTL_SECS: i64 = 24 * 3600;

const UPLOAD: &str = "upload";
pub(crate) const PART: &str = "part";

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUploadInput {
    /// The file to create, relative to the home; its folder is created if missing.
    #[schema(value_type = ItemPath)]
    pub path: Option<String>,
    /// Exact size in bytes (at most 5 TiB, S3's limit).
    #[schema(value_type = u64, maximum = 5497558138880u64)]
    pub size: Option<u64>,
    /// Default: guessed from the file name.
    #[schema(value_type = Option<MediaType>)]
    pub content_type: Option<String>,
    /// Replace an existing file (default false: 409).
    pub overwrite: Option<bool>,
}

/// One part to send: `PUT` exactly `size` bytes to `url`, keep the `ETag` of the answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartUrl {
    pub part_number: u32,
    pub size: u64,
    pub url: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReceivedPart {
    pub part_number: u32,
    pub size: u64,
    pub etag: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DirectUpload {
    /// Opaque; valid until `upload_expires_at`.
    pub upload_id: String,
    pub path: String,
    pub size: u64,
    pub part_size: u64,
    /// The parts still to send, each with a fresh URL (none for an empty file).
    pub parts: Vec<PartUrl>,
    /// Parts the store already holds (resume: send only the others).
    pub parts_received: Vec<ReceivedPart>,
    /// When the part URLs stop working; ask `GET /api/files/uploads/{upload_id}` for new ones.
    pub expires_at: String,
    pub upload_expires_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CompletePart {
    pub part_number: u32,
    pub etag: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CompleteUploadInput {
    /// Every part, with the ETag its PUT answered.
    #[schema(value_type = Vec<CompletePart>)]
    pub parts: Option<Vec<CompletePart>>,
}

/// What an `upload_id` says. Field names are one or two letters on the wire: the id travels in
/// URLs and each letter makes it longer.
#[derive(Serialize, Deserialize)]
struct UploadTicket {
    #[serde(rename = "u")]
    owner: UserId,
    /// Path in the owner's home.
    #[serde(rename = "p")]
    path: String,
    #[serde(rename = "s")]
    size: u64,
    #[serde(rename = "ps")]
    part_size: u64,
    #[serde(rename = "ct")]
    content_type: String,
    #[serde(rename = "o")]
    overwrite: bool,
    /// The store's id of the upload.
    #[serde(rename = "x")]
    store_upload_id: String,
    /// Epoch seconds (the same as the ticket's expiry).
    #[serde(rename = "e")]
    expires: i64,
    /// The charge holding the upload's room; none in tickets issued before uploads reserved.
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    charge: Option<String>,
}

/// What a signed part URL of the local store says (short names, as [`UploadTicket`]).
#[derive(Serialize, Deserialize)]
pub struct TransferTicket {
    #[serde(rename = "x")]
    store_upload_id: String,
    #[serde(rename = "n")]
    part_number: u32,
    /// Where the part starts in the file.
    #[serde(rename = "off")]
    offset: u64,
    #[serde(rename = "len")]
    len: u64,
}

/// An upload begun in the store, as its id (a ticket) names it: the owner's tickets say whose
/// home it is in, a share link's say which link (see `services::shares::uploads`).
pub(crate) struct StartedUpload {
    /// The file, in its owner's home.
    pub(crate) path: UserPath,
    pub(crate) size: u64,
    pub(crate) part_size: u64,
    pub(crate) content_type: String,
    pub(crate) overwrite: bool,
    /// The store's id of the upload.
    pub(crate) store_upload_id: String,
    /// Epoch seconds: when the ticket and the reservation end.
    pub(crate) expires: i64,
    /// The charge holding the upload's room.
    pub(crate) charge: Option<String>,
}

impl UploadTicket {
    fn of(owner: &UserId, upload: &StartedUpload) -> Self {
        Self {
            owner: owner.clone(),
            path: upload.path.to_string(),
            size: upload.size,
            part_size: upload.part_size,
            content_type: upload.content_type.clone(),
            overwrite: upload.overwrite,
            store_upload_id: upload.store_upload_id.clone(),
            expires: upload.expires,
            charge: upload.charge.clone(),
        }
    }

    fn into_started(self) -> AppResult<StartedUpload> {
        Ok(StartedUpload {
            path: UserPath::parse(&self.path).map_err(|_| no_upload())?,
            size: self.size,
            part_size: self.part_size,
            content_type: self.content_type,
            overwrite: self.overwrite,
            store_upload_id: self.store_upload_id,
            expires: self.expires,
            charge: self.charge,
        })
    }
}

/// A direct upload to start, parsed.
pub struct NewUpload {
    /// The file (not the home).
    pub path: UserPath,
    /// At most [`MAX_OBJECT`].
    pub size: u64,
    /// `None`: guessed from the name.
    pub content_type: Option<String>,
    pub overwrite: bool,
}

impl NewUploadInput {
    pub fn parse(self) -> AppResult<NewUpload> {
        let mut check = Check::default();
        if self.size.is_none() {
            check.fail("size", REQUIRED);
        }
        if let Some(ct) = &self.content_type {
            if !valid_content_type(ct) {
                check.fail(
                    "content_type",
                    "Expected a media type such as `text/plain`.",
                );
            }
        }
        if self.path.is_none() {
            check.fail("path", REQUIRED);
        }
        let (size, raw_path) = check.done(self.size.zip(self.path.as_deref()))?;
        let path = parse_path("path", Some(raw_path))?;
        if path.is_home() {
            return Err(AppError::bad_request(
                "invalid_path",
                "path: name the file to create.",
            ));
        }
        if size > MAX_OBJECT {
            return Err(AppError::too_large(
                "too_large",
                format!("A file may be at most {MAX_OBJECT} bytes."),
            ));
        }
        Ok(NewUpload {
            path,
            size,
            content_type: self.content_type,
            overwrite: self.overwrite.unwrap_or(false),
        })
    }
}

fn part_size_for(size: u64) -> u64 {
    let even = size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    even.clamp(MIN_PART, MAX_PART)
}

/// The objects an upload holds at most, and reserves: its parts, or the one empty file.
fn upload_files(size: u64, part_size: u64) -> u64 {
    u64::from(part_count(size, part_size)).max(1)
}

fn part_count(size: u64, part_size: u64) -> u32 {
    size.div_ceil(part_size) as u32
}

/// The size part `n` (1-based) of an upload must have.
fn part_len(size: u64, part_size: u64, n: u32) -> u64 {
    let start = (u64::from(n) - 1) * part_size;
    (size - start).min(part_size)
}

pub(crate) fn no_upload() -> AppError {
    AppError::not_found(
        "upload_not_found",
        "No such upload (or it has ended or expired).",
    )
}

fn valid_content_type(ct: &str) -> bool {
    let mut halves = ct.split('/');
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    ct.len() <= 127
        && halves.next().is_some_and(token)
        && halves.next().is_some_and(token)
        && halves.next().is_none()
}

impl Core {
    pub async fn start_upload(
        &self,
        me: &Principal,
        upload: NewUpload,
        origin: &str,
    ) -> AppResult<DirectUpload> {
        self.refuse_reserved(&me.user.id, &[&upload.path]).await?;
        let started = self.begin_direct_upload(&me.user, upload, None).await?;
        let ticket = UploadTicket::of(&me.user.id, &started);
        let upload_id = self.tickets.issue(UPLOAD, started.expires, &ticket)?;
        let shown = started.path.to_string();
        self.describe_direct_upload(&me.user.id, upload_id, &started, shown, Vec::new(), origin)
            .await
    }

    pub async fn upload_status(
        &self,
        me: &Principal,
        upload_id: &str,
        origin: &str,
    ) -> AppResult<DirectUpload> {
        let upload = self.own_upload(me, upload_id)?;
        let received = self.received_parts(&me.user.id, &upload).await?;
        let shown = upload.path.to_string();
        let id = upload_id.to_owned();
        self.describe_direct_upload(&me.user.id, id, &upload, shown, received, origin)
            .await
    }

    pub async fn complete_direct_upload(
        &self,
        me: &Principal,
        upload_id: &str,
        input: CompleteUploadInput,
    ) -> AppResult<FileItem> {
        let upload = self.own_upload(me, upload_id)?;
        let received = self.received_parts(&me.user.id, &upload).await?;
        self.finish_direct_upload(&me.user, &upload, received, input)
            .await
    }

    pub async fn abort_direct_upload(&self, me: &Principal, upload_id: &str) -> AppResult<()> {
        let upload = self.own_upload(me, upload_id)?;
        self.received_parts(&me.user.id, &upload).await?;
        self.drop_direct_upload(&me.user.id, &upload).await
    }

    /// Checks the target in `owner`'s home, reserves the upload's room and opens it in the
    /// store: what its id (a ticket, whoever holds it) must then name. The upload (and its
    /// reservation) lasts a day, or until `not_after` (epoch seconds) if that is sooner.
    pub(crate) async fn begin_direct_upload(
        &self,
        owner: &User,
        upload: NewUpload,
        not_after: Option<i64>,
    ) -> AppResult<StartedUpload> {
        let NewUpload {
            path,
            size,
            content_type,
            overwrite,
        } = upload;
        let home = Home::of_user(owner);
        self.check_target(&home, &path, overwrite).await?;
        let content_type =
            content_type.unwrap_or_else(|| content_type_of(path.as_str()).to_owned());
        let key = home.file(&path);
        let part_size = part_size_for(size);
        let day = now().timestamp() + UPLOAD_TTL_SECS;
        let expires = not_after.map_or(day, |limit| limit.min(day));
        let files = upload_files(size, part_size);
        let expires_at = chrono::DateTime::from_timestamp(expires, 0).unwrap_or_default();
        let charge = self.reserve(owner, size, files, expires_at).await?;
        let store_upload_id = match self.objects.begin_upload(&key, &content_type).await {
            Ok(id) => id,
            Err(e) => {
                self.drop_reservation(&owner.id, &charge).await;
                return Err(e.into());
            }
        };
        Ok(StartedUpload {
            path,
            size,
            part_size,
            content_type,
            overwrite,
            store_upload_id,
            expires,
            charge: Some(charge),
        })
    }

    /// Stores the file of an upload in `owner`'s home from the parts `received` (the
    /// caller's [`Core::received_parts`]); the item names its home path.
    pub(crate) async fn finish_direct_upload(
        &self,
        owner: &User,
        upload: &StartedUpload,
        received: Vec<PartInfo>,
        input: CompleteUploadInput,
    ) -> AppResult<FileItem> {
        let Some(sent) = input.parts else {
            return Err(AppError::field("parts", REQUIRED));
        };
        let parts = matched_parts(upload, &received, sent)?;
        let path = &upload.path;
        let home = Home::of_user(owner);
        let key = home.file(path);
        // A refusal here (the name was taken or the room used meanwhile) leaves the upload as it
        // is: once the caller frees the name or the space, the same completion succeeds.
        let replaced = self.check_target(&home, path, upload.overwrite).await?;
        let bytes = upload.size as i64 - replaced.as_ref().map_or(0, |r| r.size as i64);
        let files = i64::from(replaced.is_none());
        // Counted before the file appears, so a failure to count places nothing.
        let settled = match &upload.charge {
            Some(charge) => self.settle(owner, charge, bytes, files).await?,
            None => self.charge(owner, bytes, files).await.map(|()| false)?,
        };
        // Written only if the name is still as checked above: of completions racing for one
        // name, exactly one wins.
        let dest = match &replaced {
            Some(old) => IfDest::Matches(&old.etag),
            None => IfDest::Absent,
        };
        let stored = if upload.size == 0 {
            self.objects
                .abort_upload(&key, &upload.store_upload_id)
                .await?;
            let empty: ByteSource = Box::pin(futures::stream::empty());
            let content_type = &upload.content_type;
            self.objects
                .put_if(&key, empty, content_type, 0, dest)
                .await
        } else {
            let id = &upload.store_upload_id;
            self.objects
                .complete_upload_if(&key, id, &parts, dest)
                .await
        };
        match stored {
            Ok(Some(info)) => {
                // A folder of this name may have been created meanwhile: then the file goes.
                self.keep_unless_folder(&owner.id, &home, &[(path, &info)])
                    .await?;
                Ok(file_item(path.as_str(), &info))
            }
            outcome => {
                // The parts are still there: they are held again, and the file given back.
                if settled {
                    self.hold_again(owner, upload).await;
                }
                self.refund(&owner.id, bytes, files).await;
                Err(match outcome {
                    Err(e) => e.into(),
                    _ => already_exists(format!("A file '{path}' was written meanwhile.")),
                })
            }
        }
    }

    /// Takes the reservation of an upload whose completion failed after settling it, without
    /// a cap check (it held this room a moment ago). The request already fails with that
    /// cause, so a failure here is logged: the parts are then not counted until they expire.
    async fn hold_again(&self, user: &User, upload: &StartedUpload) {
        let Some(id) = upload.charge.clone() else {
            return;
        };
        let charge = crate::store::Charge {
            id,
            user_id: user.id.to_string(),
            bytes: upload.size,
            files: upload_files(upload.size, upload.part_size),
            expires_at: chrono::DateTime::from_timestamp(upload.expires, 0).unwrap_or_default(),
        };
        let caps = crate::store::Caps::default();
        if let Err(e) = self.store.take_charge(&charge, caps).await {
            tracing::warn!(user_id = %user.id, charge = charge.id, error = %e, "reservation not taken again");
        }
    }

    /// Discards an unfinished upload of `owner_id`'s and gives back its room.
    pub(crate) async fn drop_direct_upload(
        &self,
        owner_id: &str,
        upload: &StartedUpload,
    ) -> AppResult<()> {
        let key = Home::of(owner_id).file(&upload.path);
        self.objects
            .abort_upload(&key, &upload.store_upload_id)
            .await?;
        if let Some(charge) = &upload.charge {
            self.store.drop_charge(owner_id, charge).await?;
        }
        Ok(())
    }

    /// Gives back a reservation whose upload could not start; the request already fails with
    /// that cause, so a failure here is logged (the charge then ends when it expires).
    async fn drop_reservation(&self, user_id: &str, charge: &str) {
        if let Err(e) = self.store.drop_charge(user_id, charge).await {
            tracing::warn!(user_id, charge, error = %e, "reservation not given back");
        }
    }

    /// Stores a part sent to a URL this service signed (local store).
    pub async fn receive_part(&self, ticket: &str, body: ByteSource<'_>) -> AppResult<PartInfo> {
        let part: TransferTicket = self.tickets.check(PART, ticket).map_err(ticket_error)?;
        let stored = self.objects.put_part(
            &part.store_upload_id,
            part.part_number,
            part.offset,
            part.len,
            body,
        );
        Ok(stored.await?)
    }

    /// 400 if the parent is a file; then [`Core::target_free`].
    async fn check_target(
        &self,
        home: &Home,
        path: &UserPath,
        overwrite: bool,
    ) -> AppResult<Option<crate::objects::ObjectInfo>> {
        if let Some(parent) = path.parent() {
            self.refuse_file_at(home, &parent).await?;
        }
        self.target_free(home, path, Replace::IfAsked { overwrite })
            .await
    }

    /// The caller's own, unexpired upload; anything else is "no such upload".
    fn own_upload(&self, me: &Principal, upload_id: &str) -> AppResult<StartedUpload> {
        let ticket: UploadTicket = self
            .tickets
            .check(UPLOAD, upload_id)
            .map_err(|_| no_upload())?;
        if ticket.owner != me.user.id {
            return Err(no_upload());
        }
        ticket.into_started()
    }

    /// The parts the store holds of an unfinished upload of `owner_id`'s; "no such upload"
    /// once it is finished or aborted.
    pub(crate) async fn received_parts(
        &self,
        owner_id: &str,
        upload: &StartedUpload,
    ) -> AppResult<Vec<PartInfo>> {
        let key = Home::of(owner_id).file(&upload.path);
        self.objects
            .list_parts(&key, &upload.store_upload_id)
            .await?
            .ok_or_else(no_upload)
    }

    /// What the holder of `upload_id` is told: fresh URLs for the parts not `received` yet.
    /// `shown_path` is the path as that holder names it.
    pub(crate) async fn describe_direct_upload(
        &self,
        owner_id: &str,
        upload_id: String,
        upload: &StartedUpload,
        shown_path: String,
        received: Vec<PartInfo>,
        origin: &str,
    ) -> AppResult<DirectUpload> {
        let upload_expires = upload.expires;
        let ttl = self.config.transfer_url_ttl_secs;
        let expires = (now().timestamp() + ttl).min(upload_expires);
        let key = Home::of(owner_id).file(&upload.path);
        let mut parts = Vec::new();
        for n in 1..=part_count(upload.size, upload.part_size) {
            let len = part_len(upload.size, upload.part_size, n);
            if received.iter().any(|r| r.part_number == n && r.size == len) {
                continue;
            }
            let url = self.part_url(&key, upload, n, len, expires, origin).await?;
            parts.push(PartUrl {
                part_number: n,
                size: len,
                url,
            });
        }
        let at = |secs: i64| rfc3339(chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default());
        Ok(DirectUpload {
            upload_id,
            path: shown_path,
            size: upload.size,
            part_size: upload.part_size,
            parts,
            parts_received: received
                .into_iter()
                .map(|p| ReceivedPart {
                    part_number: p.part_number,
                    size: p.size,
                    etag: p.etag,
                })
                .collect(),
            expires_at: at(expires),
            upload_expires_at: at(upload_expires),
        })
    }

    /// Where to send part `n`: a presigned URL (S3), else one this service signed (local).
    async fn part_url(
        &self,
        key: &str,
        upload: &StartedUpload,
        n: u32,
        len: u64,
        expires: i64,
        origin: &str,
    ) -> AppResult<String> {
        let presigned = self
            .objects
            .presign(
                Presign::Part {
                    key,
                    upload_id: &upload.store_upload_id,
                    part_number: n,
                    size: len,
                },
                std::time::Duration::from_secs((expires - now().timestamp()).max(1) as u64),
            )
            .await?;
        Ok(match presigned {
            Some(url) => url,
            None => {
                let ticket = TransferTicket {
                    store_upload_id: upload.store_upload_id.clone(),
                    part_number: n,
                    offset: (u64::from(n) - 1) * upload.part_size,
                    len,
                };
                let ticket = self.tickets.issue(PART, expires, &ticket)?;
                format!("{origin}/api/files/transfer/{ticket}")
            }
        })
    }
}

/// The parts to complete `ticket`'s upload with: every part received at its exact size, as
/// the client lists them (each once, in order, with the ETag its PUT answered).
fn matched_parts(
    ticket: &StartedUpload,
    received: &[PartInfo],
    mut sent: Vec<CompletePart>,
) -> AppResult<Vec<PartInfo>> {
    sent.sort_by_key(|p| p.part_number);
    let count = part_count(ticket.size, ticket.part_size);
    let mut parts = Vec::with_capacity(sent.len());
    for n in 1..=count {
        let expected = part_len(ticket.size, ticket.part_size, n);
        let part = received
            .iter()
            .find(|r| r.part_number == n)
            .filter(|r| r.size == expected)
            .ok_or_else(|| {
                AppError::bad_request(
                    "incomplete_upload",
                    format!("Part {n} ({expected} bytes) has not been received."),
                )
            })?;
        let listed = sent.get(n as usize - 1).filter(|p| p.part_number == n);
        if listed.is_none_or(|p| p.etag.trim_matches('"') != part.etag.trim_matches('"')) {
            return Err(AppError::bad_request(
                "invalid_parts",
                format!("List every part 1–{count} once, with the ETag its upload answered (part {n} does not match)."),
            ));
        }
        parts.push(part.clone());
    }
    if sent.len() != parts.len() {
        return Err(AppError::bad_request(
            "invalid_parts",
            format!("This upload has exactly {count} parts."),
        ));
    }
    Ok(parts)
}

/// A signed URL that fails its check: 403, like S3's answer to a bad or expired signature.
pub(crate) fn ticket_error(e: TicketError) -> AppError {
    match e {
        TicketError::Expired => AppError::forbidden("url_expired", "This URL has expired."),
        TicketError::Invalid => AppError::forbidden("invalid_signature", "This URL is not valid."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes() {
        assert_eq!(part_size_for(0), MIN_PART);
        assert_eq!(part_size_for(MIN_PART), MIN_PART);
        assert_eq!(part_count(0, MIN_PART), 0);
        assert_eq!(part_count(1, MIN_PART), 1);
        assert_eq!(part_count(MIN_PART + 1, MIN_PART), 2);
        assert_eq!(part_len(MIN_PART + 1, MIN_PART, 2), 1);
        // Large files: at most MAX_PARTS parts, each within S3's limits.
        for size in [100 * 1024 * MIB, MAX_OBJECT] {
            let ps = part_size_for(size);
            assert!(part_count(size, ps) as u64 <= MAX_PARTS || ps == MAX_PART);
            assert!(part_count(size, ps) <= 10_000);
            assert!((5 * MIB..=MAX_PART).contains(&ps));
        }
    }

    /// Tickets already handed out must still read after a deploy: the wire names stay short.
    #[test]
    fn tickets_keep_their_wire_names() {
        let upload = UploadTicket {
            owner: UserId::from("u1"),
            path: "a.txt".into(),
            size: 1,
            part_size: 2,
            content_type: "text/plain".into(),
            overwrite: true,
            store_upload_id: "x1".into(),
            expires: 3,
            charge: None,
        };
        assert_eq!(
            serde_json::to_value(&upload).unwrap(),
            serde_json::json!({"u": "u1", "p": "a.txt", "s": 1, "ps": 2, "ct": "text/plain",
                "o": true, "x": "x1", "e": 3})
        );
        // Tickets from before reservations have no charge; new ones name theirs as `r`.
        let back: UploadTicket = serde_json::from_value(serde_json::json!({"u": "u1",
            "p": "a.txt", "s": 1, "ps": 2, "ct": "text/plain", "o": true, "x": "x1", "e": 3}))
        .unwrap();
        assert_eq!(back.charge, None);
        let charged = UploadTicket {
            charge: Some("c1".into()),
            ..back
        };
        assert_eq!(serde_json::to_value(&charged).unwrap()["r"], "c1");
        let part = TransferTicket {
            store_upload_id: "x1".into(),
            part_number: 4,
            offset: 5,
            len: 6,
        };
        assert_eq!(
            serde_json::to_value(&part).unwrap(),
            serde_json::json!({"x": "x1", "n": 4, "off": 5, "len": 6})
        );
    }

    #[test]
    fn content_types() {
        assert!(valid_content_type("text/plain"));
        assert!(valid_content_type("application/vnd.ms-excel"));
        assert!(!valid_content_type("text/html\r\nX-Evil: 1"));
        assert!(!valid_content_type("text"));
        assert!(!valid_content_type("a/b/c"));
    }
}

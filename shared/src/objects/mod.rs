//! The object-store port: file bytes and their listing. Two adapters: [`local`] (a directory
//! plus a SQLite index, for the embedded backend) and [`s3`] (one S3 bucket).
//!
//! Keys are S3-style strings (`users/<id>/docs/a.txt`, folder markers end in `/`). They are built
//! only by the service layer from an authenticated user id and a parsed `UserPath`.
//!
//! Writes that must not race (a new name, a replaced version, a removal that gives bytes back)
//! are conditional, checked by the store in the same step as the write ([`IfDest`],
//! [`ObjectStore::copy_if`], [`ObjectStore::delete_if_match`]), never checked first and then
//! done.

#[cfg(feature = "embedded")]
pub mod local;
pub mod s3;

use std::io;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::Stream;

use crate::store::StoreError;

/// What an object store's failure means to the services: a metadata store's two (unreachable,
/// or broken) plus the two refusals only bytes can earn.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The backing store cannot be reached (network, timeout, missing bucket): HTTP 503.
    #[error("object store unavailable: {0:#}")]
    Unavailable(anyhow::Error),
    /// More bytes than allowed (quota or size limit): HTTP 413.
    #[error("too large: more than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The request does not fit what the store holds (a part of the wrong size, an unknown
    /// upload): HTTP 400, with this message.
    #[error("{0}")]
    Invalid(String),
    #[error("object store error: {0:#}")]
    Other(anyhow::Error),
}

pub type ObjectResult<T> = Result<T, ObjectError>;

impl ObjectError {
    pub fn other(err: impl Into<anyhow::Error>) -> Self {
        Self::Other(err.into())
    }
}

/// The adapters share the classification of backend errors (`aws::errors`, `embedded_db`).
impl From<StoreError> for ObjectError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(e) => Self::Unavailable(e),
            StoreError::Other(e) => Self::Other(e),
        }
    }
}

/// A stream of bytes out of the store.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;
/// A stream of bytes into the store (it may borrow from the request it comes from).
pub type ByteSource<'a> = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + 'a>>;

/// The content type a file name suggests (`application/octet-stream` when none does).
pub fn content_type_of(name: &str) -> &'static str {
    mime_guess::from_path(name)
        .first_raw()
        .unwrap_or("application/octet-stream")
}

/// S3's limit on the number of keys one listing page may ask for.
pub const MAX_LIST_PAGE: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Quoted and opaque, changing with the bytes. S3 gives an MD5 (hex) for single-part
    /// objects; the local store a BLAKE3 digest of the same shape.
    pub etag: String,
    pub content_type: String,
    pub modified: DateTime<Utc>,
}

/// One entry of a listing: an object, or (in a delimited listing) a common prefix ending in `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    Object(ObjectInfo),
    Prefix(String),
}

impl Listed {
    pub fn key(&self) -> &str {
        match self {
            Listed::Object(o) => &o.key,
            Listed::Prefix(p) => p,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListPage {
    /// In key order.
    pub items: Vec<Listed>,
    /// Opaque position of the next page; `None` on the last one.
    pub next: Option<String>,
}

/// An inclusive byte range, already checked against the object's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    /// How many bytes the range holds: at least one (a range is never empty).
    pub fn byte_count(&self) -> u64 {
        self.end - self.start + 1
    }
}

/// One part of a direct upload, as the store received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    pub part_number: u32,
    pub size: u64,
    pub etag: String,
}

/// What a presigned URL lets its bearer do, and nothing else.
#[derive(Debug, Clone, Copy)]
pub enum Presign<'a> {
    /// GET the object, answered with these headers.
    Get {
        key: &'a str,
        content_disposition: &'a str,
        content_type: &'a str,
    },
    /// PUT exactly `size` bytes as one part of a direct upload.
    Part {
        key: &'a str,
        upload_id: &'a str,
        part_number: u32,
        size: u64,
    },
}

pub struct Download {
    pub info: ObjectInfo,
    pub body: ByteStream,
}

/// What a conditional write requires of the object already at its key (S3's `If-None-Match: *`
/// and `If-Match`), checked by the store in the same step as the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfDest<'a> {
    /// No object may be there.
    Absent,
    /// The object there must have this ETag.
    Matches(&'a str),
}

/// Why a conditional copy wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyRefused {
    /// The source is gone, or no longer has the ETag asked for.
    SourceChanged,
    /// The destination does not meet its [`IfDest`].
    DestinationTaken,
}

#[async_trait]
pub trait ObjectStore: Send + Sync {
    async fn head(&self, key: &str) -> ObjectResult<Option<ObjectInfo>>;

    /// Keys starting with `prefix`, in key order, from `cursor` on, at most `limit` entries.
    /// With `delimited`, keys with a further `/` after the prefix are rolled up into one
    /// [`Listed::Prefix`] each.
    async fn list(
        &self,
        prefix: &str,
        delimited: bool,
        cursor: Option<&str>,
        limit: usize,
    ) -> ObjectResult<ListPage>;

    /// Keys starting with `prefix` and strictly after the key `after` (a whole key, not a
    /// cursor), in key order, undelimited, at most `limit` (≤ [`MAX_LIST_PAGE`]). Unlike a
    /// [`ObjectStore::list`] cursor, a key stays a valid position for ever: a job resumes
    /// from it hours later in another process. `next` is the page's last key when more follow.
    async fn list_after(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> ObjectResult<ListPage>;

    /// Stores the stream under `key`, replacing any object there, all or nothing: a failed or
    /// oversized upload leaves the previous state. More than `max_bytes` is
    /// [`ObjectError::TooLarge`].
    async fn put(
        &self,
        key: &str,
        body: ByteSource<'_>,
        content_type: &str,
        max_bytes: u64,
    ) -> ObjectResult<ObjectInfo>;

    /// [`ObjectStore::put`] if `key` meets `dest`, as one step; `None` (and nothing stored)
    /// when it does not.
    async fn put_if(
        &self,
        key: &str,
        body: ByteSource<'_>,
        content_type: &str,
        max_bytes: u64,
        dest: IfDest<'_>,
    ) -> ObjectResult<Option<ObjectInfo>>;

    /// The object's bytes, or the bytes of `range` of them; `None` if there is no such object.
    async fn get(&self, key: &str, range: Option<ByteRange>) -> ObjectResult<Option<Download>>;

    /// Deletes the keys that exist; missing ones are not an error.
    async fn delete(&self, keys: &[String]) -> ObjectResult<()>;

    /// Copies one object; `None` if the source does not exist.
    async fn copy(&self, from: &str, to: &str) -> ObjectResult<Option<ObjectInfo>>;

    /// Copies the version `etag` of `from` to `to`, if `to` meets `dest`, as one step: of
    /// concurrent copies to one key with [`IfDest::Absent`], at most one succeeds.
    async fn copy_if(
        &self,
        from: &str,
        etag: &str,
        to: &str,
        dest: IfDest<'_>,
    ) -> ObjectResult<Result<ObjectInfo, CopyRefused>>;

    /// Deletes `key` if it holds the version `etag`. True when this call removed it; false when
    /// it was not there as `etag`, or another call is removing it. Of concurrent calls, at most
    /// one sees true, so what the object held is given back once.
    async fn delete_if_match(&self, key: &str, etag: &str) -> ObjectResult<bool>;

    /// A URL for `what`, valid for `ttl`; `None` when the store has no URLs of its own (the local
    /// store: the service then signs URLs to itself, which end in [`ObjectStore::put_part`] and
    /// [`ObjectStore::get`]).
    async fn presign(
        &self,
        what: Presign<'_>,
        ttl: std::time::Duration,
    ) -> ObjectResult<Option<String>>;

    /// Starts a direct upload to `key`; the object appears only when it is completed.
    async fn begin_upload(&self, key: &str, content_type: &str) -> ObjectResult<String>;

    /// Stores one part sent to a URL the service signed (stores without URLs of their own):
    /// exactly `size` bytes at `offset` of the object, or nothing.
    async fn put_part(
        &self,
        upload_id: &str,
        part_number: u32,
        offset: u64,
        size: u64,
        body: ByteSource<'_>,
    ) -> ObjectResult<PartInfo>;

    /// The parts received so far, by part number; `None` if the upload is unknown (completed,
    /// aborted or expired).
    async fn list_parts(&self, key: &str, upload_id: &str) -> ObjectResult<Option<Vec<PartInfo>>>;

    /// Assembles the parts (in order) into the object at `key`, replacing any object there.
    async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartInfo],
    ) -> ObjectResult<ObjectInfo>;

    /// [`ObjectStore::complete_upload`] if `key` meets `dest`, as one step; `None` when it
    /// does not (the upload is then left to be aborted or to expire: S3 refuses a conditional
    /// completion for good once the key changed during the upload).
    async fn complete_upload_if(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartInfo],
        dest: IfDest<'_>,
    ) -> ObjectResult<Option<ObjectInfo>>;

    /// Drops an upload and its parts; an unknown upload is not an error.
    async fn abort_upload(&self, key: &str, upload_id: &str) -> ObjectResult<()>;

    /// Cheap round trip for the health check.
    async fn ping(&self) -> ObjectResult<()>;
}

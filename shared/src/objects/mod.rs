//! The object-store port: file bytes and their listing. Two adapters: [`local`] (a directory
//! plus a SQLite index, for the embedded backend) and [`s3`] (one S3 bucket).
//!
//! Keys are S3-style strings (`users/<id>/docs/a.txt`, folder markers end in `/`). They are built
//! only by the service layer from an authenticated user id and a parsed `UserPath`.

#[cfg(feature = "embedded")]
pub mod local;
pub mod s3;

use std::io;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::Stream;

use crate::store::StoreResult;

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
    /// As S3 gives it: the MD5 of the bytes (hex) for single-part objects, quoted.
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
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    pub fn is_empty(&self) -> bool {
        false
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

#[async_trait]
pub trait ObjectStore: Send + Sync {
    async fn head(&self, key: &str) -> StoreResult<Option<ObjectInfo>>;

    /// Keys starting with `prefix`, in key order, from `cursor` on, at most `limit` entries.
    /// With `delimited`, keys with a further `/` after the prefix are rolled up into one
    /// [`Listed::Prefix`] each.
    async fn list(
        &self,
        prefix: &str,
        delimited: bool,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<ListPage>;

    /// Stores the stream under `key`, replacing any object there, all or nothing: a failed or
    /// oversized upload leaves the previous state. More than `max_bytes` is
    /// [`StoreError::TooLarge`](crate::store::StoreError::TooLarge).
    async fn put(
        &self,
        key: &str,
        body: ByteSource<'_>,
        content_type: &str,
        max_bytes: u64,
    ) -> StoreResult<ObjectInfo>;

    /// The object's bytes, or the bytes of `range` of them; `None` if there is no such object.
    async fn get(&self, key: &str, range: Option<ByteRange>) -> StoreResult<Option<Download>>;

    /// Deletes the keys that exist; missing ones are not an error.
    async fn delete(&self, keys: &[String]) -> StoreResult<()>;

    /// Copies one object; `None` if the source does not exist.
    async fn copy(&self, from: &str, to: &str) -> StoreResult<Option<ObjectInfo>>;

    /// A URL for `what`, valid for `ttl`; `None` when the store has no URLs of its own (the local
    /// store: the service then signs URLs to itself, which end in [`ObjectStore::put_part`] and
    /// [`ObjectStore::get`]).
    async fn presign(
        &self,
        what: Presign<'_>,
        ttl: std::time::Duration,
    ) -> StoreResult<Option<String>>;

    /// Starts a direct upload to `key`; the object appears only when it is completed.
    async fn begin_upload(&self, key: &str, content_type: &str) -> StoreResult<String>;

    /// Stores one part sent to a URL the service signed (stores without URLs of their own):
    /// exactly `size` bytes at `offset` of the object, or nothing.
    async fn put_part(
        &self,
        upload_id: &str,
        part_number: u32,
        offset: u64,
        size: u64,
        body: ByteSource<'_>,
    ) -> StoreResult<PartInfo>;

    /// The parts received so far, by part number; `None` if the upload is unknown (completed,
    /// aborted or expired).
    async fn list_parts(&self, key: &str, upload_id: &str) -> StoreResult<Option<Vec<PartInfo>>>;

    /// Assembles the parts (in order) into the object at `key`, replacing any object there.
    async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartInfo],
    ) -> StoreResult<ObjectInfo>;

    /// Drops an upload and its parts; an unknown upload is not an error.
    async fn abort_upload(&self, key: &str, upload_id: &str) -> StoreResult<()>;

    /// Cheap round trip for the health check.
    async fn ping(&self) -> StoreResult<()>;
}

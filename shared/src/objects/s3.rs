//! AWS object store: one S3 bucket (aws-sdk-s3). SDK errors are classified here and never travel
//! further up.

use anyhow::anyhow;
use async_trait::async_trait;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream as S3Body;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};
use chrono::{TimeZone, Utc};
use futures::StreamExt;

use super::{
    ByteRange, ByteSource, ByteStream, CopyRefused, Download, IfDest, ListPage, Listed, ObjectInfo,
    ObjectStore, PartInfo, Presign,
};
use super::{ObjectError, ObjectResult};
use crate::aws::errors;
use crate::layout;

mod copy;

pub use copy::CopyShape;

/// True when S3 refused a write for its condition: 412, or 409 when a concurrent conditional
/// write to the same key was under way.
fn refused_for_condition<E, R>(err: &SdkError<E, R>) -> bool
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    errors::is(err, "PreconditionFailed") || errors::is(err, "ConditionalRequestConflict")
}

/// How long a claim may be held before it counts as left behind by a process that died.
const STALE_CLAIM: chrono::Duration = chrono::Duration::seconds(60);

/// An SDK error as the object port reports it (the classification is the AWS adapters' one).
fn classify<E, R>(err: SdkError<E, R>) -> ObjectError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    errors::classify(err).into()
}

/// A direct upload's completion (within a request) is given the time of at most this many
/// bytes: one attempt of 8 s + 8 s, under API Gateway's 30 s.
const IN_REQUEST_COMPLETION: u64 = 64 * 1024 * 1024;
/// Part size of streamed uploads: S3's minimum is 5 MiB; this bounds the memory of one upload.
const PART_BYTES: usize = 8 * 1024 * 1024;
/// Characters percent-encoded in a `CopySource` (everything but unreserved characters and `/`).
const COPY_SOURCE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

#[derive(Clone)]
pub struct S3Objects {
    client: Client,
    bucket: String,
    copy_shape: CopyShape,
    /// Part copies in flight in this process, across every object being copied.
    part_copies: std::sync::Arc<tokio::sync::Semaphore>,
}

/// A listed object. ListObjectsV2 leaves out content types: listings show the type guessed
/// from the name.
fn object_info(o: aws_sdk_s3::types::Object) -> ObjectInfo {
    let key = o.key.unwrap_or_default();
    ObjectInfo {
        content_type: super::content_type_of(&key).to_owned(),
        key,
        size: o.size.unwrap_or(0).max(0) as u64,
        etag: o.e_tag.unwrap_or_default(),
        modified: time(o.last_modified.as_ref()),
    }
}

fn time(t: Option<&aws_sdk_s3::primitives::DateTime>) -> chrono::DateTime<Utc> {
    t.and_then(|t| Utc.timestamp_millis_opt(t.to_millis().ok()?).single())
        .unwrap_or_default()
}

/// Reads from `body` until `buf` holds `PART_BYTES` or the stream ends.
async fn fill(body: &mut ByteSource<'_>, buf: &mut BytesMut) -> ObjectResult<bool> {
    while buf.len() < PART_BYTES {
        match body.next().await {
            Some(chunk) => buf.extend_from_slice(&chunk.map_err(ObjectError::other)?),
            None => return Ok(false),
        }
    }
    Ok(true)
}

/// The `If-None-Match` and `If-Match` headers of a write conditional on `dest`.
fn condition_headers(dest: Option<IfDest<'_>>) -> (Option<String>, Option<String>) {
    match dest {
        None => (None, None),
        Some(IfDest::Absent) => (Some("*".to_owned()), None),
        Some(IfDest::Matches(etag)) => (None, Some(etag.to_owned())),
    }
}

impl S3Objects {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            copy_shape: CopyShape::default(),
            part_copies: std::sync::Arc::new(tokio::sync::Semaphore::new(copy::PARTS_IN_FLIGHT)),
        }
    }

    /// The same store, cutting copies as `shape` says (tests use parts of a few MiB).
    pub fn with_copy_shape(mut self, shape: CopyShape) -> Self {
        self.copy_shape = shape;
        self
    }

    /// Creates the bucket (for emulators and tests; on AWS the SAM template does).
    pub async fn create_bucket(client: &Client, bucket: &str) -> anyhow::Result<()> {
        client.create_bucket().bucket(bucket).send().await?;
        Ok(())
    }

    /// One PutObject, conditional on `dest`; `None` when S3 refused it for that condition.
    async fn put_single(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
        dest: Option<IfDest<'_>>,
    ) -> ObjectResult<Option<ObjectInfo>> {
        let size = bytes.len() as u64;
        let (if_none_match, if_match) = condition_headers(dest);
        let out = match self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .set_if_none_match(if_none_match)
            .set_if_match(if_match)
            .body(S3Body::from(bytes))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if refused_for_condition(&e) => return Ok(None),
            Err(e) => return Err(classify(e)),
        };
        Ok(Some(ObjectInfo {
            key: key.to_owned(),
            size,
            etag: out.e_tag.unwrap_or_default(),
            content_type: content_type.to_owned(),
            modified: Utc::now(),
        }))
    }

    /// Streams `body` to `key` (one PUT, or a multipart upload when it is larger than a part),
    /// conditional on `dest`; `None` when S3 refused it for that condition.
    async fn put_with(
        &self,
        key: &str,
        mut body: ByteSource<'_>,
        content_type: &str,
        max_bytes: u64,
        dest: Option<IfDest<'_>>,
    ) -> ObjectResult<Option<ObjectInfo>> {
        let mut buf = BytesMut::with_capacity(PART_BYTES);
        let more = fill(&mut body, &mut buf).await?;
        if !more {
            if buf.len() as u64 > max_bytes {
                return Err(ObjectError::TooLarge { limit: max_bytes });
            }
            return self.put_single(key, buf.freeze(), content_type, dest).await;
        }
        let upload_id = self.begin_multipart(key, content_type).await?;
        let result = async {
            let (parts, size) = self
                .put_parts(key, &upload_id, buf, body, max_bytes)
                .await?;
            let etag = match self.complete(key, &upload_id, parts, dest, size).await {
                Ok(etag) => etag,
                Err(e) if refused_for_condition(&e) => return Ok(None),
                Err(e) => return Err(classify(e)),
            };
            Ok(Some(ObjectInfo {
                key: key.to_owned(),
                size,
                etag,
                content_type: content_type.to_owned(),
                modified: Utc::now(),
            }))
        }
        .await;
        if !matches!(result, Ok(Some(_))) {
            self.abort(key, &upload_id).await;
        }
        result
    }

    /// Uploads the stream part by part; the caller aborts the upload if this fails.
    async fn put_parts(
        &self,
        key: &str,
        upload_id: &str,
        first: BytesMut,
        mut body: ByteSource<'_>,
        max_bytes: u64,
    ) -> ObjectResult<(Vec<CompletedPart>, u64)> {
        let mut parts = Vec::new();
        let mut buf = first;
        let mut size = 0u64;
        loop {
            let more = if buf.len() < PART_BYTES {
                fill(&mut body, &mut buf).await?
            } else {
                true
            };
            if buf.is_empty() {
                break;
            }
            let chunk = buf.split_to(buf.len().min(PART_BYTES)).freeze();
            size += chunk.len() as u64;
            if size > max_bytes {
                return Err(ObjectError::TooLarge { limit: max_bytes });
            }
            let number = parts.len() as i32 + 1;
            let out = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(S3Body::from(chunk))
                .send()
                .await
                .map_err(classify)?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag)
                    .build(),
            );
            if !more && buf.is_empty() {
                break;
            }
        }
        Ok((parts, size))
    }

    /// Starts a multipart upload; the caller completes or aborts it.
    async fn begin_multipart(&self, key: &str, content_type: &str) -> ObjectResult<String> {
        self.client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(classify)?
            .upload_id
            .ok_or_else(|| ObjectError::other(anyhow!("CreateMultipartUpload gave no id")))
    }

    async fn abort(&self, key: &str, upload_id: &str) {
        if let Err(e) = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            // The bucket's lifecycle rule removes it after a day anyway.
            tracing::warn!(error = %e, key, "could not abort a multipart upload");
        }
    }

    /// Completes a direct upload, conditional on `dest`; `None` when S3 refused it for that
    /// condition (the upload is then left as it was).
    async fn complete_direct(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartInfo],
        dest: Option<IfDest<'_>>,
    ) -> ObjectResult<Option<ObjectInfo>> {
        let completed = parts
            .iter()
            .map(|p| {
                CompletedPart::builder()
                    .part_number(p.part_number as i32)
                    .e_tag(&p.etag)
                    .build()
            })
            .collect();
        // Within a request: time for the size, but never past API Gateway's 30 s.
        let bytes = parts
            .iter()
            .map(|p| p.size)
            .sum::<u64>()
            .min(IN_REQUEST_COMPLETION);
        let etag = match self.complete(key, upload_id, completed, dest, bytes).await {
            Ok(etag) => etag,
            Err(e) if refused_for_condition(&e) => return Ok(None),
            Err(e) if errors::is(&e, "NoSuchUpload") || errors::is(&e, "InvalidPart") => {
                return Err(ObjectError::Invalid(
                    "The upload or one of its parts is not there any more.".into(),
                ))
            }
            Err(e) => return Err(classify(e)),
        };
        // The object exists now: if reading it back fails, answer from what is known rather
        // than report a failure (the caller would undo its bookkeeping for a stored file).
        match self.head(key).await {
            Ok(Some(info)) => Ok(Some(info)),
            other => {
                tracing::warn!(key, result = ?other.map(|_| ()), "completed object not read back");
                Ok(Some(ObjectInfo {
                    key: key.to_owned(),
                    size: parts.iter().map(|p| p.size).sum(),
                    etag,
                    content_type: crate::objects::content_type_of(key).to_owned(),
                    modified: Utc::now(),
                }))
            }
        }
    }

    /// Claims `key` for one caller (a conditional PUT of its [`layout::claim_key`]); false when
    /// another caller holds it. A claim older than [`STALE_CLAIM`] is taken over.
    async fn claim(&self, claim: &str) -> ObjectResult<bool> {
        for _ in 0..2 {
            match self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(claim)
                .if_none_match("*")
                .body(S3Body::from_static(b""))
                .send()
                .await
            {
                Ok(_) => return Ok(true),
                Err(e) if refused_for_condition(&e) => {}
                Err(e) => return Err(classify(e)),
            }
            match self.head(claim).await? {
                Some(held) if Utc::now() - held.modified > STALE_CLAIM => {
                    self.delete(&[claim.to_owned()]).await?;
                }
                Some(_) => return Ok(false),
                None => {}
            }
        }
        Ok(false)
    }

    /// Completes a multipart upload of `bytes` (S3 may take seconds to assemble a large one);
    /// the SDK's error is left to the caller, for whom a missing upload or part means
    /// different things.
    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<CompletedPart>,
        dest: Option<IfDest<'_>>,
        bytes: u64,
    ) -> Result<String, SdkError<CompleteMultipartUploadError, HttpResponse>> {
        let (if_none_match, if_match) = condition_headers(dest);
        let out = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .set_if_none_match(if_none_match)
            .set_if_match(if_match)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .customize()
            .config_override(copy::slow_call_timeouts(bytes))
            .send()
            .await?;
        Ok(out.e_tag.unwrap_or_default())
    }

    fn copy_source(&self, key: &str) -> String {
        format!(
            "{}/{}",
            self.bucket,
            percent_encoding::utf8_percent_encode(key, COPY_SOURCE)
        )
    }
}

#[async_trait]
impl ObjectStore for S3Objects {
    async fn head(&self, key: &str) -> ObjectResult<Option<ObjectInfo>> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectInfo {
                key: key.to_owned(),
                size: out.content_length.unwrap_or(0).max(0) as u64,
                etag: out.e_tag.unwrap_or_default(),
                content_type: out
                    .content_type
                    .unwrap_or_else(|| "application/octet-stream".into()),
                modified: time(out.last_modified.as_ref()),
            })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(classify(e)),
        }
    }

    async fn list(
        &self,
        prefix: &str,
        delimited: bool,
        cursor: Option<&str>,
        limit: usize,
    ) -> ObjectResult<ListPage> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_delimiter(delimited.then(|| "/".to_owned()))
            .max_keys(limit.clamp(1, super::MAX_LIST_PAGE) as i32)
            .set_continuation_token(cursor.map(str::to_owned))
            .send()
            .await
            .map_err(classify)?;
        // ListObjectsV2 leaves out content types; listings show the type guessed from the name.
        let mut items: Vec<Listed> = out
            .contents
            .unwrap_or_default()
            .into_iter()
            .map(|o| Listed::Object(object_info(o)))
            .chain(
                out.common_prefixes
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|p| p.prefix.map(Listed::Prefix)),
            )
            .collect();
        items.sort_by(|a, b| a.key().cmp(b.key()));
        let next = out
            .is_truncated
            .unwrap_or(false)
            .then_some(out.next_continuation_token)
            .flatten();
        Ok(ListPage { items, next })
    }

    async fn list_after(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> ObjectResult<ListPage> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .max_keys(limit.clamp(1, super::MAX_LIST_PAGE) as i32)
            .set_start_after(after.map(str::to_owned))
            .send()
            .await
            .map_err(classify)?;
        let items: Vec<Listed> = out
            .contents
            .unwrap_or_default()
            .into_iter()
            .map(|o| Listed::Object(object_info(o)))
            .collect();
        // The position is the last key, not S3's continuation token (which does not last).
        let next = match out.is_truncated.unwrap_or(false) {
            true => items.last().map(|i| i.key().to_owned()),
            false => None,
        };
        Ok(ListPage { items, next })
    }

    async fn put(
        &self,
        key: &str,
        body: ByteSource<'_>,
        content_type: &str,
        max_bytes: u64,
    ) -> ObjectResult<ObjectInfo> {
        self.put_with(key, body, content_type, max_bytes, None)
            .await?
            .ok_or_else(|| ObjectError::other(anyhow!("an unconditional write refused")))
    }

    async fn put_if(
        &self,
        key: &str,
        body: ByteSource<'_>,
        content_type: &str,
        max_bytes: u64,
        dest: IfDest<'_>,
    ) -> ObjectResult<Option<ObjectInfo>> {
        self.put_with(key, body, content_type, max_bytes, Some(dest))
            .await
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> ObjectResult<Option<Download>> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_range(range.map(|r| format!("bytes={}-{}", r.start, r.end)))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(classify(e)),
        };
        let size = match (range, out.content_range.as_deref()) {
            // `bytes 0-9/1234`: the object's size is after the slash.
            (Some(_), Some(cr)) => cr
                .rsplit('/')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            _ => out.content_length.unwrap_or(0).max(0) as u64,
        };
        let info = ObjectInfo {
            key: key.to_owned(),
            size,
            etag: out.e_tag.clone().unwrap_or_default(),
            content_type: out
                .content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".into()),
            modified: time(out.last_modified.as_ref()),
        };
        let body: ByteStream = Box::pin(futures::stream::unfold(out.body, |mut body| async {
            match body.try_next().await {
                Ok(Some(bytes)) => Some((Ok(bytes), body)),
                Ok(None) => None,
                Err(e) => Some((Err(std::io::Error::other(e)), body)),
            }
        }));
        Ok(Some(Download { info, body }))
    }

    async fn delete(&self, keys: &[String]) -> ObjectResult<()> {
        for chunk in keys.chunks(1000) {
            let objects = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(ObjectError::other)?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(ObjectError::other)?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(classify)?;
            if let Some(err) = out.errors.unwrap_or_default().first() {
                return Err(ObjectError::other(anyhow!(
                    "DeleteObjects failed for {:?}: {:?}",
                    err.key,
                    err.code
                )));
            }
        }
        Ok(())
    }

    async fn copy(&self, from: &str, to: &str) -> ObjectResult<Option<ObjectInfo>> {
        let Some(source) = self.head(from).await? else {
            return Ok(None);
        };
        let copied = self.copy_object(from, to, &source, None).await?;
        if copied.is_err() {
            return Err(ObjectError::other(anyhow!(
                "object {from} changed while being copied"
            )));
        }
        Ok(self.head(to).await?)
    }

    async fn copy_if(
        &self,
        from: &str,
        etag: &str,
        to: &str,
        dest: IfDest<'_>,
    ) -> ObjectResult<Result<ObjectInfo, CopyRefused>> {
        let source = match self.head(from).await? {
            Some(source) if source.etag == etag => source,
            _ => return Ok(Err(CopyRefused::SourceChanged)),
        };
        // Checked first as well: LocalStack writes a refused copy's bytes over the object there
        // (its metadata stays), so a refusal it can see coming must never reach it. S3 itself
        // checks `dest` atomically with the write below.
        let there = self.head(to).await?;
        let met = match dest {
            IfDest::Absent => there.is_none(),
            IfDest::Matches(etag) => there.is_some_and(|o| o.etag == etag),
        };
        if !met {
            return Ok(Err(CopyRefused::DestinationTaken));
        }
        let copied = self.copy_object(from, to, &source, Some(dest)).await?;
        Ok(copied.map(|etag| ObjectInfo {
            key: to.to_owned(),
            etag,
            modified: Utc::now(),
            ..source
        }))
    }

    async fn delete_if_match(&self, key: &str, etag: &str) -> ObjectResult<bool> {
        let claim = layout::claim_key(key);
        if !self.claim(&claim).await? {
            return Ok(false);
        }
        // While the claim is held no other caller of this method removes the object, so the
        // object read here is the one deleted.
        let result = match self.head(key).await {
            Ok(Some(now)) if now.etag == etag => self.delete(&[key.to_owned()]).await.map(|_| true),
            Ok(_) => Ok(false),
            Err(e) => Err(e),
        };
        if let Err(e) = self.delete(&[claim]).await {
            tracing::warn!(error = %e, key, "claim not released; it expires");
        }
        result
    }

    async fn presign(
        &self,
        what: Presign<'_>,
        ttl: std::time::Duration,
    ) -> ObjectResult<Option<String>> {
        let config = PresigningConfig::expires_in(ttl).map_err(ObjectError::other)?;
        let request = match what {
            Presign::Get {
                key,
                content_disposition,
                content_type,
            } => self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .response_content_disposition(content_disposition)
                .response_content_type(content_type)
                .presigned(config)
                .await
                .map_err(classify)?,
            // The length is a signed header: S3 refuses a body of any other size.
            Presign::Part {
                key,
                upload_id,
                part_number,
                size,
            } => self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(part_number as i32)
                .content_length(size as i64)
                .presigned(config)
                .await
                .map_err(classify)?,
        };
        Ok(Some(request.uri().to_owned()))
    }

    async fn begin_upload(&self, key: &str, content_type: &str) -> ObjectResult<String> {
        self.begin_multipart(key, content_type).await
    }

    async fn put_part(
        &self,
        _: &str,
        _: u32,
        _: u64,
        _: u64,
        _: ByteSource<'_>,
    ) -> ObjectResult<PartInfo> {
        // Clients send parts straight to S3's presigned URLs; the service signs none of its own.
        Err(ObjectError::Invalid(
            "Parts of this upload go to their presigned S3 URLs.".into(),
        ))
    }

    async fn list_parts(&self, key: &str, upload_id: &str) -> ObjectResult<Option<Vec<PartInfo>>> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = match self
                .client
                .list_parts()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .set_part_number_marker(marker.take())
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) if errors::is(&e, "NoSuchUpload") => return Ok(None),
                Err(e) => return Err(classify(e)),
            };
            parts.extend(out.parts().iter().map(|p| PartInfo {
                part_number: p.part_number.unwrap_or(0).max(0) as u32,
                size: p.size.unwrap_or(0).max(0) as u64,
                etag: p.e_tag.clone().unwrap_or_default(),
            }));
            match (out.is_truncated, out.next_part_number_marker) {
                (Some(true), Some(next)) => marker = Some(next),
                _ => break,
            }
        }
        Ok(Some(parts))
    }

    async fn complete_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartInfo],
    ) -> ObjectResult<ObjectInfo> {
        self.complete_direct(key, upload_id, parts, None)
            .await?
            .ok_or_else(|| ObjectError::other(anyhow!("an unconditional write refused")))
    }

    async fn complete_upload_if(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[PartInfo],
        dest: IfDest<'_>,
    ) -> ObjectResult<Option<ObjectInfo>> {
        self.complete_direct(key, upload_id, parts, Some(dest))
            .await
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) -> ObjectResult<()> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if errors::is(&e, "NoSuchUpload") => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }

    async fn ping(&self) -> ObjectResult<()> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| errors::unavailable(e).into())
    }
}

//! Copies inside the bucket, and the time the calls that move many bytes inside S3 are given.
//!
//! S3 copies an object within the service at tens of MB/s per call, and answers only when the
//! copy is done: one CopyObject of a large object takes minutes, far past the 4 s per attempt
//! every other call is allowed (runtime.rs). So an object above [`CopyShape::single_max`] is
//! copied in parts, several at a time, and each copy call (and each completion, which S3 may
//! take seconds to assemble) is given time in proportion to its bytes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::types::CompletedPart;
use futures::StreamExt;

use super::{classify, condition_headers, errors, refused_for_condition, S3Objects};
use crate::objects::{CopyRefused, IfDest, ObjectInfo, ObjectResult};

/// How copies are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyShape {
    /// Objects up to this size are one CopyObject (S3 allows at most 5 GiB).
    pub single_max: u64,
    /// Larger ones are copied in parts of this size (S3: at least 5 MiB, at most 10,000
    /// parts, so a larger object gets larger parts)…
    pub part_bytes: u64,
    /// …this many at a time.
    pub parallel: usize,
}

impl Default for CopyShape {
    fn default() -> Self {
        Self {
            single_max: 64 * MIB,
            part_bytes: 64 * MIB,
            parallel: 8,
        }
    }
}

const MIB: u64 = 1024 * 1024;
/// Part copies one process has in flight at most, whatever the number of objects being copied
/// at once (a folder job copies 16 side by side): each is a long request on the one client,
/// whose retries share one budget.
pub(super) const PARTS_IN_FLIGHT: usize = 16;
/// S3's limits on a multipart upload.
const MAX_PARTS: u64 = 10_000;
const MIN_PART: u64 = 5 * MIB;
/// The pace a copy call is assumed to keep at worst: its bytes at this rate, on top of
/// [`SLOW_CALL_BASE`], is how long one attempt may take.
const WORST_COPY_RATE: u64 = 8 * MIB;
const SLOW_CALL_BASE: Duration = Duration::from_secs(8);

/// Timeouts for one call that makes S3 move `bytes` inside the service (a copy, a part's
/// copy, a completion): one attempt may take its bytes at [`WORST_COPY_RATE`] plus
/// [`SLOW_CALL_BASE`], and a retry as long again. Connecting stays quick.
pub(super) fn slow_call_timeouts(bytes: u64) -> aws_sdk_s3::config::Builder {
    let attempt = SLOW_CALL_BASE + Duration::from_secs(bytes / WORST_COPY_RATE);
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(attempt)
        .operation_timeout(attempt * 2)
        .build();
    aws_sdk_s3::config::Builder::default().timeout_config(timeouts)
}

/// The byte ranges (first, last) of the parts `size` bytes are copied in.
fn part_ranges(size: u64, shape: CopyShape) -> Vec<(u64, u64)> {
    let part = shape.part_bytes.max(MIN_PART).max(size.div_ceil(MAX_PARTS));
    (0..size.div_ceil(part))
        .map(|i| (i * part, ((i + 1) * part).min(size) - 1))
        .collect()
}

impl S3Objects {
    /// Copies `source` (at `from`) to `to`, conditional on the source's ETag and on `dest`
    /// (none when `None`); the new object's ETag.
    pub(super) async fn copy_object(
        &self,
        from: &str,
        to: &str,
        source: &ObjectInfo,
        dest: Option<IfDest<'_>>,
    ) -> ObjectResult<Result<String, CopyRefused>> {
        if source.size > self.copy_shape.single_max {
            self.copy_parts(from, to, source, dest).await
        } else {
            self.copy_single(from, to, source, dest).await
        }
    }

    /// One CopyObject.
    async fn copy_single(
        &self,
        from: &str,
        to: &str,
        source: &ObjectInfo,
        dest: Option<IfDest<'_>>,
    ) -> ObjectResult<Result<String, CopyRefused>> {
        let (if_none_match, if_match) = condition_headers(dest);
        match self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(self.copy_source(from))
            .copy_source_if_match(&source.etag)
            .set_if_none_match(if_none_match)
            .set_if_match(if_match)
            .customize()
            .config_override(slow_call_timeouts(source.size))
            .send()
            .await
        {
            Ok(out) => Ok(Ok(out
                .copy_object_result
                .and_then(|r| r.e_tag)
                .unwrap_or_else(|| source.etag.clone()))),
            // One 412 for either condition: the source tells which one failed.
            Err(e) if refused_for_condition(&e) => {
                let now = crate::objects::ObjectStore::head(self, from).await?;
                Ok(Err(match now {
                    Some(now) if now.etag == source.etag => CopyRefused::DestinationTaken,
                    _ => CopyRefused::SourceChanged,
                }))
            }
            Err(e) if errors::is(&e, "NoSuchKey") => Ok(Err(CopyRefused::SourceChanged)),
            Err(e) => Err(classify(e)),
        }
    }

    /// A multipart upload whose parts are copied from the source, [`CopyShape::parallel`] at a
    /// time; aborted unless it completes.
    async fn copy_parts(
        &self,
        from: &str,
        to: &str,
        source: &ObjectInfo,
        dest: Option<IfDest<'_>>,
    ) -> ObjectResult<Result<String, CopyRefused>> {
        let upload_id = self.begin_multipart(to, &source.content_type).await?;
        let result = async {
            let ranges = part_ranges(source.size, self.copy_shape);
            // After a failure no part starts, but those in flight are waited for: S3 goes on
            // with a part copy whose request was dropped, and a part that lands after the
            // abort would be kept, out of every listing, until it is aborted again.
            let stopped = AtomicBool::new(false);
            let mut copies = futures::stream::iter(ranges.into_iter().enumerate())
                .take_while(|_| std::future::ready(!stopped.load(Ordering::Acquire)))
                .map(|(i, range)| self.copy_part(from, to, &upload_id, source, i as i32 + 1, range))
                .buffered(self.copy_shape.parallel.max(1));
            let (mut parts, mut failed) = (Vec::new(), None);
            while let Some(part) = copies.next().await {
                match part {
                    Ok(Ok(part)) => parts.push(part),
                    Ok(Err(refused)) => failed = failed.or(Some(Ok(Err(refused)))),
                    Err(e) => failed = failed.or(Some(Err(e))),
                }
                if failed.is_some() {
                    stopped.store(true, Ordering::Release);
                }
            }
            drop(copies);
            if let Some(failed) = failed {
                return failed;
            }
            match self
                .complete(to, &upload_id, parts, dest, source.size)
                .await
            {
                Ok(etag) => Ok(Ok(etag)),
                Err(e) if refused_for_condition(&e) => Ok(Err(CopyRefused::DestinationTaken)),
                Err(e) => Err(classify(e)),
            }
        }
        .await;
        if !matches!(result, Ok(Ok(_))) {
            self.abort(to, &upload_id).await;
        }
        result
    }

    /// One part's UploadPartCopy, conditional on the source's ETag.
    async fn copy_part(
        &self,
        from: &str,
        to: &str,
        upload_id: &str,
        source: &ObjectInfo,
        number: i32,
        (first, last): (u64, u64),
    ) -> ObjectResult<Result<CompletedPart, CopyRefused>> {
        let _turn = self
            .part_copies
            .acquire()
            .await
            .map_err(crate::objects::ObjectError::other)?;
        let out = match self
            .client
            .upload_part_copy()
            .bucket(&self.bucket)
            .key(to)
            .upload_id(upload_id)
            .part_number(number)
            .copy_source(self.copy_source(from))
            .copy_source_if_match(&source.etag)
            .copy_source_range(format!("bytes={first}-{last}"))
            .customize()
            .config_override(slow_call_timeouts(last + 1 - first))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if refused_for_condition(&e) || errors::is(&e, "NoSuchKey") => {
                return Ok(Err(CopyRefused::SourceChanged))
            }
            Err(e) => return Err(classify(e)),
        };
        Ok(Ok(CompletedPart::builder()
            .part_number(number)
            .set_e_tag(out.copy_part_result.and_then(|r| r.e_tag))
            .build()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_object_exactly_within_s3s_limits() {
        let shape = CopyShape::default();
        assert_eq!(
            part_ranges(150 * MIB, shape),
            [
                (0, 64 * MIB - 1),
                (64 * MIB, 128 * MIB - 1),
                (128 * MIB, 150 * MIB - 1)
            ]
        );
        assert_eq!(part_ranges(64 * MIB + 1, shape).len(), 2);
        // The largest object S3 holds (5 TiB): parts grow so there are at most 10,000.
        let huge = 5 * 1024 * 1024 * MIB;
        let ranges = part_ranges(huge, shape);
        assert!(ranges.len() as u64 <= MAX_PARTS, "{}", ranges.len());
        assert_eq!(ranges.last().unwrap().1, huge - 1);
        assert!(ranges.windows(2).all(|w| w[1].0 == w[0].1 + 1));
        // Never below S3's least part size, whatever the shape says.
        let tiny = CopyShape {
            part_bytes: 1,
            ..shape
        };
        assert_eq!(part_ranges(12 * MIB, tiny).len(), 3);
    }
}

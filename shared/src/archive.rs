//! Writing ZIP archives as a stream, entry after entry, through async_zip.
//!
//! Nothing is held whole: each file's bytes pass through in the chunks the store yields, and the
//! archive leaves in the chunks the sink takes. Entries are written as streams (data
//! descriptors, ZIP64 extra fields), so sizes past 4 GiB and counts past 65,535 need no
//! foreknowledge; readers (unzip, Python's zipfile, 7-Zip) take such archives as they are.

use async_zip::base::write::ZipFileWriter;
use async_zip::{Compression, ZipDateTime, ZipEntryBuilder};
use chrono::{DateTime, Datelike, Timelike, Utc};
use futures::io::AsyncWriteExt as _;
use futures::StreamExt;
use tokio::io::AsyncWrite;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use crate::objects::ByteStream;

/// File name extensions of content that is compressed already: stored, not deflated again.
const COMPRESSED: &[&str] = &[
    "7z", "aac", "apk", "avi", "avif", "br", "bz2", "cab", "docx", "epub", "flac", "flv", "gif",
    "gz", "heic", "heif", "jar", "jpeg", "jpg", "jxl", "lz", "lz4", "lzma", "m4a", "m4v", "mkv",
    "mov", "mp3", "mp4", "mpeg", "mpg", "odp", "ods", "odt", "ogg", "opus", "png", "pptx", "rar",
    "tgz", "txz", "webm", "webp", "whl", "wma", "wmv", "woff", "woff2", "xlsx", "xz", "zip", "zst",
];

/// True when a file of this name is better stored than deflated.
pub fn is_compressed(name: &str) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| COMPRESSED.contains(&ext.to_ascii_lowercase().as_str()))
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading a file or writing the archive failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("zip: {0}")]
    Zip(#[from] async_zip::error::ZipError),
}

fn zip_time(t: DateTime<Utc>) -> ZipDateTime {
    // MS-DOS time starts in 1980; earlier times are clamped to it.
    let t = t.max(DateTime::from_timestamp(315_532_800, 0).unwrap_or_default());
    async_zip::ZipDateTimeBuilder::new()
        .year(t.year())
        .month(t.month())
        .day(t.day())
        .hour(t.hour())
        .minute(t.minute())
        .second(t.second())
        .build()
}

/// A ZIP archive being written to `W`.
pub struct ArchiveWriter<W: AsyncWrite + Unpin> {
    zip: ZipFileWriter<Compat<W>>,
}

impl<W: AsyncWrite + Unpin> ArchiveWriter<W> {
    pub fn new(sink: W) -> Self {
        Self {
            zip: ZipFileWriter::new(sink.compat_write()),
        }
    }

    /// A directory entry (`name` ends in `/`), for folders that would otherwise not appear.
    pub async fn add_dir(
        &mut self,
        name: &str,
        modified: DateTime<Utc>,
    ) -> Result<(), ArchiveError> {
        let entry = ZipEntryBuilder::new(name.to_owned().into(), Compression::Stored)
            .last_modification_date(zip_time(modified))
            .unix_permissions(0o755);
        self.zip.write_entry_whole(entry, &[]).await?;
        Ok(())
    }

    /// A file entry with the bytes of `body`, deflated unless [`is_compressed`]; returns the
    /// number of bytes read.
    pub async fn add_file(
        &mut self,
        name: &str,
        modified: DateTime<Utc>,
        mut body: ByteStream,
    ) -> Result<u64, ArchiveError> {
        let method = if is_compressed(name) {
            Compression::Stored
        } else {
            Compression::Deflate
        };
        let entry = ZipEntryBuilder::new(name.to_owned().into(), method)
            .last_modification_date(zip_time(modified))
            .unix_permissions(0o644);
        let mut writer = self.zip.write_entry_stream(entry).await?;
        let mut read = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            read += chunk.len() as u64;
            writer.write_all(&chunk).await?;
        }
        writer.close().await?;
        Ok(read)
    }

    /// Writes the central directory and returns the sink, flushed and shut down.
    pub async fn finish(self) -> Result<W, ArchiveError> {
        let mut sink = self.zip.close().await?.into_inner();
        tokio::io::AsyncWriteExt::shutdown(&mut sink).await?;
        Ok(sink)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_content_is_recognised_by_extension() {
        for name in ["a.JPG", "b.mp4", "c.tar.gz", "d.zip", "e.docx"] {
            assert!(is_compressed(name), "{name}");
        }
        for name in ["a.txt", "b.csv", "zip", "c.tar", "d.svg", ".jpg.txt"] {
            assert!(!is_compressed(name), "{name}");
        }
    }

    #[test]
    fn times_before_1980_are_clamped() {
        let t = zip_time(DateTime::from_timestamp(0, 0).unwrap());
        assert_eq!(t.year(), 1980);
    }
}

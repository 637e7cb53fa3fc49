//! Writing ZIP archives as a stream, entry after entry, at the machine's speed.
//!
//! Nothing is held whole: files pass through in chunks and the archive leaves as it is made.
//! Each entry is stored or deflated by what it holds (names of compressed content are stored
//! unread; other entries are sampled: see `deflate.rs`); large entries are deflated in chunks
//! on every core at once, in order, within a fixed byte budget (`pipeline.rs`). Entries are
//! written as streams (data descriptors; ZIP64 fields past 4 GiB or 65,535 entries:
//! `format.rs`), so no size needs to be known beforehand.

mod deflate;
mod format;
mod pipeline;
#[cfg(test)]
mod read_back;

use std::future::Future;
use std::io;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::objects::{ByteStream, ObjectError, ObjectResult};
use format::{Entry, Method};

/// File name extensions of content that is compressed already: stored, not deflated again.
const COMPRESSED: &[&str] = &[
    "7z", "aac", "apk", "avi", "avif", "br", "bz2", "cab", "dmg", "docx", "epub", "flac", "flv",
    "gif", "gz", "heic", "heif", "ipa", "jar", "jpeg", "jpg", "jxl", "lz", "lz4", "lzma", "m4a",
    "m4v", "mkv", "mov", "mp3", "mp4", "mpeg", "mpg", "odg", "odp", "ods", "odt", "ogg", "opus",
    "pdf", "png", "pptx", "rar", "tbz2", "tgz", "txz", "webm", "webp", "whl", "wma", "wmv", "woff",
    "woff2", "xlsx", "xpi", "xz", "zip", "zipx", "zst",
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
    Io(#[from] io::Error),
    /// Opening a file for its entry failed.
    #[error("{0}")]
    Open(#[from] ObjectError),
    /// An entry the format cannot hold (a name longer than 65,535 bytes).
    #[error("zip: {0}")]
    Invalid(String),
}

/// Opens an entry's bytes: `None` when the file is gone meanwhile (it gets no entry).
pub type OpenBody<'a> = Pin<Box<dyn Future<Output = ObjectResult<Option<ByteStream>>> + Send + 'a>>;

/// One entry to write with [`ArchiveWriter::write_all_entries`].
pub struct EntryInput<'a> {
    pub name: String,
    pub modified: DateTime<Utc>,
    /// The size the file is expected to have (as listed): 0 is stored without a look.
    pub size: u64,
    /// The file's bytes, opened when the entry comes near; `None` for a directory entry
    /// (`name` ends in `/`).
    pub body: Option<OpenBody<'a>>,
}

/// A ZIP archive being written to `W`.
pub struct ArchiveWriter<W: AsyncWrite + Unpin> {
    sink: W,
    /// Bytes written so far: the offset of the next header.
    offset: u64,
    entries: Vec<Entry>,
}

impl<W: AsyncWrite + Unpin> ArchiveWriter<W> {
    pub fn new(sink: W) -> Self {
        Self {
            sink,
            offset: 0,
            entries: Vec::new(),
        }
    }

    /// A directory entry (`name` ends in `/`), for folders that would otherwise not appear.
    pub async fn add_dir(
        &mut self,
        name: &str,
        modified: DateTime<Utc>,
    ) -> Result<(), ArchiveError> {
        self.begin(name, modified, Method::Stored, true).await
    }

    /// A file entry with the bytes of `body`, stored or deflated by its name and content;
    /// returns the number of bytes read.
    pub async fn add_file(
        &mut self,
        name: &str,
        modified: DateTime<Utc>,
        body: ByteStream,
    ) -> Result<u64, ArchiveError> {
        let entry = EntryInput {
            name: name.to_owned(),
            modified,
            // Unknown: looked at unless the name says it is compressed.
            size: u64::MAX,
            body: Some(Box::pin(async move { Ok(Some(body)) })),
        };
        let mut read = 0;
        self.write_all_entries(futures::stream::iter([entry]), |_, bytes| read = bytes)
            .await?;
        Ok(read)
    }

    /// Writes the central directory and returns the sink, flushed and shut down.
    pub async fn finish(mut self) -> Result<W, ArchiveError> {
        let start = self.offset;
        let entries = std::mem::take(&mut self.entries);
        let mut block = Vec::with_capacity(64 * 1024);
        for entry in &entries {
            block.extend_from_slice(&format::central_header(entry));
            if block.len() >= 60 * 1024 {
                self.put(&block).await?;
                block.clear();
            }
        }
        self.put(&block).await?;
        let end = format::end_records(entries.len() as u64, start, self.offset - start);
        self.put(&end).await?;
        self.sink.shutdown().await?;
        Ok(self.sink)
    }

    /// Writes `bytes` to the archive.
    async fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.sink.write_all(bytes).await?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Starts an entry with its local header; a directory entry is then complete.
    async fn begin(
        &mut self,
        name: &str,
        modified: DateTime<Utc>,
        method: Method,
        dir: bool,
    ) -> Result<(), ArchiveError> {
        if name.len() > format::MAX_NAME {
            return Err(ArchiveError::Invalid(format!(
                "name of {} bytes",
                name.len()
            )));
        }
        let entry = Entry {
            name: name.to_owned(),
            method,
            dir,
            time: format::dos_time(modified),
            crc: 0,
            compressed: 0,
            size: 0,
            offset: self.offset,
        };
        self.put(&format::local_header(&entry)).await?;
        self.entries.push(entry);
        Ok(())
    }

    /// Ends the file entry begun last with its data descriptor.
    async fn end(&mut self, crc: u32, compressed: u64, size: u64) -> Result<(), ArchiveError> {
        let Some(entry) = self.entries.last_mut() else {
            return Err(ArchiveError::Invalid("no entry to end".into()));
        };
        entry.crc = crc;
        entry.compressed = compressed;
        entry.size = size;
        let descriptor = format::data_descriptor(entry);
        self.put(&descriptor).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_content_is_recognised_by_extension() {
        for name in ["a.JPG", "b.mp4", "c.tar.gz", "d.zip", "e.docx", "f.pdf"] {
            assert!(is_compressed(name), "{name}");
        }
        for name in ["a.txt", "b.csv", "zip", "c.tar", "d.svg", ".jpg.txt"] {
            assert!(!is_compressed(name), "{name}");
        }
    }

    fn body(data: &[u8]) -> ByteStream {
        let pieces: Vec<io::Result<bytes::Bytes>> = data
            .chunks(100_000)
            .map(|p| Ok(bytes::Bytes::copy_from_slice(p)))
            .collect();
        Box::pin(futures::stream::iter(pieces))
    }

    #[tokio::test]
    async fn stored_deflated_empty_and_directory_entries_read_back() {
        let text = "alpha beta gamma ".repeat(200_000); // 3.4 MB: several chunks
        let mut noise = vec![0u8; 300_000];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut noise);
        let mut zip = ArchiveWriter::new(Vec::new());
        let at = Utc::now();
        zip.add_dir("d/", at).await.unwrap();
        let read = zip.add_file("d/a.txt", at, body(text.as_bytes())).await;
        assert_eq!(read.unwrap(), text.len() as u64);
        zip.add_file("d/photo.jpg", at, body(b"not really"))
            .await
            .unwrap();
        zip.add_file("d/noise.bin", at, body(&noise)).await.unwrap();
        zip.add_file("d/empty.txt", at, body(b"")).await.unwrap();
        zip.add_file("d/tiny.txt", at, body(b"x")).await.unwrap();
        let archive = zip.finish().await.unwrap();
        let entries = read_back::read_back(&archive);
        let seen: Vec<(&str, u16, usize)> = entries
            .iter()
            .map(|e| (e.name.as_str(), e.method, e.data.len()))
            .collect();
        assert_eq!(
            seen,
            [
                ("d/", 0, 0),
                ("d/a.txt", 8, text.len()),
                ("d/photo.jpg", 0, 10),
                ("d/noise.bin", 0, noise.len()),
                ("d/empty.txt", 0, 0),
                ("d/tiny.txt", 8, 1),
            ]
        );
        assert_eq!(entries[1].data, text.as_bytes());
        assert_eq!(entries[3].data, noise);
        assert!(archive.len() < text.len() / 10 + noise.len() + 1000);
    }

    #[tokio::test]
    async fn more_entries_than_zip32_counts_get_zip64_end_records() {
        let mut zip = ArchiveWriter::new(Vec::new());
        let at = Utc::now();
        for i in 0..65_600 {
            zip.add_dir(&format!("{i}/"), at).await.unwrap();
        }
        let archive = zip.finish().await.unwrap();
        let entries = read_back::read_back(&archive);
        assert_eq!(entries.len(), 65_600);
        assert_eq!(entries[65_599].name, "65599/");
    }
}

//! The write side of the local store's files: a stream of request bytes is hashed (BLAKE3) and
//! written to disk in large blocks on a thread of its own, so the request's task only receives
//! and hands over, and the file is fsynced once, at the end.
//!
//! Chunks are copied once into 256 KiB blocks, which the thread gives back for reuse. Holding
//! the network's own buffers instead made the HTTP reader allocate fresh ones all the time (with
//! the server's fixed mmap threshold, `src/allocator.rs`, each a new mapping whose page faults
//! cost more than the copy). Blocks are small, the queue short, and one thread both hashes and
//! writes a block, so that it is still in cache for both: with 1 MiB blocks queued four deep and
//! a hasher thread beside the writer, the kernel's copy into the page cache took several times
//! as long (perf: 2.1 s per GiB, not 0.4). The queue also holds back the request when the disk
//! or the hash falls behind.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use tokio::sync::mpsc;

use super::super::{ByteSource, ObjectError, ObjectResult};

/// Bytes gathered before a block is handed over: 4,096 writes per GiB, whatever the chunking.
const BLOCK: usize = 256 << 10;
/// Blocks queued for the writer.
const QUEUE: usize = 2;

type Block = Vec<u8>;

/// An upload's spare blocks.
#[derive(Default)]
struct Pool(Mutex<Vec<Vec<u8>>>);

impl Pool {
    fn take(&self) -> Vec<u8> {
        let spare = self.0.lock().unwrap_or_else(|e| e.into_inner()).pop();
        spare.unwrap_or_else(|| Vec::with_capacity(BLOCK))
    }

    fn give_back(&self, mut block: Block) {
        block.clear();
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(block);
    }
}

/// What a stream left in its file: its length and digest.
pub(super) struct Written {
    pub(super) size: u64,
    pub(super) digest: Digest,
}

/// A file's digest, the local ETag: BLAKE3 cut to MD5's 128 bits, so ETags keep S3's shape.
/// An ETag is opaque to clients, and MD5 (0.6 GiB/s on one core) was the bound of uploads.
pub(super) type Digest = [u8; 16];

/// The digest of what `hasher` was fed.
pub(super) fn digest_of(hasher: &blake3::Hasher) -> Digest {
    let mut out = [0; 16];
    hasher.finalize_xof().fill(&mut out);
    out
}

enum Message {
    Block(Block),
    /// The stream ended as it should: sync the file. Without it the writer gives up.
    End,
}

/// Why feeding stopped early.
enum Stop {
    Failed(ObjectError),
    /// The writer quit (its error says why).
    WriterGone,
}

/// Where the bytes go.
pub(super) enum Target {
    /// A new file, removed again on any failure (also when the write is dropped half-way).
    New(PathBuf),
    /// An existing file, from this offset on; left as it is on failure.
    At(PathBuf, u64),
}

impl Target {
    fn open(&self) -> io::Result<File> {
        match self {
            Self::New(path) => File::create(path),
            Self::At(path, offset) => {
                let mut file = OpenOptions::new().write(true).open(path)?;
                file.seek(SeekFrom::Start(*offset))?;
                Ok(file)
            }
        }
    }

    fn discard(&self) {
        if let Self::New(path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Stack of a writer thread: it loops over hashing and writes (the default is 2 MiB).
const WRITER_STACK: usize = 256 * 1024;

/// Writes `body` to `target`, at most `max_bytes` of it, and fsyncs the file; its length and
/// digest.
pub(super) async fn write_stream(
    target: Target,
    mut body: ByteSource<'_>,
    max_bytes: u64,
) -> ObjectResult<Written> {
    let pool = Arc::new(Pool::default());
    let (to_disk, queue) = mpsc::channel(QUEUE);
    // A thread of its own, not the blocking pool: a slow upload holds its writer for the whole
    // body, and the pool also runs the database's writes. Connections are bounded, so are these.
    let (done, writer) = tokio::sync::oneshot::channel();
    {
        let pool = pool.clone();
        std::thread::Builder::new()
            .name("blob-writer".into())
            .stack_size(WRITER_STACK)
            .spawn(move || {
                let _ = done.send(write_blocks(&target, queue, &pool));
            })
            .map_err(ObjectError::other)?;
    }
    let fed = feed(&mut body, max_bytes, &to_disk, &pool).await;
    if fed.is_ok() {
        // Failing only if the writer quit after the last block: its own error follows.
        let _ = to_disk.send(Message::End).await;
    }
    // Closing the queue ends the writer.
    drop(to_disk);
    let written = writer.await.map_err(ObjectError::other)?;
    match fed {
        Ok(size) => Ok(Written {
            size,
            digest: written.map_err(ObjectError::other)?,
        }),
        Err(Stop::Failed(e)) => Err(e),
        Err(Stop::WriterGone) => Err(ObjectError::other(
            written
                .err()
                .unwrap_or_else(|| io::Error::other("the writer stopped")),
        )),
    }
}

/// Reads the stream, copying its chunks into blocks for the writer; its byte count.
async fn feed(
    body: &mut ByteSource<'_>,
    max_bytes: u64,
    to_disk: &mpsc::Sender<Message>,
    pool: &Pool,
) -> Result<u64, Stop> {
    let mut size = 0u64;
    let mut block = pool.take();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Stop::Failed(ObjectError::other(e)))?;
        size += chunk.len() as u64;
        if size > max_bytes {
            return Err(Stop::Failed(ObjectError::TooLarge { limit: max_bytes }));
        }
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            let n = (BLOCK - block.len()).min(rest.len());
            block.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if block.len() == BLOCK {
                let full = std::mem::replace(&mut block, pool.take());
                hand_over(to_disk, full).await?;
            }
        }
    }
    if !block.is_empty() {
        hand_over(to_disk, block).await?;
    }
    Ok(size)
}

async fn hand_over(to_disk: &mpsc::Sender<Message>, block: Block) -> Result<(), Stop> {
    to_disk
        .send(Message::Block(block))
        .await
        .map_err(|_| Stop::WriterGone)
}

/// Hashes and writes each block (while it is in cache), then syncs: the file's digest.
fn write_blocks(
    target: &Target,
    mut queue: mpsc::Receiver<Message>,
    pool: &Pool,
) -> io::Result<Digest> {
    let result = (|| {
        let mut file = target.open()?;
        let mut hasher = blake3::Hasher::new();
        while let Some(message) = queue.blocking_recv() {
            match message {
                Message::Block(block) => {
                    hasher.update(&block);
                    file.write_all(&block)?;
                    pool.give_back(block);
                }
                // Data and length, what reading the file back needs, in one sync at the end.
                Message::End => {
                    file.sync_data()?;
                    return Ok(digest_of(&hasher));
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::Interrupted,
            "the upload stopped before its end",
        ))
    })();
    if result.is_err() {
        target.discard();
    }
    result
}

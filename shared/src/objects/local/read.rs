//! Streaming a blob out: a thread per download reads large chunks and hands them to the
//! response through a short channel.
//!
//! Why not `tokio::fs::File` + `ReaderStream` (as before): each 64 KiB read of a tokio file is
//! a hop to the blocking pool and back, into tokio's buffer and then copied into the stream's.
//! Profiled on a 1 GiB download, that was 16,384 reads, ~89,000 futex calls and ~57,000
//! context switches: the time went to waking threads, not to moving bytes. Here one thread
//! reads 512 KiB at a time straight into the chunk the socket write sends, and only waits when
//! the client is slower than the disk.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::objects::{ByteRange, ByteStream};

/// Bytes per read: large enough that syscalls and wake-ups cost little per byte, small enough
/// that a download in flight holds little memory: `READ_AHEAD` + 2 chunks (1.5 MiB) at most,
/// with 1,000 connections allowed.
const READ_CHUNK: usize = 512 * 1024;

/// Chunks read ahead of the socket: the disk keeps going while the client takes the last one.
const READ_AHEAD: usize = 1;

/// The bytes of `file` (all of its `size`, or `range`) as a stream. A file of one chunk is read
/// at once (one hop to the blocking pool); a larger one by a thread of its own, which starts
/// reading at once and stops when the response is dropped.
pub(super) async fn stream(
    mut file: File,
    size: u64,
    range: Option<ByteRange>,
) -> io::Result<ByteStream> {
    let (start, len) = match range {
        Some(r) => (r.start, r.byte_count()),
        None => (0, size),
    };
    if len <= READ_CHUNK as u64 {
        let read = move || {
            file.seek(SeekFrom::Start(start))?;
            read_chunk(&mut file, len)
        };
        let chunk = tokio::task::spawn_blocking(read)
            .await
            .map_err(io::Error::other)??;
        return Ok(Box::pin(futures::stream::iter([Ok(chunk)])));
    }
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    // Not the blocking pool: a slow client holds its reader for the whole download, and the
    // pool also runs the database's queries. Connections are bounded, so are these threads.
    std::thread::Builder::new()
        .name("blob-reader".into())
        .stack_size(READER_STACK)
        .spawn(move || {
            if let Err(e) = send_chunks(file, start, len, &tx) {
                // The response is under way: the error cuts the body short of its
                // `Content-Length`, which the client sees. A closed channel: the client left.
                let _ = tx.blocking_send(Err(e));
            }
        })?;
    Ok(Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    })))
}

/// Stack of a reader thread: it only loops over reads (the default is 2 MiB).
const READER_STACK: usize = 128 * 1024;

/// Reads `len` bytes from `start` into chunks and sends them, until done or the receiver is gone.
fn send_chunks(
    mut file: File,
    start: u64,
    len: u64,
    tx: &mpsc::Sender<io::Result<Bytes>>,
) -> io::Result<()> {
    file.seek(SeekFrom::Start(start))?;
    let (home, returned) = std::sync::mpsc::channel();
    let mut left = len;
    while left > 0 {
        // Zeroed once when allocated; after that, each read overwrites what it sends.
        let mut buf = returned.try_recv().unwrap_or_else(|_| vec![0; READ_CHUNK]);
        let len = fill(&mut file, &mut buf, left)?;
        left -= len as u64;
        let home = home.clone();
        let chunk = Bytes::from_owner(Recycled { buf, len, home });
        if tx.blocking_send(Ok(chunk)).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// A chunk: the first `len` bytes of a buffer that goes back to its reader once the response
/// has sent it. A fresh buffer per chunk cost a page fault per 4 KiB (262,144 per GiB, and
/// the download ran at nginx's 0.7×); a download now cycles through three buffers or so.
struct Recycled {
    buf: Vec<u8>,
    len: usize,
    home: std::sync::mpsc::Sender<Vec<u8>>,
}

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        // Once the download is over the reader is gone, and the buffer is freed here.
        let _ = self.home.send(std::mem::take(&mut self.buf));
    }
}

/// The next `READ_CHUNK` bytes of the file, or the `left` ones if fewer.
fn read_chunk(file: &mut File, left: u64) -> io::Result<Bytes> {
    let mut buf = vec![0; READ_CHUNK.min(usize::try_from(left).unwrap_or(READ_CHUNK))];
    let len = fill(file, &mut buf, left)?;
    buf.truncate(len);
    Ok(Bytes::from(buf))
}

/// Reads the next `left` bytes of the file into `buf`, or as many as fit; returns how many.
fn fill(file: &mut File, buf: &mut [u8], left: u64) -> io::Result<usize> {
    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
    file.read_exact(&mut buf[..want])
        .map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the blob is shorter than its index entry",
            ),
            _ => e,
        })?;
    Ok(want)
}

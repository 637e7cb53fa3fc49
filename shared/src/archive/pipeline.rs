//! Entries through the archive in order, their chunks compressed on every core at once.
//!
//! Three futures of one task, joined: the *opener* opens the next few entries' bodies ahead
//! (their GETs overlap), but only those that start within a few MiB of what the reader has
//! reached (a body opened long before it is read could be dropped by the store); the *reader* takes entries strictly in order, chunk by chunk, and
//! hands each chunk to a worker (`spawn_blocking`, at most one per core); the *writer* awaits
//! the chunks in that same order and writes them. Every chunk holds its length of a byte budget
//! from before it is read until it is written, so memory stays flat whatever the folder's size.
//! The writer only ever waits for chunks already read, and entries are read one after another,
//! so the budget always comes back: no deadlock.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use tokio::io::AsyncWrite;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use super::deflate::{self, compress_chunk, ChunkOut, Plan, WINDOW};
use super::format::Method;
use super::{ArchiveError, ArchiveWriter, EntryInput};
use crate::objects::ByteStream;

/// Bytes read and compressed as one piece.
const CHUNK: usize = 1024 * 1024;
/// Bytes read but not yet written, at most.
const BUDGET: usize = 16 * 1024 * 1024;
/// Entries opened ahead of the one being read, at most...
const OPEN_AHEAD: usize = 8;
/// ...and only those starting (by their listed sizes) this close to what the reader reached.
const OPEN_BYTES: u64 = 16 * 1024 * 1024;
/// Chunks this small are compressed in place: a worker would cost more than it saves.
const INLINE: usize = 16 * 1024;
/// Items between reader and writer (the budget bounds their bytes; this, their number).
const QUEUE: usize = 64;

#[derive(Debug, Clone)]
pub(super) struct Limits {
    pub chunk: usize,
    pub budget: usize,
    pub open_ahead: usize,
    pub open_bytes: u64,
    pub workers: usize,
    pub inline: usize,
}

impl Limits {
    fn of_machine() -> Self {
        Self {
            chunk: CHUNK,
            budget: BUDGET,
            open_ahead: OPEN_AHEAD,
            open_bytes: OPEN_BYTES,
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            inline: INLINE,
        }
    }
}

/// Bytes read and not yet written: now and at most (for tests of the budget).
#[derive(Debug, Default)]
pub(super) struct InFlight {
    now: AtomicUsize,
    pub peak: AtomicUsize,
}

impl InFlight {
    fn add(&self, n: usize) {
        let now = self.now.fetch_add(n, Ordering::AcqRel) + n;
        self.peak.fetch_max(now, Ordering::AcqRel);
    }
    fn sub(&self, n: usize) {
        self.now.fetch_sub(n, Ordering::AcqRel);
    }
}

/// A chunk compressed in place or by a worker.
enum Pending {
    Done(io::Result<ChunkOut>),
    Working(JoinHandle<io::Result<ChunkOut>>),
}

impl Pending {
    async fn get(self) -> io::Result<ChunkOut> {
        match self {
            Self::Done(out) => out,
            Self::Working(job) => job.await.map_err(io::Error::other)?,
        }
    }
}

enum Item {
    Dir {
        name: String,
        modified: DateTime<Utc>,
    },
    Begin {
        name: String,
        modified: DateTime<Utc>,
        method: Method,
    },
    Chunk {
        out: Pending,
        /// The chunk's share of the budget, given back once it is written.
        permit: OwnedSemaphorePermit,
        read: usize,
    },
    End,
}

/// An entry as the reader gets it, its body open.
struct Opened {
    name: String,
    modified: DateTime<Utc>,
    /// Listed size, and where the entry starts by the listed sizes of those before it.
    size: u64,
    at: u64,
    body: Body,
}

enum Body {
    Dir,
    File(ByteStream),
    /// Deleted since it was listed: no entry.
    Gone,
}

impl<W: AsyncWrite + Unpin> ArchiveWriter<W> {
    /// Writes `entries` in their order; `progress(files, bytes)` after each file entry, with
    /// the files written and bytes read so far by this call. Files gone when opened get no
    /// entry. On an error the archive is incomplete: do not finish it.
    pub async fn write_all_entries<'a>(
        &mut self,
        entries: impl Stream<Item = EntryInput<'a>>,
        progress: impl FnMut(u64, u64),
    ) -> Result<(), ArchiveError> {
        let limits = Limits::of_machine();
        self.write_within(entries, progress, &limits, &InFlight::default())
            .await
    }

    pub(super) async fn write_within<'a>(
        &mut self,
        entries: impl Stream<Item = EntryInput<'a>>,
        progress: impl FnMut(u64, u64),
        limits: &Limits,
        in_flight: &InFlight,
    ) -> Result<(), ArchiveError> {
        let (opened_tx, opened_rx) = mpsc::channel(1);
        let (items_tx, items_rx) = mpsc::channel(QUEUE);
        let (reached, position) = watch::channel(0);
        let reader = Reader {
            items: items_tx,
            reached,
            budget: Arc::new(Semaphore::new(limits.budget.max(limits.chunk))),
            workers: Arc::new(Semaphore::new(limits.workers.max(1))),
            limits,
            in_flight,
        };
        tokio::try_join!(
            open_ahead(entries, opened_tx, limits, position),
            reader.read_all(opened_rx),
            self.write_items(items_rx, progress, in_flight),
        )?;
        Ok(())
    }

    async fn write_items(
        &mut self,
        mut items: mpsc::Receiver<Item>,
        mut progress: impl FnMut(u64, u64),
        in_flight: &InFlight,
    ) -> Result<(), ArchiveError> {
        let (mut files, mut bytes) = (0, 0);
        // The entry being written: its CRC and sizes (compressed, uncompressed).
        let mut open: Option<(crc32fast::Hasher, u64, u64)> = None;
        while let Some(item) = items.recv().await {
            match item {
                Item::Dir { name, modified } => {
                    self.begin(&name, modified, Method::Stored, true).await?
                }
                Item::Begin {
                    name,
                    modified,
                    method,
                } => {
                    self.begin(&name, modified, method, false).await?;
                    open = Some((crc32fast::Hasher::new(), 0, 0));
                }
                Item::Chunk { out, permit, read } => {
                    let out = out.get().await?;
                    self.put(&out.data).await?;
                    let Some((crc, compressed, size)) = open.as_mut() else {
                        return Err(unfinished());
                    };
                    crc.combine(&out.crc);
                    *compressed += out.data.len() as u64;
                    *size += out.len;
                    in_flight.sub(read);
                    drop(permit);
                }
                Item::End => {
                    let (crc, compressed, size) = open.take().ok_or_else(unfinished)?;
                    self.end(crc.finalize(), compressed, size).await?;
                    files += 1;
                    bytes += size;
                    progress(files, bytes);
                }
            }
        }
        // The reader stopped midway (its error ends the join first; this is a guard).
        match open {
            Some(_) => Err(unfinished()),
            None => Ok(()),
        }
    }
}

fn unfinished() -> ArchiveError {
    ArchiveError::Invalid("an entry was left unfinished".into())
}

fn writer_gone() -> ArchiveError {
    ArchiveError::Io(io::Error::other("the archive writer stopped"))
}

/// Opens up to `open_ahead` entries at once (those near the reader), handing them on in
/// their order.
async fn open_ahead<'a>(
    entries: impl Stream<Item = EntryInput<'a>>,
    opened: mpsc::Sender<Opened>,
    limits: &Limits,
    position: watch::Receiver<u64>,
) -> Result<(), ArchiveError> {
    let placed = Placed {
        entries: Box::pin(entries),
        start: 0,
        near: limits.open_bytes,
        position,
    };
    let mut bodies = std::pin::pin!(placed.map(open).buffered(limits.open_ahead.max(1)));
    while let Some(entry) = bodies.next().await {
        opened.send(entry?).await.map_err(|_| writer_gone())?;
    }
    Ok(())
}

/// An entry, where it starts by the listed sizes of those before it, and when it may open.
struct Placement<'a> {
    entry: EntryInput<'a>,
    at: u64,
    near: u64,
    position: watch::Receiver<u64>,
}

/// The entries placed one after another. (A stream of its own, not `map` with a closure:
/// futures made by closures trip the compiler's `Send` proofs for the handlers above,
/// rust-lang/rust#102211.)
struct Placed<S> {
    entries: Pin<Box<S>>,
    start: u64,
    near: u64,
    position: watch::Receiver<u64>,
}

impl<'a, S: Stream<Item = EntryInput<'a>>> Stream for Placed<S> {
    type Item = Placement<'a>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        this.entries.as_mut().poll_next(cx).map(|entry| {
            entry.map(|entry| {
                let at = this.start;
                this.start = at.saturating_add(entry.size);
                Placement {
                    entry,
                    at,
                    near: this.near,
                    position: this.position.clone(),
                }
            })
        })
    }
}

/// The entry with its body opened once the reader is within `near` bytes of its start. The
/// reader reaches the start of every entry it is given (gone ones too), so the next one
/// always opens.
async fn open(placed: Placement<'_>) -> Result<Opened, ArchiveError> {
    let Placement {
        entry,
        at,
        near,
        mut position,
    } = placed;
    let body = match entry.body {
        None => Body::Dir,
        Some(open) => {
            // An error means the reader is gone: the archive fails anyway.
            let _ = position
                .wait_for(|reached| at <= reached.saturating_add(near))
                .await;
            match open.await? {
                Some(body) => Body::File(body),
                None => Body::Gone,
            }
        }
    };
    Ok(Opened {
        name: entry.name,
        modified: entry.modified,
        size: entry.size,
        at,
        body,
    })
}

struct Reader<'l> {
    items: mpsc::Sender<Item>,
    /// How far the reader is, by listed sizes (see [`open`]).
    reached: watch::Sender<u64>,
    budget: Arc<Semaphore>,
    workers: Arc<Semaphore>,
    limits: &'l Limits,
    in_flight: &'l InFlight,
}

impl Reader<'_> {
    async fn read_all(self, mut opened: mpsc::Receiver<Opened>) -> Result<(), ArchiveError> {
        while let Some(entry) = opened.recv().await {
            let (at, size) = (entry.at, entry.size);
            self.reach(at);
            match entry.body {
                Body::Gone => {}
                Body::Dir => {
                    let (name, modified) = (entry.name, entry.modified);
                    self.send(Item::Dir { name, modified }).await?
                }
                Body::File(body) => {
                    let chunks = Chunks::new(body, self.limits.chunk);
                    self.read_file(entry.name, entry.modified, (at, size), chunks)
                        .await?
                }
            }
            self.reach(at.saturating_add(size));
        }
        Ok(())
    }

    fn reach(&self, position: u64) {
        self.reached.send_if_modified(|reached| {
            let further = position > *reached;
            *reached = (*reached).max(position);
            further
        });
    }

    /// One file entry: `(at, size)` where it starts and its listed size.
    async fn read_file(
        &self,
        name: String,
        modified: DateTime<Utc>,
        (at, size): (u64, u64),
        mut body: Chunks,
    ) -> Result<(), ArchiveError> {
        let mut done = 0u64;
        let (mut chunk, mut permit) = self.next_chunk(&mut body).await?;
        let method = match deflate::plan(&name, size) {
            Plan::Store => Method::Stored,
            Plan::Look => self.decide(chunk.clone(), body.ended).await?,
        };
        self.send(Item::Begin {
            name,
            modified,
            method,
        })
        .await?;
        let mut dict: Option<Bytes> = None;
        loop {
            let last = body.ended;
            let read = chunk.len();
            let tail = (method == Method::Deflated && !last)
                .then(|| Bytes::copy_from_slice(&chunk[read.saturating_sub(WINDOW)..]));
            let out = self.compress(method, dict.take(), chunk, last).await;
            self.send(Item::Chunk { out, permit, read }).await?;
            if last {
                break;
            }
            dict = tail;
            done += read as u64;
            self.reach(at.saturating_add(done.min(size)));
            (chunk, permit) = self.next_chunk(&mut body).await?;
        }
        self.send(Item::End).await
    }

    /// The next chunk, holding its length of the budget (taken before it is read).
    async fn next_chunk(
        &self,
        body: &mut Chunks,
    ) -> Result<(Bytes, OwnedSemaphorePermit), ArchiveError> {
        let want = self.limits.chunk as u32;
        let mut permit =
            (self.budget.clone().acquire_many_owned(want).await).map_err(io::Error::other)?;
        let chunk = body.next().await?;
        // Only what was read stays held.
        drop(permit.split(permit.num_permits() - chunk.len()));
        self.in_flight.add(chunk.len());
        Ok((chunk, permit))
    }

    /// Stored or deflated, by a look at the entry's first chunk.
    async fn decide(&self, first: Bytes, whole: bool) -> Result<Method, ArchiveError> {
        if first.len() <= self.limits.inline {
            return Ok(deflate::decide(&first, whole)?);
        }
        let worker = (self.workers.clone().acquire_owned().await).map_err(io::Error::other)?;
        let look = tokio::task::spawn_blocking(move || {
            let _worker = worker;
            deflate::decide(&first, whole)
        });
        Ok(look.await.map_err(io::Error::other)??)
    }

    async fn compress(
        &self,
        method: Method,
        dict: Option<Bytes>,
        data: Bytes,
        last: bool,
    ) -> Pending {
        if data.len() <= self.limits.inline {
            return Pending::Done(compress_chunk(method, dict.as_deref(), data, last));
        }
        let worker = match self.workers.clone().acquire_owned().await {
            Ok(worker) => worker,
            Err(e) => return Pending::Done(Err(io::Error::other(e))),
        };
        Pending::Working(tokio::task::spawn_blocking(move || {
            let _worker = worker;
            compress_chunk(method, dict.as_deref(), data, last)
        }))
    }

    async fn send(&self, item: Item) -> Result<(), ArchiveError> {
        self.items.send(item).await.map_err(|_| writer_gone())
    }
}

/// A body cut into chunks of `size` bytes (the last one shorter, possibly empty).
struct Chunks {
    body: ByteStream,
    size: usize,
    carry: Option<Bytes>,
    /// The body has no more bytes.
    ended: bool,
}

impl Chunks {
    fn new(body: ByteStream, size: usize) -> Self {
        Self {
            body,
            size,
            carry: None,
            ended: false,
        }
    }

    async fn next(&mut self) -> io::Result<Bytes> {
        // Pieces kept as they come; copied together only when there are several (a chunk never
        // holds more memory than its length).
        let mut pieces: Vec<Bytes> = Vec::new();
        let mut len = 0;
        while len < self.size {
            let mut piece = match self.carry.take() {
                Some(piece) => piece,
                None => match self.body.next().await {
                    Some(piece) => piece?,
                    None => {
                        self.ended = true;
                        break;
                    }
                },
            };
            if piece.len() > self.size - len {
                self.carry = Some(piece.split_off(self.size - len));
            }
            len += piece.len();
            if !piece.is_empty() {
                pieces.push(piece);
            }
        }
        Ok(match pieces.len() {
            0 => Bytes::new(),
            1 => pieces.pop().unwrap_or_default(),
            _ => {
                let mut chunk = BytesMut::with_capacity(len);
                for piece in &pieces {
                    chunk.extend_from_slice(piece);
                }
                chunk.freeze()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::read_back::read_back;
    use crate::objects::ObjectError;
    use rand::{Rng, RngCore};
    use std::time::Duration;

    fn body(data: Vec<u8>, piece: usize, delay_ms: u64) -> ByteStream {
        let pieces: Vec<io::Result<Bytes>> = data
            .chunks(piece.max(1))
            .map(|p| Ok(Bytes::copy_from_slice(p)))
            .collect();
        Box::pin(futures::stream::iter(pieces).then(move |p| async move {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            p
        }))
    }

    /// Random bytes for every third entry (named `.bin`), text for the others.
    fn content(i: usize, len: usize) -> Vec<u8> {
        if is_random(i) {
            let mut out = vec![0; len];
            rand::thread_rng().fill_bytes(&mut out);
            out
        } else {
            format!("line {i} of some text, ")
                .repeat(len / 20 + 1)
                .into_bytes()[..len]
                .to_vec()
        }
    }

    fn is_random(i: usize) -> bool {
        matches!(i % 3, 0)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipeline_keeps_order_and_budget() {
        let limits = Limits {
            chunk: 4096,
            budget: 16 * 1024,
            open_ahead: 4,
            open_bytes: 8192,
            workers: 3,
            inline: 0,
        };
        let mut rng = rand::thread_rng();
        let mut expected = Vec::new();
        let mut inputs = Vec::new();
        for i in 0..60 {
            let name = format!("d/{i:02}.{}", if is_random(i) { "bin" } else { "txt" });
            let len = [0, 1, 4095, 4096, 4097, 20_000, 50_000][rng.gen_range(0..7)];
            let data = content(i, len);
            let open_delay = rng.gen_range(0..5);
            let piece = rng.gen_range(100..10_000);
            let gone = i % 17 == 5;
            let dir = matches!(i % 13, 0);
            if dir {
                expected.push((format!("{name}/"), Vec::new()));
            } else if !gone {
                expected.push((name.clone(), data.clone()));
            }
            let open: Option<crate::archive::OpenBody> = (!dir).then(|| {
                Box::pin(async move {
                    tokio::time::sleep(Duration::from_millis(open_delay)).await;
                    Ok::<_, ObjectError>((!gone).then(|| body(data, piece, open_delay % 2)))
                }) as crate::archive::OpenBody
            });
            inputs.push(EntryInput {
                name: if dir { format!("{name}/") } else { name },
                modified: Utc::now(),
                size: len as u64,
                body: open,
            });
        }
        let in_flight = InFlight::default();
        let mut zip = ArchiveWriter::new(Vec::new());
        let mut seen = (0, 0);
        zip.write_within(
            futures::stream::iter(inputs),
            |f, b| seen = (f, b),
            &limits,
            &in_flight,
        )
        .await
        .unwrap();
        let archive = zip.finish().await.unwrap();
        let entries = read_back(&archive);
        let got: Vec<(String, Vec<u8>)> = entries
            .iter()
            .map(|e| (e.name.clone(), e.data.clone()))
            .collect();
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(g.0, e.0);
            assert!(g.1 == e.1, "content of {}", e.0);
        }
        let files = expected.iter().filter(|e| !e.0.ends_with('/')).count() as u64;
        let bytes: u64 = expected.iter().map(|e| e.1.len() as u64).sum();
        assert_eq!(seen, (files, bytes));
        let peak = in_flight.peak.load(Ordering::Acquire);
        assert!(peak > 0 && peak <= limits.budget, "peak {peak}");
        // Random content was stored, text deflated.
        for e in &entries {
            if e.data.len() > 4096 {
                let stored = e.name.ends_with(".bin");
                assert_eq!(e.method == 0, stored, "{}", e.name);
            }
        }
    }

    /// A body of `len` bytes in pieces of 500, counting what it has served.
    fn counted(len: usize, served: Arc<AtomicUsize>) -> ByteStream {
        let pieces: Vec<Bytes> = vec![b'a'; len]
            .chunks(500)
            .map(Bytes::copy_from_slice)
            .collect();
        Box::pin(futures::stream::iter(pieces).map(move |p| {
            served.fetch_add(p.len(), Ordering::AcqRel);
            Ok(p)
        }))
    }

    #[tokio::test]
    async fn later_entries_open_only_near_the_reader() {
        let limits = Limits {
            chunk: 1024,
            budget: 4096,
            open_ahead: 8,
            open_bytes: 2048,
            workers: 2,
            inline: 0,
        };
        let served = Arc::new(AtomicUsize::new(0));
        // Entry → what the first entry's body had served when it was opened.
        let opened_at = Arc::new(std::sync::Mutex::new(Vec::new()));
        let entry = |name: &str, size: u64, body: Option<ByteStream>| {
            let (served, opened_at) = (served.clone(), opened_at.clone());
            let named = name.to_owned();
            let open = Box::pin(async move {
                let at = served.load(Ordering::Acquire);
                opened_at.lock().unwrap().push((named, at));
                Ok(body)
            }) as crate::archive::OpenBody;
            EntryInput {
                name: name.to_owned(),
                modified: Utc::now(),
                size,
                body: Some(open),
            }
        };
        let small = |i: u8| -> Option<ByteStream> {
            Some(Box::pin(futures::stream::iter([Ok(Bytes::from(vec![
                i;
                10
            ]))])))
        };
        let entries = vec![
            entry("big.txt", 20_000, Some(counted(20_000, served.clone()))),
            entry("a.txt", 10, small(1)),
            // Listed large, gone when opened: the next one still opens.
            entry("gone.txt", 50_000, None),
            entry("b.txt", 10, small(2)),
        ];
        let mut zip = ArchiveWriter::new(Vec::new());
        let in_flight = InFlight::default();
        let write = zip.write_within(
            futures::stream::iter(entries),
            |_, _| {},
            &limits,
            &in_flight,
        );
        tokio::time::timeout(Duration::from_secs(10), write)
            .await
            .expect("no deadlock")
            .unwrap();
        let names: Vec<String> = read_back(&zip.finish().await.unwrap())
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["big.txt", "a.txt", "b.txt"]);
        let opened_at = opened_at.lock().unwrap().clone();
        assert_eq!(opened_at[0], ("big.txt".to_owned(), 0));
        for (name, at) in &opened_at[1..] {
            assert!(
                *at >= 20_000 - 2048,
                "{name} opened when {at} bytes were read"
            );
        }
    }

    #[tokio::test]
    async fn a_failed_open_fails_the_archive() {
        let mut zip = ArchiveWriter::new(Vec::new());
        let failing = EntryInput {
            name: "x.txt".into(),
            modified: Utc::now(),
            size: 3,
            body: Some(Box::pin(async {
                Err(ObjectError::Unavailable(anyhow::anyhow!("down")))
            })),
        };
        let err = zip
            .write_all_entries(futures::stream::iter([failing]), |_, _| {})
            .await
            .unwrap_err();
        assert!(matches!(err, ArchiveError::Open(_)), "{err}");
    }

    #[tokio::test]
    async fn a_failed_read_midway_fails_the_archive() {
        let mut zip = ArchiveWriter::new(Vec::new());
        let pieces: Vec<io::Result<Bytes>> = vec![
            Ok(Bytes::from(vec![b'a'; 5000])),
            Err(io::Error::other("reset")),
        ];
        let broken: ByteStream = Box::pin(futures::stream::iter(pieces));
        let err = zip.add_file("x.txt", Utc::now(), broken).await.unwrap_err();
        assert!(matches!(err, ArchiveError::Io(_)), "{err}");
    }

    #[tokio::test]
    async fn chunks_are_cut_at_their_size() {
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let mut chunks = Chunks::new(body(data.clone(), 3000, 0), 4096);
        let mut all = Vec::new();
        let mut sizes = Vec::new();
        loop {
            let c = chunks.next().await.unwrap();
            sizes.push(c.len());
            all.extend_from_slice(&c);
            if chunks.ended {
                break;
            }
        }
        assert_eq!(sizes, [4096, 4096, 1808]);
        assert_eq!(all, data);
    }
}

//! Per-entry choice of method and the compression of one chunk.
//!
//! A large entry is deflated in independent chunks (on several cores) whose concatenation is
//! one valid deflate stream, as pigz does: each chunk starts with the last 32 KiB of the one
//! before as its dictionary (so the ratio stays that of one stream) and ends with a sync flush
//! (an empty stored block, byte-aligned), the entry's last with the final block.

use std::io;

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress, Status};

use super::format::Method;
use super::is_compressed;

/// Deflate's window: what a chunk may refer back to in the one before.
pub(super) const WINDOW: usize = 32 * 1024;
/// The start of an entry deflated (at level 1) to decide whether deflating pays.
pub(super) const SAMPLE: usize = 128 * 1024;
/// Entries up to this size are deflated without sampling (the sample would cost more).
pub(super) const SMALL: usize = 4 * 1024;
/// Stored unless deflate saves at least 3 %.
const KEEP_PERCENT: usize = 97;
/// The level of the archive's deflated entries (zip's default).
const LEVEL: u32 = 6;
const SAMPLE_LEVEL: u32 = 1;

/// What is known of an entry before its first bytes are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    /// Stored without looking: compressed content, or empty.
    Store,
    /// Decided on the first chunk (see [`decide`]).
    Look,
}

pub(super) fn plan(name: &str, size: u64) -> Plan {
    if size == 0 || is_compressed(name) {
        Plan::Store
    } else {
        Plan::Look
    }
}

/// The method for an entry whose first chunk is `first` (`whole`: that is all of it).
/// CPU-bound: run it off the async threads for a large chunk.
pub(super) fn decide(first: &[u8], whole: bool) -> io::Result<Method> {
    if whole && first.len() <= SMALL {
        return Ok(if first.is_empty() {
            Method::Stored
        } else {
            Method::Deflated
        });
    }
    let sample = &first[..first.len().min(SAMPLE)];
    let packed = deflate(SAMPLE_LEVEL, None, sample, true)?;
    Ok(if packed.len() * 100 <= sample.len() * KEEP_PERCENT {
        Method::Deflated
    } else {
        Method::Stored
    })
}

/// One chunk of an entry as it goes into the archive.
pub(super) struct ChunkOut {
    pub data: Bytes,
    /// CRC-32 of the chunk's uncompressed bytes (its length inside: chunks combine).
    pub crc: crc32fast::Hasher,
    pub len: u64,
}

/// Compresses (or only checksums) one chunk. `dict`: the tail of the entry's previous chunk;
/// `last`: the entry's final chunk (an empty one may close an entry).
pub(super) fn compress_chunk(
    method: Method,
    dict: Option<&[u8]>,
    data: Bytes,
    last: bool,
) -> io::Result<ChunkOut> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&data);
    let len = data.len() as u64;
    let data = match method {
        Method::Stored => data,
        Method::Deflated => deflate(LEVEL, dict, &data, last)?.into(),
    };
    Ok(ChunkOut { data, crc, len })
}

/// Raw deflate of `data` after `dict`, ending in a sync flush, or the final block if `last`.
pub(super) fn deflate(
    level: u32,
    dict: Option<&[u8]>,
    data: &[u8],
    last: bool,
) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Compression::new(level), false);
    if let Some(dict) = dict.filter(|d| !d.is_empty()) {
        c.set_dictionary(&dict[dict.len().saturating_sub(WINDOW)..])
            .map_err(io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    // zlib's deflateBound plus the flush's empty block: one call normally suffices.
    let mut out = Vec::with_capacity(data.len() + (data.len() >> 12) + (data.len() >> 14) + 64);
    loop {
        let read = c.total_in() as usize;
        let written = out.len();
        let status = c
            .compress_vec(&data[read..], &mut out, flush)
            .map_err(io::Error::other)?;
        let consumed = c.total_in() as usize == data.len();
        match status {
            Status::StreamEnd => return Ok(out),
            // A sync flush is complete once all input is in and output space was left over.
            _ if !last && consumed && out.len() < out.capacity() => return Ok(out),
            _ if c.total_in() as usize == read
                && out.len() == written
                && out.len() < out.capacity() =>
            {
                return Err(io::Error::other("deflate made no progress"));
            }
            _ => out.reserve(out.capacity().max(4096)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::read_back::inflate;
    use rand::RngCore;

    fn text(len: usize) -> Vec<u8> {
        let words = ["alpha ", "beta ", "gamma\n", "delta ", "epsilon, "];
        let mut out = Vec::with_capacity(len + 10);
        let mut i = 0usize;
        while out.len() < len {
            out.extend_from_slice(words[(i * 7 + i / 3) % words.len()].as_bytes());
            out.extend_from_slice(i.to_string().as_bytes());
            i += 1;
        }
        out.truncate(len);
        out
    }

    fn random(len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        rand::thread_rng().fill_bytes(&mut out);
        out
    }

    /// Chunks of `data` deflated separately, as the pipeline does; and their combined CRC.
    fn chunked(data: &[u8], chunk: usize) -> (Vec<u8>, u32) {
        let mut packed = Vec::new();
        let mut crc = crc32fast::Hasher::new();
        let mut start = 0;
        loop {
            let end = (start + chunk).min(data.len());
            // As the reader sees it: the last chunk may be an empty one after a full one.
            let last = end == data.len() && (end - start < chunk || data.is_empty());
            let dict = (start > 0).then(|| &data[start.saturating_sub(WINDOW)..start]);
            let out = compress_chunk(
                Method::Deflated,
                dict,
                Bytes::copy_from_slice(&data[start..end]),
                last,
            )
            .unwrap();
            packed.extend_from_slice(&out.data);
            crc.combine(&out.crc);
            if last {
                return (packed, crc.finalize());
            }
            start = end;
        }
    }

    #[test]
    fn chunked_deflate_is_one_stream() {
        const CHUNK: usize = 64 * 1024;
        let source = text(3 * CHUNK + 7);
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7] {
            let data = &source[..len];
            let (packed, crc) = chunked(data, CHUNK);
            assert_eq!(inflate(&packed), data, "len {len}");
            assert_eq!(crc, crc32fast::hash(data), "len {len}");
        }
        // The dictionary keeps the ratio of one stream.
        let data = text(8 * CHUNK);
        let whole = deflate(LEVEL, None, &data, true).unwrap().len();
        let (packed, _) = chunked(&data, CHUNK);
        assert!(
            packed.len() < whole + whole / 20,
            "{} vs {whole}",
            packed.len()
        );
    }

    #[test]
    fn random_chunks_inflate_too() {
        let data = random(200_000);
        let (packed, crc) = chunked(&data, 50_000);
        assert_eq!(inflate(&packed), data);
        assert_eq!(crc, crc32fast::hash(&data));
    }

    #[test]
    fn sampling_stores_random_and_deflates_text() {
        assert_eq!(decide(&random(1 << 20), false).unwrap(), Method::Stored);
        assert_eq!(decide(&random(100_000), true).unwrap(), Method::Stored);
        assert_eq!(decide(&text(1 << 20), false).unwrap(), Method::Deflated);
        assert_eq!(decide(&text(10_000), true).unwrap(), Method::Deflated);
        // Small whole entries are deflated without a look; empty ones stored.
        assert_eq!(decide(&random(SMALL), true).unwrap(), Method::Deflated);
        assert_eq!(decide(&[], true).unwrap(), Method::Stored);
    }

    #[test]
    fn known_compressed_names_are_not_sampled() {
        for name in ["a.jpg", "b.MP4", "c.tar.gz", "d.zip", "e.pdf", "f.heic"] {
            assert_eq!(plan(name, 1 << 20), Plan::Store, "{name}");
        }
        assert_eq!(plan("a.txt", 0), Plan::Store);
        assert_eq!(plan("a.txt", 1), Plan::Look);
        assert_eq!(plan("a.bin", 1 << 30), Plan::Look);
    }

    #[test]
    fn stored_chunks_keep_their_bytes() {
        let data = Bytes::from(random(1000));
        let out = compress_chunk(Method::Stored, None, data.clone(), true).unwrap();
        assert_eq!(out.data, data);
        assert_eq!(out.crc.finalize(), crc32fast::hash(&data));
        assert_eq!(out.len, 1000);
    }
}

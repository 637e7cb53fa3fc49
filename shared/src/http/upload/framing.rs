//! A watch on a multipart body's framing, ahead of the parser.
//!
//! `multer` keeps everything before the first boundary, and a part's headers, in one buffer that
//! it searches again each time more bytes arrive: a body whose boundary never comes costs memory
//! and quadratic time until the size limit. This scan sees each byte once and refuses a body
//! whose preamble or part headers run past a few KB.
//!
//! Within a part's content (nearly all of a large upload) a chunk is only searched, with
//! `memchr`'s vectorised search, and not kept: just its last bytes, which may begin a delimiter.

use memchr::memmem;

/// Bytes allowed before the first boundary, and for one part's headers.
pub(super) const FRAMING_LIMIT: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Before the first `--boundary`.
    Preamble,
    /// Just past a boundary: `--` ends the form, anything else starts headers.
    AfterBoundary,
    /// A part's headers, up to the blank line.
    Headers,
    /// A part's content, up to `\r\n--boundary`.
    Content,
    /// Past the closing boundary: the rest is ignored.
    Done,
}

pub(super) struct Framing {
    stage: Stage,
    /// `--boundary`; in content it is preceded by CRLF.
    delimiter: Vec<u8>,
    /// The unsearched tail of earlier chunks (shorter than the pattern sought), then new bytes.
    pending: Vec<u8>,
    /// Bytes of the current preamble or headers so far.
    held: usize,
    /// Searches for `delimiter`, built once.
    in_content: memmem::Finder<'static>,
}

/// Where the framing went wrong, in words for the caller.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct FramingError(pub(super) &'static str);

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memmem::find(haystack, needle)
}

impl Framing {
    pub(super) fn new(boundary: &str) -> Self {
        let delimiter = format!("\r\n--{boundary}").into_bytes();
        Self {
            stage: Stage::Preamble,
            in_content: memmem::Finder::new(&delimiter).into_owned(),
            delimiter,
            pending: Vec::new(),
            held: 0,
        }
    }

    fn pattern(&self) -> &[u8] {
        match self.stage {
            Stage::Preamble => &self.delimiter[2..],
            Stage::Headers => b"\r\n\r\n",
            Stage::Content => &self.delimiter,
            Stage::AfterBoundary | Stage::Done => b"",
        }
    }

    /// Looks at the next chunk of the body.
    pub(super) fn feed(&mut self, chunk: &[u8]) -> Result<(), FramingError> {
        if self.stage == Stage::Done
            || (self.stage == Stage::Content && self.content_goes_on(chunk))
        {
            return Ok(());
        }
        self.pending.extend_from_slice(chunk);
        // Searched up to here; dropped once, at the end, so many parts in one chunk stay linear.
        let mut start = 0;
        loop {
            if self.stage == Stage::AfterBoundary {
                if self.pending.len() - start < 2 {
                    self.pending.drain(..start);
                    return Ok(());
                }
                self.stage = if self.pending[start..].starts_with(b"--") {
                    Stage::Done
                } else {
                    Stage::Headers
                };
                self.held = 0;
            }
            if self.stage == Stage::Done {
                self.pending = Vec::new();
                return Ok(());
            }
            let pattern = self.pattern().to_vec();
            match find(&self.pending[start..], &pattern) {
                Some(at) => {
                    // Found in one go or not, long headers are refused alike.
                    self.check_held(self.held + at)?;
                    start += at + pattern.len();
                    self.stage = match self.stage {
                        Stage::Headers => Stage::Content,
                        _ => Stage::AfterBoundary,
                    };
                }
                None => {
                    self.pending.drain(..start);
                    return self.keep_tail(pattern.len());
                }
            }
        }
    }

    /// Within content: true when no delimiter ends in `chunk` (nor starts in the kept tail and
    /// ends in it), having kept what may begin one; false leaves everything to [`Self::feed`].
    fn content_goes_on(&mut self, chunk: &[u8]) -> bool {
        let keep = self.delimiter.len() - 1;
        let tail = self.pending.len();
        // A delimiter across the edge lies within the kept tail and the chunk's first bytes.
        self.pending
            .extend_from_slice(&chunk[..keep.min(chunk.len())]);
        let across = self.in_content.find(&self.pending).is_some();
        self.pending.truncate(tail);
        if across || self.in_content.find(chunk).is_some() {
            return false;
        }
        if chunk.len() >= keep {
            self.pending.clear();
            self.pending.extend_from_slice(&chunk[chunk.len() - keep..]);
        } else {
            self.pending.extend_from_slice(chunk);
            let excess = self.pending.len().saturating_sub(keep);
            self.pending.drain(..excess);
        }
        true
    }

    /// Keeps only what may begin the pattern; counts what preamble or headers hold.
    fn keep_tail(&mut self, pattern_len: usize) -> Result<(), FramingError> {
        let keep = pattern_len.saturating_sub(1).min(self.pending.len());
        let dropped = self.pending.len() - keep;
        self.pending.drain(..dropped);
        if self.stage == Stage::Content {
            return Ok(());
        }
        self.held += dropped;
        self.check_held(self.held + keep)
    }

    /// Refuses a preamble or headers of more than [`FRAMING_LIMIT`] bytes.
    fn check_held(&self, held: usize) -> Result<(), FramingError> {
        if held <= FRAMING_LIMIT {
            return Ok(());
        }
        Err(FramingError(match self.stage {
            Stage::Preamble => "no boundary within the first 16 KiB of the body",
            Stage::Headers => "a part's headers are longer than 16 KiB",
            _ => return Ok(()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(chunks: &[&[u8]]) -> Result<Stage, FramingError> {
        let mut f = Framing::new("XyZ");
        for c in chunks {
            f.feed(c)?;
        }
        Ok(f.stage)
    }

    #[test]
    fn a_form_passes_in_any_chunking() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--XyZ\r\n\
                     Content-Disposition: form-data; name=\"b\"\r\n\r\nworld\r\n--XyZ--\r\n";
        for size in 1..body.len() {
            let chunks: Vec<&[u8]> = body.chunks(size).collect();
            assert_eq!(feed_all(&chunks), Ok(Stage::Done), "chunks of {size}");
        }
    }

    #[test]
    fn large_content_is_not_limited() {
        let content = vec![b'-'; 1 << 20];
        let head = b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n";
        assert_eq!(feed_all(&[head, &content, b"\r\n--XyZ--"]), Ok(Stage::Done));
    }

    #[test]
    fn a_missing_boundary_fails_after_the_limit() {
        let junk = vec![b'a'; 4096];
        let mut f = Framing::new("XyZ");
        let mut fed = 0;
        while f.feed(&junk).is_ok() {
            fed += junk.len();
            assert!(fed <= FRAMING_LIMIT, "still accepted after {fed} bytes");
        }
    }

    #[test]
    fn long_headers_fail_even_in_one_chunk() {
        let mut body = b"--XyZ\r\nX-Long: ".to_vec();
        body.extend(vec![b'h'; FRAMING_LIMIT]);
        body.extend_from_slice(b"\r\n\r\ncontent\r\n--XyZ--");
        assert_eq!(
            feed_all(&[&body]),
            Err(FramingError("a part's headers are longer than 16 KiB"))
        );
    }

    #[test]
    fn endless_headers_fail_after_the_limit() {
        let mut f = Framing::new("XyZ");
        f.feed(b"--XyZ\r\nX-Long: ").unwrap();
        let junk = vec![b'h'; 1024];
        let result = (0..64).try_for_each(|_| f.feed(&junk));
        assert_eq!(
            result,
            Err(FramingError("a part's headers are longer than 16 KiB"))
        );
    }

    #[test]
    fn a_delimiter_across_chunk_edges_is_seen() {
        // Content with near-delimiters, then a real one, then headers past the limit: however
        // the body is cut, the delimiter is found (so the long headers are refused).
        let mut body = b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n".to_vec();
        for _ in 0..50 {
            body.extend_from_slice(b"data\r\n--Xy\r\n-");
        }
        body.extend_from_slice(b"\r\n--XyZ\r\nX-Long: ");
        body.extend(vec![b'h'; FRAMING_LIMIT]);
        for size in [1, 2, 3, 5, 7, 8, 13, 64, 700] {
            let chunks: Vec<&[u8]> = body.chunks(size).collect();
            assert_eq!(
                feed_all(&chunks),
                Err(FramingError("a part's headers are longer than 16 KiB")),
                "chunks of {size}"
            );
        }
    }
}

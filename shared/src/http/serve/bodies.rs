//! The bodies the server wraps: a request body that times out when it stalls, and an answer's
//! body that keeps its request counted until it is sent.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use super::watchdog::Busy;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body that fails once it sends nothing for `limit`, and says so in `stalled`.
///
/// One timer per body, armed at the first wait and moved only when it fires: a fast body
/// pauses between most frames, and a new timer each time cost an allocation and a timer-wheel
/// insertion per frame.
pub(super) struct StallTimeout {
    inner: Incoming,
    limit: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    /// When the last frame came (or the body began).
    last: Instant,
    stalled: Arc<AtomicBool>,
}

impl StallTimeout {
    pub(super) fn new(inner: Incoming, limit: Duration, stalled: Arc<AtomicBool>) -> Self {
        Self {
            inner,
            limit,
            sleep: None,
            last: Instant::now(),
            stalled,
        }
    }
}

impl HttpBody for StallTimeout {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.last = Instant::now();
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.last + this.limit;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        loop {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if sleep.deadline() >= deadline {
                break;
            }
            // Frames came since it was armed: the body has until `limit` after the last one.
            sleep.as_mut().reset(deadline);
        }
        this.stalled.store(true, Ordering::Release);
        let stalled = io::Error::new(io::ErrorKind::TimedOut, "the request body stalled");
        Poll::Ready(Some(Err(stalled.into())))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// An answer's body, keeping its request counted as in flight until it is sent.
pub(super) struct Tracked {
    body: Body,
    _busy: Busy,
}

impl Tracked {
    pub(super) fn new(body: Body, busy: Busy) -> Self {
        Self { body, _busy: busy }
    }
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

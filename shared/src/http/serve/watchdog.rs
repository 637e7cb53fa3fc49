//! A connection's watchdog: whether a request is in flight, since when the connection is
//! quiet or its next request's head has been arriving, and since when the client has taken
//! none of what is written to it.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::Timeouts;

/// What a connection's watchdog needs to know: requests in flight and when it went quiet.
pub(super) struct Activity {
    phase: Mutex<Phase>,
    changed: Notify,
}

struct Phase {
    /// Requests whose answer is not yet sent.
    busy: usize,
    /// Whether any request began on this connection.
    served: bool,
    /// When the connection was accepted or its last answer sent.
    quiet_since: Instant,
    /// When the first byte of the next request's head arrived.
    head_since: Option<Instant>,
    /// Since when a write waits for the client to take bytes (its window is full).
    write_blocked_since: Option<Instant>,
}

impl Activity {
    pub(super) fn new() -> Self {
        Self {
            phase: Mutex::new(Phase {
                busy: 0,
                served: false,
                quiet_since: Instant::now(),
                head_since: None,
                write_blocked_since: None,
            }),
            changed: Notify::new(),
        }
    }

    fn update(&self, change: impl FnOnce(&mut Phase)) {
        if let Ok(mut phase) = self.phase.lock() {
            change(&mut phase);
        }
        self.changed.notify_one();
    }

    /// Bytes arrived: between requests they start the next request's head.
    fn received(&self) {
        let starts_head = self
            .phase
            .lock()
            .is_ok_and(|p| p.busy == 0 && p.head_since.is_none());
        if starts_head {
            self.update(|p| p.head_since = Some(Instant::now()));
        }
    }

    /// A write finished (`blocked` false) or must wait for the client (`blocked` true). Only
    /// a change of state wakes the watchdog, not every write.
    fn wrote(&self, blocked: bool) {
        let changes = self
            .phase
            .lock()
            .is_ok_and(|p| p.write_blocked_since.is_some() != blocked);
        if changes {
            self.update(|p| p.write_blocked_since = blocked.then(Instant::now));
        }
    }

    /// When the connection is to be dropped as it stands: a write the client leaves waiting
    /// for the write timeout, and otherwise (no request served) the header or idle timeout.
    fn deadline(&self, timeouts: Timeouts) -> Option<Instant> {
        let phase = self.phase.lock().ok()?;
        let waiting = match (phase.busy, phase.head_since, phase.served) {
            (1.., _, _) => None,
            (0, Some(head), _) => Some(head + timeouts.header),
            (0, None, false) => Some(phase.quiet_since + timeouts.header),
            (0, None, true) => Some(phase.quiet_since + timeouts.idle),
        };
        let stalled = phase
            .write_blocked_since
            .map(|since| since + timeouts.write);
        waiting.into_iter().chain(stalled).min()
    }

    /// Completes when the connection passed its deadline.
    pub(super) async fn expired(&self, timeouts: Timeouts) {
        loop {
            let changed = self.changed.notified();
            match self.deadline(timeouts) {
                None => changed.await,
                Some(deadline) if deadline <= Instant::now() => return,
                Some(deadline) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {}
                        () = changed => {}
                    }
                }
            }
        }
    }
}

/// A request in flight, from its head to the end of its answer's body.
pub(super) struct Busy(Arc<Activity>);

impl Busy {
    pub(super) fn begin(activity: Arc<Activity>) -> Self {
        activity.update(|p| {
            p.busy += 1;
            p.served = true;
            p.head_since = None;
        });
        Self(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.update(|p| {
            p.busy -= 1;
            if p.busy == 0 {
                p.quiet_since = Instant::now();
                p.head_since = None;
            }
        });
    }
}

/// The socket, telling the watchdog when bytes arrive.
pub(super) struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl Watched {
    pub(super) fn new(inner: TcpStream, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.received();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.activity.wrote(polled.is_pending());
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.activity.wrote(polled.is_pending());
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

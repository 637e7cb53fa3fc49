//! The local server (`vertexcloud serve`): the router over hyper's HTTP/1 connections, with the
//! defences `axum::serve` lacks against slow and idle clients ([`ServerLimits`]):
//!
//! - a connection's first request must bring its headers within `header_timeout_secs` of the
//!   accept, a later one within that of its first byte; between requests a keep-alive
//!   connection may idle for `idle_timeout_secs`. A connection past its deadline is dropped
//!   (only ever between requests: no answer is cut short);
//! - a request body that sends nothing for `body_timeout_secs` ends the request with 408
//!   (`request_timeout`) and the connection;
//! - an answer the client takes nothing of for `write_timeout_secs` (a download it stopped
//!   reading) ends with its connection, which gives back the connection and the file it reads;
//! - at most `max_connections` connections are served at once; more wait in the kernel's
//!   backlog until one ends;
//! - on shutdown the listener closes at once, idle connections close, and requests in flight
//!   are finished.
//!
//! hyper's own `header_read_timeout` is not used: it also runs while a keep-alive connection
//! waits for its next request, which would cut every idle connection at the header timeout.

mod bodies;
mod watchdog;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request, Response};
use axum::response::IntoResponse;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use crate::config::ServerLimits;
use crate::error::AppError;
use bodies::{StallTimeout, Tracked};
use watchdog::{Activity, Busy, Watched};

/// The most a connection reads ahead: under the allocator's 256 KiB mmap threshold
/// (`src/allocator.rs`), so read buffers come from the heap. With hyper's default (~400 KiB)
/// each new buffer was a fresh mapping, and its page faults took a fifth of a part upload's CPU.
const READ_BUFFER: usize = 128 * 1024;

/// The deadlines of [`ServerLimits`], as durations.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    pub(super) header: Duration,
    pub(super) idle: Duration,
    body: Duration,
    pub(super) write: Duration,
}

impl From<&ServerLimits> for Timeouts {
    fn from(limits: &ServerLimits) -> Self {
        Self {
            header: Duration::from_secs(limits.header_timeout_secs),
            idle: Duration::from_secs(limits.idle_timeout_secs),
            body: Duration::from_secs(limits.body_timeout_secs),
            write: Duration::from_secs(limits.write_timeout_secs),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes the requests in flight.
/// `ConnectInfo<SocketAddr>` is set on every request, as `axum::serve` does.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &ServerLimits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let timeouts = Timeouts::from(limits);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        // The permit is taken before the accept, so connections past the cap stay in the
        // kernel's backlog instead of taking a file descriptor here.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        spawn_connection(stream, remote, app.clone(), timeouts, &graceful, permit);
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A failed accept: the peer's own failures are skipped; others (out of file descriptors)
/// pause the loop a moment rather than spin on them, as `axum::serve` does.
async fn accept_failed(err: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if !matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        tracing::error!(error = %err, "accepting a connection failed");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Serves one connection in a task of its own, holding `permit` until it ends.
fn spawn_connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: Router,
    timeouts: Timeouts,
    graceful: &GracefulShutdown,
    permit: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched::new(stream, activity.clone()));
    let service = hyper::service::service_fn({
        let activity = activity.clone();
        move |request| {
            handle(
                app.clone(),
                request,
                remote,
                activity.clone(),
                timeouts.body,
            )
        }
    });
    let connection = http1::Builder::new()
        .header_read_timeout(None)
        .max_buf_size(READ_BUFFER)
        .serve_connection(io, service);
    let connection = graceful.watch(connection);
    tokio::spawn(async move {
        tokio::select! {
            served = connection => {
                if let Err(err) = served {
                    tracing::debug!(error = %err, %remote, "connection ended with an error");
                }
            }
            () = activity.expired(timeouts) => {
                tracing::debug!(%remote, "closed a slow, stalled or idle connection");
            }
        }
        drop(permit);
    });
}

/// One request: the router's answer, or 408 when its body stalled.
async fn handle(
    app: Router,
    request: Request<Incoming>,
    remote: SocketAddr,
    activity: Arc<Activity>,
    body_timeout: Duration,
) -> Result<Response<Tracked>, Infallible> {
    let busy = Busy::begin(activity);
    let stalled = Arc::new(AtomicBool::new(false));
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(ConnectInfo(remote));
    let body = Body::new(StallTimeout::new(body, body_timeout, stalled.clone()));
    let response = match app.oneshot(Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    // Whatever the handler made of the failed body, the answer is the timeout.
    let response = if stalled.load(Ordering::Acquire) {
        tracing::info!(%remote, "a request body stalled; answered 408");
        let mut timed_out = AppError::RequestTimeout.into_response();
        timed_out
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        timed_out
    } else {
        response
    };
    Ok(response.map(|body| Tracked::new(body, busy)))
}

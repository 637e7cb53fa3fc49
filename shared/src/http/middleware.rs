//! Request ids and the one log line per request.

use std::time::Instant;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const REQUEST_ID: &str = "x-request-id";

/// A caller's id is kept only if it is short and plain, so it cannot forge log lines.
fn usable(id: &HeaderValue) -> Option<String> {
    let s = id.to_str().ok()?;
    let ok = (8..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| s.to_owned())
}

/// The path as logged: a transfer URL's ticket is a credential (whoever holds it may fetch or
/// send the bytes it names), so it never reaches a log.
fn loggable_path(path: &str) -> &str {
    const TRANSFER: &str = "/api/files/transfer/";
    if path.starts_with(TRANSFER) {
        "/api/files/transfer/{ticket}"
    } else {
        path
    }
}

/// Gives each request an id (`x-request-id`, echoed on the response), runs it inside a span that
/// carries the id, and logs one line when it ends.
pub async fn request_context(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(usable)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if let Ok(value) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(REQUEST_ID, value);
    }
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %loggable_path(req.uri().path()),
        user_id = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            "request finished"
        )
    });
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, value);
    }
    // No answer of this API is ever to be content-sniffed, JSON errors included.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

//! What wraps every request: an id (`x-request-id`, tower-http), a log span and one log line
//! (tower-http `trace`), errors logged once, and headers every answer carries.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::error::AppError;

pub const REQUEST_ID: &str = "x-request-id";

/// `router` with the layers every endpoint shares. Outermost first: a caller's unusable id is
/// dropped, an id is set where none is left and echoed on the response, the request runs in
/// a span carrying it, and errors are logged inside that span.
pub(super) fn layered(router: Router) -> Router {
    let id = HeaderName::from_static(REQUEST_ID);
    router
        .layer(axum::middleware::from_fn(log_errors))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(request_finished)
                // 5xx causes are logged by `log_errors`, with the cause the status hides.
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(id.clone()))
        .layer(SetRequestIdLayer::new(id, NewRequestId))
        .layer(axum::middleware::map_request(drop_unusable_request_id))
        // No answer of this API is ever to be content-sniffed, JSON errors included.
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}

/// A fresh UUID for requests that bring no (usable) id.
#[derive(Clone, Copy)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// A caller's id is kept only if it is short and plain, so it cannot forge log lines.
fn usable(id: &HeaderValue) -> bool {
    id.to_str().is_ok_and(|s| {
        (8..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

async fn drop_unusable_request_id(mut req: Request) -> Request {
    if req.headers().get(REQUEST_ID).is_some_and(|id| !usable(id)) {
        req.headers_mut().remove(REQUEST_ID);
    }
    req
}

/// The path as logged, without the credentials some paths hold: a transfer URL's ticket and a
/// visitor's upload id (whoever holds one may fetch or send the bytes it names), and a share
/// link's id, the whole secret of a link without a password. Of a share id only its first six
/// characters stay, as the services log it, so lines can still be told apart.
fn loggable_path(path: &str) -> Cow<'_, str> {
    const TRANSFER: &str = "/api/files/transfer/";
    const LINK: &str = "/api/s/";
    const OWNER: &str = "/api/shares/";
    if path.starts_with(TRANSFER) {
        return Cow::Borrowed("/api/files/transfer/{ticket}");
    }
    if let Some(rest) = path.strip_prefix(LINK) {
        let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let tail = match tail.strip_prefix("uploads/") {
            Some(upload) => {
                let after = upload.split_once('/').map_or("", |(_, after)| after);
                format!("/uploads/{{upload_id}}{}", slash_then(after))
            }
            None => slash_then(tail),
        };
        return Cow::Owned(format!("{LINK}{}…{tail}", share_prefix(id)));
    }
    if let Some(id) = path.strip_prefix(OWNER) {
        return Cow::Owned(format!("{OWNER}{}…", share_prefix(id)));
    }
    if let Some((user, id)) = path
        .strip_prefix("/api/users/")
        .and_then(|rest| rest.split_once("/shares/"))
    {
        return Cow::Owned(format!("/api/users/{user}/shares/{}…", share_prefix(id)));
    }
    Cow::Borrowed(path)
}

fn share_prefix(id: &str) -> &str {
    let id = id.trim_end_matches('/');
    id.get(..6).unwrap_or(id)
}

fn slash_then(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!("/{tail}")
    }
}

fn request_span(req: &Request) -> Span {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %loggable_path(req.uri().path()),
        // Recorded once the caller is known (`extract::Auth`).
        user_id = tracing::field::Empty,
    )
}

fn request_finished(response: &Response, latency: Duration, _: &Span) {
    tracing::info!(
        status = response.status().as_u16(),
        ms = latency.as_millis() as u64,
        "request finished"
    );
}

/// Logs the cause of an error answer once, which `AppError`'s response carries in its
/// extensions (as axum's error-handling example does): the answer itself never shows it.
async fn log_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    if let Some(err) = response.extensions().get::<Arc<AppError>>() {
        match err.as_ref() {
            AppError::Internal(cause) => {
                tracing::error!(error = %format!("{cause:#}"), "internal error")
            }
            AppError::Unavailable(cause) | AppError::Incomplete { cause, .. } => {
                tracing::error!(error = %format!("{cause:#}"), "backing service unavailable")
            }
            _ => {}
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    /// Everything logged while the guard lives, as text.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn an_error_is_logged_once_in_its_request_span_and_never_answered() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let app = layered(Router::new().route(
            "/boom",
            get(|| async { AppError::Internal(anyhow::anyhow!("disk on fire")) }),
        ));
        let req = axum::http::Request::get("/boom")
            .header(REQUEST_ID, "trace-0123456789")
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(req).await.unwrap();
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers()[REQUEST_ID], "trace-0123456789");
        assert_eq!(
            response.headers()[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff"
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("disk on fire"));

        let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let causes: Vec<_> = logs
            .lines()
            .filter(|l| l.contains("disk on fire"))
            .collect();
        assert_eq!(causes.len(), 1, "{logs}");
        assert!(causes[0].contains("request_id=trace-0123456789"), "{logs}");
        assert!(logs.contains("request finished"), "{logs}");
    }

    #[test]
    fn logged_paths_hold_no_share_id_or_ticket() {
        let id = "AbCdEfGhIjKlMnOpQrStUv";
        for (path, logged) in [
            (format!("/api/s/{id}"), "/api/s/AbCdEf…".to_owned()),
            (
                format!("/api/s/{id}/download"),
                "/api/s/AbCdEf…/download".into(),
            ),
            (
                format!("/api/s/{id}/uploads/eyJ.secret.ticket/complete"),
                "/api/s/AbCdEf…/uploads/{upload_id}/complete".into(),
            ),
            (format!("/api/shares/{id}"), "/api/shares/AbCdEf…".into()),
            (
                format!("/api/users/u-1/shares/{id}"),
                "/api/users/u-1/shares/AbCdEf…".into(),
            ),
            (
                "/api/files/transfer/t.k.t".into(),
                "/api/files/transfer/{ticket}".into(),
            ),
            ("/api/shares".into(), "/api/shares".into()),
            ("/api/files/list".into(), "/api/files/list".into()),
        ] {
            assert_eq!(super::loggable_path(&path), logged, "{path}");
        }
    }
}

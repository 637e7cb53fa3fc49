//! The web app and the API reference, served by the local server from files embedded in the
//! binary (`web/app`): every path outside `/api/` gets the app (its file, or `index.html` for
//! the app's own routes, which the browser resolves), `/api/docs` the interactive reference.
//! The Lambda functions embed nothing: on AWS the same files are served by CloudFront.
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use shared::error::AppError;
use tower::ServiceExt;

#[derive(rust_embed::Embed)]
#[folder = "web/app"]
struct Files;

/// No inline script or style, nothing from other origins, never framed: the app's defence
/// against script injection, since its session lives in the page (README "Web app").
const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
     connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// Swagger UI sets styles from script (`style-src 'unsafe-inline'`); scripts stay same-origin.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// `api` behind the app: requests under `/api/` (except the reference) go to the API as before.
pub fn with_app(api: Router) -> Router {
    Router::new().fallback(move |req: Request| {
        let api = api.clone();
        async move {
            let path = req.uri().path();
            if is_api(path) {
                api.oneshot(req).await.into_response()
            } else {
                asset(req.method(), path, req.headers())
            }
        }
    })
}

fn is_api(path: &str) -> bool {
    let docs = path == "/api/docs" || path.starts_with("/api/docs/");
    (path == "/api" || path.starts_with("/api/")) && !docs
}

fn asset(method: &Method, path: &str, headers: &HeaderMap) -> Response {
    // Refusals in the contract's JSON shape, from the one error type, like the API's own.
    if method != Method::GET && method != Method::HEAD {
        let mut res = AppError::MethodNotAllowed.into_response();
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return res;
    }
    let (name, file) = match lookup(path) {
        Some(found) => found,
        None => return AppError::not_found("not_found", "No such file.").into_response(),
    };
    let etag = format!("\"{}\"", hex16(&file.metadata.sha256_hash()));
    let docs = name.starts_with("api-docs/");
    let len = file.data.len();
    let mut res = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| none_match(v, &etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else if method == Method::HEAD {
        // The size the GET would send, without the bytes.
        let mut res = Response::new(Body::empty());
        res.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        res
    } else {
        Response::new(Body::from(file.data))
    };
    let h = res.headers_mut();
    let mime = file.metadata.mimetype();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(mime).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex"));
    // The file names carry no content hash (no build step), so every use revalidates: a 304
    // costs one round trip on loopback and a deploy is seen at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let csp = if docs { DOCS_CSP } else { CSP };
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // A share link's id is a credential: it must not leave in a Referer.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// The embedded file for a request path: itself, the docs' index, or the app's `index.html`
/// for the app's routes (folder names may hold dots: `/files/v1.2` is a route). A missing
/// script, style or image is a 404, not a page of HTML a browser would refuse to run.
fn lookup(path: &str) -> Option<(String, rust_embed::EmbeddedFile)> {
    let rel = path.trim_start_matches('/');
    let name = if rel == "api/docs" || rel == "api/docs/" {
        "api-docs/index.html".to_owned()
    } else if let Some(file) = rel.strip_prefix("api/docs/") {
        format!("api-docs/{file}")
    } else if rel.is_empty() {
        "index.html".to_owned()
    } else {
        rel.to_owned()
    };
    if let Some(file) = Files::get(&name) {
        return Some((name, file));
    }
    let asset = ["api/", "js/", "img/"].iter().any(|p| rel.starts_with(p))
        || [".js", ".css", ".json", ".svg", ".png", ".ico", ".map"]
            .iter()
            .any(|ext| !rel.contains('/') && rel.ends_with(ext));
    (!asset).then(|| {
        (
            "index.html".to_owned(),
            Files::get("index.html").expect("embedded"),
        )
    })
}

/// Whether an `If-None-Match` value matches `etag`: `*`, or any of its comma-separated tags,
/// weak (`W/"…"`) or strong (the weak comparison RFC 9110 asks for here).
fn none_match(value: &HeaderValue, etag: &str) -> bool {
    let Ok(value) = value.to_str() else {
        return false;
    };
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

fn hex16(bytes: &[u8]) -> String {
    bytes.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_stay_with_the_api() {
        assert!(is_api("/api/files/list"));
        assert!(is_api("/api"));
        assert!(!is_api("/api/docs"));
        assert!(!is_api("/api/docs/swagger-ui.css"));
        assert!(!is_api("/apixyz"));
        assert!(!is_api("/files/a"));
    }

    #[test]
    fn if_none_match_takes_lists_weak_tags_and_a_star() {
        let etag = "\"abc\"";
        let matches = |v: &'static str| none_match(&HeaderValue::from_static(v), etag);
        assert!(matches("\"abc\""));
        assert!(matches("W/\"abc\""));
        assert!(matches("\"x\", \"abc\""));
        assert!(matches("\"x\",W/\"abc\""));
        assert!(matches("*"));
        assert!(!matches("\"x\""));
        assert!(!matches("\"ab\", \"abcd\""));
        assert!(!matches("abc"));
    }

    #[test]
    fn head_tells_the_size_without_the_bytes() {
        let res = asset(&Method::HEAD, "/js/main.js", &HeaderMap::new());
        assert_eq!(res.status(), StatusCode::OK);
        let len = lookup("/js/main.js").unwrap().1.data.len();
        assert_eq!(
            res.headers()[header::CONTENT_LENGTH].to_str().unwrap(),
            len.to_string()
        );
    }

    #[test]
    fn app_routes_get_the_index_and_unknown_files_404() {
        assert_eq!(lookup("/").unwrap().0, "index.html");
        assert_eq!(lookup("/files/docs/a%20b").unwrap().0, "index.html");
        assert_eq!(lookup("/s/AbCdEfGhIjKlMnOpQrStUv").unwrap().0, "index.html");
        assert_eq!(lookup("/js/main.js").unwrap().0, "js/main.js");
        assert!(lookup("/js/nothing.js").is_none());
        assert!(lookup("/nothing.css").is_none());
        assert_eq!(lookup("/files/v1.2/x.txt").unwrap().0, "index.html");
        assert_eq!(lookup("/api/docs").unwrap().0, "api-docs/index.html");
    }
}

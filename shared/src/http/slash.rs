//! Trailing slashes: every path answers the same with and without one (`/api/auth/login/` is
//! `/api/auth/login`), since existing clients of the API call it with the slash (the
//! `seed_clients` tests replay them). The routes, and so the OpenAPI document, keep the form
//! without.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::ServiceExt;

use super::{documented, not_found, Group, Message};

/// Marks a request whose trailing slash was taken off before routing.
#[derive(Debug, Clone, Copy)]
struct Trimmed;

/// `router`, answering `/x/` as `/x`. The slash goes before routing: a layer of the router
/// itself would run only after the route was matched.
pub(super) fn tolerant(router: Router) -> Router {
    Router::new().fallback_service(router.map_request(trim as fn(Request) -> Request))
}

/// Takes one trailing slash off the path, keeping the query (`/api/files/list/?path=x` is
/// `/api/files/list?path=x`). `/` stays `/`; `//` becomes `/`; a second trailing slash stays
/// (an empty segment, which no route has).
fn trim(mut req: Request) -> Request {
    let path = req.uri().path();
    let Some(trimmed) = path.strip_suffix('/').filter(|p| !p.is_empty()) else {
        return req;
    };
    let path_and_query = match req.uri().query() {
        Some(query) => format!("{trimmed}?{query}"),
        None => trimmed.to_owned(),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    if let Ok(uri) = Uri::from_parts(parts) {
        *req.uri_mut() = uri;
        req.extensions_mut().insert(Trimmed);
    }
    req
}

/// `router` with its fallback for requests no route takes: the contract's JSON 404, except for a
/// trailing-slash path that another function serves. An HTTP API route cannot end in a slash,
/// and API Gateway need not hand `/x/` to the route of `/x`: such a request may reach another
/// function (the catch-all route sends it to auth). That function answers 308 to the path
/// without the slash, which API Gateway routes, and clients follow it with the same method, body
/// and credentials. Served locally, every path is served here: no redirect.
pub(super) fn with_fallback(router: Router, served: &[Group]) -> Router {
    let elsewhere: Arc<[String]> = Group::ALL
        .into_iter()
        .filter(|group| !served.contains(group))
        .flat_map(|group| {
            documented(&[group])
                .split_for_parts()
                .1
                .paths
                .paths
                .into_keys()
        })
        .collect();
    router.fallback(move |req: Request| unrouted(elsewhere.clone(), req))
}

async fn unrouted(elsewhere: Arc<[String]>, req: Request) -> Response {
    let path = req.uri().path();
    let moved = req.extensions().get::<Trimmed>().is_some()
        && elsewhere.iter().any(|template| instance_of(template, path));
    let location = match req.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    match HeaderValue::from_str(&location) {
        Ok(value) if moved => (
            StatusCode::PERMANENT_REDIRECT,
            [(header::LOCATION, value)],
            Message::json(format!("This path is {path}, without the trailing slash.")),
        )
            .into_response(),
        _ => not_found().await.into_response(),
    }
}

/// Whether `path` is an instance of the documented `template` (`{name}`: one non-empty segment).
pub fn instance_of(template: &str, path: &str) -> bool {
    let (template, path): (Vec<_>, Vec<_>) =
        (template.split('/').collect(), path.split('/').collect());
    template.len() == path.len()
        && template
            .iter()
            .zip(&path)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}') && !p.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trimmed(uri: &str) -> (String, bool) {
        let req = trim(
            Request::builder()
                .uri(uri)
                .body(Default::default())
                .unwrap(),
        );
        (
            req.uri().to_string(),
            req.extensions().get::<Trimmed>().is_some(),
        )
    }

    #[test]
    fn one_trailing_slash_goes_and_the_query_stays() {
        assert_eq!(
            trimmed("/api/files/list/"),
            ("/api/files/list".into(), true)
        );
        assert_eq!(
            trimmed("/api/files/list/?path=a%20b"),
            ("/api/files/list?path=a%20b".into(), true)
        );
        assert_eq!(
            trimmed("/api/files/list"),
            ("/api/files/list".into(), false)
        );
        assert_eq!(
            trimmed("/api/files/list//"),
            ("/api/files/list/".into(), true)
        );
        assert_eq!(trimmed("/"), ("/".into(), false));
        assert_eq!(trimmed("//"), ("/".into(), true));
        assert_eq!(
            trimmed("https://abc.example.com/api/zip/1/?x"),
            ("https://abc.example.com/api/zip/1?x".into(), true)
        );
    }

    #[test]
    fn templates_match_one_segment_per_parameter() {
        assert!(instance_of("/api/users/{id}", "/api/users/7"));
        assert!(!instance_of("/api/users/{id}", "/api/users/"));
        assert!(!instance_of("/api/users/{id}", "/api/users/7/x"));
        assert!(instance_of("/api/files/list", "/api/files/list"));
        assert!(!instance_of("/api/files/list", "/api/files/lists"));
    }
}

//! The API Gateway events in `events/`: the fixtures of `cargo lambda invoke`, and here inputs
//! to each function's router, in process, exactly as `lambda_http` hands them over.

use http::StatusCode;
use shared::http::{router, Group};
use tower::ServiceExt;

use crate::helpers::{Kind, TestApp};

/// Sends one event file through `group`'s router; returns the status and the JSON body.
async fn invoke(app: &TestApp, group: Group, event: &str) -> (StatusCode, serde_json::Value) {
    let path = format!("{}/events/{event}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let request = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let response = router(app.core.clone(), &[group])
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    assert!(
        response.headers().contains_key("content-type"),
        "{event}: no content-type"
    );
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

#[tokio::test]
async fn every_auth_event_gives_its_status() {
    let app = TestApp::new(Kind::Embedded).await;
    for (event, want) in [
        ("auth/health.json", StatusCode::OK),
        ("auth/openapi.json", StatusCode::OK),
        ("auth/register.json", StatusCode::CREATED),
        ("auth/register.json", StatusCode::CONFLICT),
        ("auth/register-invalid.json", StatusCode::BAD_REQUEST),
        ("auth/login.json", StatusCode::OK),
        ("auth/login-wrong-password.json", StatusCode::UNAUTHORIZED),
        ("auth/refresh-invalid.json", StatusCode::UNAUTHORIZED),
        (
            "auth/profile-unauthenticated.json",
            StatusCode::UNAUTHORIZED,
        ),
        (
            "auth/keys-list-unauthenticated.json",
            StatusCode::UNAUTHORIZED,
        ),
    ] {
        let (status, body) = invoke(&app, Group::Auth, event).await;
        assert_eq!(status, want, "{event}: {body}");
    }
}

#[tokio::test]
async fn every_files_event_gives_its_status() {
    let app = TestApp::new(Kind::Embedded).await;
    for (event, want, code) in [
        (
            "files/list-unauthenticated.json",
            StatusCode::UNAUTHORIZED,
            "not_authenticated",
        ),
        (
            "files/upload-unauthenticated.json",
            StatusCode::UNAUTHORIZED,
            "not_authenticated",
        ),
        (
            "files/download-unauthenticated.json",
            StatusCode::UNAUTHORIZED,
            "not_authenticated",
        ),
        (
            "files/transfer-forged.json",
            StatusCode::FORBIDDEN,
            "invalid_signature",
        ),
    ] {
        let (status, body) = invoke(&app, Group::Files, event).await;
        assert_eq!(status, want, "{event}: {body}");
        assert_eq!(body["code"], code, "{event}: {body}");
    }
}

#[tokio::test]
async fn every_event_file_is_covered_and_parses() {
    let dir = format!("{}/events", env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for group in std::fs::read_dir(&dir).unwrap() {
        for file in std::fs::read_dir(group.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            lambda_http::request::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            count += 1;
        }
    }
    assert!(count >= 10, "{count} event files");
}

/// On Lambda the client address is API Gateway's `sourceIp`, which login throttling counts.
#[tokio::test]
async fn the_event_source_ip_is_the_throttled_address() {
    let app = TestApp::with(Kind::Embedded, |c| c.throttle.address_max_failures = 2).await;
    invoke(&app, Group::Auth, "auth/register.json").await;
    for _ in 0..2 {
        let (status, _) = invoke(&app, Group::Auth, "auth/login-wrong-password.json").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = invoke(&app, Group::Auth, "auth/login.json").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // The same account from another address (the in-process default, 127.0.0.1) still logs in.
    app.post(
        "/api/auth/login",
        None,
        serde_json::json!({"username": "alice", "password": "correct horse battery"}),
    )
    .await
    .expect(StatusCode::OK);
}

/// A function serves only its own group: the others' paths are the JSON 404 there.
#[tokio::test]
async fn a_function_serves_only_its_group() {
    let app = TestApp::new(Kind::Embedded).await;
    for group in [Group::Users, Group::Files, Group::Zip] {
        let (status, body) = invoke(&app, group, "auth/health.json").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{group:?}");
        assert_eq!(body["code"], "not_found");
    }
}

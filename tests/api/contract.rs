//! The HTTP contract around the endpoints: error shapes, request ids, health, OpenAPI.

use axum::body::Body;
use http::{Method, Request, StatusCode};
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Kind, TestApp};

backend_tests!(
    health_reports_its_checks,
    unknown_routes_and_methods_answer_json,
    malformed_bodies_get_clear_errors,
    every_response_carries_a_request_id,
    openapi_lists_every_route,
);

async fn health_reports_its_checks(kind: Kind) {
    let app = TestApp::new(kind).await;
    let body = app.get("/api/health", None).await.expect(StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"]["users"], "ok");
    assert_eq!(body["checks"]["files"], "ok");
    assert!(body["version"].is_string());
}

async fn unknown_routes_and_methods_answer_json(kind: Kind) {
    let app = TestApp::new(kind).await;
    app.get("/api/nothing-here", None)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.call(Method::DELETE, "/api/auth/login", None, None)
        .await
        .expect_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    app.call(Method::GET, "/api/auth/register", None, None)
        .await
        .expect_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

async fn malformed_bodies_get_clear_errors(kind: Kind) {
    let app = TestApp::new(kind).await;
    let raw = |content_type: &str, body: Vec<u8>| {
        Request::post("/api/auth/login")
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap()
    };
    app.send(raw("application/json", b"{not json".to_vec()))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_json");
    app.send(raw("application/json", b"[1, 2]".to_vec()))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_json");
    app.send(raw("text/plain", b"{}".to_vec()))
        .await
        .expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let huge = json!({"username": "x".repeat(200_000), "password": "y"}).to_string();
    app.send(raw("application/json", huge.into_bytes()))
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    app.send(raw("application/json", vec![0xff, 0xfe, 0x00]))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_json");
}

async fn every_response_carries_a_request_id(kind: Kind) {
    let app = TestApp::new(kind).await;
    let ok = app.get("/api/health", None).await;
    let err = app.get("/api/nope", None).await;
    let a = ok.headers["x-request-id"].to_str().unwrap().to_owned();
    let b = err.headers["x-request-id"].to_str().unwrap().to_owned();
    assert!(a.len() >= 8 && a != b);
    // A sane id from the caller is kept; a hostile one is replaced
    let req = Request::get("/api/health")
        .header("x-request-id", "trace-0123456789")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.send(req).await.headers["x-request-id"],
        "trace-0123456789"
    );
    let req = Request::get("/api/health")
        .header("x-request-id", "bad id with spaces")
        .body(Body::empty())
        .unwrap();
    assert_ne!(
        app.send(req).await.headers["x-request-id"],
        "bad id with spaces"
    );
}

async fn openapi_lists_every_route(kind: Kind) {
    let app = TestApp::new(kind).await;
    let doc = app
        .get("/api/openapi.json", None)
        .await
        .expect(StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/health", &["get"][..]),
        ("/api/auth/register", &["post"]),
        ("/api/auth/login", &["post"]),
        ("/api/auth/token/refresh", &["post"]),
        ("/api/auth/logout", &["post"]),
        ("/api/auth/logout-all", &["post"]),
        ("/api/auth/profile", &["get", "put", "patch"]),
        ("/api/auth/change-password", &["post"]),
        ("/api/auth/user-info", &["get"]),
        ("/api/auth/delete-account", &["post"]),
        ("/api/auth/keys", &["get", "post"]),
        ("/api/auth/keys/{id}", &["delete"]),
        ("/api/shares", &["get", "post"]),
        ("/api/shares/{id}", &["get", "patch", "delete"]),
        ("/api/users/{id}/shares", &["get"]),
        ("/api/users/{id}/shares/{share_id}", &["delete"]),
        ("/api/s/{id}", &["get"]),
        ("/api/s/{id}/token", &["post"]),
        ("/api/s/{id}/list", &["get"]),
        ("/api/s/{id}/download", &["get"]),
        ("/api/s/{id}/download-zip", &["get"]),
        ("/api/s/{id}/zip/{job_id}", &["get"]),
        ("/api/s/{id}/uploads", &["post"]),
        ("/api/s/{id}/uploads/{upload_id}", &["get", "delete"]),
        ("/api/s/{id}/uploads/{upload_id}/complete", &["post"]),
    ] {
        for m in methods {
            assert!(paths[path].get(*m).is_some(), "{m} {path} missing");
        }
    }
    // And every documented route is really served (not the JSON 404)
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let uri = path.replace("{id}", "0123456789abcdef0123456789abcdef");
            let reply = app.call(m, &uri, None, None).await;
            assert!(
                !(reply.status == StatusCode::NOT_FOUND
                    && reply.body["code"] == "not_found"
                    && reply.body["error"] == "No such endpoint."),
                "{method} {path} is documented but not routed"
            );
        }
    }
}

/// With the store unreachable, health says which check failed, with 503, and requests that need
/// the store get a JSON 503 rather than a hang or a 500.
#[tokio::test]
async fn an_unreachable_store_is_a_503() {
    use std::sync::Arc;

    use shared::objects::s3::S3Objects;
    use shared::store::dynamo::DynamoStore;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:9")
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    let s3 = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .build();
    let backends = shared::services::Backends {
        store: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            "absent",
        )),
        objects: Arc::new(S3Objects::new(aws_sdk_s3::Client::from_conf(s3), "absent")),
    };
    let mut config = shared::Config::from_env().unwrap();
    config.jwt_secret = None;
    let core = Arc::new(shared::Core::new(config, backends, &[b'x'; 32]));
    let app = TestApp::from_core(core);
    let body = app
        .get("/api/health", None)
        .await
        .expect(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["users"], "unavailable");
    assert_eq!(body["checks"]["files"], "unavailable");
    let body = app
        .post(
            "/api/auth/login",
            None,
            json!({"username": "a", "password": "b"}),
        )
        .await
        .expect_error(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "no internals: {body}"
    );
}

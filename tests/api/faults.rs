//! Faults where they matter, on every backend: one store operation fails in the middle of a
//! request (a put, a listing, a multipart completion, a usage update, a user update, a session
//! rotation), the request fails with 503, and storage is exactly as it was before it. And the
//! production SDK timeouts end a call to a service that accepts connections and never answers.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use http::{Method, StatusCode};
use serde_json::{json, Value};
use shared::layout;

use crate::backend_tests;
use crate::flaky::{Flaky, FlakyMeta};
use crate::helpers::{Kind, Reply, TestApp, PASSWORD};
use crate::invariants::{listing_of, session_generation, usage_matches_listing};

backend_tests!(
    a_failed_put_leaves_the_home_as_it_was,
    a_failed_listing_deletes_nothing,
    a_failed_completion_places_nothing_and_can_be_retried,
    a_failed_usage_update_places_nothing,
    a_failed_user_update_keeps_the_password,
    a_failed_rotation_keeps_the_session,
);

/// Everything the user's storage is: every item as listed (sizes, ETags, times) and the usage
/// they are charged, with nothing left in the staging area.
async fn state(app: &TestApp, token: &str) -> Value {
    let info = app
        .get("/api/auth/user-info", Some(token))
        .await
        .expect(StatusCode::OK);
    let staged = app
        .core
        .objects
        .list(layout::STAGING_ROOT, false, None, 10)
        .await
        .expect("staging");
    assert!(staged.items.is_empty(), "staged: {:?}", staged.items);
    json!({"items": listing_of(app, token).await, "storage": info["storage"]})
}

#[track_caller]
fn unavailable(reply: Reply) {
    reply.expect_error(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
}

async fn a_failed_put_leaves_the_home_as_it_was(kind: Kind) {
    // GIVEN a file
    let base = TestApp::new(kind).await;
    let (app, flaky) = Flaky::around(&base);
    let (_, token, _) = app.user("pia").await;
    app.upload(&token, &[], &[("a.txt", b"0123456789")])
        .await
        .expect(StatusCode::CREATED);
    let before = state(&base, &token).await;
    // WHEN the second file of a form (overwriting the first) cannot be stored
    flaky.puts.fail_after(1);
    let reply = app
        .upload(
            &token,
            &[("overwrite", None, b"true")],
            &[("b.txt", b"bbbbb"), ("a.txt", b"aaaa")],
        )
        .await;
    // THEN nothing of the form remains, the first file staged included
    unavailable(reply);
    assert!(flaky.puts.spent());
    assert_eq!(state(&base, &token).await, before);
    usage_matches_listing(&base, &token).await;
}

async fn a_failed_listing_deletes_nothing(kind: Kind) {
    // GIVEN a folder of two files
    let base = TestApp::new(kind).await;
    let (app, flaky) = Flaky::around(&base);
    let (_, token, _) = app.user("lena").await;
    app.upload(
        &token,
        &[("path", None, b"docs")],
        &[("x.txt", b"xx"), ("y.txt", b"yyy")],
    )
    .await
    .expect(StatusCode::CREATED);
    let before = state(&base, &token).await;
    // WHEN its contents cannot be listed while it is deleted
    flaky.lists.fail_next();
    let reply = app
        .post("/api/files/delete", Some(&token), json!({"path": "docs"}))
        .await;
    // THEN the folder is deleted not at all
    unavailable(reply);
    assert!(flaky.lists.spent());
    assert_eq!(state(&base, &token).await, before);
    usage_matches_listing(&base, &token).await;
}

/// Starts a direct upload of `data` to `path` and sends its one part; returns the upload id
/// and the parts to complete it with.
async fn send_direct(app: &TestApp, token: &str, path: &str, data: &[u8]) -> (String, Value) {
    let upload = app
        .post(
            "/api/files/uploads",
            Some(token),
            json!({"path": path, "size": data.len()}),
        )
        .await
        .expect(StatusCode::CREATED);
    let url = upload["parts"][0]["url"].as_str().expect("one part");
    let sent = app.fetch(Method::PUT, url, &[], data.to_vec()).await;
    assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);
    let etag = sent.headers["etag"].to_str().expect("etag");
    let id = upload["upload_id"].as_str().expect("id").to_owned();
    (id, json!({"parts": [{"part_number": 1, "etag": etag}]}))
}

async fn a_failed_completion_places_nothing_and_can_be_retried(kind: Kind) {
    // GIVEN a direct upload whose bytes have all arrived
    let base = TestApp::new(kind).await;
    let (app, flaky) = Flaky::around(&base);
    let (_, token, _) = app.user("cora").await;
    let (id, parts) = send_direct(&app, &token, "big.bin", &[b'c'; 100]).await;
    let before = state(&base, &token).await;
    // WHEN the storage cannot complete it
    flaky.completions.fail_next();
    let complete = format!("/api/files/uploads/{id}/complete");
    let reply = app.post(&complete, Some(&token), parts.clone()).await;
    // THEN no file appeared and nothing was charged; the same completion later succeeds
    unavailable(reply);
    assert!(flaky.completions.spent());
    assert_eq!(state(&base, &token).await, before);
    app.post(&complete, Some(&token), parts)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(usage_matches_listing(&base, &token).await, (100, 1));
}

async fn a_failed_usage_update_places_nothing(kind: Kind) {
    // GIVEN a file
    let base = TestApp::new(kind).await;
    let (app, meta) = FlakyMeta::around(&base);
    let (_, token, _) = app.user("ursa").await;
    app.upload(&token, &[], &[("a.txt", b"0123456789")])
        .await
        .expect(StatusCode::CREATED);
    let before = state(&base, &token).await;
    // WHEN the usage cannot be counted, for a form and for a direct upload
    meta.usage_updates.fail_next();
    let reply = app
        .upload(
            &token,
            &[("overwrite", None, b"true")],
            &[("b.txt", b"bbbbb"), ("a.txt", b"aaaa")],
        )
        .await;
    unavailable(reply);
    let (id, parts) = send_direct(&app, &token, "c.bin", &[b'c'; 100]).await;
    meta.usage_updates.fail_next();
    let complete = format!("/api/files/uploads/{id}/complete");
    unavailable(app.post(&complete, Some(&token), parts).await);
    // THEN neither placed a byte (the direct upload, still open, holds its reservation until
    // it is aborted)
    assert!(meta.usage_updates.spent());
    let abort = format!("/api/files/uploads/{id}");
    let abort = app.call(Method::DELETE, &abort, Some(&token), None).await;
    assert_eq!(abort.status, StatusCode::NO_CONTENT, "{}", abort.body);
    assert_eq!(state(&base, &token).await, before);
    usage_matches_listing(&base, &token).await;
}

async fn a_failed_user_update_keeps_the_password(kind: Kind) {
    // GIVEN a user with two sessions
    let base = TestApp::new(kind).await;
    let (app, meta) = FlakyMeta::around(&base);
    let (_, token, refresh) = app.user("pete").await;
    let (other, _) = app.login("pete").await;
    let before = app
        .get("/api/auth/profile", Some(&token))
        .await
        .expect(StatusCode::OK);
    // WHEN the new password cannot be written
    meta.user_updates.fail_next();
    let new = "a brand new passphrase";
    let reply = app
        .post(
            "/api/auth/change-password",
            Some(&token),
            json!({"old_password": PASSWORD, "new_password": new, "new_password2": new}),
        )
        .await;
    // THEN the old password, the profile and every session are as they were
    unavailable(reply);
    assert!(meta.user_updates.spent());
    app.try_login("pete", PASSWORD).await.expect(StatusCode::OK);
    app.try_login("pete", new)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    for access in [&token, &other] {
        let now = app
            .get("/api/auth/profile", Some(access))
            .await
            .expect(StatusCode::OK);
        assert_eq!(now, before);
    }
    assert_eq!(session_generation(&base, &refresh).await, Some(0));
}

async fn a_failed_rotation_keeps_the_session(kind: Kind) {
    // GIVEN a session
    let base = TestApp::new(kind).await;
    let (app, meta) = FlakyMeta::around(&base);
    let (_, access, refresh) = app.user("rose").await;
    // WHEN its rotation cannot be written
    meta.rotations.fail_next();
    let reply = app
        .post(
            "/api/auth/token/refresh",
            None,
            json!({ "refresh": refresh }),
        )
        .await;
    // THEN the session stays where it was, and the same token rotates it later
    unavailable(reply);
    assert!(meta.rotations.spent());
    assert_eq!(session_generation(&base, &refresh).await, Some(0));
    app.get("/api/auth/profile", Some(&access))
        .await
        .expect(StatusCode::OK);
    app.post(
        "/api/auth/token/refresh",
        None,
        json!({ "refresh": refresh }),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(session_generation(&base, &refresh).await, Some(1));
}

/// A service that accepts connections and never answers: only timeouts end a call to it.
async fn silent_service() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

/// The SDK clients as the runtime builds them (its timeouts), pointed at a silent service:
/// the store and the object store report it unavailable, and a request needing it is a 503,
/// each well before the bound (generous: this is a safety net, not a speed check).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_timeouts_end_calls_to_a_silent_service() {
    const BOUND: Duration = Duration::from_secs(30);
    let url = silent_service().await;
    let sdk = shared::runtime::aws_sdk_config()
        .await
        .to_builder()
        .endpoint_url(&url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "tests",
        )))
        .build();
    let clients = shared::aws::AwsClients::new(&sdk, true, None);
    let mut config = shared::Config::from_env().expect("config");
    config.table = Some("silent".into());
    config.bucket = Some("silent".into());
    let backends = shared::runtime::aws_backends(&config, &clients).expect("backends");
    let (store, objects) = (backends.store.clone(), backends.objects.clone());
    let app = TestApp::from_core(std::sync::Arc::new(shared::Core::new(
        config,
        backends,
        crate::helpers::SECRET.as_bytes(),
    )));
    let started = Instant::now();
    let (user, object, login) = tokio::join!(
        store.get_user("someone"),
        objects.head("users/someone/a.txt"),
        app.try_login("someone", PASSWORD),
    );
    let elapsed = started.elapsed();
    assert!(
        matches!(user, Err(shared::store::StoreError::Unavailable(_))),
        "{user:?}"
    );
    assert!(
        matches!(object, Err(shared::objects::ObjectError::Unavailable(_))),
        "{object:?}"
    );
    unavailable(login);
    assert!(elapsed < BOUND, "{elapsed:?}");
}

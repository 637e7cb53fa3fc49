//! DynamoDB round trips per authenticated request on the AWS backend (issue 14): the credential
//! check is one `BatchGetItem` (user and session, or user and API key, together), and a listing
//! adds none (S3's ListObjectsV2 is the listing itself). A count of calls, not a time: each
//! round trip is latency and money on every request.
//!
//! Only the AWS backend has round trips to count; the embedded backend's listing and check are
//! covered by the behaviour cases of `files` and `credentials`.

use std::sync::Arc;

use http::StatusCode;
use serde_json::json;
use shared::aws::{self, AwsClients, Call, CallLog};
use shared::runtime::aws_backends;
use shared::Core;

use crate::backend_tests;
use crate::helpers::{emulator_sdk, run_case, Kind, TestApp, CASE_LIMIT, SECRET};

backend_tests!(a_listing_checks_its_folder_only_when_the_page_is_empty);

/// An app over `app`'s table and bucket whose clients record into `log`.
async fn counted(app: &TestApp, log: &CallLog) -> TestApp {
    let recorder = log.recorder("round-trips");
    let dynamodb_sdk = emulator_sdk("VERTEX_TEST_DYNAMODB_ENDPOINT").await;
    let s3_sdk = emulator_sdk("VERTEX_TEST_S3_ENDPOINT").await;
    let clients = AwsClients {
        dynamodb: aws::dynamodb(&dynamodb_sdk, Some(&recorder)),
        s3: aws::s3(&s3_sdk, true, Some(&recorder)),
        lambda: aws::lambda(&s3_sdk, None),
        ssm: aws::ssm(&s3_sdk, None),
    };
    let config = app.core.config.clone();
    let backends = aws_backends(&config, &clients).expect("backends");
    TestApp::from_core(Arc::new(Core::new(config, backends, SECRET.as_bytes())))
}

/// The DynamoDB operations among `calls`, in order.
fn dynamodb(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.service == "DynamoDB")
        .map(|c| c.operation.clone())
        .collect()
}

/// The calls `log` recorded while `request` ran.
async fn calls_of<F: std::future::Future<Output = ()>>(log: &CallLog, request: F) -> Vec<Call> {
    let before = log.calls().len();
    request.await;
    log.calls()[before..].to_vec()
}

async fn one_batched_read_per_credential_check_and_listing(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("rita").await;
    let files: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| (format!("f{i}.txt"), vec![b'x'; i + 1]))
        .collect();
    let parts: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    app.upload(&token, &[("path", None, b"docs")], &parts)
        .await
        .expect(StatusCode::CREATED);
    let key = app.api_key(&token, "counted").await;
    let log = CallLog::in_memory();
    let app = counted(&app, &log).await;
    let batched = vec!["BatchGetItem".to_owned()];

    for (credential, what) in [(&token, "session"), (&key, "API key")] {
        for uri in ["/api/files/list", "/api/files/list?path=docs"] {
            let calls = calls_of(&log, async {
                let listing = app.get(uri, Some(credential)).await.expect(StatusCode::OK);
                assert!(listing["items"].is_array(), "{listing}");
            })
            .await;
            assert_eq!(dynamodb(&calls), batched, "{uri} with a {what}: {calls:#?}");
            assert!(
                calls.iter().any(|c| c.operation == "ListObjectsV2"),
                "{uri}: {calls:#?}"
            );
        }
        let calls = calls_of(&log, async {
            app.get("/api/files/list?path=docs", Some(credential))
                .await
                .expect(StatusCode::OK);
        })
        .await;
        assert_eq!(dynamodb(&calls), batched, "{what}: {calls:#?}");
    }
    // The check alone (the profile is the user the check loaded): one read as well.
    let calls = calls_of(&log, async {
        let me = app
            .get("/api/auth/profile", Some(&token))
            .await
            .expect(StatusCode::OK);
        assert_eq!(me["username"], "rita");
    })
    .await;
    assert_eq!(dynamodb(&calls), batched, "{calls:#?}");
    // A refused credential costs the same one read, and nothing else runs.
    let calls = calls_of(&log, async {
        app.get("/api/files/list", Some(&format!("{key}x")))
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    })
    .await;
    assert!(dynamodb(&calls).len() <= 1, "{calls:#?}");
    assert!(calls.iter().all(|c| c.service == "DynamoDB"), "{calls:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the emulators: scripts/test.sh runs it"]
async fn one_batched_read_per_credential_check_and_listing_aws() {
    run_case(
        Kind::Aws,
        CASE_LIMIT,
        one_batched_read_per_credential_check_and_listing,
    )
    .await;
}

/// A listing no longer asks whether its folder exists before listing it (two store round trips
/// saved): a page with anything on it shows that. An empty page still gets the check, so every
/// answer stays as it was: 404 for a missing folder (even with a cursor), 400
/// `not_a_directory` for a file, and 200 with no items for an empty folder or past the end.
async fn a_listing_checks_its_folder_only_when_the_page_is_empty(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("lena").await;
    let parts: [(&str, &[u8]); 2] = [("a.txt", b"a"), ("b.txt", b"b")];
    app.upload(&token, &[("path", None, b"gone")], &parts)
        .await
        .expect(StatusCode::CREATED);
    app.upload(&token, &[], &[("note.txt", b"n")])
        .await
        .expect(StatusCode::CREATED);
    app.post(
        "/api/files/create-folder",
        Some(&token),
        json!({"parent_path": "", "folder_name": "empty"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let first = app
        .get("/api/files/list?path=gone&limit=1", Some(&token))
        .await
        .expect(StatusCode::OK);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let last = app
        .get(
            &format!("/api/files/list?path=gone&limit=1&cursor={cursor}"),
            Some(&token),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(last["items"][0]["name"], "b.txt", "{last}");
    assert!(last["next_cursor"].is_null(), "{last}");
    let empty = app
        .get("/api/files/list?path=empty", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(empty["items"], json!([]), "{empty}");
    assert_eq!(empty["total_items"], 0);
    app.get("/api/files/list?path=note.txt", Some(&token))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "not_a_directory");
    app.get("/api/files/list?path=nowhere&cursor=bm9wZQ", Some(&token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.get("/api/files/list?path=empty&cursor=bm9wZQ", Some(&token))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_cursor");
    // The folder goes: its cursor now finds nothing to list, and no folder.
    app.post("/api/files/delete", Some(&token), json!({"path": "gone"}))
        .await
        .expect(StatusCode::OK);
    app.get(
        &format!("/api/files/list?path=gone&limit=1&cursor={cursor}"),
        Some(&token),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.get("/api/files/list?path=gone", Some(&token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
}

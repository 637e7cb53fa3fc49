//! At most `limits.max_running_jobs` background ZIP jobs per user, on every backend: more
//! are refused with 429 `throttled` and `Retry-After`, nothing of them remains, a finished job
//! frees its slot, a slot whose job died is taken over, and archives written within the
//! request take no slot.

use std::sync::Arc;

use chrono::{Duration, Utc};
use http::{header, StatusCode};
use serde_json::{json, Value};
use shared::layout::archives_of;
use shared::objects::Listed;

use crate::backend_tests;
use crate::flaky::Flaky;
use crate::helpers::{race, Kind, TestApp};

backend_tests!(
    jobs_beyond_the_limit_are_refused_until_one_ends,
    a_slot_whose_job_died_is_taken_over,
    archives_written_within_the_request_take_no_slot,
);

/// One job at a time; more than two files make a background job.
async fn app_with_one_slot(kind: Kind) -> TestApp {
    TestApp::with(kind, |c| {
        c.limits.max_running_jobs = 1;
        c.zip_sync_max_files = 2;
    })
    .await
}

/// vera's home: docs/{a.txt, b.txt, c.txt} (30 bytes), top.txt; her id and token.
async fn home(app: &TestApp) -> (String, String) {
    let (id, token, _) = app.user("vera").await;
    app.post(
        "/api/files/create-folder",
        Some(&token),
        json!({"parent_path": "", "folder_name": "docs"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let ten = b"0123456789";
    app.upload(
        &token,
        &[("path", None, b"docs")],
        &[("a.txt", ten), ("b.txt", ten), ("c.txt", ten)],
    )
    .await
    .expect(StatusCode::CREATED);
    app.upload(&token, &[], &[("top.txt", b"top")])
        .await
        .expect(StatusCode::CREATED);
    (id, token)
}

fn zip_docs() -> Value {
    json!({"paths": ["docs"]})
}

/// The user's `used_bytes` as `user-info` shows it.
async fn used_bytes(app: &TestApp, token: &str) -> u64 {
    let info = app
        .get("/api/auth/user-info", Some(token))
        .await
        .expect(StatusCode::OK);
    info["storage"]["used_bytes"].as_u64().unwrap()
}

/// How many archive objects the user has.
async fn archives(app: &TestApp, user_id: &str) -> usize {
    let page = app
        .core
        .objects
        .list(&archives_of(user_id), false, None, 1000)
        .await
        .unwrap();
    let objects = page.items.iter();
    objects.filter(|i| matches!(i, Listed::Object(_))).count()
}

async fn poll(app: &TestApp, token: &str, id: &str) -> Value {
    for _ in 0..300 {
        let job = app
            .get(&format!("/api/zip/{id}"), Some(token))
            .await
            .expect(StatusCode::OK);
        if job["status"] != "running" {
            return job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("job {id} still running after 30 s");
}

/// Starts a background job of docs; its id.
async fn started(app: &TestApp, token: &str) -> String {
    let job = app
        .post("/api/zip", Some(token), zip_docs())
        .await
        .expect(StatusCode::ACCEPTED);
    job["job_id"].as_str().unwrap().to_owned()
}

async fn jobs_beyond_the_limit_are_refused_until_one_ends(kind: Kind) {
    let base = app_with_one_slot(kind).await;
    let (user_id, token) = home(&base).await;
    // Archives are held back while being written: the first job stays running.
    let (app, objects) = Flaky::around(&base);
    let app = Arc::new(app);
    objects.put_gate.shut();
    let first = started(&app, &token).await;
    let used = used_bytes(&app, &token).await;

    // Ten more at once, by POST /api/zip and download-zip: every one refused.
    let replies = race(10, |i| {
        let (app, token) = (app.clone(), token.clone());
        async move {
            match i % 2 {
                0 => app.post("/api/zip", Some(&token), zip_docs()).await,
                _ => {
                    app.get(
                        "/api/files/download-zip?path=docs&redirect=false",
                        Some(&token),
                    )
                    .await
                }
            }
        }
    })
    .await;
    for reply in replies {
        let retry: u64 = reply.headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry >= 1, "{retry}");
        reply.expect_error(StatusCode::TOO_MANY_REQUESTS, "throttled");
    }
    // The refused jobs left nothing: no charge, no archive.
    assert_eq!(used_bytes(&app, &token).await, used);
    assert_eq!(poll_running(&app, &token, &first).await, "running");

    // The finished job frees its slot: the next one starts at once.
    objects.put_gate.open();
    assert_eq!(poll(&app, &token, &first).await["status"], "done");
    assert_eq!(archives(&app, &user_id).await, 1);
    let second = started(&app, &token).await;
    assert_eq!(poll(&app, &token, &second).await["status"], "done");
    assert_eq!(archives(&app, &user_id).await, 2);
}

/// The job's status, once.
async fn poll_running(app: &TestApp, token: &str, id: &str) -> Value {
    let job = app
        .get(&format!("/api/zip/{id}"), Some(token))
        .await
        .expect(StatusCode::OK);
    job["status"].clone()
}

async fn a_slot_whose_job_died_is_taken_over(kind: Kind) {
    let app = app_with_one_slot(kind).await;
    let (user_id, token) = home(&app).await;
    let store = app.core.store.as_ref();
    let now = Utc::now();
    // A job that holds the slot and is alive: refused.
    let alive = now + Duration::minutes(10);
    assert!(store
        .claim_job_slot(&user_id, "alive", 1, now, alive)
        .await
        .unwrap());
    app.post("/api/zip", Some(&token), zip_docs())
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "throttled");
    assert_eq!(archives(&app, &user_id).await, 0);
    // It died: its slot lapsed without being given back (as when an invocation is killed).
    assert!(store.release_job_slot(&user_id, "alive").await.unwrap());
    let lapsed = now - Duration::seconds(1);
    assert!(store
        .claim_job_slot(&user_id, "dead", 1, now - Duration::minutes(11), lapsed)
        .await
        .unwrap());
    let job = started(&app, &token).await;
    assert_eq!(poll(&app, &token, &job).await["status"], "done");
    // The dead job cannot free the slot it lost (nor the next job's).
    assert!(!store.release_job_slot(&user_id, "dead").await.unwrap());
    assert_eq!(archives(&app, &user_id).await, 1);
}

async fn archives_written_within_the_request_take_no_slot(kind: Kind) {
    let app = app_with_one_slot(kind).await;
    let (user_id, token) = home(&app).await;
    let now = Utc::now();
    let held = now + Duration::minutes(10);
    let store = app.core.store.as_ref();
    assert!(store
        .claim_job_slot(&user_id, "busy", 1, now, held)
        .await
        .unwrap());
    let done = app
        .post("/api/zip", Some(&token), json!({"paths": ["top.txt"]}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(done["status"], "done");
    assert_eq!(archives(&app, &user_id).await, 1);
}

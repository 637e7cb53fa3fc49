//! Issue 12's storage accounting, on every backend: direct uploads reserve their declared size
//! (and their parts) when they start, reservations end on complete, abort or expiry, a per-user
//! file limit, a default quota and file limit for new accounts, and the registration switch.
//! Each case shows the refusal (status and code) and what remains (usage, reserved, files).

use chrono::{Duration, Utc};
use http::{Method, StatusCode};
use serde_json::{json, Value};
use shared::config::Registration;
use shared::domain::Role;
use shared::store::{Caps, Charge};

use crate::backend_tests;
use crate::helpers::{race, Kind, TestApp, PASSWORD};
use crate::invariants::usage_matches_listing;

backend_tests!(
    direct_uploads_reserve_their_size_when_they_start,
    concurrent_starts_at_the_quota_edge_pass_once,
    expired_reservations_no_longer_count,
    archives_count_while_they_exist,
    a_failed_archive_gives_its_room_back,
    a_stalled_archive_gives_its_room_back_once_seen,
    the_file_limit_holds_for_forms_and_direct_uploads,
    new_accounts_get_the_default_quota_and_file_limit,
    closed_registration_leaves_account_creation_to_managers,
);

const QUOTA: u64 = 1_000;

/// An app whose new accounts have a quota of [`QUOTA`] bytes.
async fn app_with_quota(kind: Kind) -> TestApp {
    TestApp::with(kind, |c| c.default_quota_bytes = Some(QUOTA)).await
}

/// (used_bytes, reserved_bytes, file_count) as `user-info` shows them.
async fn storage(app: &TestApp, token: &str) -> (u64, u64, u64) {
    let info = app
        .get("/api/auth/user-info", Some(token))
        .await
        .expect(StatusCode::OK);
    let n = |name: &str| info["storage"][name].as_u64().expect(name);
    (n("used_bytes"), n("reserved_bytes"), n("file_count"))
}

async fn start(app: &TestApp, token: &str, path: &str, size: u64) -> crate::helpers::Reply {
    app.post(
        "/api/files/uploads",
        Some(token),
        json!({"path": path, "size": size}),
    )
    .await
}

/// Sends the one part of a started upload; the body of `complete`.
async fn send_part(app: &TestApp, upload: &Value, data: &[u8]) -> Value {
    let url = upload["parts"][0]["url"].as_str().expect("one part");
    let sent = app.fetch(Method::PUT, url, &[], data.to_vec()).await;
    assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);
    let etag = sent.headers["etag"].to_str().expect("etag");
    json!({"parts": [{"part_number": 1, "etag": etag}]})
}

async fn direct_uploads_reserve_their_size_when_they_start(kind: Kind) {
    // GIVEN a user with a quota of 1,000 bytes
    let app = app_with_quota(kind).await;
    let (_, token, _) = app.user("rhea").await;
    // WHEN an upload of 600 bytes starts (no byte sent yet)
    let first = start(&app, &token, "a.bin", 600)
        .await
        .expect(StatusCode::CREATED);
    // THEN its size is reserved, and the room it holds is not free for others
    assert_eq!(storage(&app, &token).await, (0, 600, 0));
    start(&app, &token, "b.bin", 600)
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded");
    app.upload(&token, &[], &[("c.bin", &[b'c'; 500])])
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded");
    assert_eq!(storage(&app, &token).await, (0, 600, 0));
    // Aborting gives the room back.
    let id = first["upload_id"].as_str().expect("id");
    let aborted = app
        .call(
            Method::DELETE,
            &format!("/api/files/uploads/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert!(aborted.status.is_success(), "{:?}", aborted.body);
    assert_eq!(storage(&app, &token).await, (0, 0, 0));
    // Completing turns the reservation into the file's usage.
    let upload = start(&app, &token, "b.bin", 600)
        .await
        .expect(StatusCode::CREATED);
    let parts = send_part(&app, &upload, &[b'b'; 600]).await;
    let id = upload["upload_id"].as_str().expect("id");
    app.post(
        &format!("/api/files/uploads/{id}/complete"),
        Some(&token),
        parts,
    )
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(storage(&app, &token).await, (600, 0, 1));
    assert_eq!(usage_matches_listing(&app, &token).await, (600, 1));
    // What is left is free again: 400 bytes, not one more.
    start(&app, &token, "c.bin", 401)
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded");
    start(&app, &token, "c.bin", 400)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(storage(&app, &token).await, (600, 400, 1));
}

async fn concurrent_starts_at_the_quota_edge_pass_once(kind: Kind) {
    // GIVEN a user with a quota of 1,000 bytes
    let app = std::sync::Arc::new(app_with_quota(kind).await);
    let (_, token, _) = app.user("sade").await;
    // WHEN ten uploads of 600 bytes start at once
    let replies = race(10, |i| {
        let (app, token) = (app.clone(), token.clone());
        async move { start(&app, &token, &format!("f{i}.bin"), 600).await.status }
    })
    .await;
    // THEN exactly one holds the room; the others were refused
    let created = replies
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = replies
        .iter()
        .filter(|s| **s == StatusCode::PAYLOAD_TOO_LARGE)
        .count();
    assert_eq!((created, refused), (1, 9), "{replies:?}");
    assert_eq!(storage(&app, &token).await, (0, 600, 0));
}

async fn expired_reservations_no_longer_count(kind: Kind) {
    // GIVEN a user whose room is all held by an upload that expired unfinished (nothing runs
    // when S3's lifecycle rule aborts it)
    let app = app_with_quota(kind).await;
    let (id, token, _) = app.user("tara").await;
    let expired = Charge {
        id: "forgotten".into(),
        user_id: id.clone(),
        bytes: QUOTA,
        files: 1,
        expires_at: Utc::now() - Duration::seconds(5),
    };
    let caps = Caps {
        quota_bytes: Some(QUOTA),
        file_limit: None,
    };
    assert!(app.core.store.take_charge(&expired, caps).await.unwrap());
    // WHEN the user uploads
    app.upload(&token, &[], &[("a.txt", &[b'a'; 700])])
        .await
        .expect(StatusCode::CREATED);
    // THEN the expired reservation was given back, not counted
    assert_eq!(storage(&app, &token).await, (700, 0, 1));
    // and a live one counts until it is given back
    start(&app, &token, "b.bin", 300)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(storage(&app, &token).await, (700, 300, 1));
    let user = app.core.store.get_user(&id).await.unwrap().unwrap();
    assert_eq!((user.used_bytes, user.reserved_bytes), (1_000, 300));
}

async fn archives_count_while_they_exist(kind: Kind) {
    // GIVEN a user with 300 bytes stored under a quota of 1,000
    let app = app_with_quota(kind).await;
    let (id, token, _) = app.user("ursa").await;
    app.upload(&token, &[], &[("a.txt", &[b'a'; 300])])
        .await
        .expect(StatusCode::CREATED);
    // and an upload that expired unfinished still on the books (nothing swept it yet)
    let expired = Charge {
        id: "forgotten".into(),
        user_id: id.clone(),
        bytes: 700,
        files: 1,
        expires_at: Utc::now() - Duration::seconds(5),
    };
    let caps = Caps::default();
    assert!(app.core.store.take_charge(&expired, caps).await.unwrap());
    // WHEN archives of it are made (the first one sweeps the expired charge away)
    for _ in 0..2 {
        let job = app
            .post("/api/zip", Some(&token), json!({"paths": ["a.txt"]}))
            .await
            .expect(StatusCode::OK);
        assert_eq!(job["status"], "done");
    }
    // THEN each counts while it exists, and one that would not fit is refused before it exists
    assert_eq!(storage(&app, &token).await, (300, 600, 1));
    app.post("/api/zip", Some(&token), json!({"paths": ["a.txt"]}))
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded");
    app.get("/api/files/download-zip?path=&redirect=false", Some(&token))
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded");
    assert_eq!(storage(&app, &token).await, (300, 600, 1));
    // Once they expire (a day later) their bytes are given back.
    let tomorrow = Utc::now() + Duration::hours(25);
    assert_eq!(
        app.core.store.sweep_charges(&id, tomorrow).await.unwrap(),
        2
    );
    assert_eq!(storage(&app, &token).await, (300, 0, 1));
}

async fn a_failed_archive_gives_its_room_back(kind: Kind) {
    use shared::services::JobEvent;
    use shared::store::{JobStatus, ZipJob};
    // GIVEN a background job holding 600 bytes for its archive (charges of archives are named
    // `zip-<job id>`), whose folder went away before it ran
    let app = app_with_quota(kind).await;
    let (user_id, token, _) = app.user("vida").await;
    let at = Utc::now();
    let job = ZipJob {
        id: "j1".into(),
        user_id: user_id.clone(),
        status: JobStatus::Running,
        name: "gone.zip".into(),
        paths: vec!["gone".into()],
        folder_contents: false,
        files_done: 0,
        files_total: 1,
        bytes_done: 0,
        bytes_total: 600,
        error: None,
        share_id: None,
        kind: Default::default(),
        error_code: None,
        folder: None,
        run: 0,
        cancel_requested: false,
        created_at: at,
        updated_at: at,
        expires_at: at + Duration::hours(1),
    };
    let charge = Charge {
        id: "zip-j1".into(),
        user_id: user_id.clone(),
        bytes: 600,
        files: 0,
        expires_at: job.expires_at,
    };
    assert!(app
        .core
        .store
        .take_charge(&charge, Caps::default())
        .await
        .unwrap());
    app.core.store.save_job(&job).await.unwrap();
    assert_eq!(storage(&app, &token).await, (0, 600, 0));
    // WHEN the job fails
    let event = JobEvent {
        user_id: user_id.clone(),
        job_id: "j1".into(),
        run: 0,
    };
    app.core.run_zip_job(&event).await;
    // THEN its room is free again
    let failed = app
        .get("/api/zip/j1", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(failed["status"], "failed");
    assert_eq!(storage(&app, &token).await, (0, 0, 0));
}

async fn the_file_limit_holds_for_forms_and_direct_uploads(kind: Kind) {
    // GIVEN a user whose administrator allows three objects
    let app = TestApp::new(kind).await;
    let (_, admin) = app.member("boss", Role::Manager).await;
    let (id, token, _) = app.user("uma").await;
    let changed = app
        .call(
            Method::PATCH,
            &format!("/api/users/{id}"),
            Some(&admin),
            Some(json!({"file_limit": 3})),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(changed["file_limit"], 3);
    app.upload(&token, &[], &[("a.txt", b""), ("b.txt", b"")])
        .await
        .expect(StatusCode::CREATED);
    // WHEN empty files keep coming
    app.upload(&token, &[], &[("c.txt", b""), ("d.txt", b"")])
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "file_limit_exceeded");
    // THEN only what fits is stored: a direct upload's part counts too
    let upload = start(&app, &token, "c.bin", 10)
        .await
        .expect(StatusCode::CREATED);
    app.upload(&token, &[], &[("d.txt", b"")])
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "file_limit_exceeded");
    start(&app, &token, "d.bin", 10)
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "file_limit_exceeded");
    let parts = send_part(&app, &upload, &[b'c'; 10]).await;
    let upload_id = upload["upload_id"].as_str().expect("id");
    app.post(
        &format!("/api/files/uploads/{upload_id}/complete"),
        Some(&token),
        parts,
    )
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(storage(&app, &token).await, (10, 0, 3));
    assert_eq!(usage_matches_listing(&app, &token).await, (10, 3));
    // Deleting one makes room for one.
    app.post("/api/files/delete", Some(&token), json!({"path": "a.txt"}))
        .await
        .expect(StatusCode::OK);
    app.upload(&token, &[], &[("d.txt", b"")])
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(usage_matches_listing(&app, &token).await, (10, 3));
    // Unlimited again with null.
    let changed = app
        .call(
            Method::PATCH,
            &format!("/api/users/{id}"),
            Some(&admin),
            Some(json!({"file_limit": null})),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(changed["file_limit"], Value::Null);
}

async fn new_accounts_get_the_default_quota_and_file_limit(kind: Kind) {
    let app = TestApp::with(kind, |c| {
        c.default_quota_bytes = Some(QUOTA);
        c.limits.default_file_limit = Some(50);
    })
    .await;
    // Registered and administrator-made accounts take the defaults unless told otherwise.
    let registered = app.register("vera").await;
    assert_eq!(
        (
            registered["quota_bytes"].as_u64(),
            registered["file_limit"].as_u64()
        ),
        (Some(QUOTA), Some(50))
    );
    let (_, admin) = app.member("boss", Role::Manager).await;
    let made = app
        .post(
            "/api/users",
            Some(&admin),
            json!({"username": "walt", "email": "walt@example.com",
                   "password": PASSWORD, "file_limit": 7}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        (made["quota_bytes"].as_u64(), made["file_limit"].as_u64()),
        (Some(QUOTA), Some(7))
    );
}

async fn closed_registration_leaves_account_creation_to_managers(kind: Kind) {
    // GIVEN registration is closed
    let app = TestApp::with(kind, |c| c.limits.registration = Registration::Closed).await;
    // WHEN someone registers
    app.post(
        "/api/auth/register",
        None,
        json!({"username": "xena", "email": "xena@example.com",
               "password": PASSWORD, "password2": PASSWORD}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "registration_closed");
    // THEN no account exists, and a manager can still create one
    assert!(app
        .core
        .store
        .find_user_by_login("xena")
        .await
        .unwrap()
        .is_none());
    let (_, admin) = app.member("boss", Role::Manager).await;
    app.post(
        "/api/users",
        Some(&admin),
        json!({"username": "xena", "email": "xena@example.com",
               "password": PASSWORD}),
    )
    .await
    .expect(StatusCode::CREATED);
    app.try_login("xena", PASSWORD).await.expect(StatusCode::OK);
}

/// A background job that stops moving (its process died) is interrupted once seen so: its
/// archive's room is given back then, not a day later when the charge expires; and should the
/// job wake up and finish after all, its archive does not stay uncounted.
async fn a_stalled_archive_gives_its_room_back_once_seen(kind: Kind) {
    use shared::layout::archives_of;
    use shared::services::JobEvent;
    use shared::store::{JobStatus, ZipJob};
    // GIVEN docs/{a,b,c}.txt and a background job of docs (more than two files), whose
    // archive is held back as it is written
    let base = TestApp::with(kind, |c| {
        c.default_quota_bytes = Some(QUOTA);
        c.zip_sync_max_files = 2;
    })
    .await;
    let (user_id, token, _) = base.user("wade").await;
    let ten = &[b'd'; 10][..];
    base.upload(
        &token,
        &[("path", None, b"docs")],
        &[("a.txt", ten), ("b.txt", ten), ("c.txt", ten)],
    )
    .await
    .expect(StatusCode::CREATED);
    let (app, objects) = crate::flaky::Flaky::around(&base);
    let at = Utc::now();
    let mut job = ZipJob {
        id: "j2".into(),
        user_id: user_id.clone(),
        status: JobStatus::Running,
        name: "docs.zip".into(),
        paths: vec!["docs".into()],
        folder_contents: false,
        files_done: 0,
        files_total: 3,
        bytes_done: 0,
        bytes_total: 30,
        error: None,
        share_id: None,
        kind: Default::default(),
        error_code: None,
        folder: None,
        run: 0,
        cancel_requested: false,
        created_at: at,
        updated_at: at,
        expires_at: at + Duration::hours(24),
    };
    let charge = Charge {
        id: "zip-j2".into(),
        user_id: user_id.clone(),
        bytes: 30,
        files: 0,
        expires_at: job.expires_at,
    };
    let store = app.core.store.clone();
    assert!(store.take_charge(&charge, Caps::default()).await.unwrap());
    store.save_job(&job).await.unwrap();
    objects.put_gate.shut();
    let core = app.core.clone();
    let event = JobEvent {
        user_id: user_id.clone(),
        job_id: "j2".into(),
        run: 0,
    };
    let running = tokio::spawn(async move { core.run_zip_job(&event).await });
    assert_eq!(storage(&app, &token).await, (30, 30, 3));
    // WHEN it saves no progress for longer than a job may stall (as if its process died)
    job.updated_at = at - Duration::minutes(11);
    store.save_job(&job).await.unwrap();
    // THEN its owner sees it interrupted, and its room is free at once
    let seen = app
        .get("/api/zip/j2", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(seen["status"], "failed", "{seen}");
    assert!(
        seen["error"].as_str().unwrap().contains("interrupted"),
        "{seen}"
    );
    assert_eq!(storage(&app, &token).await, (30, 0, 3));
    // WHEN the job wakes up and finishes writing its archive after all
    objects.put_gate.open();
    running.await.expect("the job ends");
    // THEN no archive stays (it would be counted nowhere), and the job stays interrupted
    let archives = app
        .core
        .objects
        .list(&archives_of(&user_id), false, None, 100)
        .await
        .unwrap();
    assert!(archives.items.is_empty(), "{:?}", archives.items);
    let seen = app
        .get("/api/zip/j2", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(seen["status"], "failed", "{seen}");
    assert_eq!(storage(&app, &token).await, (30, 0, 3));
    assert_eq!(usage_matches_listing(&app, &token).await, (30, 3));
}

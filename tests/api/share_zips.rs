//! Visitor ZIP archives of download shares, on every backend: the shared folder or a folder in
//! it as an archive (within the request or as a job of that link), each archive one use,
//! archives kept apart from the owner's, and every refusal before anything is written.

use std::process::Command;
use std::sync::Arc;

use http::{header, Method, StatusCode};
use serde_json::{json, Value};
use shared::layout;
use shared::objects::Listed;
use shared::store::ShareKind;

use crate::backend_tests;
use crate::helpers::{race, Kind, Reply, TestApp};
use crate::share_uploads::visit;
use crate::shares_support::{create_share, put_expired_share};

backend_tests!(
    a_shared_folder_downloads_as_a_zip,
    large_archives_are_jobs_of_their_link,
    each_archive_is_one_use,
    zip_requests_are_checked_before_anything_is_written,
    archives_count_against_the_owners_quota,
    job_ids_that_cannot_be_are_not_found,
);

/// zoe's home: private/photos/{a.txt, sub/b.txt} and private/secret.txt (20 bytes in
/// photos); her id and token.
async fn owner(app: &TestApp) -> (String, String) {
    let (id, token, _) = app.user("zoe").await;
    for (parent, name) in [("", "private"), ("private", "photos")] {
        app.post(
            "/api/files/create-folder",
            Some(&token),
            json!({"parent_path": parent, "folder_name": name}),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    let uploads: [(&[u8], &str, &[u8]); 3] = [
        (b"private/photos", "a.txt", b"aaaaaaaaaa"),
        (b"private/photos/sub", "b.txt", b"bbbbbbbbbb"),
        (b"private", "secret.txt", b"secret"),
    ];
    for (folder, name, data) in uploads {
        app.upload(&token, &[("path", None, folder)], &[(name, data)])
            .await
            .expect(StatusCode::CREATED);
    }
    (id, token)
}

/// A share with `body`'s fields; its id.
async fn share(app: &TestApp, token: &str, body: Value) -> String {
    let share = create_share(app, token, body).await;
    share["id"].as_str().unwrap().to_owned()
}

async fn photos_share(app: &TestApp, token: &str) -> String {
    share(
        app,
        token,
        json!({"path": "private/photos", "kind": "download"}),
    )
    .await
}

async fn zip(app: &TestApp, share: &str, query: &str) -> Reply {
    let uri = format!("/api/s/{share}/download-zip{query}");
    visit(app, Method::GET, &uri, &[], None).await
}

/// The entry names of the archive at `url` (read by Python's zipfile).
async fn entries(app: &TestApp, url: &str) -> Vec<String> {
    let raw = app.fetch(Method::GET, url, &[], Vec::new()).await;
    assert_eq!(raw.status, StatusCode::OK);
    let disposition = raw.headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.zip");
    std::fs::write(&path, &raw.body).unwrap();
    let script = "import json, sys, zipfile\n\
                  print(json.dumps(sorted(zipfile.ZipFile(sys.argv[1]).namelist())))";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn uses(app: &TestApp, token: &str, share: &str) -> u64 {
    let view = app
        .get(&format!("/api/shares/{share}"), Some(token))
        .await
        .expect(StatusCode::OK);
    view["uses"].as_u64().unwrap()
}

/// Archive objects under `prefix`.
async fn archives_under(app: &TestApp, prefix: &str) -> usize {
    let page = app
        .core
        .objects
        .list(prefix, false, None, 1000)
        .await
        .unwrap();
    let objects = page.items.iter();
    objects.filter(|i| matches!(i, Listed::Object(_))).count()
}

async fn poll(app: &TestApp, share: &str, job_id: &str) -> Value {
    for _ in 0..300 {
        let job = visit(
            app,
            Method::GET,
            &format!("/api/s/{share}/zip/{job_id}"),
            &[],
            None,
        )
        .await
        .expect(StatusCode::OK);
        if job["status"] != "running" {
            return job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("job {job_id} still running after 30 s");
}

/// Neither the owner's id or name nor the folder above the shared one is in `text`.
fn names_nothing_of_the_owner(text: &str, owner_id: &str) {
    for secret in [owner_id, "zoe", "private"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

async fn a_shared_folder_downloads_as_a_zip(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (owner_id, token) = owner(&app).await;
    let id = photos_share(&app, &token).await;
    // Small: written within the request, then a redirect to the archive.
    let reply = zip(&app, &id, "").await;
    assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.body);
    let location = reply.headers[header::LOCATION].to_str().unwrap().to_owned();
    names_nothing_of_the_owner(&location, &owner_id);
    let names = entries(&app, &location).await;
    assert!(names.contains(&"a.txt".to_owned()), "{names:?}");
    assert!(names.contains(&"sub/b.txt".to_owned()), "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| !n.contains("secret") && !n.contains("photos")),
        "{names:?}"
    );
    // A folder inside the shared one.
    let reply = zip(&app, &id, "?path=sub").await;
    let location = reply.headers[header::LOCATION].to_str().unwrap().to_owned();
    assert_eq!(entries(&app, &location).await, ["b.txt"]);
    // As JSON: the job, done, named after the folder.
    let job = zip(&app, &id, "?redirect=false")
        .await
        .expect(StatusCode::OK);
    assert_eq!(job["status"], "done");
    assert_eq!(job["name"], "photos.zip");
    names_nothing_of_the_owner(&job.to_string(), &owner_id);
    // The job is the link's to poll; HEAD checks and writes nothing.
    let job_id = job["job_id"].as_str().unwrap();
    let polled = visit(
        &app,
        Method::GET,
        &format!("/api/s/{id}/zip/{job_id}"),
        &[],
        None,
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(polled["status"], "done");
    let head = visit(
        &app,
        Method::HEAD,
        &format!("/api/s/{id}/download-zip"),
        &[],
        None,
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(uses(&app, &token, &id).await, 3);
    // The archives are the link's, apart from the owner's own.
    assert_eq!(
        archives_under(&app, &layout::share_archives_of(&id)).await,
        3
    );
    assert_eq!(
        archives_under(&app, &layout::archives_of(&owner_id)).await,
        0
    );
}

async fn large_archives_are_jobs_of_their_link(kind: Kind) {
    let app = TestApp::with(kind, |c| c.zip_sync_max_files = 1).await;
    let (owner_id, token) = owner(&app).await;
    let id = photos_share(&app, &token).await;
    let other = photos_share(&app, &token).await;
    let started = zip(&app, &id, "").await;
    let job = started.body.clone();
    assert_eq!(started.status, StatusCode::ACCEPTED, "{job}");
    let job_id = job["job_id"].as_str().unwrap().to_owned();
    let location = started.headers[header::LOCATION].to_str().unwrap();
    assert_eq!(location, format!("/api/s/{id}/zip/{job_id}"));
    let done = poll(&app, &id, &job_id).await;
    assert_eq!(done["status"], "done", "{done}");
    let url = done["url"].as_str().unwrap();
    names_nothing_of_the_owner(url, &owner_id);
    let names = entries(&app, url).await;
    assert!(names.contains(&"sub/b.txt".to_owned()), "{names:?}");
    // Another link of the same folder does not know the job; nor does a link know the
    // owner's own jobs.
    visit(
        &app,
        Method::GET,
        &format!("/api/s/{other}/zip/{job_id}"),
        &[],
        None,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    let own = app
        .post("/api/zip", Some(&token), json!({"paths": ["private"]}))
        .await
        .expect(StatusCode::ACCEPTED);
    let own_id = own["job_id"].as_str().unwrap();
    visit(
        &app,
        Method::GET,
        &format!("/api/s/{id}/zip/{own_id}"),
        &[],
        None,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    visit(
        &app,
        Method::GET,
        &format!("/api/s/{id}/zip/not-a-job"),
        &[],
        None,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    // A revoked link's jobs are gone with it.
    app.call(
        Method::DELETE,
        &format!("/api/shares/{id}"),
        Some(&token),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    visit(
        &app,
        Method::GET,
        &format!("/api/s/{id}/zip/{job_id}"),
        &[],
        None,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "share_not_found");
}

async fn each_archive_is_one_use(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token) = owner(&app).await;
    let id = share(
        &app,
        &token,
        json!({"path": "private/photos", "kind": "download", "max_uses": 2}),
    )
    .await;
    let job = zip(&app, &id, "?redirect=false")
        .await
        .expect(StatusCode::OK);
    zip(&app, &id, "?path=sub").await.expect(StatusCode::FOUND);
    assert_eq!(uses(&app, &token, &id).await, 2);
    zip(&app, &id, "")
        .await
        .expect_error(StatusCode::GONE, "share_expired");
    let head = visit(
        &app,
        Method::HEAD,
        &format!("/api/s/{id}/download-zip"),
        &[],
        None,
    )
    .await;
    assert_eq!(head.status, StatusCode::GONE);
    // The archive made with the last use can still be fetched.
    let job_id = job["job_id"].as_str().unwrap();
    let polled = visit(
        &app,
        Method::GET,
        &format!("/api/s/{id}/zip/{job_id}"),
        &[],
        None,
    )
    .await
    .expect(StatusCode::OK);
    assert!(polled["url"].is_string(), "{polled}");
    assert_eq!(uses(&app, &token, &id).await, 2);
    // Parallel requests take exactly the uses there are.
    let id = share(
        &app,
        &token,
        json!({"path": "private/photos", "kind": "download", "max_uses": 3}),
    )
    .await;
    let app = Arc::new(app);
    let outcomes = race(10, |_| {
        let (app, id) = (app.clone(), id.clone());
        async move { zip(&app, &id, "").await }
    })
    .await;
    let found = outcomes
        .iter()
        .filter(|r| r.status == StatusCode::FOUND)
        .count();
    let gone = outcomes
        .iter()
        .filter(|r| r.status == StatusCode::GONE)
        .count();
    assert_eq!((found, gone), (3, 7));
    assert_eq!(uses(&app, &token, &id).await, 3);
    assert_eq!(
        archives_under(&app, &layout::share_archives_of(&id)).await,
        3
    );
}

async fn zip_requests_are_checked_before_anything_is_written(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (owner_id, token) = owner(&app).await;
    let id = photos_share(&app, &token).await;
    for query in [
        "?path=..",
        "?path=../secret.txt",
        "?path=%2e%2e",
        "?path=sub/../..",
        "?path=a%5Cb",
    ] {
        zip(&app, &id, query)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "invalid_path");
    }
    let refused = zip(&app, &id, "?path=a.txt")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "not_a_directory");
    names_nothing_of_the_owner(&refused.to_string(), &owner_id);
    zip(&app, &id, "?path=nothing")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(uses(&app, &token, &id).await, 0);
    // A link to one file has no folder to archive; an upload link cannot be read.
    let file = share(
        &app,
        &token,
        json!({"path": "private/photos/a.txt", "kind": "download"}),
    )
    .await;
    zip(&app, &file, "")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "not_a_directory");
    let drop = share(
        &app,
        &token,
        json!({"path": "private/photos", "kind": "upload"}),
    )
    .await;
    zip(&app, &drop, "")
        .await
        .expect_error(StatusCode::FORBIDDEN, "share_action_not_allowed");
    // A password-protected link: the password or a token first.
    let locked = share(
        &app,
        &token,
        json!({"path": "private/photos", "kind": "download", "password": "a long zip password"}),
    )
    .await;
    zip(&app, &locked, "")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "share_password_required");
    let uri = format!("/api/s/{locked}/download-zip");
    visit(
        &app,
        Method::GET,
        &uri,
        &[("x-share-password", "wrong password!")],
        None,
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "invalid_share_password");
    let reply = visit(
        &app,
        Method::GET,
        &uri,
        &[("x-share-password", "a long zip password")],
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.body);
    assert_eq!(uses(&app, &token, &locked).await, 1);
    // Expired and deleted links.
    let expired = put_expired_share(&app, &owner_id, "private/photos", ShareKind::Download).await;
    zip(&app, &expired, "")
        .await
        .expect_error(StatusCode::GONE, "share_expired");
    app.call(
        Method::DELETE,
        &format!("/api/shares/{id}"),
        Some(&token),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    zip(&app, &id, "")
        .await
        .expect_error(StatusCode::NOT_FOUND, "share_not_found");
    // Only the one archive the password unlocked was written.
    assert_eq!(archives_under(&app, "archives/").await, 1);
}

async fn archives_count_against_the_owners_quota(kind: Kind) {
    // 26 bytes stored; a 20-byte archive of photos does not fit in 40.
    let app = TestApp::with(kind, |c| c.default_quota_bytes = Some(40)).await;
    let (_, token) = owner(&app).await;
    let id = photos_share(&app, &token).await;
    let refused = zip(&app, &id, "")
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded");
    let message = refused["error"].as_str().unwrap();
    assert!(
        !message.contains("40") && !message.contains("26"),
        "{message}"
    );
    assert_eq!(uses(&app, &token, &id).await, 0);
    // Within the room left it works, and the archive is charged to the owner.
    let reply = zip(&app, &id, "?path=sub").await;
    assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.body);
    let info = app
        .get("/api/auth/user-info", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(info["storage"]["reserved_bytes"], 10, "{info}");
    assert_eq!(uses(&app, &token, &id).await, 1);
}

async fn job_ids_that_cannot_be_are_not_found(kind: Kind) {
    // GIVEN a download share and its owner
    let app = TestApp::new(kind).await;
    let (_, token) = owner(&app).await;
    let id = photos_share(&app, &token).await;
    // WHEN a job is asked for by an id of 2,000 characters (over DynamoDB's key limit) or one
    // of other characters than a UUID's
    for job_id in [
        "j".repeat(2000),
        "{00000000-0000-0000-0000-00000000000g}".into(),
    ] {
        // THEN the link's route and the owner's answer 404, not 500
        visit(
            &app,
            Method::GET,
            &format!("/api/s/{id}/zip/{job_id}"),
            &[],
            None,
        )
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
        app.get(&format!("/api/zip/{job_id}"), Some(&token))
            .await
            .expect_error(StatusCode::NOT_FOUND, "not_found");
    }
    // AND a well-formed unknown id is still simply not found
    let unknown = uuid::Uuid::new_v4();
    app.get(&format!("/api/zip/{unknown}"), Some(&token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
}

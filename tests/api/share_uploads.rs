//! Visitor uploads into upload shares, on every backend: files land in the owner's folder and
//! count against the owner's quota, never replace anything, upload ids work only on the link
//! that issued them, completions count uses exactly, and nothing names the owner.

use axum::body::Body;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{race, Kind, Reply, TestApp};
use crate::shares_support::{create_share, random_share_id};
use shared::store::{Share, ShareKind};

backend_tests!(
    visitor_uploads_land_in_the_owners_folder,
    visitor_uploads_never_replace_a_file,
    upload_ids_work_only_on_their_link,
    links_of_one_kind_refuse_the_other,
    visitor_uploads_count_against_the_owners_quota,
    completions_count_uses_exactly,
    uploads_end_with_their_link,
);

/// A visitor's request: `headers` (share credentials) and an optional JSON body.
pub async fn visit(
    app: &TestApp,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let mut req = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let body = match body {
        Some(v) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    app.send(req.body(body).expect("request")).await
}

/// olga's home: the folder private/inbox; her id and token.
async fn owner(app: &TestApp) -> (String, String) {
    let (id, token, _) = app.user("olga").await;
    for (parent, name) in [("", "private"), ("private", "inbox")] {
        app.post(
            "/api/files/create-folder",
            Some(&token),
            json!({"parent_path": parent, "folder_name": name}),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    (id, token)
}

/// A share of private/inbox with `extra` fields; its id.
async fn inbox_share(app: &TestApp, token: &str, kind: &str, extra: Value) -> String {
    let mut body = json!({"path": "private/inbox", "kind": kind});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let share = create_share(app, token, body).await;
    share["id"].as_str().unwrap().to_owned()
}

/// Starts a visitor upload of `size` bytes at `path`.
async fn start(app: &TestApp, share: &str, path: &str, size: usize) -> Reply {
    visit(
        app,
        Method::POST,
        &format!("/api/s/{share}/uploads"),
        &[],
        Some(json!({"path": path, "size": size})),
    )
    .await
}

/// PUTs each part of `upload` (one part: test files are small); the parts to complete with.
async fn send_parts(app: &TestApp, upload: &Value, data: &[u8]) -> Value {
    let mut done = Vec::new();
    for part in upload["parts"].as_array().unwrap() {
        let url = part["url"].as_str().unwrap();
        let sent = app.fetch(Method::PUT, url, &[], data.to_vec()).await;
        assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);
        let etag = sent.headers["etag"].to_str().unwrap().to_owned();
        done.push(json!({"part_number": part["part_number"], "etag": etag}));
    }
    json!({ "parts": done })
}

async fn complete(app: &TestApp, share: &str, upload_id: &str, parts: Value) -> Reply {
    let uri = format!("/api/s/{share}/uploads/{upload_id}/complete");
    visit(app, Method::POST, &uri, &[], Some(parts)).await
}

/// Starts, sends and completes an upload of `data` at `path`; the completion's answer.
async fn upload(app: &TestApp, share: &str, path: &str, data: &[u8]) -> Reply {
    let started = start(app, share, path, data.len())
        .await
        .expect(StatusCode::CREATED);
    let parts = send_parts(app, &started, data).await;
    let id = started["upload_id"].as_str().unwrap();
    complete(app, share, id, parts).await
}

/// The claims of a ticket (an upload id), as anyone holding it can read them.
fn claims(ticket: &str) -> String {
    let payload = ticket.split('.').nth(1).expect("a JWT");
    String::from_utf8(URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("utf-8")
}

/// The owner's file as the owner downloads it.
async fn owner_file(app: &TestApp, token: &str, path: &str) -> Vec<u8> {
    let req = Request::builder()
        .uri(format!("/api/files/download?path={path}&redirect=false"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let link = app.send(req).await.expect(StatusCode::OK);
    let url = link["url"].as_str().unwrap();
    let got = app.fetch(Method::GET, url, &[], Vec::new()).await;
    assert_eq!(got.status, StatusCode::OK);
    got.body.to_vec()
}

/// Names in the owner's folder `path`.
async fn names_in(app: &TestApp, token: &str, path: &str) -> Vec<String> {
    let listing = app
        .get(&format!("/api/files/list?path={path}"), Some(token))
        .await
        .expect(StatusCode::OK);
    let items = listing["items"].as_array().unwrap().iter();
    let mut names: Vec<String> = items
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// (used_bytes, reserved_bytes) of the owner.
async fn storage(app: &TestApp, token: &str) -> (u64, u64) {
    let info = app
        .get("/api/auth/user-info", Some(token))
        .await
        .expect(StatusCode::OK);
    let n = |name: &str| info["storage"][name].as_u64().expect(name);
    (n("used_bytes"), n("reserved_bytes"))
}

async fn uses(app: &TestApp, token: &str, share: &str) -> u64 {
    let view = app
        .get(&format!("/api/shares/{share}"), Some(token))
        .await
        .expect(StatusCode::OK);
    view["uses"].as_u64().unwrap()
}

async fn visitor_uploads_land_in_the_owners_folder(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (owner_id, token) = owner(&app).await;
    let share = inbox_share(&app, &token, "upload", json!({})).await;
    assert_eq!(storage(&app, &token).await, (0, 0));
    let started = start(&app, &share, "report.txt", 11)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(started["path"], "report.txt");
    // The upload id is readable by whoever holds it: it names the link, not the owner.
    let id = started["upload_id"].as_str().unwrap().to_owned();
    for secret in [owner_id.as_str(), "olga", "private", "inbox"] {
        assert!(!claims(&id).contains(secret), "{secret} in {}", claims(&id));
        // On AWS the part URLs are presigned S3 URLs, which name the key (README: a known
        // limit); locally nothing in the answer names the owner.
        if kind == Kind::Embedded {
            assert!(
                !started.to_string().contains(secret),
                "{secret} in {started}"
            );
        }
    }
    // The room is held for the owner from the start.
    assert_eq!(storage(&app, &token).await, (0, 11));
    let status = visit(
        &app,
        Method::GET,
        &format!("/api/s/{share}/uploads/{id}"),
        &[],
        None,
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(status["path"], "report.txt");
    assert_eq!(status["parts"].as_array().unwrap().len(), 1);
    let parts = send_parts(&app, &started, b"hello owner").await;
    let item = complete(&app, &share, &id, parts)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(item["path"], "report.txt");
    assert_eq!(item["name"], "report.txt");
    assert_eq!(item["size"], 11);
    // The owner sees it at once, counted in the owner's usage; the upload has ended.
    assert_eq!(
        names_in(&app, &token, "private/inbox").await,
        ["report.txt"]
    );
    assert_eq!(
        owner_file(&app, &token, "private/inbox/report.txt").await,
        b"hello owner"
    );
    assert_eq!(storage(&app, &token).await, (11, 0));
    assert_eq!(uses(&app, &token, &share).await, 1);
    visit(
        &app,
        Method::GET,
        &format!("/api/s/{share}/uploads/{id}"),
        &[],
        None,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "upload_not_found");
    // Folders inside the shared one are made as needed.
    let item = upload(&app, &share, "sub/x.txt", b"x")
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(item["path"], "sub/x.txt");
    assert_eq!(names_in(&app, &token, "private/inbox/sub").await, ["x.txt"]);
    // Nothing outside the shared folder can be named.
    for path in [
        "../escape.txt",
        "sub/../../escape.txt",
        "a\\..\\b.txt",
        "./a.txt",
        "",
        "/abs.txt",
    ] {
        let reply = start(&app, &share, path, 1).await;
        reply.expect_error(StatusCode::BAD_REQUEST, "invalid_path");
    }
    assert_eq!(names_in(&app, &token, "private").await, ["inbox"]);
    assert_eq!(names_in(&app, &token, "").await, ["private"]);
    // A file where a folder is wanted: refused, in the link's terms.
    let refused = start(&app, &share, "report.txt/deeper.txt", 1)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "not_a_directory");
    assert!(!refused.to_string().contains("private"), "{refused}");
    // Uploads through a password-protected link need the password or a token.
    let locked = inbox_share(
        &app,
        &token,
        "upload",
        json!({"password": "a long drop password"}),
    )
    .await;
    start(&app, &locked, "p.txt", 1)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "share_password_required");
    let with_password = [("x-share-password", "a long drop password")];
    let started = visit(
        &app,
        Method::POST,
        &format!("/api/s/{locked}/uploads"),
        &with_password,
        Some(json!({"path": "p.txt", "size": 1})),
    )
    .await
    .expect(StatusCode::CREATED);
    let id = started["upload_id"].as_str().unwrap();
    visit(
        &app,
        Method::DELETE,
        &format!("/api/s/{locked}/uploads/{id}"),
        &[],
        None,
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "share_password_required");
    visit(
        &app,
        Method::DELETE,
        &format!("/api/s/{locked}/uploads/{id}"),
        &with_password,
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    assert_eq!(storage(&app, &token).await, (12, 0));
}

async fn visitor_uploads_never_replace_a_file(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token) = owner(&app).await;
    let share = inbox_share(&app, &token, "upload", json!({})).await;
    app.upload(
        &token,
        &[("path", None, b"private/inbox")],
        &[("a.txt", b"owner's a")],
    )
    .await
    .expect(StatusCode::CREATED);
    // A taken name becomes the first free numbered one.
    let item = upload(&app, &share, "a.txt", b"visitor 1")
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(item["path"], "a (1).txt");
    let item = upload(&app, &share, "a.txt", b"visitor 2")
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(item["path"], "a (2).txt");
    assert_eq!(
        owner_file(&app, &token, "private/inbox/a.txt").await,
        b"owner's a"
    );
    assert_eq!(
        owner_file(&app, &token, "private/inbox/a%20(1).txt").await,
        b"visitor 1"
    );
    // A folder's name is taken too.
    app.post(
        "/api/files/create-folder",
        Some(&token),
        json!({"parent_path": "private/inbox", "folder_name": "notes"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let started = start(&app, &share, "notes", 1)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(started["path"], "notes (1)");
    let id = started["upload_id"].as_str().unwrap();
    visit(
        &app,
        Method::DELETE,
        &format!("/api/s/{share}/uploads/{id}"),
        &[],
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    // A file that appears at the name before completion wins: the visitor's is refused.
    let started = start(&app, &share, "b.txt", 9)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(started["path"], "b.txt");
    let parts = send_parts(&app, &started, b"visitor b").await;
    app.upload(
        &token,
        &[("path", None, b"private/inbox")],
        &[("b.txt", b"owner's b")],
    )
    .await
    .expect(StatusCode::CREATED);
    let id = started["upload_id"].as_str().unwrap();
    let refused = complete(&app, &share, id, parts)
        .await
        .expect_error(StatusCode::CONFLICT, "already_exists");
    assert!(!refused.to_string().contains("private"), "{refused}");
    assert_eq!(
        owner_file(&app, &token, "private/inbox/b.txt").await,
        b"owner's b"
    );
    // The refused completion took no use; the upload can still be given up.
    assert_eq!(uses(&app, &token, &share).await, 2);
    visit(
        &app,
        Method::DELETE,
        &format!("/api/s/{share}/uploads/{id}"),
        &[],
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    // A visitor cannot ask to replace.
    visit(
        &app,
        Method::POST,
        &format!("/api/s/{share}/uploads"),
        &[],
        Some(json!({"path": "a.txt", "size": 1, "overwrite": true})),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "invalid_json");
    assert_eq!(
        names_in(&app, &token, "private/inbox").await,
        ["a (1).txt", "a (2).txt", "a.txt", "b.txt", "notes"]
    );
}

async fn upload_ids_work_only_on_their_link(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token) = owner(&app).await;
    let first = inbox_share(&app, &token, "upload", json!({})).await;
    let second = inbox_share(&app, &token, "upload", json!({})).await;
    let started = start(&app, &first, "a.txt", 1)
        .await
        .expect(StatusCode::CREATED);
    let id = started["upload_id"].as_str().unwrap();
    let parts = send_parts(&app, &started, b"a").await;
    // Another link of the same folder does not know it.
    visit(
        &app,
        Method::GET,
        &format!("/api/s/{second}/uploads/{id}"),
        &[],
        None,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "upload_not_found");
    complete(&app, &second, id, parts.clone())
        .await
        .expect_error(StatusCode::NOT_FOUND, "upload_not_found");
    visit(
        &app,
        Method::DELETE,
        &format!("/api/s/{second}/uploads/{id}"),
        &[],
        None,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "upload_not_found");
    // Nor do the owner's routes, even for the owner.
    app.get(&format!("/api/files/uploads/{id}"), Some(&token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "upload_not_found");
    app.post(
        &format!("/api/files/uploads/{id}/complete"),
        Some(&token),
        parts.clone(),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "upload_not_found");
    // And an owner's upload id is nothing on a link.
    let own = app
        .post(
            "/api/files/uploads",
            Some(&token),
            json!({"path": "private/inbox/own.txt", "size": 1}),
        )
        .await
        .expect(StatusCode::CREATED);
    let own_id = own["upload_id"].as_str().unwrap();
    visit(
        &app,
        Method::GET,
        &format!("/api/s/{first}/uploads/{own_id}"),
        &[],
        None,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "upload_not_found");
    visit(
        &app,
        Method::GET,
        &format!("/api/s/{first}/uploads/not-an-id"),
        &[],
        None,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "upload_not_found");
    // A revoked link ends its uploads at once.
    app.call(
        Method::DELETE,
        &format!("/api/shares/{first}"),
        Some(&token),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    visit(
        &app,
        Method::GET,
        &format!("/api/s/{first}/uploads/{id}"),
        &[],
        None,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "share_not_found");
    complete(&app, &first, id, parts)
        .await
        .expect_error(StatusCode::NOT_FOUND, "share_not_found");
    assert_eq!(
        names_in(&app, &token, "private/inbox").await,
        Vec::<String>::new()
    );
}

async fn links_of_one_kind_refuse_the_other(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token) = owner(&app).await;
    app.upload(
        &token,
        &[("path", None, b"private/inbox")],
        &[("a.txt", b"a")],
    )
    .await
    .expect(StatusCode::CREATED);
    let download = inbox_share(&app, &token, "download", json!({})).await;
    start(&app, &download, "new.txt", 1)
        .await
        .expect_error(StatusCode::FORBIDDEN, "share_action_not_allowed");
    let drop = inbox_share(&app, &token, "upload", json!({})).await;
    for uri in [
        format!("/api/s/{drop}/list"),
        format!("/api/s/{drop}/download?path=a.txt"),
        format!("/api/s/{drop}/download-zip"),
    ] {
        visit(&app, Method::GET, &uri, &[], None)
            .await
            .expect_error(StatusCode::FORBIDDEN, "share_action_not_allowed");
    }
    assert_eq!(names_in(&app, &token, "private/inbox").await, ["a.txt"]);
    assert_eq!(uses(&app, &token, &download).await, 0);
    assert_eq!(uses(&app, &token, &drop).await, 0);
}

async fn visitor_uploads_count_against_the_owners_quota(kind: Kind) {
    let app = TestApp::with(kind, |c| c.default_quota_bytes = Some(100)).await;
    let (_, token) = owner(&app).await;
    let share = inbox_share(&app, &token, "upload", json!({})).await;
    let first = start(&app, &share, "a.bin", 60)
        .await
        .expect(StatusCode::CREATED);
    // The first upload holds its room: a second does not fit, and the answer tells the
    // visitor nothing of the owner's quota or usage.
    let refused = start(&app, &share, "b.bin", 60)
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded");
    let message = refused["error"].as_str().unwrap();
    assert!(
        !message.contains("100") && !message.contains("60"),
        "{message}"
    );
    let id = first["upload_id"].as_str().unwrap();
    visit(
        &app,
        Method::DELETE,
        &format!("/api/s/{share}/uploads/{id}"),
        &[],
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    assert_eq!(storage(&app, &token).await, (0, 0));
    let item = upload(&app, &share, "b.bin", &[7; 60])
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(item["size"], 60);
    assert_eq!(storage(&app, &token).await, (60, 0));
    start(&app, &share, "c.bin", 41)
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded");
    assert_eq!(uses(&app, &token, &share).await, 1);
}

async fn completions_count_uses_exactly(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token) = owner(&app).await;
    let share = inbox_share(&app, &token, "upload", json!({"max_uses": 2})).await;
    // Starting counts nothing: three uploads are ready to complete.
    let mut ready = Vec::new();
    for n in 0..3 {
        let started = start(&app, &share, &format!("f{n}.txt"), 2)
            .await
            .expect(StatusCode::CREATED);
        let parts = send_parts(&app, &started, b"ok").await;
        ready.push((started["upload_id"].as_str().unwrap().to_owned(), parts));
    }
    assert_eq!(uses(&app, &token, &share).await, 0);
    let app = std::sync::Arc::new(app);
    let outcomes = race(3, |i| {
        let (app, share, (id, parts)) = (app.clone(), share.clone(), ready[i].clone());
        async move { complete(&app, &share, &id, parts).await }
    })
    .await;
    let mut statuses: Vec<u16> = outcomes.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [201, 201, 410],
        "{:?}",
        outcomes.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    let refused = outcomes
        .iter()
        .find(|r| r.status == StatusCode::GONE)
        .unwrap();
    assert_eq!(refused.body["code"], "share_expired");
    assert_eq!(uses(&app, &token, &share).await, 2);
    assert_eq!(names_in(&app, &token, "private/inbox").await.len(), 2);
    // Used up: no new upload starts, and the one refused can still be given up.
    start(&app, &share, "late.txt", 1)
        .await
        .expect_error(StatusCode::GONE, "share_expired");
    let i = outcomes
        .iter()
        .position(|r| r.status == StatusCode::GONE)
        .unwrap();
    let id = &ready[i].0;
    visit(
        &app,
        Method::DELETE,
        &format!("/api/s/{share}/uploads/{id}"),
        &[],
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    assert_eq!(storage(&app, &token).await, (4, 0));
}

/// The RFC 3339 time `field` of `value`, in epoch seconds.
fn epoch(value: &Value, field: &str) -> i64 {
    let text = value[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {value}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp()
}

async fn uploads_end_with_their_link(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (owner_id, token) = owner(&app).await;
    // A link of a week: its uploads last the usual day.
    let week = inbox_share(&app, &token, "upload", json!({"expires_in_days": 7})).await;
    let view = app
        .get(&format!("/api/shares/{week}"), Some(&token))
        .await
        .expect(StatusCode::OK);
    let started = start(&app, &week, "a.txt", 1)
        .await
        .expect(StatusCode::CREATED);
    let day = epoch(&started, "upload_expires_at");
    assert!(
        day < epoch(&view, "expires_at") - 5 * 24 * 3600,
        "{started} {view}"
    );
    // A link that ends within the hour: its uploads (and the room they hold) end with it.
    let now = chrono::Utc::now();
    let share = Share {
        id: random_share_id(),
        user_id: owner_id.clone(),
        path: "private/inbox".into(),
        kind: ShareKind::Upload,
        is_folder: true,
        password_hash: None,
        password_version: 0,
        max_uses: None,
        uses: 0,
        note: None,
        created_at: now,
        updated_at: now,
        expires_at: now + chrono::Duration::minutes(30),
    };
    assert!(app.core.store.create_share(&share, 100).await.unwrap());
    let started = start(&app, &share.id, "b.txt", 1)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        epoch(&started, "upload_expires_at"),
        share.expires_at.timestamp()
    );
    assert!(epoch(&started, "upload_expires_at") < day);
}

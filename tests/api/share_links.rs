//! Visitor access to share links, on every backend: what a link shows before and after it is
//! unlocked (never anything of its owner), guessing ids, downloads of a file and inside a
//! folder, escaping the shared folder, listing pages, the use counter under parallel
//! downloads and resumes, dead links, and each kind used for what it is not for.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{Duration, Utc};
use http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};
use shared::store::{Share, ShareKind};

use crate::backend_tests;
use crate::helpers::{race, Kind, Raw, Reply, TestApp};

backend_tests!(
    a_link_shows_nothing_of_its_owner,
    guessing_ids_is_answered_404_then_429,
    files_are_downloaded_as_attachments,
    nothing_outside_the_shared_folder_is_reachable,
    a_shared_folder_is_listed_in_pages,
    parallel_downloads_take_exactly_the_uses_left,
    a_resumed_download_takes_no_use,
    a_resume_without_a_started_download_takes_a_use,
    parallel_guesses_stop_at_the_bound,
    found_links_never_count_as_misses,
    expired_and_deleted_links_are_dead,
    an_upload_link_cannot_read,
    a_visitor_gets_a_download_url_instead,
    a_visitor_url_names_nothing_and_ends_with_its_link,
);

/// Creates a share as `token`'s user; its JSON (201).
pub(crate) async fn share(app: &TestApp, token: &str, body: Value) -> Value {
    app.post("/api/shares", Some(token), body)
        .await
        .expect(StatusCode::CREATED)
}

/// The id of a new share of `path`.
pub(crate) async fn share_id(app: &TestApp, token: &str, body: Value) -> String {
    share(app, token, body).await["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// A visitor's request with these headers, from `peer`: a JSON answer.
pub(crate) async fn visit_by(
    app: &TestApp,
    peer: SocketAddr,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    app.send_by(peer, req.body(Body::empty()).expect("request"))
        .await
}

/// A visitor's GET from 127.0.0.1: a JSON answer.
pub(crate) async fn visit(app: &TestApp, uri: &str, headers: &[(&str, &str)]) -> Reply {
    visit_by(app, peer(1), Method::GET, uri, headers).await
}

/// A visitor's request whose answer is read as bytes (downloads).
pub(crate) async fn visit_raw(
    app: &TestApp,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
) -> Raw {
    let mut req = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    app.send_raw(req.body(Body::empty()).expect("request"))
        .await
}

/// 203.0.113.n, port 40000.
pub(crate) fn peer(n: u8) -> SocketAddr {
    SocketAddr::from(([203, 0, 113, n], 40000))
}

fn header_of(raw: &Raw, name: header::HeaderName) -> String {
    raw.headers
        .get(name)
        .map(|v| v.to_str().expect("header").to_owned())
        .unwrap_or_default()
}

/// The error code of a raw answer.
fn code_of(raw: &Raw) -> String {
    let body: Value = serde_json::from_slice(&raw.body).unwrap_or(Value::Null);
    body["code"].as_str().unwrap_or_default().to_owned()
}

/// The file bytes a download answer gives: the body locally, the presigned URL's on AWS
/// (whose `Content-Disposition` must be an attachment).
async fn downloaded(app: &TestApp, raw: Raw) -> Vec<u8> {
    match raw.status {
        StatusCode::OK => {
            assert!(header_of(&raw, header::CONTENT_DISPOSITION).starts_with("attachment"));
            raw.body.to_vec()
        }
        StatusCode::FOUND => {
            let location = header_of(&raw, header::LOCATION);
            assert!(
                location.contains("response-content-disposition=attachment"),
                "{location}"
            );
            let fetched = app.fetch(Method::GET, &location, &[], Vec::new()).await;
            assert_eq!(fetched.status, StatusCode::OK);
            fetched.body.to_vec()
        }
        other => panic!(
            "not a download: {other} {}",
            String::from_utf8_lossy(&raw.body)
        ),
    }
}

/// An owner with `photos` (a.jpg, b.jpg, sub/c.jpg) below `private-parent`, and
/// `private-parent/secret.txt` and `private-parent/photos2/leak.txt` beside it.
async fn owner_with_photos(app: &TestApp) -> (String, String) {
    let (id, token, _) = app.user("olivia").await;
    app.upload(
        &token,
        &[("path", None, b"private-parent/photos")],
        &[("a.jpg", b"aaaa"), ("b.jpg", b"bbbbbb")],
    )
    .await
    .expect(StatusCode::CREATED);
    app.upload(
        &token,
        &[("path", None, b"private-parent/photos/sub")],
        &[("c.jpg", b"cc")],
    )
    .await
    .expect(StatusCode::CREATED);
    app.upload(
        &token,
        &[("path", None, b"private-parent")],
        &[("secret.txt", b"top secret")],
    )
    .await
    .expect(StatusCode::CREATED);
    // A sibling whose name starts with the shared folder's: a prefix, not a folder below it.
    app.upload(
        &token,
        &[("path", None, b"private-parent/photos2")],
        &[("leak.txt", b"not shared")],
    )
    .await
    .expect(StatusCode::CREATED);
    (id, token)
}

/// Fails if `text` names the owner (id, username, email) or the folder above the share.
#[track_caller]
fn assert_anonymous(text: &str, owner_id: &str) {
    for leak in [
        owner_id,
        "olivia",
        "example.com",
        "private-parent",
        "users/",
    ] {
        assert!(!text.contains(leak), "{leak} leaks in {text}");
    }
}

/// Every header value of an answer, as one text.
fn headers_text(headers: &http::HeaderMap) -> String {
    headers
        .iter()
        .map(|(k, v)| format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())))
        .collect()
}

async fn a_link_shows_nothing_of_its_owner(kind: Kind) {
    // GIVEN a password-protected share of a folder below another folder
    let app = TestApp::new(kind).await;
    let (owner_id, token) = owner_with_photos(&app).await;
    let body = json!({"path": "private-parent/photos", "kind": "download",
                      "password": "Share-Pass-2718", "note": "for olivia's friends"});
    let id = share_id(&app, &token, body).await;
    // WHEN a visitor opens it without the password
    let locked = visit(&app, &format!("/api/s/{id}"), &[]).await;
    assert_eq!(locked.status, StatusCode::OK, "{}", locked.body);
    // THEN only what it is and that it asks for a password show
    let locked_text = format!("{}{}", locked.body, headers_text(&locked.headers));
    assert_anonymous(&locked_text, &owner_id);
    assert_eq!(locked.body["id"], id);
    assert_eq!(locked.body["kind"], "download");
    assert_eq!(locked.body["password_required"], true);
    assert_eq!(locked.body["unlocked"], false);
    assert!(locked.body["expires_at"].is_string());
    assert!(locked.body.get("name").is_none(), "{}", locked.body);
    assert!(locked.body.get("size").is_none(), "{}", locked.body);
    // WHEN it is unlocked with the password
    let unlocked = visit(
        &app,
        &format!("/api/s/{id}"),
        &[("x-share-password", "Share-Pass-2718")],
    )
    .await
    .expect(StatusCode::OK);
    // THEN the shared folder's name and size show, still nothing of the owner or the note
    let text = unlocked.to_string();
    assert_anonymous(&text, &owner_id);
    assert!(!text.contains("friends"), "{text}");
    assert_eq!(unlocked["name"], "photos");
    assert_eq!(unlocked["is_folder"], true);
    assert_eq!(unlocked["file_count"], 3);
    assert_eq!(unlocked["size"], 12);
    // AND a listing page, its cursor and its errors name nothing above the shared folder
    let pass = [("x-share-password", "Share-Pass-2718")];
    // (limit 2: the shared folder's own marker, pinned when it was shared, takes a place on
    // the first page of the store's listing)
    let page = visit(&app, &format!("/api/s/{id}/list?limit=2"), &pass).await;
    let page_text = format!("{}{}", page.body, headers_text(&page.headers));
    let page = page.expect(StatusCode::OK);
    assert_anonymous(&page_text, &owner_id);
    assert_eq!(page["path"], "");
    assert_eq!(page["items"][0]["path"], "a.jpg", "{page}");
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let decoded = URL_SAFE_NO_PAD.decode(cursor).expect("base64url");
    let decoded = String::from_utf8_lossy(&decoded).into_owned();
    if kind == Kind::Embedded {
        // The local store's position is a key: re-rooted below the shared folder.
        assert_anonymous(&decoded, &owner_id);
    }
    let missing = visit(&app, &format!("/api/s/{id}/list?path=nope"), &pass)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_anonymous(&missing.to_string(), &owner_id);
    let not_folder = visit(&app, &format!("/api/s/{id}/list?path=a.jpg"), &pass).await;
    assert_eq!(not_folder.status.as_u16() / 100, 4, "{}", not_folder.body);
    assert_anonymous(&not_folder.body.to_string(), &owner_id);
}

async fn guessing_ids_is_answered_404_then_429(kind: Kind) {
    // GIVEN at most 3 unknown links per address and window
    let app = TestApp::with(kind, |c| c.shares.max_misses_per_address = 3).await;
    let (_, token, _) = app.user("gus").await;
    app.upload(&token, &[], &[("a.txt", b"a")])
        .await
        .expect(StatusCode::CREATED);
    let id = share_id(&app, &token, json!({"path": "a.txt", "kind": "download"})).await;
    // WHEN one address guesses ids (well-formed or not)
    for guess in ["AAAAAAAAAAAAAAAAAAAAAA", "short", &"f".repeat(32)] {
        visit_by(&app, peer(7), Method::GET, &format!("/api/s/{guess}"), &[])
            .await
            .expect_error(StatusCode::NOT_FOUND, "share_not_found");
    }
    // THEN past the bound every answer is 429 with Retry-After, a real link's too
    for uri in [
        "/api/s/BBBBBBBBBBBBBBBBBBBBBB".to_owned(),
        format!("/api/s/{id}"),
        format!("/api/s/{id}/download"),
    ] {
        let reply = visit_by(&app, peer(7), Method::GET, &uri, &[]).await;
        assert!(reply.headers.contains_key(header::RETRY_AFTER), "{uri}");
        reply.expect_error(StatusCode::TOO_MANY_REQUESTS, "throttled");
    }
    // AND another address still opens the link
    visit_by(&app, peer(8), Method::GET, &format!("/api/s/{id}"), &[])
        .await
        .expect(StatusCode::OK);
}

async fn files_are_downloaded_as_attachments(kind: Kind) {
    // GIVEN a shared file and a shared folder
    let app = TestApp::new(kind).await;
    let (_, token) = owner_with_photos(&app).await;
    app.upload(&token, &[], &[("page.html", b"<script>alert(1)</script>")])
        .await
        .expect(StatusCode::CREATED);
    let file = share_id(
        &app,
        &token,
        json!({"path": "page.html", "kind": "download"}),
    )
    .await;
    let folder = share_id(
        &app,
        &token,
        json!({"path": "private-parent/photos", "kind": "download"}),
    )
    .await;
    // WHEN the file is downloaded THEN its bytes come as an attachment
    let raw = visit_raw(&app, Method::GET, &format!("/api/s/{file}/download"), &[]).await;
    if kind == Kind::Embedded {
        assert_eq!(
            header_of(&raw, header::CONTENT_TYPE),
            "application/octet-stream"
        );
    }
    assert_eq!(downloaded(&app, raw).await, b"<script>alert(1)</script>");
    // AND a file in the folder, named by `path`
    let uri = format!("/api/s/{folder}/download?path=sub/c.jpg");
    let raw = visit_raw(&app, Method::GET, &uri, &[]).await;
    assert_eq!(downloaded(&app, raw).await, b"cc");
    // AND a folder share needs a file's path, a file share takes none
    let raw = visit_raw(&app, Method::GET, &format!("/api/s/{folder}/download"), &[]).await;
    assert_eq!(
        (raw.status, code_of(&raw).as_str()),
        (StatusCode::BAD_REQUEST, "is_a_directory")
    );
    let uri = format!("/api/s/{folder}/download?path=sub");
    let raw = visit_raw(&app, Method::GET, &uri, &[]).await;
    assert_eq!(
        (raw.status, code_of(&raw).as_str()),
        (StatusCode::BAD_REQUEST, "is_a_directory")
    );
    let uri = format!("/api/s/{file}/download?path=page.html");
    let raw = visit_raw(&app, Method::GET, &uri, &[]).await;
    assert_eq!(
        (raw.status, code_of(&raw).as_str()),
        (StatusCode::BAD_REQUEST, "invalid_path")
    );
    let uri = format!("/api/s/{folder}/download?path=nope.jpg");
    let raw = visit_raw(&app, Method::GET, &uri, &[]).await;
    assert_eq!(
        (raw.status, code_of(&raw).as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    // AND locally ranges and HEAD are served
    if kind == Kind::Embedded {
        let uri = format!("/api/s/{folder}/download?path=b.jpg");
        let raw = visit_raw(&app, Method::GET, &uri, &[("range", "bytes=0-1")]).await;
        assert_eq!(raw.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(&raw.body[..], b"bb");
        let raw = visit_raw(&app, Method::HEAD, &uri, &[]).await;
        assert_eq!(raw.status, StatusCode::OK);
        assert_eq!(header_of(&raw, header::CONTENT_LENGTH), "6");
    }
}

async fn nothing_outside_the_shared_folder_is_reachable(kind: Kind) {
    // GIVEN a shared folder with a secret file beside it
    let app = TestApp::new(kind).await;
    let (_, token) = owner_with_photos(&app).await;
    let id = share_id(
        &app,
        &token,
        json!({"path": "private-parent/photos", "kind": "download"}),
    )
    .await;
    // WHEN a visitor names paths that climb out, in any spelling
    for attack in [
        "../secret.txt",
        "../..",
        "%2e%2e/secret.txt",
        "%2E%2E%2Fsecret.txt",
        "sub/../../secret.txt",
        "sub/..",
        "./a.jpg",
        "..%5Csecret.txt",
        "sub%5C..%5C..%5Csecret.txt",
        "/private-parent/secret.txt",
        "a.jpg%00",
    ] {
        // THEN each is refused as a path
        let uri = format!("/api/s/{id}/download?path={attack}");
        let raw = visit_raw(&app, Method::GET, &uri, &[]).await;
        assert_eq!(
            (raw.status, code_of(&raw).as_str()),
            (StatusCode::BAD_REQUEST, "invalid_path"),
            "{attack}: {}",
            String::from_utf8_lossy(&raw.body)
        );
        visit(&app, &format!("/api/s/{id}/list?path={attack}"), &[])
            .await
            .expect_error(StatusCode::BAD_REQUEST, "invalid_path");
    }
    // AND a name that only looks like a way out is a name inside the folder
    let uri = format!("/api/s/{id}/download?path=%252e%252e%252fsecret.txt");
    let raw = visit_raw(&app, Method::GET, &uri, &[]).await;
    assert_eq!(
        (raw.status, code_of(&raw).as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    // AND the sibling sharing the folder's name as a prefix is neither listed nor reachable
    let listed = visit(&app, &format!("/api/s/{id}/list?recursive=true"), &[])
        .await
        .expect(StatusCode::OK);
    let paths: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["a.jpg", "b.jpg", "sub/c.jpg"]);
    for attack in ["../photos2/leak.txt", "2/leak.txt"] {
        let uri = format!("/api/s/{id}/download?path={attack}");
        let raw = visit_raw(&app, Method::GET, &uri, &[]).await;
        assert!(raw.status.is_client_error(), "{attack}: {}", raw.status);
        assert_ne!(&raw.body[..], b"not shared");
    }
    // AND what is inside still is reachable
    let uri = format!("/api/s/{id}/download?path=a.jpg");
    let raw = visit_raw(&app, Method::GET, &uri, &[]).await;
    assert_eq!(downloaded(&app, raw).await, b"aaaa");
}

async fn a_shared_folder_is_listed_in_pages(kind: Kind) {
    // GIVEN a shared folder of five files and a subfolder
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("lisa").await;
    let files: Vec<(String, Vec<u8>)> = (1..=5)
        .map(|i| (format!("f{i}.txt"), vec![b'x'; i]))
        .collect();
    let files: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    app.upload(&token, &[("path", None, b"docs/shared")], &files)
        .await
        .expect(StatusCode::CREATED);
    app.upload(
        &token,
        &[("path", None, b"docs/shared/inner")],
        &[("g.txt", b"g")],
    )
    .await
    .expect(StatusCode::CREATED);
    let id = share_id(
        &app,
        &token,
        json!({"path": "docs/shared", "kind": "download"}),
    )
    .await;
    // WHEN it is listed two at a time
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let uri = match &cursor {
            Some(c) => format!("/api/s/{id}/list?limit=2&cursor={c}"),
            None => format!("/api/s/{id}/list?limit=2"),
        };
        let page = visit(&app, &uri, &[]).await.expect(StatusCode::OK);
        assert!(page["items"].as_array().unwrap().len() <= 2);
        for item in page["items"].as_array().unwrap() {
            names.push(item["path"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    // THEN every entry shows once, relative to the shared folder
    assert_eq!(
        names,
        ["f1.txt", "f2.txt", "f3.txt", "f4.txt", "f5.txt", "inner"]
    );
    // AND a subfolder lists relative to the share too
    let inner = visit(&app, &format!("/api/s/{id}/list?path=inner"), &[])
        .await
        .expect(StatusCode::OK);
    assert_eq!(inner["path"], "inner");
    assert_eq!(inner["items"][0]["path"], "inner/g.txt");
    // AND a cursor of one folder is refused on another, a made-up one too
    let first = visit(&app, &format!("/api/s/{id}/list?limit=2"), &[])
        .await
        .expect(StatusCode::OK);
    let cursor = first["next_cursor"].as_str().unwrap();
    visit(
        &app,
        &format!("/api/s/{id}/list?path=inner&cursor={cursor}"),
        &[],
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "invalid_cursor");
    visit(&app, &format!("/api/s/{id}/list?cursor=bm9wZQ"), &[])
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_cursor");
    // AND a file share has nothing to list
    let file = share_id(
        &app,
        &token,
        json!({"path": "docs/shared/f1.txt", "kind": "download"}),
    )
    .await;
    visit(&app, &format!("/api/s/{file}/list"), &[])
        .await
        .expect_error(StatusCode::BAD_REQUEST, "not_a_directory");
}

/// The share's use count as stored.
async fn uses(app: &TestApp, owner_id: &str, id: &str) -> u64 {
    app.core
        .store
        .get_share(owner_id, id)
        .await
        .expect("store")
        .expect("share")
        .uses
}

async fn parallel_downloads_take_exactly_the_uses_left(kind: Kind) {
    // GIVEN a file shared for three uses
    let app = Arc::new(TestApp::new(kind).await);
    let (owner_id, token, _) = app.user("maxi").await;
    app.upload(&token, &[], &[("a.txt", b"abc")])
        .await
        .expect(StatusCode::CREATED);
    let body = json!({"path": "a.txt", "kind": "download", "max_uses": 3});
    let id = share_id(&app, &token, body).await;
    // WHEN twenty visitors download it at once
    let statuses = race(20, |_| {
        let (app, uri) = (app.clone(), format!("/api/s/{id}/download"));
        async move {
            let raw = visit_raw(&app, Method::GET, &uri, &[]).await;
            (raw.status, code_of(&raw))
        }
    })
    .await;
    // THEN exactly three get the file and the others 410
    let served = statuses
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK || *s == StatusCode::FOUND)
        .count();
    let gone = statuses
        .iter()
        .filter(|(s, c)| *s == StatusCode::GONE && c == "share_expired")
        .count();
    assert_eq!((served, gone), (3, 17), "{statuses:?}");
    assert_eq!(uses(&app, &owner_id, &id).await, 3);
    // AND info and downloads now answer 410
    visit(&app, &format!("/api/s/{id}"), &[])
        .await
        .expect_error(StatusCode::GONE, "share_expired");
    // AND HEAD never counted: a fresh share keeps its uses after HEADs
    let id2 = share_id(
        &app,
        &token,
        json!({"path": "a.txt", "kind": "download", "max_uses": 1}),
    )
    .await;
    for _ in 0..3 {
        let raw = visit_raw(&app, Method::HEAD, &format!("/api/s/{id2}/download"), &[]).await;
        // ...and gives no URL that would serve the file without a use.
        assert_eq!(raw.status, StatusCode::OK);
        assert!(raw.headers.get(header::LOCATION).is_none());
    }
    assert_eq!(uses(&app, &owner_id, &id2).await, 0);
}

async fn a_resumed_download_takes_no_use(kind: Kind) {
    // GIVEN a file shared for one use
    let app = TestApp::new(kind).await;
    let (owner_id, token, _) = app.user("rosa").await;
    app.upload(&token, &[], &[("big.bin", b"0123456789")])
        .await
        .expect(StatusCode::CREATED);
    let body = json!({"path": "big.bin", "kind": "download", "max_uses": 1});
    let id = share_id(&app, &token, body).await;
    let uri = format!("/api/s/{id}/download");
    if kind == Kind::Aws {
        // On AWS every 302 grants the whole file (ranges go to S3 with the URL): each counts.
        let raw = visit_raw(&app, Method::GET, &uri, &[("range", "bytes=5-")]).await;
        assert_eq!(raw.status, StatusCode::FOUND);
        let raw = visit_raw(&app, Method::GET, &uri, &[]).await;
        assert_eq!(
            (raw.status, code_of(&raw).as_str()),
            (StatusCode::GONE, "share_expired")
        );
        return;
    }
    // WHEN the first byte is fetched (the one use) and the download resumed from byte 1
    let first = visit_raw(&app, Method::GET, &uri, &[("range", "bytes=0-0")]).await;
    assert_eq!(first.status, StatusCode::PARTIAL_CONTENT);
    let etag = header_of(&first, header::ETAG);
    assert_eq!(uses(&app, &owner_id, &id).await, 1);
    // THEN the same address's resume is served and counts nothing, with or without If-Range
    let rest = visit_raw(&app, Method::GET, &uri, &[("range", "bytes=1-")]).await;
    assert_eq!(rest.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&rest.body[..], b"123456789");
    let resume = [("range", "bytes=5-"), ("if-range", etag.as_str())];
    let rest = visit_raw(&app, Method::GET, &uri, &resume).await;
    assert_eq!(rest.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&rest.body[..], b"56789");
    assert_eq!(uses(&app, &owner_id, &id).await, 1);
    // AND another address gets nothing, even naming the version (the ETag is no secret)
    for headers in [
        &[("range", "bytes=1-")][..],
        &[("range", "bytes=1-"), ("if-range", etag.as_str())][..],
    ] {
        visit_by(&app, peer(2), Method::GET, &uri, headers)
            .await
            .expect_error(StatusCode::GONE, "share_expired");
    }
    // AND a new download from the first byte is refused, as is a stale `If-Range` (a whole
    // download, which needs a use)
    let raw = visit_raw(&app, Method::GET, &uri, &[]).await;
    assert_eq!(
        (raw.status, code_of(&raw).as_str()),
        (StatusCode::GONE, "share_expired")
    );
    let stale = [("range", "bytes=5-"), ("if-range", "\"stale\"")];
    let raw = visit_raw(&app, Method::GET, &uri, &stale).await;
    assert_eq!(
        (raw.status, code_of(&raw).as_str()),
        (StatusCode::GONE, "share_expired")
    );
    assert_eq!(uses(&app, &owner_id, &id).await, 1);
}

async fn a_resume_without_a_started_download_takes_a_use(kind: Kind) {
    // GIVEN a file shared for two uses, and 127.0.0.1 a trusted proxy (so byte answers can
    // come to other addresses, named by `X-Forwarded-For`)
    let app = TestApp::with(kind, |c| {
        c.trusted_proxies = "127.0.0.1/32".parse().unwrap();
    })
    .await;
    let (owner_id, token, _) = app.user("resa").await;
    app.upload(&token, &[], &[("big.bin", b"0123456789")])
        .await
        .expect(StatusCode::CREATED);
    let body = json!({"path": "big.bin", "kind": "download", "max_uses": 2});
    let id = share_id(&app, &token, body).await;
    let uri = format!("/api/s/{id}/download");
    // WHEN a fresh link is first asked for a range after byte 0
    let raw = visit_raw(&app, Method::GET, &uri, &[("range", "bytes=1-")]).await;
    // THEN it takes a use as a start does (on AWS every 302 counts)
    let expected = match kind {
        Kind::Embedded => StatusCode::PARTIAL_CONTENT,
        Kind::Aws => StatusCode::FOUND,
    };
    assert_eq!(raw.status, expected);
    assert_eq!(uses(&app, &owner_id, &id).await, 1);
    if kind == Kind::Embedded {
        // AND that download's own resume from the same address is free
        let raw = visit_raw(&app, Method::GET, &uri, &[("range", "bytes=2-")]).await;
        assert_eq!(raw.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(&raw.body[..], b"23456789");
        assert_eq!(uses(&app, &owner_id, &id).await, 1);
    }
    // AND another address's range takes the last use, and a third's is refused
    let answers = [
        ("203.0.113.2", expected, ""),
        ("203.0.113.3", StatusCode::GONE, "share_expired"),
    ];
    for (address, status, code) in answers {
        let headers = [("range", "bytes=1-"), ("x-forwarded-for", address)];
        let raw = visit_raw(&app, Method::GET, &uri, &headers).await;
        assert_eq!(
            (raw.status, code_of(&raw).as_str()),
            (status, code),
            "{address}"
        );
    }
    assert_eq!(uses(&app, &owner_id, &id).await, 2);
}

async fn parallel_guesses_stop_at_the_bound(kind: Kind) {
    // GIVEN at most 5 unknown links per address and window
    let app = Arc::new(TestApp::with(kind, |c| c.shares.max_misses_per_address = 5).await);
    // WHEN one address guesses 20 ids at once
    let statuses = race(20, |_| {
        let app = app.clone();
        async move {
            let uri = format!("/api/s/{}", crate::shares_support::random_share_id());
            let reply = visit_by(&app, peer(9), Method::GET, &uri, &[]).await;
            (
                reply.status,
                reply.body["code"].as_str().unwrap_or("").to_owned(),
            )
        }
    })
    .await;
    // THEN exactly the bound are answered 404 and the rest 429
    let count = |status, code: &str| {
        statuses
            .iter()
            .filter(|(s, c)| *s == status && c == code)
            .count()
    };
    let not_found = count(StatusCode::NOT_FOUND, "share_not_found");
    let throttled = count(StatusCode::TOO_MANY_REQUESTS, "throttled");
    assert_eq!((not_found, throttled), (5, 15), "{statuses:?}");
    // AND the address stays refused, another does not
    visit_by(
        &app,
        peer(9),
        Method::GET,
        "/api/s/CCCCCCCCCCCCCCCCCCCCCC",
        &[],
    )
    .await
    .expect_error(StatusCode::TOO_MANY_REQUESTS, "throttled");
    visit_by(
        &app,
        peer(10),
        Method::GET,
        "/api/s/CCCCCCCCCCCCCCCCCCCCCC",
        &[],
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "share_not_found");
}

async fn found_links_never_count_as_misses(kind: Kind) {
    // GIVEN at most 3 unknown links per address and a real link (lookups in flight count
    // until they find their link: more than the bound at once would be refused)
    let app = Arc::new(TestApp::with(kind, |c| c.shares.max_misses_per_address = 3).await);
    let (_, token, _) = app.user("fina").await;
    app.upload(&token, &[], &[("a.txt", b"a")])
        .await
        .expect(StatusCode::CREATED);
    let id = share_id(&app, &token, json!({"path": "a.txt", "kind": "download"})).await;
    // WHEN one address opens it nine times, three at a time
    for _ in 0..3 {
        let statuses = race(3, |_| {
            let (app, uri) = (app.clone(), format!("/api/s/{id}"));
            async move {
                visit_by(&app, peer(11), Method::GET, &uri, &[])
                    .await
                    .status
            }
        })
        .await;
        // THEN each is answered (a lookup is counted before it runs and given back when found)
        assert!(
            statuses.iter().all(|s| *s == StatusCode::OK),
            "{statuses:?}"
        );
    }
    // AND the address still has all its misses
    for _ in 0..3 {
        visit_by(
            &app,
            peer(11),
            Method::GET,
            "/api/s/DDDDDDDDDDDDDDDDDDDDDD",
            &[],
        )
        .await
        .expect_error(StatusCode::NOT_FOUND, "share_not_found");
    }
    visit_by(&app, peer(11), Method::GET, &format!("/api/s/{id}"), &[])
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "throttled");
}

async fn expired_and_deleted_links_are_dead(kind: Kind) {
    // GIVEN an expired share (as stored) and a live one
    let app = TestApp::new(kind).await;
    let (owner_id, token, _) = app.user("edda").await;
    app.upload(&token, &[], &[("a.txt", b"a")])
        .await
        .expect(StatusCode::CREATED);
    let now = Utc::now();
    let expired = Share {
        id: "EXPIREDexpiredEXPIRED0".into(),
        user_id: owner_id.clone(),
        path: "a.txt".into(),
        kind: ShareKind::Download,
        is_folder: false,
        password_hash: None,
        password_version: 0,
        max_uses: None,
        uses: 0,
        note: None,
        created_at: now - Duration::days(3),
        updated_at: now - Duration::days(3),
        expires_at: now - Duration::hours(1),
    };
    assert!(app
        .core
        .store
        .create_share(&expired, 100)
        .await
        .expect("store"));
    let live = share_id(&app, &token, json!({"path": "a.txt", "kind": "download"})).await;
    // WHEN visitors open them THEN the expired one is 410 on every route
    for route in ["", "/download", "/list", "/token"] {
        let uri = format!("/api/s/{}{route}", expired.id);
        let method = if route == "/token" {
            Method::POST
        } else {
            Method::GET
        };
        let raw = visit_raw(&app, method, &uri, &[]).await;
        assert_eq!(
            (raw.status, code_of(&raw).as_str()),
            (StatusCode::GONE, "share_expired"),
            "{route}"
        );
    }
    // AND a deleted one is 404 at once, like an id that never was
    visit(&app, &format!("/api/s/{live}"), &[])
        .await
        .expect(StatusCode::OK);
    app.call(
        Method::DELETE,
        &format!("/api/shares/{live}"),
        Some(&token),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    visit(&app, &format!("/api/s/{live}"), &[])
        .await
        .expect_error(StatusCode::NOT_FOUND, "share_not_found");
    let raw = visit_raw(&app, Method::GET, &format!("/api/s/{live}/download"), &[]).await;
    assert_eq!(
        (raw.status, code_of(&raw).as_str()),
        (StatusCode::NOT_FOUND, "share_not_found")
    );
}

async fn an_upload_link_cannot_read(kind: Kind) {
    // GIVEN an upload share of a folder with a file in it
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("uma").await;
    app.upload(&token, &[("path", None, b"inbox")], &[("old.txt", b"old")])
        .await
        .expect(StatusCode::CREATED);
    let id = share_id(&app, &token, json!({"path": "inbox", "kind": "upload"})).await;
    // WHEN a visitor tries to list or download THEN 403, and nothing is served
    visit(&app, &format!("/api/s/{id}/list"), &[])
        .await
        .expect_error(StatusCode::FORBIDDEN, "share_action_not_allowed");
    let raw = visit_raw(
        &app,
        Method::GET,
        &format!("/api/s/{id}/download?path=old.txt"),
        &[],
    )
    .await;
    assert_eq!(
        (raw.status, code_of(&raw).as_str()),
        (StatusCode::FORBIDDEN, "share_action_not_allowed")
    );
    // AND its info shows only its name
    let info = visit(&app, &format!("/api/s/{id}"), &[])
        .await
        .expect(StatusCode::OK);
    assert_eq!(info["kind"], "upload");
    assert_eq!(info["name"], "inbox");
    assert!(
        info.get("size").is_none() && info.get("file_count").is_none(),
        "{info}"
    );
}

async fn a_visitor_gets_a_download_url_instead(kind: Kind) {
    // GIVEN a password-protected folder link for two uses, and a token for its password
    let app = TestApp::new(kind).await;
    let (owner_id, token) = owner_with_photos(&app).await;
    let body = json!({"path": "private-parent/photos", "kind": "download",
                      "password": "Share-Pass-2718", "max_uses": 2});
    let id = share_id(&app, &token, body).await;
    let pass = [("x-share-password", "Share-Pass-2718")];
    let token_uri = format!("/api/s/{id}/token");
    let share_token = visit_by(&app, peer(1), Method::POST, &token_uri, &pass)
        .await
        .expect(StatusCode::OK)["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let with_token = [("x-share-token", share_token.as_str())];
    let uri = format!("/api/s/{id}/download?path=sub/c.jpg&redirect=false");
    // WHEN the URL is asked for without the password or token THEN 401, no use taken
    visit(&app, &uri, &[])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "share_password_required");
    visit(&app, &uri, &[("x-share-token", "nonsense")])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_share_token");
    // AND a HEAD gives nothing and takes nothing
    let head = visit_raw(&app, Method::HEAD, &uri, &with_token).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(uses(&app, &owner_id, &id).await, 0);
    // WHEN it is asked for with the token
    let reply = visit(&app, &uri, &with_token).await;
    let text = format!("{}{}", reply.body, headers_text(&reply.headers));
    let link = reply.expect(StatusCode::OK);
    // THEN the answer is only `{url, expires_at}`, naming nothing of the owner but the URL
    // (on AWS a presigned URL names its storage key, as the 302 always has)
    let fields: Vec<&String> = link.as_object().expect("object").keys().collect();
    assert_eq!(fields, ["expires_at", "url"], "{link}");
    let url = link["url"].as_str().expect("url");
    assert!(link["expires_at"].is_string());
    if kind == Kind::Embedded {
        // This service's signed URL: its readable claims name neither the owner, nor the
        // link, nor the file (sealed).
        let claims = ticket_claims(url);
        assert!(url.contains("/api/files/transfer/"), "{url}");
        for hidden in [id.as_str(), "sub/c.jpg", "c.jpg"] {
            assert!(!claims.contains(hidden), "{hidden} in {claims}");
        }
        assert_anonymous(&format!("{text}{claims}"), &owner_id);
    }
    // AND it took one use, and the URL serves the file as an attachment, with no credential
    assert_eq!(uses(&app, &owner_id, &id).await, 1);
    let fetched = app.fetch(Method::GET, url, &[], Vec::new()).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(&fetched.body[..], b"cc");
    let disposition = header_of(&fetched, header::CONTENT_DISPOSITION);
    assert!(
        disposition.starts_with("attachment")
            || url.contains("response-content-disposition=attachment"),
        "{disposition} {url}"
    );
    // AND its ranges within its lifetime are the same use
    let ranged = app
        .fetch(Method::GET, url, &[("range", "bytes=1-")], Vec::new())
        .await;
    assert_eq!(ranged.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&ranged.body[..], b"c");
    assert_eq!(uses(&app, &owner_id, &id).await, 1);
    // WHEN the password itself is sent THEN a second URL, the second use
    let uri = format!("/api/s/{id}/download?path=a.jpg&redirect=false");
    let link = visit(&app, &uri, &pass).await.expect(StatusCode::OK);
    let fetched = app
        .fetch(
            Method::GET,
            link["url"].as_str().expect("url"),
            &[],
            Vec::new(),
        )
        .await;
    assert_eq!(&fetched.body[..], b"aaaa");
    assert_eq!(uses(&app, &owner_id, &id).await, 2);
    // AND then every use is taken: 410, with the token too
    visit(&app, &uri, &with_token)
        .await
        .expect_error(StatusCode::GONE, "share_expired");
    assert_eq!(uses(&app, &owner_id, &id).await, 2);
    // AND a folder still needs a file, a file link none, and `redirect=true` is the default
    let file = share_id(
        &app,
        &token,
        json!({"path": "private-parent/secret.txt", "kind": "download"}),
    )
    .await;
    let link = visit(&app, &format!("/api/s/{file}/download?redirect=false"), &[])
        .await
        .expect(StatusCode::OK);
    let fetched = app
        .fetch(
            Method::GET,
            link["url"].as_str().expect("url"),
            &[],
            Vec::new(),
        )
        .await;
    assert_eq!(&fetched.body[..], b"top secret");
    let raw = visit_raw(
        &app,
        Method::GET,
        &format!("/api/s/{file}/download?redirect=true"),
        &[],
    )
    .await;
    assert_eq!(downloaded(&app, raw).await, b"top secret");
    // AND locally a URL handed out stops serving once its link is deleted (a presigned S3
    // URL lives its lifetime: README, "Known limit (AWS)")
    let url = link["url"].as_str().expect("url");
    app.call(
        Method::DELETE,
        &format!("/api/shares/{file}"),
        Some(&token),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    if kind == Kind::Embedded {
        let fetched = app.fetch(Method::GET, url, &[], Vec::new()).await;
        assert_eq!(fetched.status, StatusCode::NOT_FOUND);
    }
}

/// The readable claims of a URL this service signed (`…/api/files/transfer/<ticket>`).
fn ticket_claims(url: &str) -> String {
    let ticket = url.rsplit('/').next().expect("ticket");
    let payload = ticket.split('.').nth(1).expect("a signed ticket");
    let claims = URL_SAFE_NO_PAD.decode(payload).expect("base64url");
    String::from_utf8_lossy(&claims).into_owned()
}

/// Ends the link's life now, as stored (the API allows no expiry in the past).
async fn expire_now(app: &TestApp, id: &str) {
    let (mut share, _) = app
        .core
        .store
        .load_share(id)
        .await
        .expect("store")
        .expect("share");
    share.expires_at = Utc::now() - Duration::seconds(1);
    let version = share.password_version;
    assert!(app
        .core
        .store
        .update_share(&share, version)
        .await
        .expect("store"));
}

async fn a_visitor_url_names_nothing_and_ends_with_its_link(kind: Kind) {
    // GIVEN a folder link without a password, and a visitor's URL of one file in it
    let app = TestApp::new(kind).await;
    let (owner_id, token) = owner_with_photos(&app).await;
    let body = json!({"path": "private-parent/photos", "kind": "download"});
    let id = share_id(&app, &token, body).await;
    let uri = format!("/api/s/{id}/download?path=sub/c.jpg&redirect=false");
    let link = visit(&app, &uri, &[]).await.expect(StatusCode::OK);
    let url = link["url"].as_str().expect("url").to_owned();
    let fetched = app.fetch(Method::GET, &url, &[], Vec::new()).await;
    assert_eq!(&fetched.body[..], b"cc");
    // (On AWS the URL is S3's presigned one: it lives its lifetime whatever becomes of the
    // link, README "Known limit (AWS)"; what follows is this service's own URLs.)
    if kind != Kind::Embedded {
        return;
    }
    // THEN whoever is handed that URL cannot read the link's id from it (which would open
    // the whole folder), nor the file's path, nor anything of the owner
    let claims = ticket_claims(&url);
    for hidden in [id.as_str(), "sub/c.jpg", "c.jpg", "photos"] {
        assert!(!claims.contains(hidden), "{hidden} in {claims}");
    }
    assert_anonymous(&claims, &owner_id);
    // AND a URL whose ticket is altered is refused
    let mut forged = url.clone();
    let at = url.rfind('.').expect("a signed ticket") + 1;
    let other = if &url[at..=at] == "A" { "B" } else { "A" };
    forged.replace_range(at..=at, other);
    let refused = app.fetch(Method::GET, &forged, &[], Vec::new()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // WHEN the owner sets a password on the link
    app.call(
        Method::PATCH,
        &format!("/api/shares/{id}"),
        Some(&token),
        Some(json!({"password": "Share-Pass-2718"})),
    )
    .await
    .expect(StatusCode::OK);
    // THEN the URL handed out before stops serving
    let refused = app.fetch(Method::GET, &url, &[], Vec::new()).await;
    assert_eq!(
        (refused.status, code_of(&refused).as_str()),
        (StatusCode::FORBIDDEN, "url_expired")
    );
    // AND one asked for with the new password serves
    let pass = [("x-share-password", "Share-Pass-2718")];
    let link = visit(&app, &uri, &pass).await.expect(StatusCode::OK);
    let url = link["url"].as_str().expect("url").to_owned();
    let fetched = app.fetch(Method::GET, &url, &[], Vec::new()).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(&fetched.body[..], b"cc");
    // WHEN the link expires THEN that URL stops serving too, within its own lifetime
    expire_now(&app, &id).await;
    let refused = app.fetch(Method::GET, &url, &[], Vec::new()).await;
    assert_eq!(
        (refused.status, code_of(&refused).as_str()),
        (StatusCode::GONE, "share_expired")
    );
}

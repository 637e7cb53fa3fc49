//! Uploads (form and direct), downloads and quotas, on every backend.

use http::{Method, StatusCode};
use serde_json::{json, Value};
use shared::layout;

use crate::backend_tests;
use crate::helpers::{bend_last, Kind, Raw, TestApp};

backend_tests!(
    form_upload_round_trips_and_counts_usage,
    form_upload_is_all_or_nothing,
    form_upload_refuses_bad_forms,
    form_upload_limits_and_quota,
    downloads_carry_safe_headers,
    direct_upload_in_parts_round_trips,
    direct_upload_urls_cannot_be_bent,
    direct_upload_rules_and_quota,
);

const MIB: usize = 1024 * 1024;

/// Deterministic bytes that differ from offset to offset.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[2] ^ seed)
        .collect()
}

async fn usage(app: &TestApp, token: &str) -> (u64, u64) {
    let info = app
        .get("/api/auth/user-info", Some(token))
        .await
        .expect(StatusCode::OK);
    (
        info["storage"]["used_bytes"].as_u64().unwrap(),
        info["storage"]["file_count"].as_u64().unwrap(),
    )
}

/// The file's bytes, however the backend delivers them (bytes, or a redirect to S3).
async fn download(app: &TestApp, token: &str, path: &str, range: Option<&str>) -> Raw {
    let mut req = http::Request::builder()
        .uri(format!("/api/files/download?path={path}"))
        .header("authorization", format!("Bearer {token}"));
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let raw = app
        .send_raw(req.body(axum::body::Body::empty()).unwrap())
        .await;
    if raw.status != StatusCode::FOUND {
        return raw;
    }
    let location = raw.headers["location"].to_str().unwrap().to_owned();
    let headers: Vec<(&str, &str)> = range.map(|r| ("range", r)).into_iter().collect();
    app.fetch(Method::GET, &location, &headers, Vec::new())
        .await
}

fn listed(listing: &Value) -> Vec<(String, u64)> {
    listing["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_owned(),
                i["size"].as_u64().unwrap(),
            )
        })
        .collect()
}

async fn home_is_empty(app: &TestApp, token: &str) {
    let home = app
        .get("/api/files/list?recursive=true", Some(token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(home["items"], json!([]), "home: {home}");
}

/// Nothing was left in the staging area either.
async fn nothing_staged(app: &TestApp) {
    let staged = app
        .core
        .objects
        .list(layout::STAGING_ROOT, false, None, 10)
        .await
        .unwrap();
    assert!(staged.items.is_empty(), "staged: {:?}", staged.items);
}

async fn form_upload_round_trips_and_counts_usage(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("una").await;
    let big = pattern(3 * MIB + 17, 1);
    let reply = app
        .upload(
            &token,
            &[("path", None, b"docs/2024")],
            &[("report.pdf", &big), ("notes é.txt", b"hello")],
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(reply["message"], "Successfully uploaded 2 files");
    assert_eq!(
        reply["files"],
        json!([
            {"name": "report.pdf", "size": big.len(), "path": "docs/2024/report.pdf",
             "content_type": "application/pdf"},
            {"name": "notes é.txt", "size": 5, "path": "docs/2024/notes é.txt",
             "content_type": "text/plain"},
        ])
    );
    let listing = app
        .get("/api/files/list?path=docs/2024", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        listed(&listing),
        [
            ("notes é.txt".to_owned(), 5),
            ("report.pdf".to_owned(), big.len() as u64)
        ]
    );
    let got = download(&app, &token, "docs/2024/report.pdf", None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(got.body == big, "bytes differ");
    assert_eq!(usage(&app, &token).await, (big.len() as u64 + 5, 2));
    nothing_staged(&app).await;
    // Deleting gives the bytes back
    app.post(
        "/api/files/delete",
        Some(&token),
        json!({"path": "docs/2024/report.pdf"}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(usage(&app, &token).await, (5, 1));
    app.post("/api/files/delete", Some(&token), json!({"path": "docs"}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(usage(&app, &token).await, (0, 0));
}

async fn form_upload_is_all_or_nothing(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("vic").await;
    app.upload(&token, &[], &[("a.txt", b"old")])
        .await
        .expect(StatusCode::CREATED);
    // A name taken: 409, and neither file of the request is stored
    app.upload(&token, &[], &[("new.txt", b"new"), ("a.txt", b"other")])
        .await
        .expect_error(StatusCode::CONFLICT, "already_exists");
    let home = app
        .get("/api/files/list", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed(&home), [("a.txt".to_owned(), 3)]);
    assert_eq!(download(&app, &token, "a.txt", None).await.body, "old");
    nothing_staged(&app).await;
    // overwrite=true replaces, and usage counts the new size once
    app.upload(
        &token,
        &[("overwrite", None, b"true")],
        &[("a.txt", b"newer!")],
    )
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(download(&app, &token, "a.txt", None).await.body, "newer!");
    assert_eq!(usage(&app, &token).await, (6, 1));
    // A folder of that name is never overwritten by a file
    app.upload(&token, &[("path", None, b"d")], &[("f", b"x")])
        .await
        .expect(StatusCode::CREATED);
    app.upload(&token, &[("overwrite", None, b"true")], &[("d", b"x")])
        .await
        .expect_error(StatusCode::CONFLICT, "already_exists");
    // The same name twice in one request
    app.upload(&token, &[], &[("b.txt", b"1"), ("b.txt", b"2")])
        .await
        .expect_error(StatusCode::BAD_REQUEST, "duplicate_name");
    // Into a path that is a file
    app.upload(&token, &[("path", None, b"a.txt")], &[("x", b"x")])
        .await
        .expect_error(StatusCode::BAD_REQUEST, "not_a_directory");
    assert_eq!(usage(&app, &token).await, (7, 2));
    nothing_staged(&app).await;
}

async fn form_upload_refuses_bad_forms(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("wes").await;
    // Fields after the files
    let reply = app
        .upload(&token, &[], &[("a.txt", b"a")])
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(reply["files"][0]["path"], "a.txt");
    // No file part
    app.upload(&token, &[("path", None, b"x")], &[])
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    // Not multipart
    app.post("/api/files/upload", Some(&token), json!({"files": []}))
        .await
        .expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    // overwrite that is not a boolean
    app.upload(&token, &[("overwrite", None, b"maybe")], &[("b", b"b")])
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    // A truncated form
    let req = http::Request::builder()
        .method(Method::POST)
        .uri("/api/files/upload")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "multipart/form-data; boundary=XX")
        .body(axum::body::Body::from(
            "--XX\r\nContent-Disposition: form-data; name=\"files\"; filename=\"t.txt\"\r\n\r\npartial",
        ))
        .unwrap();
    app.send(req)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_form");
    // No credentials
    let req = http::Request::builder()
        .method(Method::POST)
        .uri("/api/files/upload")
        .header("content-type", "multipart/form-data; boundary=XX")
        .body(axum::body::Body::from("--XX--\r\n"))
        .unwrap();
    app.send(req)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    let home = app
        .get("/api/files/list", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed(&home), [("a.txt".to_owned(), 1)]);
    nothing_staged(&app).await;
}

async fn form_upload_limits_and_quota(kind: Kind) {
    let app = TestApp::with(kind, |c| {
        c.max_form_bytes = 4096;
        c.default_quota_bytes = Some(1000);
    })
    .await;
    let (_, token, _) = app.user("xia").await;
    // Over the request limit: 413 pointing at direct uploads
    let err = app
        .upload(&token, &[], &[("big.bin", &pattern(5000, 2))])
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "request_too_large");
    assert!(err["error"]
        .as_str()
        .unwrap()
        .contains("/api/files/uploads"));
    // Over the quota: 413 quota_exceeded, nothing stored
    app.upload(
        &token,
        &[],
        &[("a.bin", &pattern(600, 3)), ("b.bin", &pattern(600, 4))],
    )
    .await
    .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded");
    home_is_empty(&app, &token).await;
    nothing_staged(&app).await;
    assert_eq!(usage(&app, &token).await, (0, 0));
    // Within it: fine, and the rest of the room is all there is
    app.upload(&token, &[], &[("a.bin", &pattern(600, 3))])
        .await
        .expect(StatusCode::CREATED);
    app.upload(&token, &[], &[("b.bin", &pattern(600, 4))])
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded");
    app.upload(&token, &[], &[("c.bin", &pattern(400, 4))])
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(usage(&app, &token).await, (1000, 2));
    // A full home refuses even an empty file's copy of bytes... but copying nothing is fine
    app.post(
        "/api/files/copy",
        Some(&token),
        json!({"source_path": "a.bin", "dest_path": ""}),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "already_exists");
    app.post(
        "/api/files/create-folder",
        Some(&token),
        json!({"parent_path": "", "folder_name": "d"}),
    )
    .await
    .expect(StatusCode::CREATED);
    app.post(
        "/api/files/copy",
        Some(&token),
        json!({"source_path": "a.bin", "dest_path": "d"}),
    )
    .await
    .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded");
    let user_info = app
        .get("/api/auth/user-info", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        user_info["storage"],
        // two files and the marker of `d`
        json!({"used_bytes": 1000, "reserved_bytes": 0, "quota_bytes": 1000, "file_count": 3,
            "file_limit": 1_000_000})
    );
}

async fn downloads_carry_safe_headers(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("yul").await;
    let (_, other, _) = app.user("zed").await;
    let data = pattern(1000, 5);
    app.upload(&token, &[], &[("naïve 'x'.html", &data)])
        .await
        .expect(StatusCode::CREATED);
    let path = "na%C3%AFve%20'x'.html";
    let got = download(&app, &token, path, None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(got.body == data);
    let h = |name: &str| {
        got.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    // HTML never runs where it is served (tests/api/downloads.rs has the rule).
    assert_eq!(h("content-type"), "application/octet-stream");
    assert_eq!(
        h("content-disposition"),
        "attachment; filename=\"na_ve 'x'.html\"; filename*=UTF-8''na%C3%AFve%20%27x%27.html"
    );
    // Ranges
    let part = download(&app, &token, path, Some("bytes=10-19")).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert!(part.body == data[10..20]);
    assert_eq!(part.headers["content-range"], "bytes 10-19/1000");
    let tail = download(&app, &token, path, Some("bytes=-5")).await;
    assert!(tail.body == data[995..]);
    // The URL form
    let link = app
        .get(
            &format!("/api/files/download?path={path}&redirect=false&inline=true"),
            Some(&token),
        )
        .await
        .expect(StatusCode::OK);
    assert!(link["expires_at"].is_string());
    let via_link = app
        .fetch(Method::GET, link["url"].as_str().unwrap(), &[], Vec::new())
        .await;
    assert_eq!(via_link.status, StatusCode::OK);
    assert!(via_link.body == data);
    // inline=true, but HTML is only ever an attachment.
    assert!(via_link.headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));
    if let Kind::Embedded = kind {
        // What this server sends itself: never sniffed, never run
        for name in ["x-content-type-options", "content-security-policy"] {
            assert!(got.headers.contains_key(name), "{name}");
        }
        assert_eq!(got.headers["x-content-type-options"], "nosniff");
        assert_eq!(got.headers["accept-ranges"], "bytes");
        let err = download(&app, &token, path, Some("bytes=1000-")).await;
        assert_eq!(err.status, StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(err.headers["content-range"], "bytes */1000");
        let body: Value = serde_json::from_slice(&err.body).unwrap();
        assert_eq!(body["code"], "range_not_satisfiable");
        // A signed URL cannot be bent to another file
        let url = link["url"].as_str().unwrap();
        let bent = app
            .fetch(Method::GET, &bend_last(url), &[], Vec::new())
            .await;
        assert_eq!(bent.status, StatusCode::FORBIDDEN);
        let body: Value = serde_json::from_slice(&bent.body).unwrap();
        assert_eq!(body["code"], "invalid_signature", "{body}");
    } else {
        let redirect = app
            .send_raw(
                http::Request::builder()
                    .uri(format!("/api/files/download?path={path}"))
                    .header("authorization", format!("Bearer {token}"))
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(redirect.status, StatusCode::FOUND);
    }
    // Folders, missing files, other users' files
    app.upload(&token, &[("path", None, b"dir")], &[("f", b"f")])
        .await
        .expect(StatusCode::CREATED);
    for (uri, status, code) in [
        (
            "/api/files/download?path=dir",
            StatusCode::BAD_REQUEST,
            "is_a_directory",
        ),
        (
            "/api/files/download?path=",
            StatusCode::BAD_REQUEST,
            "is_a_directory",
        ),
        (
            "/api/files/download?path=nope.txt",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ] {
        app.get(uri, Some(&token)).await.expect_error(status, code);
    }
    app.get(&format!("/api/files/download?path={path}"), Some(&other))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.get(&format!("/api/files/download?path={path}"), None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not_authenticated");
}

/// PUTs each part's bytes to its URL; returns the parts for completion.
async fn send_parts(app: &TestApp, upload: &Value, data: &[u8]) -> Vec<Value> {
    let part_size = upload["part_size"].as_u64().unwrap() as usize;
    let mut done = Vec::new();
    for part in upload["parts"].as_array().unwrap() {
        let n = part["part_number"].as_u64().unwrap() as usize;
        let start = (n - 1) * part_size;
        let bytes = data[start..(start + part_size).min(data.len())].to_vec();
        assert_eq!(bytes.len() as u64, part["size"].as_u64().unwrap());
        let sent = app
            .fetch(Method::PUT, part["url"].as_str().unwrap(), &[], bytes)
            .await;
        assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);
        let etag = sent.headers["etag"].to_str().unwrap().to_owned();
        done.push(json!({"part_number": n, "etag": etag}));
    }
    done
}

async fn direct_upload_in_parts_round_trips(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("abe").await;
    let data = pattern(16 * MIB + 4321, 6);
    let upload = app
        .post(
            "/api/files/uploads",
            Some(&token),
            json!({"path": "video/big.mp4", "size": data.len()}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(upload["parts"].as_array().unwrap().len(), 2);
    assert_eq!(upload["part_size"], 16 * MIB);
    let id = upload["upload_id"].as_str().unwrap();
    // Send the first part only; the status shows it received and offers the second
    let first = json!({"parts": [upload["parts"][0].clone()], "part_size": upload["part_size"]});
    let mut parts = send_parts(&app, &first, &data).await;
    let status = app
        .get(&format!("/api/files/uploads/{id}"), Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(status["parts_received"].as_array().unwrap().len(), 1);
    assert_eq!(status["parts_received"][0]["part_number"], 1);
    assert_eq!(status["parts"].as_array().unwrap().len(), 1);
    assert_eq!(status["parts"][0]["part_number"], 2);
    // Completing early names the missing part
    app.post(
        &format!("/api/files/uploads/{id}/complete"),
        Some(&token),
        json!({"parts": parts}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "incomplete_upload");
    parts.extend(send_parts(&app, &status, &data).await);
    // A wrong ETag is refused
    let mut wrong = parts.clone();
    wrong[1]["etag"] = json!("\"0123\"");
    app.post(
        &format!("/api/files/uploads/{id}/complete"),
        Some(&token),
        json!({"parts": wrong}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "invalid_parts");
    let item = app
        .post(
            &format!("/api/files/uploads/{id}/complete"),
            Some(&token),
            json!({"parts": parts}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(item["path"], "video/big.mp4");
    assert_eq!(item["size"], data.len());
    assert_eq!(item["content_type"], "video/mp4");
    let got = download(&app, &token, "video/big.mp4", None).await;
    assert!(got.body == data, "bytes differ");
    let range = download(
        &app,
        &token,
        "video/big.mp4",
        Some("bytes=16777200-16777299"),
    )
    .await;
    assert_eq!(range.status, StatusCode::PARTIAL_CONTENT);
    assert!(range.body == data[16_777_200..16_777_300]);
    assert_eq!(usage(&app, &token).await, (data.len() as u64, 1));
    // The upload has ended
    app.get(&format!("/api/files/uploads/{id}"), Some(&token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "upload_not_found");
    // An empty file needs no part at all
    let empty = app
        .post(
            "/api/files/uploads",
            Some(&token),
            json!({"path": "empty.txt", "size": 0}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(empty["parts"], json!([]));
    let item = app
        .post(
            &format!(
                "/api/files/uploads/{}/complete",
                empty["upload_id"].as_str().unwrap()
            ),
            Some(&token),
            json!({"parts": []}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(item["size"], 0);
}

async fn direct_upload_urls_cannot_be_bent(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("bea").await;
    let (_, other, _) = app.user("cal").await;
    let upload = app
        .post(
            "/api/files/uploads",
            Some(&token),
            json!({"path": "a.bin", "size": 100}),
        )
        .await
        .expect(StatusCode::CREATED);
    let id = upload["upload_id"].as_str().unwrap();
    let url = upload["parts"][0]["url"].as_str().unwrap().to_owned();
    // More or fewer bytes than the URL was signed for: refused, nothing received
    for len in [99, 101] {
        let sent = app.fetch(Method::PUT, &url, &[], pattern(len, 7)).await;
        let body = String::from_utf8_lossy(&sent.body);
        // The local store checks the length itself; S3 signed it (content-length).
        let (status, says) = match (kind, len) {
            (Kind::Embedded, 99) => (StatusCode::BAD_REQUEST, r#""code":"invalid_upload""#),
            (Kind::Embedded, _) => (StatusCode::PAYLOAD_TOO_LARGE, r#""code":"too_large""#),
            (Kind::Aws, _) => (StatusCode::FORBIDDEN, "<Code>SignatureDoesNotMatch</Code>"),
        };
        assert_eq!(sent.status, status, "{len} bytes: {body}");
        assert!(body.contains(says), "{len} bytes: {body}");
    }
    // Another key: the signature no longer matches
    let bent = url.replacen("a.bin", "b.bin", 1);
    if bent != url {
        let sent = app.fetch(Method::PUT, &bent, &[], pattern(100, 7)).await;
        assert_eq!(sent.status, StatusCode::FORBIDDEN);
    }
    let tampered = bend_last(&url);
    let sent = app
        .fetch(Method::PUT, &tampered, &[], pattern(100, 7))
        .await;
    assert_eq!(sent.status, StatusCode::FORBIDDEN, "{:?}", sent.body);
    let status = app
        .get(&format!("/api/files/uploads/{id}"), Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(status["parts_received"], json!([]));
    // Another user cannot see, complete or abort it
    app.get(&format!("/api/files/uploads/{id}"), Some(&other))
        .await
        .expect_error(StatusCode::NOT_FOUND, "upload_not_found");
    app.post(
        &format!("/api/files/uploads/{id}/complete"),
        Some(&other),
        json!({"parts": []}),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "upload_not_found");
    app.call(
        Method::DELETE,
        &format!("/api/files/uploads/{id}"),
        Some(&other),
        None,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "upload_not_found");
    // A forged upload id
    app.get("/api/files/uploads/not-an-id", Some(&token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "upload_not_found");
    // Once expired, a URL works no more
    expires_within_seconds(&app, &token).await;
    // Abort: gone
    app.call(
        Method::DELETE,
        &format!("/api/files/uploads/{id}"),
        Some(&token),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    app.get(&format!("/api/files/uploads/{id}"), Some(&token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "upload_not_found");
    home_is_empty(&app, &token).await;
}

/// A URL signed for one second is refused once that second has passed (polled, so the case
/// waits no longer than the expiry takes).
async fn expires_within_seconds(app: &TestApp, token: &str) {
    let brief = app.sibling(|c| c.transfer_url_ttl_secs = 1);
    let upload = brief
        .post(
            "/api/files/uploads",
            Some(token),
            json!({"path": "brief.bin", "size": 100}),
        )
        .await
        .expect(StatusCode::CREATED);
    let url = upload["parts"][0]["url"].as_str().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    loop {
        let sent = app.fetch(Method::PUT, url, &[], pattern(100, 7)).await;
        if sent.status == StatusCode::FORBIDDEN {
            break;
        }
        // Still within its lifetime: the part is simply received (again).
        assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);
        assert!(
            std::time::Instant::now() < deadline,
            "a URL signed for 1 s still works after 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let id = upload["upload_id"].as_str().unwrap();
    app.call(
        Method::DELETE,
        &format!("/api/files/uploads/{id}"),
        Some(token),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
}

async fn direct_upload_rules_and_quota(kind: Kind) {
    let app = TestApp::with(kind, |c| c.default_quota_bytes = Some(1000)).await;
    let (_, token, _) = app.user("dan").await;
    app.upload(&token, &[], &[("taken.txt", b"x")])
        .await
        .expect(StatusCode::CREATED);
    for (body, status, code) in [
        (
            json!({"path": "a.bin", "size": 5000}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "quota_exceeded",
        ),
        (
            json!({"path": "taken.txt", "size": 1}),
            StatusCode::CONFLICT,
            "already_exists",
        ),
        (
            json!({"path": "", "size": 1}),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            json!({"path": "taken.txt/x", "size": 1}),
            StatusCode::BAD_REQUEST,
            "not_a_directory",
        ),
        (
            json!({"path": "a.bin"}),
            StatusCode::BAD_REQUEST,
            "validation_error",
        ),
        (
            json!({"path": "a.bin", "size": -1}),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            json!({"path": "a.bin", "size": 1, "content_type": "text/html\r\nX: y"}),
            StatusCode::BAD_REQUEST,
            "validation_error",
        ),
    ] {
        app.post("/api/files/uploads", Some(&token), body.clone())
            .await
            .expect_error(status, code);
    }
    // Overwrite is allowed when asked for; completion counts the difference
    let data = pattern(900, 8);
    let upload = app
        .post(
            "/api/files/uploads",
            Some(&token),
            json!({"path": "taken.txt", "size": data.len(), "overwrite": true,
                   "content_type": "application/x-custom"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let parts = send_parts(&app, &upload, &data).await;
    // Meanwhile another upload would fill the room: the started upload's reservation holds it
    // (issue 12), so the other one is refused and the completion succeeds.
    app.upload(&token, &[], &[("filler.bin", &pattern(500, 9))])
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded");
    assert_eq!(download(&app, &token, "taken.txt", None).await.body, "x");
    assert_eq!(usage(&app, &token).await, (1, 1));
    let item = app
        .post(
            &format!(
                "/api/files/uploads/{}/complete",
                upload["upload_id"].as_str().unwrap()
            ),
            Some(&token),
            json!({"parts": parts}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(item["content_type"], "application/x-custom");
    assert_eq!(usage(&app, &token).await, (900, 1));
}

/// Storage fails while a form's files are put in place (after the checks and the charge): the
/// usage given back is exactly what the unplaced files were charged, overwrites included.
#[tokio::test]
async fn a_commit_failing_midway_gives_back_exactly_what_was_not_placed() {
    use std::sync::atomic::Ordering;
    let base = TestApp::new(Kind::Embedded).await;
    let (app, flaky) = crate::helpers::Flaky::around(&base);
    let (_, token, _) = app.user("uma").await;
    app.upload(&token, &[], &[("a.txt", b"0123456789")])
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(usage(&app, &token).await, (10, 1));
    // b.txt is new (+5 bytes, +1 file); a.txt shrinks from 10 to 4 bytes (-6). The first copy
    // was the first upload's; the second places b.txt; the third, a.txt's, fails.
    flaky.failed_copy.store(3, Ordering::SeqCst);
    let reply = app
        .upload(
            &token,
            &[("overwrite", None, b"true")],
            &[("b.txt", b"bbbbb"), ("a.txt", b"aaaa")],
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    // b.txt was placed, a.txt kept its old 10 bytes: 15 bytes in 2 files, as counted.
    assert_eq!(usage(&app, &token).await, (15, 2));
    assert_eq!(
        download(&app, &token, "a.txt", None).await.body,
        "0123456789"
    );
    assert_eq!(download(&app, &token, "b.txt", None).await.body, "bbbbb");
}

//! Issue 12's input limits, on every backend: malformed multipart bodies fail after a few KB,
//! form uploads are bounded by their file count and by the room left under the quota, error
//! messages stay short and give the real reason, `POST /api/zip` refuses nested paths and a
//! `HEAD` of download-zip writes nothing. Each case shows the refusal and what remains.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};
use shared::layout;

use crate::backend_tests;
use crate::helpers::{Kind, Reply, TestApp};
use crate::invariants::listing_of;

backend_tests!(
    a_form_without_its_boundary_fails_after_a_few_kb,
    a_form_takes_a_bounded_number_of_files,
    a_form_is_capped_by_the_room_left,
    errors_are_short_and_give_the_real_reason,
    zip_refuses_paths_inside_listed_paths,
    head_of_download_zip_writes_nothing,
);

const BOUNDARY: &str = "limits-test-boundary";
const MIB: u64 = 1024 * 1024;

/// A form upload whose body is `head` and then `filler` bytes up to `total`, produced as they
/// are read (no `Content-Length`); the counter says how many the server pulled.
async fn streamed_form(
    app: &TestApp,
    token: &str,
    head: &'static [u8],
    filler: u8,
    total: u64,
) -> (Reply, u64) {
    let pulled = Arc::new(AtomicU64::new(0));
    let counter = pulled.clone();
    let chunk = bytes::Bytes::from(vec![filler; 64 * 1024]);
    let first = futures::stream::once(async move { bytes::Bytes::from_static(head) });
    let rest = futures::stream::unfold(head.len() as u64, move |sent| {
        let chunk = chunk.clone();
        async move { (sent < total).then(|| (chunk.clone(), sent + chunk.len() as u64)) }
    });
    let body = futures::StreamExt::map(futures::StreamExt::chain(first, rest), move |c| {
        counter.fetch_add(c.len() as u64, Ordering::Relaxed);
        Ok::<_, std::io::Error>(c)
    });
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/files/upload")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from_stream(body))
        .expect("request");
    let reply = app.send(req).await;
    (reply, pulled.load(Ordering::Relaxed))
}

async fn storage(app: &TestApp, token: &str) -> Value {
    app.get("/api/auth/user-info", Some(token))
        .await
        .expect(StatusCode::OK)["storage"]
        .clone()
}

/// Nothing stored: no item in the home, nothing charged, nothing left in staging.
async fn assert_nothing_stored(app: &TestApp, token: &str) {
    assert_eq!(listing_of(app, token).await, Vec::<Value>::new());
    let usage = storage(app, token).await;
    assert_eq!(usage["used_bytes"], 0, "{usage}");
    assert_eq!(usage["file_count"], 0, "{usage}");
    let staged = app
        .core
        .objects
        .list(layout::STAGING_ROOT, false, None, 10)
        .await
        .expect("staging");
    assert!(staged.items.is_empty(), "staged: {:?}", staged.items);
}

async fn a_form_without_its_boundary_fails_after_a_few_kb(kind: Kind) {
    // A limit far above the body, so that only the framing watch can stop it early.
    let app = TestApp::with(kind, |c| c.max_form_bytes = 1 << 30).await;
    let (_, token, _) = app.user("mona").await;
    // 200 MB in which the boundary never appears: refused after the first chunks.
    let (reply, pulled) = streamed_form(&app, &token, b"", b'a', 200 * MIB).await;
    let body = reply.expect_error(StatusCode::BAD_REQUEST, "invalid_form");
    assert!(
        body["error"].as_str().unwrap().contains("no boundary"),
        "{body}"
    );
    assert!(pulled < MIB, "read {pulled} bytes before refusing");
    // Part headers that never end.
    let head = b"--limits-test-boundary\r\nContent-Disposition: form-data; name=\"files\"; x=";
    let (reply, pulled) = streamed_form(&app, &token, head, b'h', 200 * MIB).await;
    let body = reply.expect_error(StatusCode::BAD_REQUEST, "invalid_form");
    assert!(
        body["error"].as_str().unwrap().contains("headers"),
        "{body}"
    );
    assert!(pulled < MIB, "read {pulled} bytes before refusing");
    assert_nothing_stored(&app, &token).await;
}

async fn a_form_takes_a_bounded_number_of_files(kind: Kind) {
    let app = TestApp::with(kind, |c| c.limits.max_form_files = 5).await;
    let (_, token, _) = app.user("nils").await;
    let names: Vec<String> = (0..6).map(|i| format!("empty-{i}.txt")).collect();
    let six: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
    app.upload(&token, &[], &six)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "too_many_files");
    assert_nothing_stored(&app, &token).await;
    // The limit itself is allowed.
    app.upload(&token, &[], &six[..5])
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(storage(&app, &token).await["file_count"], 5);
}

async fn a_form_is_capped_by_the_room_left(kind: Kind) {
    let app = TestApp::with(kind, |c| {
        c.default_quota_bytes = Some(1000);
        c.max_form_bytes = 1 << 30;
    })
    .await;
    let (_, token, _) = app.user("olaf").await;
    // A declared size past the room: refused before a byte is read.
    let big = vec![b'x'; 4 * MIB as usize];
    app.upload(&token, &[], &[("big.bin", &big)])
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded");
    // Streamed without a size: refused once the room and the form's framing are passed.
    let head = b"--limits-test-boundary\r\nContent-Disposition: form-data; name=\"files\"; \
                 filename=\"big.bin\"\r\n\r\n";
    let (reply, pulled) = streamed_form(&app, &token, head, b'x', 200 * MIB).await;
    reply.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded");
    assert!(pulled < 4 * MIB, "read {pulled} bytes before refusing");
    assert_nothing_stored(&app, &token).await;
    // What fits is stored.
    app.upload(&token, &[], &[("fits.bin", &big[..1000])])
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(storage(&app, &token).await["used_bytes"], 1000);
}

async fn errors_are_short_and_give_the_real_reason(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("pia").await;
    let huge = "n".repeat(60_000);
    let short = |reply: &Value| {
        let text = reply.to_string();
        assert!(text.len() < 1000, "{} bytes: {}…", text.len(), &text[..200]);
    };
    // A name too long is "too long", not a list of forbidden characters.
    for name in ["y".repeat(256), huge.clone()] {
        let reply = app
            .post(
                "/api/files/create-folder",
                Some(&token),
                json!({"parent_path": "", "folder_name": name}),
            )
            .await
            .expect_error(StatusCode::BAD_REQUEST, "validation_error");
        assert_eq!(
            reply["details"]["folder_name"], "A name may be at most 255 bytes.",
            "{reply}"
        );
        short(&reply);
    }
    let reply = app
        .post(
            "/api/files/rename",
            Some(&token),
            json!({"old_path": "x", "new_name": "a/b"}),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    assert_eq!(
        reply["details"]["new_name"],
        "A name is one path segment: no '/'."
    );
    // A form upload's file name: the reason, and the name cut short.
    let reply = app
        .upload(&token, &[], &[(&huge[..300], b"x")])
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_path");
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("at most 255 bytes"),
        "{reply}"
    );
    short(&reply);
    // Past the part headers' bound it is the form that is refused.
    let reply = app
        .upload(&token, &[], &[(huge.as_str(), b"x")])
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_form");
    short(&reply);
    // A JSON parser's message quotes the input: cut short too.
    let mut body = json!({"paths": ["x"]});
    body[huge.as_str()] = json!(1);
    let reply = app
        .post("/api/zip", Some(&token), body)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_json");
    assert!(reply["error"].as_str().unwrap().contains('…'), "{reply}");
    short(&reply);
    // Paths are checked with their own reason too.
    let reply = app
        .get(&format!("/api/files/list?path={huge}"), Some(&token))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_path");
    short(&reply);
    assert_nothing_stored(&app, &token).await;
}

/// The user's archive objects (finished ZIPs).
async fn archives(app: &TestApp, user_id: &str) -> usize {
    app.core
        .objects
        .list(&layout::archives_of(user_id), false, None, 100)
        .await
        .expect("archives")
        .items
        .len()
}

async fn zip_home(app: &TestApp) -> (String, String) {
    let (id, token, _) = app.user("quinn").await;
    app.upload(&token, &[("path", None, b"a/b/c")], &[("f.txt", b"12345")])
        .await
        .expect(StatusCode::CREATED);
    (id, token)
}

async fn zip_refuses_paths_inside_listed_paths(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (id, token) = zip_home(&app).await;
    for paths in [
        json!(["a", "a/b", "a/b/c"]),
        json!(["a/b/c/f.txt", "a"]),
        json!(["a/b", "a/b/c/f.txt"]),
    ] {
        let reply = app
            .post("/api/zip", Some(&token), json!({ "paths": paths }))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "nested_paths");
        assert!(
            reply["error"].as_str().unwrap().contains("lies inside"),
            "{reply}"
        );
    }
    assert_eq!(archives(&app, &id).await, 0);
    // Siblings and look-alike names are not nested.
    app.upload(&token, &[("path", None, b"a/bc")], &[("g.txt", b"6")])
        .await
        .expect(StatusCode::CREATED);
    let job = app
        .post("/api/zip", Some(&token), json!({"paths": ["a/b", "a/bc"]}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(job["files_total"], 2);
    assert_eq!(job["bytes_total"], 6);
    assert_eq!(archives(&app, &id).await, 1);
}

async fn head_of_download_zip_writes_nothing(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (id, token) = zip_home(&app).await;
    for _ in 0..3 {
        let reply = app
            .call(
                Method::HEAD,
                "/api/files/download-zip?path=a",
                Some(&token),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    // The checks a GET makes still answer.
    let file = app
        .call(
            Method::HEAD,
            "/api/files/download-zip?path=a/b/c/f.txt",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(file.status, StatusCode::BAD_REQUEST);
    let missing = app
        .call(
            Method::HEAD,
            "/api/files/download-zip?path=nope",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(archives(&app, &id).await, 0);
    // A GET still writes its archive.
    app.get("/api/files/download-zip?path=a", Some(&token))
        .await
        .expect(StatusCode::FOUND);
    assert_eq!(archives(&app, &id).await, 1);
}

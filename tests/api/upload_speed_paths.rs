//! The fast upload paths keep their exact behaviour: parts of one direct upload sent at once,
//! form bodies whose bytes come in awkward chunks, and form bodies that end early or break.

use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use md5::{Digest, Md5};
use serde_json::{json, Value};
use shared::layout;

use crate::backend_tests;
use crate::helpers::{race, Kind, Reply, TestApp};

backend_tests!(
    parts_sent_at_once_make_the_exact_file,
    form_bytes_in_any_chunking_are_stored_exactly,
    a_form_cut_short_stores_and_charges_nothing,
    a_form_whose_body_breaks_stores_and_charges_nothing,
);

const MIB: usize = 1024 * 1024;
const BOUNDARY: &str = "speed-boundary";

/// Bytes that differ from offset to offset, with the delimiter's first bytes sprinkled in.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let mut data: Vec<u8> = (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[2] ^ seed)
        .collect();
    let near = format!("\r\n--{}", &BOUNDARY[..BOUNDARY.len() - 1]);
    for at in (1000..len.saturating_sub(near.len())).step_by(65_537) {
        data[at..at + near.len()].copy_from_slice(near.as_bytes());
    }
    data
}

/// The ETag each backend gives `data`: S3's MD5, the local store's 128-bit BLAKE3.
fn expected_etag(kind: Kind, data: &[u8]) -> String {
    match kind {
        Kind::Aws => format!("\"{:x}\"", Md5::digest(data)),
        Kind::Embedded => {
            let mut digest = [0u8; 16];
            blake3::Hasher::new()
                .update(data)
                .finalize_xof()
                .fill(&mut digest);
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("\"{hex}\"")
        }
    }
}

async fn usage(app: &TestApp, token: &str) -> (u64, u64) {
    let info = app
        .get("/api/auth/user-info", Some(token))
        .await
        .expect(StatusCode::OK);
    let n = |k: &str| info["storage"][k].as_u64().unwrap();
    (n("used_bytes"), n("file_count"))
}

async fn downloaded(app: &TestApp, token: &str, path: &str) -> Bytes {
    let req = Request::builder()
        .uri(format!("/api/files/download?path={path}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let raw = app.send_raw(req).await;
    if raw.status != StatusCode::FOUND {
        assert_eq!(raw.status, StatusCode::OK);
        return raw.body;
    }
    let location = raw.headers["location"].to_str().unwrap().to_owned();
    app.fetch(Method::GET, &location, &[], Vec::new())
        .await
        .body
}

/// Nothing in the home, nothing staged, nothing charged.
async fn nothing_left(app: &TestApp, token: &str) {
    let home = app
        .get("/api/files/list?recursive=true", Some(token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(home["items"], json!([]), "home: {home}");
    let staged = app
        .core
        .objects
        .list(layout::STAGING_ROOT, false, None, 10)
        .await
        .unwrap();
    assert!(staged.items.is_empty(), "staged: {:?}", staged.items);
    assert_eq!(usage(app, token).await, (0, 0));
}

/// The embedded store kept no temp file or blob of it on disk either.
fn no_bytes_on_disk(app: &TestApp, kind: Kind) {
    if kind != Kind::Embedded {
        return;
    }
    let objects = app.core.config.data_dir.join("objects");
    for dir in ["tmp", "blobs"] {
        let left: Vec<_> = std::fs::read_dir(objects.join(dir)).unwrap().collect();
        assert!(left.is_empty(), "{dir}: {left:?}");
    }
}

/// A form of one file `name`: what comes before its bytes, and after.
fn form_head_and_tail(name: &str) -> (Vec<u8>, Vec<u8>) {
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    (
        head.into_bytes(),
        format!("\r\n--{BOUNDARY}--\r\n").into_bytes(),
    )
}

async fn send_form(
    app: &TestApp,
    token: &str,
    chunks: Vec<Result<Bytes, std::io::Error>>,
    length: Option<usize>,
) -> Reply {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/api/files/upload")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        );
    if let Some(n) = length {
        req = req.header(header::CONTENT_LENGTH, n);
    }
    let body = Body::from_stream(futures::stream::iter(chunks));
    app.send(req.body(body).unwrap()).await
}

/// `bytes` cut into pieces of the sizes in `sizes`, over and over.
fn chunked(bytes: &[u8], sizes: &[usize]) -> Vec<Result<Bytes, std::io::Error>> {
    let mut chunks = Vec::new();
    let (mut at, mut i) = (0, 0);
    while at < bytes.len() {
        let end = (at + sizes[i % sizes.len()]).min(bytes.len());
        chunks.push(Ok(Bytes::copy_from_slice(&bytes[at..end])));
        at = end;
        i += 1;
    }
    chunks
}

async fn parts_sent_at_once_make_the_exact_file(kind: Kind) {
    let app = Arc::new(TestApp::new(kind).await);
    let (_, token, _) = app.user("pia").await;
    // GIVEN a direct upload of four parts (the last one short)
    let data = Arc::new(pattern(3 * 16 * MIB + 12_345, 3));
    let upload = app
        .post(
            "/api/files/uploads",
            Some(&token),
            json!({"path": "at-once.bin", "size": data.len()}),
        )
        .await
        .expect(StatusCode::CREATED);
    let parts: Vec<Value> = upload["parts"].as_array().unwrap().clone();
    assert_eq!(parts.len(), 4);
    let part_size = upload["part_size"].as_u64().unwrap() as usize;
    // WHEN all four are sent at the same moment
    let sent = race(parts.len(), |i| {
        let (app, data, part) = (app.clone(), data.clone(), parts[i].clone());
        async move {
            let start = (part["part_number"].as_u64().unwrap() as usize - 1) * part_size;
            let bytes = data[start..(start + part_size).min(data.len())].to_vec();
            let url = part["url"].as_str().unwrap();
            (start, app.fetch(Method::PUT, url, &[], bytes).await)
        }
    })
    .await;
    // THEN each is received, named by its own digest
    let mut done = Vec::new();
    for ((start, raw), part) in sent.iter().zip(&parts) {
        assert_eq!(raw.status, StatusCode::OK, "{:?}", raw.body);
        let end = (start + part_size).min(data.len());
        let etag = raw.headers["etag"].to_str().unwrap().to_owned();
        assert_eq!(etag, expected_etag(kind, &data[*start..end]));
        done.push(json!({"part_number": part["part_number"], "etag": etag}));
    }
    // AND completing them makes the file, byte for byte, counted once
    let item = app
        .post(
            &format!(
                "/api/files/uploads/{}/complete",
                upload["upload_id"].as_str().unwrap()
            ),
            Some(&token),
            json!({"parts": done}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(item["size"], data.len());
    assert!(item["etag"].as_str().unwrap().ends_with("-4\""), "{item}");
    assert!(downloaded(&app, &token, "at-once.bin").await == data[..]);
    assert_eq!(usage(&app, &token).await, (data.len() as u64, 1));
}

async fn form_bytes_in_any_chunking_are_stored_exactly(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("fay").await;
    // GIVEN a file holding near-delimiters, sent in odd chunks (some a few bytes long, so a
    // delimiter's start falls across chunk edges), and once in a single chunk
    let data = pattern(2 * MIB + 777, 5);
    let (head, tail) = form_head_and_tail("odd.bin");
    let body = [head.as_slice(), &data, &tail].concat();
    for (name, sizes) in [
        ("odd", vec![65_521, 3, 7, 4099, 1, 131_071]),
        ("one", vec![body.len()]),
    ] {
        // WHEN it is uploaded
        let reply = send_form(&app, &token, chunked(&body, &sizes), Some(body.len())).await;
        let reply = reply.expect(StatusCode::CREATED);
        assert_eq!(reply["files"][0]["size"], data.len(), "{name}");
        // THEN the stored bytes and their ETag are exactly the file's
        assert!(
            downloaded(&app, &token, "odd.bin").await == data[..],
            "{name}"
        );
        let stat = app
            .get("/api/files/stat?path=odd.bin", Some(&token))
            .await
            .expect(StatusCode::OK);
        assert_eq!(stat["etag"], expected_etag(kind, &data), "{name}");
        app.post(
            "/api/files/delete",
            Some(&token),
            json!({"path": "odd.bin"}),
        )
        .await
        .expect(StatusCode::OK);
    }
    assert_eq!(usage(&app, &token).await, (0, 0));
}

async fn a_form_cut_short_stores_and_charges_nothing(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("cal").await;
    // GIVEN a form whose body ends in the middle of its file, before the closing boundary
    let data = pattern(3 * MIB, 7);
    let (head, _) = form_head_and_tail("cut.bin");
    let body = [head.as_slice(), &data].concat();
    // WHEN it is sent
    let reply = send_form(&app, &token, chunked(&body, &[100_000]), None).await;
    // THEN it is refused as a broken form, and nothing of it remains
    reply.expect_error(StatusCode::BAD_REQUEST, "invalid_form");
    nothing_left(&app, &token).await;
    no_bytes_on_disk(&app, kind);
}

async fn a_form_whose_body_breaks_stores_and_charges_nothing(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("bob").await;
    // GIVEN a form whose connection breaks after 2 MiB of its file
    let data = pattern(2 * MIB, 9);
    let (head, _) = form_head_and_tail("broken.bin");
    let mut chunks = chunked(&[head.as_slice(), &data].concat(), &[64 * 1024]);
    chunks.push(Err(std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "connection reset",
    )));
    // WHEN it is sent
    let reply = send_form(&app, &token, chunks, Some(8 * MIB)).await;
    // THEN it is refused as a broken form, and nothing of it remains
    reply.expect_error(StatusCode::BAD_REQUEST, "invalid_form");
    nothing_left(&app, &token).await;
    no_bytes_on_disk(&app, kind);
}

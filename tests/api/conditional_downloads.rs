//! Conditional and partial downloads (RFC 9110 §13, §14): `If-None-Match` answers 304 while
//! the client's copy is current; `If-Range` keeps a `Range` only for the version it names (a
//! client resuming a download of a file replaced meanwhile gets the whole new file, never a
//! splice of two versions); ranges stay exact across the chunks the local store reads in.
//!
//! On the embedded backend this server answers; on AWS the download redirects to a presigned
//! S3 URL and S3 answers the conditions: there the cases check what S3 serves behind the 302.

use http::{Method, StatusCode};

use crate::backend_tests;
use crate::helpers::{Kind, Raw, TestApp};

backend_tests!(
    if_none_match_answers_304_without_a_body,
    if_range_keeps_a_range_only_for_the_version_it_names,
    ranges_are_exact_across_read_chunks,
);

const MIB: usize = 1024 * 1024;

/// Deterministic bytes that differ from offset to offset.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[2] ^ seed)
        .collect()
}

async fn put(app: &TestApp, token: &str, name: &str, data: &[u8]) {
    app.upload(token, &[("overwrite", None, b"true")], &[(name, data)])
        .await
        .expect(StatusCode::CREATED);
}

/// `GET /api/files/download` with `headers`; a redirect (AWS) is followed with the same headers.
async fn get(app: &TestApp, token: &str, path: &str, headers: &[(&str, &str)]) -> Raw {
    let mut req = http::Request::builder()
        .uri(format!("/api/files/download?path={path}"))
        .header("authorization", format!("Bearer {token}"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let raw = app
        .send_raw(req.body(axum::body::Body::empty()).unwrap())
        .await;
    if raw.status != StatusCode::FOUND {
        return raw;
    }
    let location = raw.headers["location"].to_str().unwrap().to_owned();
    app.fetch(Method::GET, &location, headers, Vec::new()).await
}

fn header(raw: &Raw, name: &str) -> String {
    raw.headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The whole file, with `status`.
fn assert_whole(raw: &Raw, status: StatusCode, data: &[u8], why: &str) {
    assert_eq!(raw.status, status, "{why}");
    assert!(raw.body == data, "{why}: not the whole file");
    assert!(!raw.headers.contains_key("content-range"), "{why}");
}

async fn if_none_match_answers_304_without_a_body(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("nina").await;
    let old = pattern(5000, 1);
    put(&app, &token, "a.bin", &old).await;
    let first = get(&app, &token, "a.bin", &[]).await;
    assert_whole(&first, StatusCode::OK, &old, "plain GET");
    let etag = header(&first, "etag");
    assert!(etag.starts_with('"'), "{etag}");

    let cached = get(&app, &token, "a.bin", &[("if-none-match", &etag)]).await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    assert!(cached.body.is_empty(), "a 304 has no body");
    let other = get(&app, &token, "a.bin", &[("if-none-match", "\"0000\"")]).await;
    assert_whole(&other, StatusCode::OK, &old, "another tag");

    if let Kind::Embedded = kind {
        // This server's own rules (LocalStack's 304 names no ETag and takes no lists): the
        // 304's headers, lists, weak comparison, `*`, and the signed transfer URL.
        assert_eq!(header(&cached, "etag"), etag);
        let weak = format!("W/{etag}");
        let listed = format!("\"0000\", {etag}");
        for value in [listed.as_str(), weak.as_str(), "*"] {
            let cached = get(&app, &token, "a.bin", &[("if-none-match", value)]).await;
            assert_eq!(cached.status, StatusCode::NOT_MODIFIED, "{value}");
            assert!(cached.body.is_empty());
            assert_eq!(header(&cached, "cache-control"), "private, no-cache");
        }
        let link = app
            .get(
                "/api/files/download?path=a.bin&redirect=false",
                Some(&token),
            )
            .await
            .expect(StatusCode::OK);
        let url = link["url"].as_str().unwrap();
        let via_link = app
            .fetch(Method::GET, url, &[("if-none-match", &etag)], Vec::new())
            .await;
        assert_eq!(via_link.status, StatusCode::NOT_MODIFIED);
        assert!(via_link.body.is_empty());
    }

    // Replaced: the old tag no longer matches, and the new bytes come back whole.
    let new = pattern(6000, 2);
    put(&app, &token, "a.bin", &new).await;
    let fresh = get(&app, &token, "a.bin", &[("if-none-match", &etag)]).await;
    assert_whole(&fresh, StatusCode::OK, &new, "the file was replaced");
    assert_ne!(header(&fresh, "etag"), etag);
}

async fn if_range_keeps_a_range_only_for_the_version_it_names(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("ivo").await;
    let old = pattern(4000, 3);
    put(&app, &token, "r.bin", &old).await;
    let first = get(&app, &token, "r.bin", &[]).await;
    let (etag, modified) = (header(&first, "etag"), header(&first, "last-modified"));
    let range = ("range", "bytes=100-199");

    // The validator names this version: the range.
    let part = get(&app, &token, "r.bin", &[range, ("if-range", &etag)]).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert!(part.body == old[100..200]);
    assert_eq!(header(&part, "content-range"), "bytes 100-199/4000");

    if let Kind::Aws = kind {
        // S3 has no `If-Range`: what holds there is the redirect, whatever the headers.
        let req = http::Request::builder()
            .uri("/api/files/download?path=r.bin")
            .header("authorization", format!("Bearer {token}"))
            .header("range", "bytes=100-199")
            .header("if-range", "\"stale\"")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(app.send_raw(req).await.status, StatusCode::FOUND);
        return;
    }

    let by_date = get(&app, &token, "r.bin", &[range, ("if-range", &modified)]).await;
    assert_eq!(by_date.status, StatusCode::PARTIAL_CONTENT, "{modified}");
    assert!(by_date.body == old[100..200]);
    // Another version, a weak tag, another date, garbage: the whole file, 200.
    let weak = format!("W/{etag}");
    for validator in [
        "\"stale\"",
        weak.as_str(),
        "Mon, 01 Jan 2024 00:00:00 GMT",
        "not a validator",
    ] {
        let whole = get(&app, &token, "r.bin", &[range, ("if-range", validator)]).await;
        assert_whole(&whole, StatusCode::OK, &old, validator);
        assert_eq!(header(&whole, "content-length"), "4000", "{validator}");
    }
    // `If-Range` without `Range` changes nothing.
    let plain = get(&app, &token, "r.bin", &[("if-range", "\"stale\"")]).await;
    assert_whole(&plain, StatusCode::OK, &old, "no Range");

    // The file is replaced while a client holds the first 100 bytes of the old one: resuming
    // with the old tag gets the new file whole, never old bytes followed by new ones.
    let new = pattern(4500, 4);
    put(&app, &token, "r.bin", &new).await;
    let resumed = get(&app, &token, "r.bin", &[range, ("if-range", &etag)]).await;
    assert_whole(&resumed, StatusCode::OK, &new, "resumed after a replace");
    let new_etag = header(&resumed, "etag");
    assert_ne!(new_etag, etag);
    let part = get(&app, &token, "r.bin", &[range, ("if-range", &new_etag)]).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert!(part.body == new[100..200]);
}

async fn ranges_are_exact_across_read_chunks(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("chu").await;
    // Over several chunks of the local store's reads (512 KiB), with a ragged end.
    let size = 2 * MIB + 123;
    let data = pattern(size, 9);
    put(&app, &token, "c.bin", &data).await;
    let whole = get(&app, &token, "c.bin", &[]).await;
    assert_whole(&whole, StatusCode::OK, &data, "the whole file");
    assert_eq!(header(&whole, "content-length"), size.to_string());
    let cases = [
        (MIB - 10, MIB + 9),
        (MIB / 2 - 1, MIB / 2),
        (0, MIB - 1),
        (MIB, 2 * MIB),
        (MIB - 1, size - 1),
        (2 * MIB, size - 1),
        (size - 1, size - 1),
    ];
    for (first, last) in cases {
        let spec = format!("bytes={first}-{last}");
        let part = get(&app, &token, "c.bin", &[("range", &spec)]).await;
        assert_eq!(part.status, StatusCode::PARTIAL_CONTENT, "{spec}");
        assert!(part.body == data[first..=last], "{spec}: wrong bytes");
        assert_eq!(
            header(&part, "content-range"),
            format!("bytes {first}-{last}/{size}"),
        );
    }
    let tail = get(&app, &token, "c.bin", &[("range", "bytes=-1000")]).await;
    assert_eq!(tail.status, StatusCode::PARTIAL_CONTENT);
    assert!(tail.body == data[size - 1000..]);
}

//! What a download URL may serve: active content (HTML, SVG, …) never inline and never under
//! its own type, and, where the store allows it, only the version of the file it was signed for.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Kind, Raw, TestApp};

backend_tests!(
    active_content_is_only_ever_an_octet_stream_attachment,
    signed_urls_name_one_version_of_a_file,
);

/// The query parameter `name` of `url`, percent-decoded.
fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let value = query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))?;
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(String::from_utf8(out).unwrap())
}

fn header(raw: &Raw, name: &str) -> String {
    raw.headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The signed URL of `path` with `inline=true`.
async fn inline_link(app: &TestApp, token: &str, path: &str) -> Value {
    app.get(
        &format!("/api/files/download?path={path}&redirect=false&inline=true"),
        Some(token),
    )
    .await
    .expect(StatusCode::OK)
}

async fn active_content_is_only_ever_an_octet_stream_attachment(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("rita").await;
    let html = b"<script>fetch('/steal?c='+document.cookie)</script>".as_slice();
    let svg = b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>".as_slice();
    let files: [(&str, &[u8]); 6] = [
        ("page.html", html),
        ("pic.svg", svg),
        ("feed.xml", b"<x/>"),
        ("app.js", b"alert(1)"),
        ("pic.png", b"\x89PNG\r\n\x1a\n"),
        ("doc.pdf", b"%PDF-1.4"),
    ];
    app.upload(&token, &[], &files)
        .await
        .expect(StatusCode::CREATED);
    for (name, data) in files {
        let passive = name.ends_with(".png") || name.ends_with(".pdf");
        let (disposition, content_type) = match passive {
            true => (
                "inline;",
                if name.ends_with(".png") {
                    "image/png"
                } else {
                    "application/pdf"
                },
            ),
            false => ("attachment;", "application/octet-stream"),
        };
        // WHEN the file is asked for inline
        let link = inline_link(&app, &token, name).await;
        let url = link["url"].as_str().unwrap();
        if matches!(kind, Kind::Aws) {
            // THEN the presigned URL itself tells S3 how to answer
            let asked = query_param(url, "response-content-disposition").unwrap();
            assert!(asked.starts_with(disposition), "{name}: {asked}");
            let asked_type = query_param(url, "response-content-type").unwrap();
            assert_eq!(asked_type, content_type, "{name}");
        }
        // AND what is served says so (from the bucket, or from this server)
        let got = app.fetch(Method::GET, url, &[], Vec::new()).await;
        assert_eq!(got.status, StatusCode::OK, "{name}");
        assert_eq!(&got.body[..], data, "{name}");
        assert!(
            header(&got, "content-disposition").starts_with(disposition),
            "{name}"
        );
        assert_eq!(header(&got, "content-type"), content_type, "{name}");
    }
    if matches!(kind, Kind::Embedded) {
        // The bytes this server sends itself follow the same rule
        let req = http::Request::builder()
            .uri("/api/files/download?path=pic.svg&inline=true")
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let got = app.send_raw(req).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(header(&got, "content-type"), "application/octet-stream");
        assert!(header(&got, "content-disposition").starts_with("attachment;"));
        assert_eq!(header(&got, "content-security-policy"), "sandbox");
    }
}

async fn signed_urls_name_one_version_of_a_file(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("sven").await;
    app.upload(&token, &[], &[("a.txt", b"old secret")])
        .await
        .expect(StatusCode::CREATED);
    let link = app
        .get(
            "/api/files/download?path=a.txt&redirect=false",
            Some(&token),
        )
        .await
        .expect(StatusCode::OK);
    let url = link["url"].as_str().unwrap().to_owned();
    let got = app.fetch(Method::GET, &url, &[], Vec::new()).await;
    assert_eq!(
        (got.status, &got.body[..]),
        (StatusCode::OK, &b"old secret"[..])
    );
    // WHEN the file is deleted and another uploaded under the same name
    app.post(
        "/api/files/delete",
        Some(&token),
        json!({ "path": "a.txt" }),
    )
    .await
    .expect(StatusCode::OK);
    app.upload(&token, &[], &[("a.txt", b"new bytes, someone else's")])
        .await
        .expect(StatusCode::CREATED);
    if matches!(kind, Kind::Aws) {
        // The bucket is not versioned: a presigned GET cannot name a version, so its lifetime
        // (the configured transfer URL lifetime) is the bound.
        let ttl = app.core.config.transfer_url_ttl_secs;
        assert_eq!(query_param(&url, "X-Amz-Expires"), Some(ttl.to_string()));
        assert!(ttl <= 900, "{ttl}");
        return;
    }
    // THEN the old URL serves nothing, with or without a range
    for range in [None, Some("bytes=0-3")] {
        let headers: Vec<(&str, &str)> = range.map(|r| ("range", r)).into_iter().collect();
        let got = app.fetch(Method::GET, &url, &headers, Vec::new()).await;
        assert_eq!(got.status, StatusCode::NOT_FOUND, "{range:?}");
        let body: Value = serde_json::from_slice(&got.body).unwrap();
        assert_eq!(body["code"], "not_found");
    }
    // AND a fresh URL serves the new file
    let fresh = app
        .get(
            "/api/files/download?path=a.txt&redirect=false",
            Some(&token),
        )
        .await
        .expect(StatusCode::OK);
    let got = app
        .fetch(Method::GET, fresh["url"].as_str().unwrap(), &[], Vec::new())
        .await;
    assert_eq!(
        (got.status, &got.body[..]),
        (StatusCode::OK, &b"new bytes, someone else's"[..])
    );
    // AND overwriting in place ends it too
    app.upload(
        &token,
        &[("overwrite", None, b"true")],
        &[("a.txt", b"third")],
    )
    .await
    .expect(StatusCode::CREATED);
    let got = app
        .fetch(Method::GET, fresh["url"].as_str().unwrap(), &[], Vec::new())
        .await;
    assert_eq!(got.status, StatusCode::NOT_FOUND);
    // The file itself is there, as uploaded last
    let st = app
        .get("/api/files/stat?path=a.txt", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(st["size"], 5);
}

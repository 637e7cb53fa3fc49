//! Names that deceive are refused, and names are one in Unicode NFC: `é` typed precomposed
//! (U+00E9) or decomposed (`e` + U+0301) names the same file, and answers always say NFC.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Kind, TestApp};

backend_tests!(
    nfc_and_nfd_twins_are_one_file,
    folders_and_renames_are_stored_in_nfc,
    invisible_and_direction_characters_are_refused,
);

const NFC: &str = "caf\u{e9}.txt";
const NFD: &str = "cafe\u{301}.txt";

/// Percent-encodes everything but ASCII letters and digits (a query value).
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn listing(app: &TestApp, token: &str, path: &str) -> Vec<String> {
    let list = app
        .get(&format!("/api/files/list?path={}", enc(path)), Some(token))
        .await
        .expect(StatusCode::OK);
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap().to_owned())
        .collect()
}

async fn nfc_and_nfd_twins_are_one_file(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("nadia").await;
    // WHEN a file is uploaded under its decomposed name
    app.upload(&token, &[], &[(NFD, b"first")])
        .await
        .expect(StatusCode::CREATED);
    // THEN it is listed under the composed one
    assert_eq!(listing(&app, &token, "").await, [NFC]);
    // AND both spellings stat and download it, answering in NFC
    for name in [NFC, NFD] {
        let st = app
            .get(&format!("/api/files/stat?path={}", enc(name)), Some(&token))
            .await
            .expect(StatusCode::OK);
        assert_eq!(
            (st["path"].as_str(), st["size"].as_u64()),
            (Some(NFC), Some(5))
        );
        let link = app
            .get(
                &format!("/api/files/download?path={}&redirect=false", enc(name)),
                Some(&token),
            )
            .await
            .expect(StatusCode::OK);
        let got = app
            .fetch(
                http::Method::GET,
                link["url"].as_str().unwrap(),
                &[],
                Vec::new(),
            )
            .await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(&got.body[..], b"first");
    }
    // AND the composed name is taken: without overwrite the twin is refused
    app.upload(&token, &[], &[(NFC, b"second")])
        .await
        .expect_error(StatusCode::CONFLICT, "already_exists");
    // AND one form cannot carry both spellings
    app.upload(
        &token,
        &[("path", None, b"")],
        &[("x\u{e9}", b"1"), ("xe\u{301}", b"2")],
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "duplicate_name");
    // AND deleting by the other spelling deletes it
    app.post("/api/files/delete", Some(&token), json!({ "path": NFD }))
        .await
        .expect(StatusCode::OK);
    assert!(listing(&app, &token, "").await.is_empty());
    let info = app
        .get("/api/auth/user-info", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(info["storage"]["used_bytes"], 0);
}

async fn folders_and_renames_are_stored_in_nfc(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("olaf").await;
    let folder: Value = app
        .post(
            "/api/files/create-folder",
            Some(&token),
            json!({"parent_path": "", "folder_name": "re\u{301}sume\u{301}s"}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(folder["folder_path"], "r\u{e9}sum\u{e9}s");
    // The composed spelling is the same folder: creating it again conflicts
    app.post(
        "/api/files/create-folder",
        Some(&token),
        json!({"parent_path": "", "folder_name": "r\u{e9}sum\u{e9}s"}),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "already_exists");
    // Uploading into it by the decomposed spelling lands in it
    app.upload(
        &token,
        &[("path", None, "re\u{301}sume\u{301}s".as_bytes())],
        &[("cv.txt", b"cv")],
    )
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(
        listing(&app, &token, "r\u{e9}sum\u{e9}s").await,
        ["r\u{e9}sum\u{e9}s/cv.txt"]
    );
    // A rename to a decomposed name is stored composed
    app.post(
        "/api/files/rename",
        Some(&token),
        json!({"old_path": "re\u{301}sume\u{301}s/cv.txt", "new_name": "nai\u{308}ve.txt"}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        listing(&app, &token, "r\u{e9}sum\u{e9}s").await,
        ["r\u{e9}sum\u{e9}s/na\u{ef}ve.txt"]
    );
}

/// The characters that make a name show as another one.
const DECEIVERS: [char; 7] = [
    '\u{202E}', '\u{202A}', '\u{2066}', '\u{2069}', '\u{200B}', '\u{200F}', '\u{FEFF}',
];

async fn invisible_and_direction_characters_are_refused(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("petra").await;
    app.upload(&token, &[], &[("ok.txt", b"ok")])
        .await
        .expect(StatusCode::CREATED);
    for c in DECEIVERS {
        // "invoice" U+202E "fdp.exe" shows as "invoiceexe.pdf"
        let name = format!("invoice{c}fdp.exe");
        let refused = app
            .upload(&token, &[], &[(name.as_str(), b"MZ")])
            .await
            .expect_error(StatusCode::BAD_REQUEST, "invalid_path");
        assert!(
            refused["error"]
                .as_str()
                .unwrap()
                .contains("invisible or text-direction"),
            "{refused}"
        );
        app.upload(
            &token,
            &[("path", None, name.as_bytes())],
            &[("a.txt", b"a")],
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_path");
        app.post(
            "/api/files/create-folder",
            Some(&token),
            json!({"parent_path": "", "folder_name": name}),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
        app.post(
            "/api/files/rename",
            Some(&token),
            json!({"old_path": "ok.txt", "new_name": name}),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
        app.get(
            &format!("/api/files/stat?path={}", enc(&name)),
            Some(&token),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_path");
        app.post(
            "/api/zip",
            Some(&token),
            json!({ "paths": [format!("ok{c}.txt")] }),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_path");
    }
    // Nothing was made
    assert_eq!(listing(&app, &token, "").await, ["ok.txt"]);
}

//! The files endpoint group: list, stat, create-folder, delete, rename, move, copy, on every
//! backend (uploads and downloads: `transfers.rs`).

use std::collections::BTreeSet;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Value};
use shared::domain::UserPath;
use shared::layout::Home;

use crate::backend_tests;
use crate::helpers::{Kind, TestApp};

backend_tests!(
    folders_can_be_created_listed_and_statted,
    listing_pages_through_a_folder_without_loss,
    recursive_listing_shows_every_file,
    delete_removes_files_and_whole_folders,
    conflicts_and_missing_paths,
    path_attacks_are_refused_everywhere,
    users_never_see_each_other,
    rename_move_and_copy_files_and_folders,
    relocation_conflicts_and_mistakes,
    folders_of_many_pages_are_copied_and_moved_whole,
);

/// Stores a file straight into the object store: these cases are about the files endpoints;
/// uploads have theirs in `transfers.rs`.
async fn file(app: &TestApp, user_id: &str, path: &str, data: &'static [u8]) {
    let body = Box::pin(futures::stream::iter([Ok(Bytes::from_static(data))]));
    let key = Home::of(user_id).file(&UserPath::parse(path).unwrap());
    app.core
        .objects
        .put(&key, body, "text/plain", u64::MAX)
        .await
        .unwrap();
}

async fn mkdir(app: &TestApp, token: &str, parent: &str, name: &str) -> Value {
    app.post(
        "/api/files/create-folder",
        Some(token),
        json!({"parent_path": parent, "folder_name": name}),
    )
    .await
    .expect(StatusCode::CREATED)
}

fn names(listing: &Value) -> Vec<String> {
    listing["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn folders_can_be_created_listed_and_statted(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (id, token, _) = app.user("amy").await;
    let created = mkdir(&app, &token, "", "docs").await;
    assert_eq!(created["folder_path"], "docs");
    assert!(created["message"].is_string());
    mkdir(&app, &token, "docs", "empty").await;
    file(&app, &id, "docs/report.txt", b"hello").await;
    file(&app, &id, "top.txt", b"x").await;

    let home = app
        .get("/api/files/list", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(home["path"], "");
    assert_eq!(names(&home), ["docs", "top.txt"]);
    assert_eq!(home["total_items"], 2);
    assert!(home["next_cursor"].is_null());
    let docs = app
        .get("/api/files/list?path=docs", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(names(&docs), ["empty", "report.txt"]);
    let empty = &docs["items"][0];
    assert_eq!(
        (empty["is_directory"].as_bool(), empty["path"].as_str()),
        (Some(true), Some("docs/empty"))
    );
    let report = &docs["items"][1];
    assert_eq!(report["size"], 5);
    assert_eq!(report["content_type"], "text/plain");
    assert!(report["modified"].as_f64().unwrap() > 1.7e9);
    assert!(report["modified_at"].is_string() && report["etag"].is_string());
    // An empty folder lists as empty, not as missing
    let listing = app
        .get("/api/files/list?path=docs/empty", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert!(names(&listing).is_empty());
    // stat
    let st = app
        .get("/api/files/stat?path=docs/report.txt", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (st["is_directory"].as_bool(), st["size"].as_u64()),
        (Some(false), Some(5))
    );
    let st = app
        .get("/api/files/stat?path=docs", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(st["is_directory"], true);
    let st = app
        .get("/api/files/stat?path=", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(st["is_directory"], true);
    // Names with spaces and non-ASCII, percent-encoded once
    mkdir(&app, &token, "", "my files ü").await;
    app.get("/api/files/stat?path=my%20files%20%C3%BC", Some(&token))
        .await
        .expect(StatusCode::OK);
}

async fn listing_pages_through_a_folder_without_loss(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (id, token, _) = app.user("ben").await;
    let mut expected = BTreeSet::new();
    for i in 0..17 {
        file(&app, &id, &format!("p/f{i:02}"), b"x").await;
        expected.insert(format!("f{i:02}"));
    }
    for d in ["d1", "d2"] {
        file(&app, &id, &format!("p/{d}/inner"), b"y").await;
        expected.insert(d.to_owned());
    }
    let mut seen = Vec::new();
    let mut uri = "/api/files/list?path=p&limit=4".to_owned();
    loop {
        let page = app.get(&uri, Some(&token)).await.expect(StatusCode::OK);
        assert!(page["items"].as_array().unwrap().len() <= 4);
        seen.extend(names(&page));
        match page["next_cursor"].as_str() {
            Some(c) => uri = format!("/api/files/list?path=p&limit=4&cursor={c}"),
            None => break,
        }
    }
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "repeated: {seen:?}");
    assert_eq!(unique, expected);
    // A cursor belongs to its listing; garbage and zero limits are 400s
    let first = app
        .get("/api/files/list?path=p&limit=4", Some(&token))
        .await
        .expect(StatusCode::OK);
    let cursor = first["next_cursor"].as_str().unwrap();
    app.get(
        &format!("/api/files/list?path=&cursor={cursor}"),
        Some(&token),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "invalid_cursor");
    app.get("/api/files/list?path=p&cursor=%%%", Some(&token))
        .await
        .expect(StatusCode::BAD_REQUEST);
    app.get("/api/files/list?path=p&limit=0", Some(&token))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    app.get("/api/files/list?path=p&limit=abc", Some(&token))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_query");
}

async fn recursive_listing_shows_every_file(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (id, token, _) = app.user("cid").await;
    file(&app, &id, "a.txt", b"1").await;
    file(&app, &id, "x/b.txt", b"2").await;
    file(&app, &id, "x/y/c.txt", b"3").await;
    let all = app
        .get("/api/files/list?recursive=true", Some(&token))
        .await
        .expect(StatusCode::OK);
    let paths: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["a.txt", "x/b.txt", "x/y/c.txt"]);
}

async fn delete_removes_files_and_whole_folders(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (id, token, _) = app.user("dan").await;
    file(&app, &id, "keep.txt", b"k").await;
    file(&app, &id, "gone.txt", b"g").await;
    mkdir(&app, &token, "", "tree").await;
    for i in 0..12 {
        file(&app, &id, &format!("tree/sub{}/f{i}", i % 3), b"t").await;
    }
    file(&app, &id, "tree-sibling.txt", b"s").await;
    let del = |path: &str| app.post("/api/files/delete", Some(&token), json!({"path": path}));
    assert!(del("gone.txt").await.expect(StatusCode::OK)["message"].is_string());
    del("tree").await.expect(StatusCode::OK);
    let home = app
        .get("/api/files/list", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(names(&home), ["keep.txt", "tree-sibling.txt"]);
    del("tree")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    del("")
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_path");
    app.post("/api/files/delete", Some(&token), json!({}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
}

async fn conflicts_and_missing_paths(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (id, token, _) = app.user("eve").await;
    file(&app, &id, "note.txt", b"n").await;
    mkdir(&app, &token, "", "dir").await;
    let make = |parent: &str, name: &str| {
        app.post(
            "/api/files/create-folder",
            Some(&token),
            json!({"parent_path": parent, "folder_name": name}),
        )
    };
    make("", "dir")
        .await
        .expect_error(StatusCode::CONFLICT, "already_exists");
    make("", "note.txt")
        .await
        .expect_error(StatusCode::CONFLICT, "already_exists");
    make("missing", "x")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    for bad in ["a/b", "..", ".", "", "a\\b"] {
        make("", bad)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    }
    app.get("/api/files/list?path=note.txt", Some(&token))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "not_a_directory");
    app.get("/api/files/list?path=nowhere", Some(&token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.get("/api/files/stat?path=nowhere", Some(&token))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.get("/api/files/list", None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not_authenticated");
}

async fn path_attacks_are_refused_everywhere(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("fay").await;
    let long = "x/".repeat(600);
    let attacks = [
        "..",
        "../x",
        "a/../../x",
        "%2e%2e",
        "%2e%2e%2fx",
        "..%2f..%2fetc",
        "/etc/passwd",
        "%2Fetc",
        "a%5C..%5Cb",
        "a%00b",
        "a%0Ab",
        "a//b",
        "./a",
        long.as_str(),
    ];
    for attack in attacks {
        for uri in [
            format!("/api/files/list?path={attack}"),
            format!("/api/files/stat?path={attack}"),
            format!("/api/files/download?path={attack}"),
        ] {
            let reply = app.get(&uri, Some(&token)).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{uri}: {}",
                reply.body
            );
            assert_eq!(reply.body["code"], "invalid_path", "{uri}");
        }
    }
    // The same strings, decoded once, in JSON bodies
    for attack in [
        "..",
        "../x",
        "/etc",
        "a\\b",
        "a\u{0}b",
        "a//b",
        long.as_str(),
    ] {
        app.post("/api/files/delete", Some(&token), json!({"path": attack}))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "invalid_path");
        app.post(
            "/api/files/create-folder",
            Some(&token),
            json!({"parent_path": attack, "folder_name": "x"}),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_path");
        for (uri, body) in [
            (
                "/api/files/rename",
                json!({"old_path": attack, "new_name": "x"}),
            ),
            (
                "/api/files/move",
                json!({"source_path": attack, "dest_path": ""}),
            ),
            (
                "/api/files/move",
                json!({"source_path": "x", "dest_path": attack}),
            ),
            (
                "/api/files/copy",
                json!({"source_path": attack, "dest_path": ""}),
            ),
            (
                "/api/files/copy",
                json!({"source_path": "x", "dest_path": attack}),
            ),
            ("/api/files/uploads", json!({"path": attack, "size": 1})),
        ] {
            let reply = app.post(uri, Some(&token), body).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{uri}: {}",
                reply.body
            );
            assert_eq!(reply.body["code"], "invalid_path", "{uri}: {}", reply.body);
        }
        let reply = app
            .upload(
                &token,
                &[("path", None, attack.as_bytes())],
                &[("x.txt", b"x")],
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(reply.body["code"], "invalid_path");
    }
    // Names that are more than one segment, or none, in every name-taking field
    for name in ["..", ".", "../x", "a/b", "a\\b", "/etc", ""] {
        let reply = app
            .post(
                "/api/files/rename",
                Some(&token),
                json!({"old_path": "x", "new_name": name}),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{name}: {}",
            reply.body
        );
        let reply = app.upload(&token, &[], &[(name, b"evil")]).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{name:?}: {}",
            reply.body
        );
    }
    // Still nothing in the home
    let home = app
        .get("/api/files/list", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert!(names(&home).is_empty());
}

async fn users_never_see_each_other(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (a_id, a, _) = app.user("gil").await;
    let (_, b, _) = app.user("hal").await;
    file(&app, &a_id, "secret/plan.txt", b"p").await;
    // B's home is empty, and A's paths do not exist for B
    let home = app
        .get("/api/files/list", Some(&b))
        .await
        .expect(StatusCode::OK);
    assert!(names(&home).is_empty());
    for uri in [
        "/api/files/stat?path=secret/plan.txt",
        "/api/files/list?path=secret",
    ] {
        app.get(uri, Some(&b))
            .await
            .expect_error(StatusCode::NOT_FOUND, "not_found");
    }
    app.post("/api/files/delete", Some(&b), json!({"path": "secret"}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    // Not even by naming A's storage prefix
    let sneaky = Home::of(&a_id).file(&UserPath::parse("secret").unwrap());
    app.get(&format!("/api/files/stat?path={sneaky}"), Some(&b))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    // A still has it
    app.get("/api/files/stat?path=secret/plan.txt", Some(&a))
        .await
        .expect(StatusCode::OK);
}

async fn tree(app: &TestApp, token: &str) -> Vec<String> {
    let listing = app
        .get("/api/files/list?recursive=true&limit=1000", Some(token))
        .await
        .expect(StatusCode::OK);
    listing["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap().to_owned())
        .collect()
}

async fn used(app: &TestApp, token: &str) -> Value {
    app.get("/api/auth/user-info", Some(token))
        .await
        .expect(StatusCode::OK)["storage"]
        .clone()
}

async fn rename_move_and_copy_files_and_folders(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("ida").await;
    app.upload(
        &token,
        &[("path", None, b"src/deep")],
        &[("a.txt", b"aaa"), ("b.txt", b"bb")],
    )
    .await
    .expect(StatusCode::CREATED);
    app.upload(&token, &[("path", None, b"src")], &[("top.txt", b"t")])
        .await
        .expect(StatusCode::CREATED);
    mkdir(&app, &token, "src", "empty").await;
    mkdir(&app, &token, "", "dst").await;
    let before = used(&app, &token).await;
    assert_eq!(before["used_bytes"], 6);
    // Rename a file, then a folder (its contents follow)
    let r = app
        .post(
            "/api/files/rename",
            Some(&token),
            json!({"old_path": "src/top.txt", "new_name": "TOP.md"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(r["new_path"], "src/TOP.md");
    let r = app
        .post(
            "/api/files/rename",
            Some(&token),
            json!({"old_path": "src", "new_name": "source"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(r["new_path"], "source");
    // ("source" has no marker of its own: it exists through what is in it)
    assert_eq!(
        tree(&app, &token).await,
        [
            "dst",
            "source/TOP.md",
            "source/deep/a.txt",
            "source/deep/b.txt",
            "source/empty"
        ]
    );
    // Copy a folder: everything below, the empty folder too; the source stays
    let r = app
        .post(
            "/api/files/copy",
            Some(&token),
            json!({"source_path": "source", "dest_path": "dst"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(r["new_path"], "dst/source");
    assert_eq!(
        tree(&app, &token).await,
        [
            "dst",
            "dst/source/TOP.md",
            "dst/source/deep/a.txt",
            "dst/source/deep/b.txt",
            "dst/source/empty",
            "source/TOP.md",
            "source/deep/a.txt",
            "source/deep/b.txt",
            "source/empty"
        ]
    );
    let copied = app
        .send_raw(
            http::Request::builder()
                .uri("/api/files/stat?path=dst/source/deep/a.txt")
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(copied.status, StatusCode::OK);
    assert_eq!(used(&app, &token).await["used_bytes"], 12);
    // 6 files and 3 folder markers (dst, source/empty and its copy): markers count too
    assert_eq!(used(&app, &token).await["file_count"], 9);
    // Move a file, then a folder; usage does not change
    let r = app
        .post(
            "/api/files/move",
            Some(&token),
            json!({"source_path": "source/TOP.md", "dest_path": ""}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(r["new_path"], "TOP.md");
    app.post(
        "/api/files/move",
        Some(&token),
        json!({"source_path": "source/deep", "dest_path": "dst"}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        tree(&app, &token).await,
        [
            "TOP.md",
            "dst",
            "dst/deep/a.txt",
            "dst/deep/b.txt",
            "dst/source/TOP.md",
            "dst/source/deep/a.txt",
            "dst/source/deep/b.txt",
            "dst/source/empty",
            "source/empty"
        ]
    );
    assert_eq!(used(&app, &token).await["used_bytes"], 12);
    let stat = app
        .get("/api/files/stat?path=dst/deep/a.txt", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(stat["size"], 3);
}

async fn relocation_conflicts_and_mistakes(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (id, token, _) = app.user("jon").await;
    let (_, other, _) = app.user("kim").await;
    file(&app, &id, "a/x.txt", b"x").await;
    file(&app, &id, "a/b/y.txt", b"y").await;
    file(&app, &id, "x.txt", b"other x").await;
    file(&app, &id, "f.txt", b"f").await;
    let cases = [
        (
            "/api/files/rename",
            json!({"old_path": "a/x.txt", "new_name": "x.txt"}),
            StatusCode::CONFLICT,
            "already_exists",
        ),
        (
            "/api/files/rename",
            json!({"old_path": "f.txt", "new_name": "a"}),
            StatusCode::CONFLICT,
            "already_exists",
        ),
        (
            "/api/files/move",
            json!({"source_path": "a/x.txt", "dest_path": ""}),
            StatusCode::CONFLICT,
            "already_exists",
        ),
        (
            "/api/files/copy",
            json!({"source_path": "x.txt", "dest_path": ""}),
            StatusCode::CONFLICT,
            "already_exists",
        ),
        (
            "/api/files/move",
            json!({"source_path": "a", "dest_path": "a"}),
            StatusCode::BAD_REQUEST,
            "invalid_destination",
        ),
        (
            "/api/files/move",
            json!({"source_path": "a", "dest_path": "a/b"}),
            StatusCode::BAD_REQUEST,
            "invalid_destination",
        ),
        (
            "/api/files/copy",
            json!({"source_path": "a", "dest_path": "a/b"}),
            StatusCode::BAD_REQUEST,
            "invalid_destination",
        ),
        (
            "/api/files/move",
            json!({"source_path": "a", "dest_path": "f.txt"}),
            StatusCode::BAD_REQUEST,
            "not_a_directory",
        ),
        (
            "/api/files/move",
            json!({"source_path": "nope", "dest_path": ""}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/files/copy",
            json!({"source_path": "nope", "dest_path": "a"}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/files/rename",
            json!({"old_path": "nope", "new_name": "n"}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/files/move",
            json!({"source_path": "f.txt", "dest_path": "missing"}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/files/move",
            json!({"source_path": "", "dest_path": "a"}),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            "/api/files/rename",
            json!({"old_path": "", "new_name": "n"}),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            "/api/files/copy",
            json!({"source_path": "a"}),
            StatusCode::BAD_REQUEST,
            "validation_error",
        ),
        (
            "/api/files/rename",
            json!({"old_path": "a"}),
            StatusCode::BAD_REQUEST,
            "validation_error",
        ),
    ];
    for (uri, body, status, code) in cases {
        let reply = app.post(uri, Some(&token), body.clone()).await;
        assert_eq!(reply.status, status, "{uri} {body}: {}", reply.body);
        assert_eq!(reply.body["code"], code, "{uri} {body}: {}", reply.body);
    }
    // Another user's paths do not exist for this one
    for (uri, body) in [
        (
            "/api/files/copy",
            json!({"source_path": "a", "dest_path": ""}),
        ),
        (
            "/api/files/rename",
            json!({"old_path": "f.txt", "new_name": "g"}),
        ),
    ] {
        app.post(uri, Some(&other), body)
            .await
            .expect_error(StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(
        tree(&app, &token).await,
        ["a/b/y.txt", "a/x.txt", "f.txt", "x.txt"]
    );
    assert!(tree(&app, &other).await.is_empty());
}

async fn folders_of_many_pages_are_copied_and_moved_whole(kind: Kind) {
    use crate::folder_job_guards::{finished, started};
    use futures::StreamExt;
    // GIVEN a folder of more objects than one listing page holds (1000)
    let app = TestApp::new(kind).await;
    let (user_id, token, _) = app.user("pia").await;
    let names: Vec<String> = (0..1003).map(|i| format!("f{i:04}.txt")).collect();
    let paths: Vec<String> = names.iter().map(|n| format!("big/{n}")).collect();
    futures::stream::iter(paths.iter().map(|p| file(&app, &user_id, p, b"0123456789")))
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    let before = used(&app, &token).await;
    // WHEN it is renamed (a move), then copied, each by a job (more objects than one request
    // takes), page by page
    let renamed = app
        .post(
            "/api/files/rename",
            Some(&token),
            json!({"old_path": "big", "new_name": "moved"}),
        )
        .await;
    let job = started(renamed, "rename");
    assert_eq!(finished(&app, &token, &job).await["status"], "done");
    mkdir(&app, &token, "", "dst").await;
    let copied = app
        .post(
            "/api/files/copy",
            Some(&token),
            json!({"source_path": "moved", "dest_path": "dst"}),
        )
        .await;
    let job = started(copied, "copy");
    assert_eq!(finished(&app, &token, &job).await["status"], "done");
    // THEN every object moved and was copied, and the copy was charged for all of them
    let files: BTreeSet<String> = crate::invariants::files_of(&app, &token)
        .await
        .into_iter()
        .map(|(path, _)| path)
        .collect();
    let expected: BTreeSet<String> = names
        .iter()
        .flat_map(|n| [format!("moved/{n}"), format!("dst/moved/{n}")])
        .collect();
    assert_eq!(files, expected);
    let after = used(&app, &token).await;
    let grew = |field: &str| after[field].as_u64().unwrap() - before[field].as_u64().unwrap();
    // (and the marker of `dst`, which counts like a file)
    assert_eq!(
        (grew("used_bytes"), grew("file_count")),
        (1003 * 10, 1003 + 1)
    );
}

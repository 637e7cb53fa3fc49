//! Issue 12's leftovers on stored objects, on every backend: folder markers count toward the
//! file limit like files (charged when made or copied, given back when deleted), concurrent
//! deletes of one folder give its usage back once, and a file and a folder of one name created
//! at once never both stay. Each case ends with the usage equal to what is stored.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::{json, Value};
use shared::domain::Role;

use crate::backend_tests;
use crate::helpers::{race, Kind, Reply, TestApp};
use crate::invariants::{objects_of, usage_matches_listing};

backend_tests!(
    folder_markers_count_toward_the_file_limit,
    concurrent_deletes_of_a_folder_give_its_usage_back_once,
    a_file_and_a_folder_of_one_name_never_both_stay,
    copies_and_moves_never_leave_a_file_and_a_folder_of_one_name,
);

async fn create_folder(app: &TestApp, token: &str, parent: &str, name: &str) -> Reply {
    app.post(
        "/api/files/create-folder",
        Some(token),
        json!({"parent_path": parent, "folder_name": name}),
    )
    .await
}

/// The paths of everything stored, sorted: (path, is a folder).
async fn stored(app: &TestApp, token: &str) -> Vec<(String, bool)> {
    let mut paths: Vec<(String, bool)> = objects_of(app, token)
        .await
        .into_iter()
        .map(|(path, _, folder)| (path, folder))
        .collect();
    paths.sort();
    paths
}

fn entries(list: &[(&str, bool)]) -> Vec<(String, bool)> {
    list.iter().map(|(p, f)| (p.to_string(), *f)).collect()
}

async fn folder_markers_count_toward_the_file_limit(kind: Kind) {
    // GIVEN a user who may keep five objects
    let app = TestApp::new(kind).await;
    let (_, admin) = app.member("boss", Role::Manager).await;
    let (id, token, _) = app.user("fay").await;
    app.call(
        Method::PATCH,
        &format!("/api/users/{id}"),
        Some(&admin),
        Some(json!({"file_limit": 5})),
    )
    .await
    .expect(StatusCode::OK);
    // WHEN folders are made, and a folder with a file is copied
    create_folder(&app, &token, "", "a")
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(usage_matches_listing(&app, &token).await, (0, 1));
    app.upload(&token, &[("path", None, b"a")], &[("x.txt", b"12345")])
        .await
        .expect(StatusCode::CREATED);
    create_folder(&app, &token, "", "b")
        .await
        .expect(StatusCode::CREATED);
    app.post(
        "/api/files/copy",
        Some(&token),
        json!({"source_path": "a", "dest_path": "b"}),
    )
    .await
    .expect(StatusCode::OK);
    // THEN every marker counted: the copy charged its folder's marker with its file
    assert_eq!(usage_matches_listing(&app, &token).await, (10, 5));
    // WHEN one more empty folder is asked for, or another copy
    let refused = create_folder(&app, &token, "a", "c").await;
    refused.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "file_limit_exceeded");
    app.post(
        "/api/files/copy",
        Some(&token),
        json!({"source_path": "b/a", "dest_path": "a"}),
    )
    .await
    .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "file_limit_exceeded");
    // THEN nothing was written and nothing more counted
    let before = entries(&[
        ("a", true),
        ("a/x.txt", false),
        ("b", true),
        ("b/a", true),
        ("b/a/x.txt", false),
    ]);
    assert_eq!(stored(&app, &token).await, before);
    assert_eq!(usage_matches_listing(&app, &token).await, (10, 5));
    // WHEN a folder moves, nothing changes; when it goes, its markers are given back
    app.post(
        "/api/files/rename",
        Some(&token),
        json!({"old_path": "b/a", "new_name": "z"}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(usage_matches_listing(&app, &token).await, (10, 5));
    app.post("/api/files/delete", Some(&token), json!({"path": "b"}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(usage_matches_listing(&app, &token).await, (5, 2));
    // THEN the freed room takes new folders again
    create_folder(&app, &token, "a", "c")
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        stored(&app, &token).await,
        entries(&[("a", true), ("a/c", true), ("a/x.txt", false)])
    );
    assert_eq!(usage_matches_listing(&app, &token).await, (5, 3));
}

async fn concurrent_deletes_of_a_folder_give_its_usage_back_once(kind: Kind) {
    // GIVEN a folder to keep and a folder of files, a subfolder and its file
    let app = Arc::new(TestApp::new(kind).await);
    let (_, token, _) = app.user("gil").await;
    for (parent, name) in [("", "keep"), ("", "gone"), ("gone", "sub")] {
        create_folder(&app, &token, parent, name)
            .await
            .expect(StatusCode::CREATED);
    }
    app.upload(&token, &[("path", None, b"keep")], &[("k.txt", b"kept")])
        .await
        .expect(StatusCode::CREATED);
    let files: Vec<(String, Vec<u8>)> = (0..6)
        .map(|i| (format!("f{i}.txt"), vec![b'f'; 10]))
        .collect();
    let parts: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (n.as_str(), &d[..])).collect();
    app.upload(&token, &[("path", None, b"gone")], &parts)
        .await
        .expect(StatusCode::CREATED);
    app.upload(&token, &[("path", None, b"gone/sub")], &[("s.txt", b"sub")])
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(usage_matches_listing(&app, &token).await, (4 + 60 + 3, 11));
    // WHEN ten deletes of the folder run at once
    let replies = race(10, |_| {
        let (app, token) = (app.clone(), token.clone());
        async move {
            app.post("/api/files/delete", Some(&token), json!({"path": "gone"}))
                .await
        }
    })
    .await;
    // THEN each deleted it or found it gone, and its usage was given back exactly once
    let seen: Vec<(u16, Value)> = replies
        .iter()
        .map(|r| (r.status.as_u16(), r.body["code"].clone()))
        .collect();
    assert!(
        replies.iter().any(|r| r.status == StatusCode::OK),
        "{seen:?}"
    );
    assert!(
        replies.iter().all(|r| r.status == StatusCode::OK
            || (r.status == StatusCode::NOT_FOUND && r.body["code"] == "not_found")),
        "{seen:?}"
    );
    assert_eq!(
        stored(&app, &token).await,
        entries(&[("keep", true), ("keep/k.txt", false)])
    );
    assert_eq!(usage_matches_listing(&app, &token).await, (4, 2));
}

/// A direct upload of `name` with its one part sent: (upload id, body of its `complete`).
async fn ready_direct_upload(app: &TestApp, token: &str, name: &str) -> (String, Value) {
    let upload = app
        .post(
            "/api/files/uploads",
            Some(token),
            json!({"path": name, "size": 3}),
        )
        .await
        .expect(StatusCode::CREATED);
    let url = upload["parts"][0]["url"].as_str().expect("one part");
    let sent = app.fetch(Method::PUT, url, &[], b"abc".to_vec()).await;
    assert_eq!(sent.status, StatusCode::OK);
    let etag = sent.headers["etag"].to_str().expect("etag").to_owned();
    let id = upload["upload_id"].as_str().expect("id").to_owned();
    (id, json!({"parts": [{"part_number": 1, "etag": etag}]}))
}

async fn a_file_and_a_folder_of_one_name_never_both_stay(kind: Kind) {
    let app = Arc::new(TestApp::new(kind).await);
    let (_, token, _) = app.user("hal").await;
    for round in 0..8 {
        // GIVEN a name nothing holds, and a direct upload of it ready to complete
        let name = format!("n{round}");
        let direct = ready_direct_upload(&app, &token, &name).await;
        // WHEN form uploads, the completion and folder creations of that name run at once
        let replies = race(6, |i| {
            let (app, token, name, direct) =
                (app.clone(), token.clone(), name.clone(), direct.clone());
            async move {
                match i {
                    0 | 1 => app.upload(&token, &[], &[(&name, b"file")]).await,
                    2 => {
                        let (id, body) = direct;
                        let uri = format!("/api/files/uploads/{id}/complete");
                        app.post(&uri, Some(&token), body).await
                    }
                    _ => create_folder(&app, &token, "", &name).await,
                }
            }
        })
        .await;
        // (a completion refused leaves its upload reserved: dropped, so usage is what is stored)
        if replies[2].status != StatusCode::CREATED {
            let uri = format!("/api/files/uploads/{}", direct.0);
            app.call(Method::DELETE, &uri, Some(&token), None).await;
        }
        // THEN at most one of them stays, and only a stayer was answered 201
        let seen: Vec<(u16, Value)> = replies
            .iter()
            .map(|r| (r.status.as_u16(), r.body["code"].clone()))
            .collect();
        for reply in &replies {
            assert!(
                reply.status == StatusCode::CREATED
                    || (reply.status == StatusCode::CONFLICT
                        && reply.body["code"] == "already_exists"),
                "{seen:?}"
            );
        }
        let created = replies
            .iter()
            .filter(|r| r.status == StatusCode::CREATED)
            .count();
        let kept: Vec<(String, bool)> = stored(&app, &token)
            .await
            .into_iter()
            .filter(|(path, _)| *path == name)
            .collect();
        assert!(kept.len() <= 1, "round {round}: {kept:?} {seen:?}");
        assert_eq!(created, kept.len(), "round {round}: {kept:?} {seen:?}");
        usage_matches_listing(&app, &token).await;
    }
}

async fn copies_and_moves_never_leave_a_file_and_a_folder_of_one_name(kind: Kind) {
    let app = Arc::new(TestApp::new(kind).await);
    let (_, token, _) = app.user("ivo").await;
    create_folder(&app, &token, "", "dst")
        .await
        .expect(StatusCode::CREATED);
    for round in 0..6 {
        // GIVEN a file to rename to `t<round>`, and a folder with a file to copy into dst
        let (file, folder) = (format!("f{round}.txt"), format!("fold{round}"));
        app.upload(&token, &[], &[(&file, b"file")])
            .await
            .expect(StatusCode::CREATED);
        create_folder(&app, &token, "", &folder)
            .await
            .expect(StatusCode::CREATED);
        app.upload(
            &token,
            &[("path", None, folder.as_bytes())],
            &[("in.txt", b"in")],
        )
        .await
        .expect(StatusCode::CREATED);
        // WHEN a folder of the rename's new name, and a file of the copy's name, are made at once
        let target = format!("t{round}");
        let replies = race(4, |i| {
            let (app, token) = (app.clone(), token.clone());
            let (file, folder, target) = (file.clone(), folder.clone(), target.clone());
            async move {
                match i {
                    0 => {
                        let body = json!({"old_path": file, "new_name": target});
                        app.post("/api/files/rename", Some(&token), body).await
                    }
                    1 => create_folder(&app, &token, "", &target).await,
                    2 => {
                        let body = json!({"source_path": folder, "dest_path": "dst"});
                        app.post("/api/files/copy", Some(&token), body).await
                    }
                    _ => {
                        let fields = [("path", None, &b"dst"[..])];
                        app.upload(&token, &fields, &[(&folder, b"file")]).await
                    }
                }
            }
        })
        .await;
        // THEN of each pair at most one stays, a loser leaves nothing behind, sources stay
        let seen: Vec<(u16, Value)> = replies
            .iter()
            .map(|r| (r.status.as_u16(), r.body["code"].clone()))
            .collect();
        for reply in &replies {
            assert!(
                reply.status.is_success()
                    || (reply.status == StatusCode::CONFLICT
                        && reply.body["code"] == "already_exists"),
                "{seen:?}"
            );
        }
        let now = stored(&app, &token).await;
        let copied = format!("dst/{folder}");
        for name in [&target, &copied] {
            let kept = now.iter().filter(|(p, _)| p == name).count();
            assert!(kept <= 1, "round {round}: {name}: {now:?} {seen:?}");
        }
        let renamed = replies[0].status.is_success();
        assert_eq!(
            now.contains(&(file.clone(), false)),
            !renamed,
            "{now:?} {seen:?}"
        );
        assert_eq!(
            now.contains(&(target.clone(), false)),
            renamed,
            "{now:?} {seen:?}"
        );
        let folder_copied = replies[2].status.is_success();
        assert_eq!(
            now.contains(&(copied.clone(), true)),
            folder_copied,
            "{now:?} {seen:?}"
        );
        let inside = now
            .iter()
            .any(|(p, _)| p.starts_with(&format!("{copied}/")));
        assert_eq!(inside, folder_copied, "round {round}: {now:?} {seen:?}");
        usage_matches_listing(&app, &token).await;
    }
}

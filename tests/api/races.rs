//! Races for real: the same request from several tasks at once against one app, on every
//! backend, each case ending with the invariants that no interleaving may break. The cases
//! that fail today name the issue that fixes them (`waiting`); scripts/test.sh leaves them out.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::json;
use shared::domain::Role;

use crate::backend_tests;
use crate::helpers::{race, Kind, Reply, TestApp};
use crate::invariants::{a_superuser_remains, files_of, session_generation, usage_matches_listing};

backend_tests!(
    two_refreshes_of_one_token_end_the_session_once,
    uploads_at_the_quota_edge_stop_at_the_quota,
    same_name_uploads_make_one_file,
    renames_to_one_target_keep_one_file,
    renames_of_one_file_leave_one_file,
    a_double_delete_gives_the_bytes_back_once,
    a_folder_copy_charges_what_it_copied_while_sources_change,
    direct_uploads_of_one_name_make_one_file,
    two_superusers_demoting_each_other_leave_one,
);

/// How many of `replies` have this status (and, for errors, this code).
fn count(replies: &[Reply], status: StatusCode, code: Option<&str>) -> usize {
    replies
        .iter()
        .filter(|r| r.status == status && code.is_none_or(|c| r.body["code"] == c))
        .count()
}

fn statuses(replies: &[Reply]) -> Vec<(u16, String)> {
    replies
        .iter()
        .map(|r| (r.status.as_u16(), r.body["code"].to_string()))
        .collect()
}

async fn two_refreshes_of_one_token_end_the_session_once(kind: Kind) {
    // GIVEN a session at its first generation
    let app = Arc::new(TestApp::new(kind).await);
    let (_, _, refresh) = app.user("rita").await;
    assert_eq!(session_generation(&app, &refresh).await, Some(0));
    // WHEN its refresh token is presented twice at once
    let replies = race(2, |_| {
        let (app, refresh) = (app.clone(), refresh.clone());
        async move {
            app.post(
                "/api/auth/token/refresh",
                None,
                json!({ "refresh": refresh }),
            )
            .await
        }
    })
    .await;
    // THEN one rotation wins, the other is a reuse: whichever came second ends the session
    let seen = statuses(&replies);
    assert_eq!(count(&replies, StatusCode::OK, None), 1, "{seen:?}");
    assert_eq!(
        count(&replies, StatusCode::UNAUTHORIZED, Some("token_reused")),
        1,
        "{seen:?}"
    );
    assert_eq!(session_generation(&app, &refresh).await, None);
    let winner = replies.iter().find(|r| r.status == StatusCode::OK).unwrap();
    app.post(
        "/api/auth/token/refresh",
        None,
        json!({ "refresh": winner.body["refresh"] }),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    app.get(
        "/api/auth/profile",
        Some(winner.body["access"].as_str().unwrap()),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
}

async fn uploads_at_the_quota_edge_stop_at_the_quota(kind: Kind) {
    // GIVEN room for three files of 300 bytes
    let app = Arc::new(TestApp::with(kind, |c| c.default_quota_bytes = Some(1000)).await);
    let (_, token, _) = app.user("quinn").await;
    // WHEN six are uploaded at once, under different names
    let replies = race(6, |i| {
        let (app, token) = (app.clone(), token.clone());
        async move {
            let name = format!("f{i}.bin");
            app.upload(&token, &[], &[(&name, &[b'q'; 300])]).await
        }
    })
    .await;
    // THEN exactly three fit, and the rest are told why
    let seen = statuses(&replies);
    assert_eq!(count(&replies, StatusCode::CREATED, None), 3, "{seen:?}");
    assert_eq!(
        count(
            &replies,
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("quota_exceeded")
        ),
        3,
        "{seen:?}"
    );
    assert_eq!(usage_matches_listing(&app, &token).await, (900, 3));
}

async fn same_name_uploads_make_one_file(kind: Kind) {
    let app = Arc::new(TestApp::new(kind).await);
    let (_, token, _) = app.user("sam").await;
    // WHEN eight uploads of one new name (without overwrite) run at once
    let replies = race(8, |i| {
        let (app, token) = (app.clone(), token.clone());
        async move {
            let body = vec![b'a' + i as u8; 10 + i];
            app.upload(&token, &[], &[("same.txt", &body)]).await
        }
    })
    .await;
    // THEN one wins and the others find the name taken; one file is charged
    let seen = statuses(&replies);
    assert_eq!(count(&replies, StatusCode::CREATED, None), 1, "{seen:?}");
    assert_eq!(
        count(&replies, StatusCode::CONFLICT, Some("already_exists")),
        7,
        "{seen:?}"
    );
    let (_, files) = usage_matches_listing(&app, &token).await;
    assert_eq!(files, 1);
}

async fn renames_to_one_target_keep_one_file(kind: Kind) {
    let app = Arc::new(TestApp::new(kind).await);
    let (_, token, _) = app.user("rory").await;
    let names: Vec<String> = (0..5).map(|i| format!("src{i}.txt")).collect();
    for (i, name) in names.iter().enumerate() {
        app.upload(&token, &[], &[(name, &vec![b'r'; 10 + i])])
            .await
            .expect(StatusCode::CREATED);
    }
    // WHEN five files are renamed to one name at once
    let replies = race(5, |i| {
        let (app, token, old) = (app.clone(), token.clone(), names[i].clone());
        async move {
            app.post(
                "/api/files/rename",
                Some(&token),
                json!({"old_path": old, "new_name": "target.txt"}),
            )
            .await
        }
    })
    .await;
    // THEN one takes the name, the others are refused and keep theirs
    let seen = statuses(&replies);
    assert_eq!(count(&replies, StatusCode::OK, None), 1, "{seen:?}");
    assert_eq!(
        count(&replies, StatusCode::CONFLICT, Some("already_exists")),
        4,
        "{seen:?}"
    );
    assert_eq!(usage_matches_listing(&app, &token).await.1, 5);
}

async fn a_double_delete_gives_the_bytes_back_once(kind: Kind) {
    let app = Arc::new(TestApp::new(kind).await);
    let (_, token, _) = app.user("dora").await;
    app.upload(
        &token,
        &[],
        &[("keep.txt", b"kept"), ("gone.txt", b"0123456789")],
    )
    .await
    .expect(StatusCode::CREATED);
    // WHEN one file is deleted ten times at once
    let replies = race(10, |_| {
        let (app, token) = (app.clone(), token.clone());
        async move {
            app.post(
                "/api/files/delete",
                Some(&token),
                json!({"path": "gone.txt"}),
            )
            .await
        }
    })
    .await;
    // THEN one delete found it; its bytes came back once
    let seen = statuses(&replies);
    assert_eq!(count(&replies, StatusCode::OK, None), 1, "{seen:?}");
    assert_eq!(
        count(&replies, StatusCode::NOT_FOUND, Some("not_found")),
        9,
        "{seen:?}"
    );
    assert_eq!(usage_matches_listing(&app, &token).await, (4, 1));
}

async fn renames_of_one_file_leave_one_file(kind: Kind) {
    // GIVEN one file of 10 bytes (and another that stays)
    let app = Arc::new(TestApp::new(kind).await);
    let (_, token, _) = app.user("remy").await;
    app.upload(
        &token,
        &[],
        &[("one.txt", b"0123456789"), ("other.txt", b"abc")],
    )
    .await
    .expect(StatusCode::CREATED);
    // WHEN it is renamed twenty times at once, each time to another name
    let replies = race(20, |i| {
        let (app, token) = (app.clone(), token.clone());
        async move {
            app.post(
                "/api/files/rename",
                Some(&token),
                json!({"old_path": "one.txt", "new_name": format!("t{i}.txt")}),
            )
            .await
        }
    })
    .await;
    // THEN one rename moved it; the others found it gone, and their copies went too
    let seen = statuses(&replies);
    assert_eq!(count(&replies, StatusCode::OK, None), 1, "{seen:?}");
    assert_eq!(
        count(&replies, StatusCode::NOT_FOUND, Some("not_found")),
        19,
        "{seen:?}"
    );
    let winner = replies.iter().find(|r| r.status == StatusCode::OK).unwrap();
    let mut files = files_of(&app, &token).await;
    files.sort();
    let renamed = winner.body["new_path"].as_str().unwrap().to_owned();
    let mut expected = vec![(renamed, 10), ("other.txt".to_owned(), 3)];
    expected.sort();
    assert_eq!(files, expected);
    assert_eq!(usage_matches_listing(&app, &token).await, (13, 2));
}

async fn a_folder_copy_charges_what_it_copied_while_sources_change(kind: Kind) {
    // GIVEN a folder of 12 files of 10 bytes
    let app = Arc::new(TestApp::new(kind).await);
    let (_, token, _) = app.user("cody").await;
    app.post(
        "/api/files/create-folder",
        Some(&token),
        json!({"parent_path": "", "folder_name": "dst"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let names: Vec<String> = (0..12).map(|i| format!("f{i:02}.txt")).collect();
    for name in &names {
        app.upload(&token, &[("path", None, b"src")], &[(name, &[b'a'; 10])])
            .await
            .expect(StatusCode::CREATED);
    }
    // WHEN the folder is copied while every one of its files is overwritten with 100 bytes
    let replies = race(13, |i| {
        let (app, token) = (app.clone(), token.clone());
        let name = names.get(i).cloned();
        async move {
            match name {
                Some(name) => {
                    let fields = [("path", None, &b"src"[..]), ("overwrite", None, b"true")];
                    app.upload(&token, &fields, &[(&name, &[b'b'; 100])]).await
                }
                None => {
                    let body = json!({"source_path": "src", "dest_path": "dst"});
                    app.post("/api/files/copy", Some(&token), body).await
                }
            }
        }
    })
    .await;
    // THEN everything succeeds, and the usage is what the listing holds: each copy was
    // charged for the version it copied, old or new
    let seen = statuses(&replies);
    assert_eq!(
        replies.iter().filter(|r| r.status.is_success()).count(),
        13,
        "{seen:?}"
    );
    let files = files_of(&app, &token).await;
    let copies = files
        .iter()
        .filter(|(p, _)| p.starts_with("dst/src/"))
        .count();
    assert_eq!(copies, 12, "{files:?}");
    let (bytes, count) = usage_matches_listing(&app, &token).await;
    // 12 sources, 12 copies and the marker of `dst` (`src` has none: uploads made it).
    assert_eq!(count, 25);
    assert!((12 * 100 + 12 * 10..=24 * 100).contains(&bytes), "{bytes}");
}

async fn two_superusers_demoting_each_other_leave_one(kind: Kind) {
    // GIVEN two superusers (and nobody else who could repair a mistake)
    let app = Arc::new(TestApp::new(kind).await);
    let (ann, ann_token) = app.member("ann", Role::Superuser).await;
    let (bob, bob_token) = app.member("bob", Role::Superuser).await;
    let pairs = [(ann_token, bob), (bob_token, ann)];
    // A lost interleaving shows only now and then: the race is run again and again, the
    // demoted one promoted back in between.
    for round in 0..6 {
        // WHEN each demotes the other at the same moment
        let replies = race(2, |i| {
            let app = app.clone();
            let (token, target) = pairs[i].clone();
            async move {
                app.call(
                    Method::PATCH,
                    &format!("/api/users/{target}"),
                    Some(&token),
                    Some(json!({"role": "user"})),
                )
                .await
            }
        })
        .await;
        // THEN one demotion holds; the other is refused (its author is the last superuser,
        // or no longer one)
        let seen = statuses(&replies);
        assert_eq!(
            count(&replies, StatusCode::OK, None),
            1,
            "round {round}: {seen:?}"
        );
        let refused = count(&replies, StatusCode::CONFLICT, Some("last_superuser"))
            + count(&replies, StatusCode::FORBIDDEN, Some("permission_denied"));
        assert_eq!(refused, 1, "round {round}: {seen:?}");
        a_superuser_remains(&app).await;
        assert_eq!(app.core.store.count_active_superusers().await.unwrap(), 1);
        // The one left promotes the other back for the next round.
        let winner = replies
            .iter()
            .position(|r| r.status == StatusCode::OK)
            .unwrap();
        let (token, target) = &pairs[winner];
        let promoted = json!({"role": "superuser"});
        let uri = format!("/api/users/{target}");
        app.call(Method::PATCH, &uri, Some(token), Some(promoted))
            .await
            .expect(StatusCode::OK);
    }
}

async fn direct_uploads_of_one_name_make_one_file(kind: Kind) {
    // GIVEN eight direct uploads of one new name (without overwrite), every part sent
    let app = Arc::new(TestApp::new(kind).await);
    let (_, token, _) = app.user("dina").await;
    let mut completions = Vec::new();
    for i in 0..8u8 {
        let data = vec![b'a' + i; 10 + usize::from(i)];
        let upload = app
            .post(
                "/api/files/uploads",
                Some(&token),
                json!({"path": "one.bin", "size": data.len()}),
            )
            .await
            .expect(StatusCode::CREATED);
        let part = &upload["parts"][0];
        let sent = app
            .fetch(Method::PUT, part["url"].as_str().unwrap(), &[], data)
            .await;
        assert_eq!(sent.status, StatusCode::OK);
        let etag = sent.headers["etag"].to_str().unwrap().to_owned();
        let id = upload["upload_id"].as_str().unwrap().to_owned();
        completions.push((id, json!({"parts": [{"part_number": 1, "etag": etag}]})));
    }
    // WHEN all are completed at once
    let replies = race(8, |i| {
        let (app, token) = (app.clone(), token.clone());
        let (id, body) = completions[i].clone();
        async move {
            app.post(
                &format!("/api/files/uploads/{id}/complete"),
                Some(&token),
                body,
            )
            .await
        }
    })
    .await;
    // THEN one file is made and charged; the others find the name taken
    let seen = statuses(&replies);
    assert_eq!(count(&replies, StatusCode::CREATED, None), 1, "{seen:?}");
    assert_eq!(
        count(&replies, StatusCode::CONFLICT, Some("already_exists")),
        7,
        "{seen:?}"
    );
    let winner = replies
        .iter()
        .find(|r| r.status == StatusCode::CREATED)
        .unwrap();
    let size = winner.body["size"].as_u64().unwrap();
    assert_eq!(files_of(&app, &token).await, [("one.bin".to_owned(), size)]);
    assert_eq!(usage_matches_listing(&app, &token).await, (size, 1));
}

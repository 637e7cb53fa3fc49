//! Races for real: the same request from several tasks at once against one app, on every
//! backend, each case ending with the invariants that no interleaving may break. The cases
//! that fail today name the issue that fixes them (`waiting`); scripts/test.sh leaves them out.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::json;
use shared::domain::Role;

use crate::backend_tests;
use crate::helpers::{race, Kind, Reply, TestApp};
use crate::invariants::{a_superuser_remains, session_generation, usage_matches_listing};

backend_tests!(
    two_refreshes_of_one_token_end_the_session_once,
    uploads_at_the_quota_edge_stop_at_the_quota,
);

backend_tests!(waiting "waits on issue 12: the name check and the write are not one conditional step":
    same_name_uploads_make_one_file,
    renames_to_one_target_keep_one_file,
);

backend_tests!(waiting "waits on issue 12: concurrent deletes each give the bytes back":
    a_double_delete_gives_the_bytes_back_once,
);

backend_tests!(waiting "waits on issue 13: the last-superuser rule is check-then-write":
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
    // WHEN one file is deleted five times at once
    let replies = race(5, |_| {
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
        4,
        "{seen:?}"
    );
    assert_eq!(usage_matches_listing(&app, &token).await, (4, 1));
}

async fn two_superusers_demoting_each_other_leave_one(kind: Kind) {
    // GIVEN two superusers (and nobody else who could repair a mistake)
    let app = Arc::new(TestApp::new(kind).await);
    let (ann, ann_token) = app.member("ann", Role::Superuser).await;
    let (bob, bob_token) = app.member("bob", Role::Superuser).await;
    let pairs = [(ann_token, bob), (bob_token, ann)];
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
    // THEN one demotion holds; the other is refused (its author is no longer a superuser, or
    // is the last one)
    let seen = statuses(&replies);
    assert_eq!(count(&replies, StatusCode::OK, None), 1, "{seen:?}");
    a_superuser_remains(&app).await;
}

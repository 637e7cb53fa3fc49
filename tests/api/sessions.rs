//! Sessions are bounded: a user holds at most `max_sessions_per_user` live sessions (a login
//! beyond it ends the oldest), and ending all of them works however many there are (more than
//! one DynamoDB `BatchWriteItem` of 25).

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::json;
use shared::domain::Role;

use crate::backend_tests;
use crate::helpers::{race, Kind, TestApp, PASSWORD};

backend_tests!(
    logins_beyond_the_limit_end_the_oldest_sessions,
    issued_tokens_count_towards_the_limit,
    parallel_logins_leave_exactly_the_limit,
    logout_all_ends_more_sessions_than_a_batch,
    password_change_and_reset_end_more_sessions_than_a_batch,
);

async fn works(app: &TestApp, (access, refresh): &(String, String)) -> bool {
    let profile = app.get("/api/auth/profile", Some(access)).await;
    let refreshed = app
        .post(
            "/api/auth/token/refresh",
            None,
            json!({ "refresh": refresh }),
        )
        .await;
    let status = (profile.status, refreshed.status);
    match status {
        (StatusCode::OK, StatusCode::OK) => true,
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED) => {
            profile.expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
            refreshed.expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
            false
        }
        other => panic!("access and refresh disagree: {other:?}"),
    }
}

/// Access only (refreshing rotates, which this check must not do twice).
async fn access_works(app: &TestApp, access: &str) -> bool {
    let reply = app.get("/api/auth/profile", Some(access)).await;
    match reply.status {
        StatusCode::OK => true,
        _ => {
            reply.expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
            false
        }
    }
}

async fn logins_beyond_the_limit_end_the_oldest_sessions(kind: Kind) {
    let app = TestApp::with(kind, |c| c.limits.max_sessions_per_user = 3).await;
    app.register("ruth").await;
    let (_, other, _) = app.user("sam").await;
    // WHEN ruth logs in five times with a limit of three
    let mut sessions = Vec::new();
    for _ in 0..5 {
        sessions.push(app.login("ruth").await);
    }
    // THEN the first two sessions are over, access and refresh alike; the last three work
    let mut alive = Vec::new();
    for session in &sessions {
        alive.push(works(&app, session).await);
    }
    assert_eq!(alive, [false, false, true, true, true]);
    // AND another user's session is untouched
    assert!(access_works(&app, &other).await);
    // AND one more login ends the oldest of the three that remain
    let newest = app.login("ruth").await;
    let mut alive = Vec::new();
    for (access, _) in sessions.iter().skip(2).chain([&newest]) {
        alive.push(access_works(&app, access).await);
    }
    assert_eq!(alive, [false, true, true, true]);
}

async fn issued_tokens_count_towards_the_limit(kind: Kind) {
    let app = TestApp::with(kind, |c| c.limits.max_sessions_per_user = 2).await;
    app.register("tara").await;
    let (first, _) = app.login("tara").await;
    let issued = app.core.issue_token("tara", 600).await.unwrap().access;
    assert!(access_works(&app, &first).await);
    assert!(access_works(&app, &issued).await);
    // A third session (a login) ends the first; a fourth (an issued token) the issued one
    let (third, _) = app.login("tara").await;
    assert_eq!(
        [
            access_works(&app, &first).await,
            access_works(&app, &issued).await
        ],
        [false, true]
    );
    let fourth = app.core.issue_token("tara", 600).await.unwrap().access;
    let mut alive = Vec::new();
    for access in [&issued, &third, &fourth] {
        alive.push(access_works(&app, access).await);
    }
    assert_eq!(alive, [false, true, true]);
}

/// `n` logins of `username`; returns their access tokens.
async fn logins(app: &TestApp, username: &str, n: usize) -> Vec<String> {
    let mut tokens = Vec::new();
    for _ in 0..n {
        tokens.push(app.login(username).await.0);
    }
    tokens
}

async fn live(app: &TestApp, tokens: &[String]) -> usize {
    let mut n = 0;
    for token in tokens {
        n += usize::from(access_works(app, token).await);
    }
    n
}

async fn logout_all_ends_more_sessions_than_a_batch(kind: Kind) {
    let app = TestApp::with(kind, |c| c.limits.max_sessions_per_user = 100).await;
    app.register("uma").await;
    let (_, other, _) = app.user("victor").await;
    let tokens = logins(&app, "uma", 60).await;
    assert_eq!(live(&app, &tokens).await, 60);
    // WHEN one of sixty sessions logs out of all
    app.call(Method::POST, "/api/auth/logout-all", Some(&tokens[0]), None)
        .await
        .expect(StatusCode::OK);
    // THEN none is left, and other users keep theirs
    assert_eq!(live(&app, &tokens).await, 0);
    assert!(access_works(&app, &other).await);
    // AND logging in again works
    let (again, _) = app.login("uma").await;
    assert!(access_works(&app, &again).await);
}

async fn password_change_and_reset_end_more_sessions_than_a_batch(kind: Kind) {
    let app = TestApp::with(kind, |c| c.limits.max_sessions_per_user = 100).await;
    let (_, admin) = app.member("wendy", Role::Superuser).await;
    let user = app.register("xena").await;
    let id = user["id"].as_str().unwrap().to_owned();
    let tokens = logins(&app, "xena", 40).await;
    // WHEN the user changes the password from one of forty sessions
    let new = "a much better passphrase";
    app.post(
        "/api/auth/change-password",
        Some(&tokens[39]),
        json!({"old_password": PASSWORD, "new_password": new, "new_password2": new}),
    )
    .await
    .expect(StatusCode::OK);
    // THEN only that session remains
    assert_eq!(live(&app, &tokens[..39]).await, 0);
    assert!(access_works(&app, &tokens[39]).await);
    // AND an administrator's reset ends every session, however many
    let mut more = Vec::new();
    for _ in 0..30 {
        more.push(
            app.try_login("xena", new).await.expect(StatusCode::OK)["access"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let reset = "an administrator's passphrase";
    app.post(
        &format!("/api/users/{id}/reset-password"),
        Some(&admin),
        json!({ "new_password": reset }),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(live(&app, &more).await, 0);
    assert!(!access_works(&app, &tokens[39]).await);
}

async fn parallel_logins_leave_exactly_the_limit(kind: Kind) {
    let app = TestApp::with(kind, |c| {
        c.limits.max_sessions_per_user = 3;
        // Eight attempts at once are more than login throttling lets through; not the point here.
        c.throttle.account_max_failures = 100;
        c.throttle.address_max_failures = 100;
        c.throttle.slowdown_after = 100;
    });
    let app = Arc::new(app.await);
    app.register("yara").await;
    let earlier = logins(&app, "yara", 3).await;
    // WHEN eight logins run at once (each may briefly see one more than the limit)
    let tokens = race(8, |_| {
        let app = app.clone();
        async move { app.login("yara").await.0 }
    })
    .await;
    // THEN once they are done exactly three sessions are left, all of them new ones: a
    // session among the newest three is never ended, whatever the interleaving
    assert_eq!(live(&app, &earlier).await, 0);
    assert_eq!(live(&app, &tokens).await, 3);
}

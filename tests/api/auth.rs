//! The auth endpoint group, on every backend.

use futures::future::join_all;
use http::{Method, StatusCode};
use serde_json::json;
use shared::config::PasswordCost;
use shared::domain::UserPath;
use shared::layout::{self, Home};

use crate::backend_tests;
use crate::helpers::{bend_last, Kind, TestApp, PASSWORD};

backend_tests!(
    register_returns_the_user_object,
    register_names_every_bad_field,
    register_refuses_weak_passwords,
    register_conflicts_are_case_insensitive,
    concurrent_registrations_of_one_name_make_one_user,
    login_by_username_or_email,
    login_failures_look_alike,
    login_of_a_disabled_account_is_forbidden,
    stale_writes_cannot_undo_a_password_change,
    refresh_rotates_and_reuse_ends_the_session,
    malformed_refresh_tokens_are_refused,
    logout_ends_the_session_at_once,
    logout_all_ends_every_session,
    change_password_ends_other_sessions,
    profile_can_change_names_and_email_only,
    user_info_reports_storage,
    deactivation_bites_on_the_next_request,
    api_keys_work_as_bearer_and_revoke,
    forged_and_expired_tokens_are_refused,
    passwords_are_hashed_at_the_configured_cost,
);

// More than a listing page of objects, put one by one.
backend_tests!(slow: delete_account_removes_everything);

async fn register_returns_the_user_object(kind: Kind) {
    let app = TestApp::new(kind).await;
    // WHEN a new user registers with names
    let user = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "Alice", "email": "Alice@Example.COM", "password": PASSWORD,
                   "password2": PASSWORD, "first_name": "Alice", "last_name": "Liddell"}),
        )
        .await
        .expect(StatusCode::CREATED);
    // THEN the answer is the user object of API.md, without secrets
    assert_eq!(user["username"], "Alice");
    assert_eq!(user["email"], "Alice@example.com");
    assert_eq!(user["full_name"], "Alice Liddell");
    assert_eq!(user["user_type"], "user");
    assert_eq!(user["is_normal_user"], true);
    assert_eq!(user["is_staff"], false);
    assert_eq!(user["is_superuser"], false);
    assert_eq!(user["is_active"], true);
    assert_eq!(user["user_id"], user["id"]);
    assert_eq!(
        user["dir_name"],
        Home::of(user["id"].as_str().unwrap()).dir_name()
    );
    for field in ["created_at", "updated_at"] {
        assert!(chrono::DateTime::parse_from_rfc3339(user[field].as_str().unwrap()).is_ok());
    }
    let text = user.to_string();
    assert!(
        !text.contains("argon2") && !text.contains(PASSWORD),
        "{text}"
    );
}

async fn register_names_every_bad_field(kind: Kind) {
    let app = TestApp::new(kind).await;
    // Missing everything
    let body = app
        .post("/api/auth/register", None, json!({}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    for field in ["username", "email", "password"] {
        assert!(body["details"][field].is_string(), "{field}: {body}");
    }
    // Bad username, bad email, mismatched confirmation
    let body = app
        .post(
            "/api/auth/register",
            None,
            json!({"username": "../etc", "email": "not-an-email", "password": PASSWORD,
                   "password2": "something else entirely"}),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    for field in ["username", "email", "password2"] {
        assert!(body["details"][field].is_string(), "{field}: {body}");
    }
    // Wrong JSON types are a 400 too, never a 500
    app.post("/api/auth/register", None, json!({"username": 12}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_json");
    // Nothing was created
    app.try_login("../etc", PASSWORD)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
}

async fn register_refuses_weak_passwords(kind: Kind) {
    let app = TestApp::new(kind).await;
    for weak in [
        "short1",
        "12345678901",
        "password123",
        "qwertyuiop",
        "bobbybobby-77",
    ] {
        let body = app
            .post(
                "/api/auth/register",
                None,
                json!({"username": "bobbybobby", "email": "bob@example.com",
                       "password": weak, "password2": weak}),
            )
            .await
            .expect_error(StatusCode::BAD_REQUEST, "validation_error");
        assert!(body["details"]["password"].is_string(), "{weak}: {body}");
    }
}

async fn register_conflicts_are_case_insensitive(kind: Kind) {
    let app = TestApp::new(kind).await;
    app.register("carol").await;
    // GIVEN carol exists, WHEN CAROL registers THEN 409 username_taken
    app.post(
        "/api/auth/register",
        None,
        json!({"username": "CAROL", "email": "other@example.com",
               "password": PASSWORD, "password2": PASSWORD}),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "username_taken");
    // WHEN someone registers with carol's email in capitals THEN 409 email_taken
    app.post(
        "/api/auth/register",
        None,
        json!({"username": "caroline", "email": "CAROL@EXAMPLE.COM",
               "password": PASSWORD, "password2": PASSWORD}),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "email_taken");
}

async fn concurrent_registrations_of_one_name_make_one_user(kind: Kind) {
    let app = TestApp::new(kind).await;
    // WHEN twelve clients register the same username at once (different emails)
    let attempts = (0..12).map(|i| {
        app.post(
            "/api/auth/register",
            None,
            json!({"username": "racer", "email": format!("racer{i}@example.com"),
                   "password": PASSWORD, "password2": PASSWORD}),
        )
    });
    let replies = join_all(attempts).await;
    // THEN exactly one succeeds and the others are told the name is taken
    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let taken = replies
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT && r.body["code"] == "username_taken")
        .count();
    assert_eq!(
        (created, taken),
        (1, 11),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    // AND the same race on one email
    let attempts = (0..12).map(|i| {
        app.post(
            "/api/auth/register",
            None,
            json!({"username": format!("mailer{i}"), "email": "same@example.com",
                   "password": PASSWORD, "password2": PASSWORD}),
        )
    });
    let replies = join_all(attempts).await;
    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1);
    assert!(replies
        .iter()
        .all(|r| r.status == StatusCode::CREATED || r.body["code"] == "email_taken"));
}

async fn login_by_username_or_email(kind: Kind) {
    let app = TestApp::new(kind).await;
    app.register("dave").await;
    for login in ["dave", "DAVE", "dave@example.com", "Dave@Example.com"] {
        let body = app.try_login(login, PASSWORD).await.expect(StatusCode::OK);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 900);
        assert_eq!(body["username"], "dave");
        assert!(body["refresh"].as_str().unwrap().starts_with("vcr1."));
        let access = body["access"].as_str().unwrap();
        let me = app
            .get("/api/auth/profile", Some(access))
            .await
            .expect(StatusCode::OK);
        assert_eq!(me["username"], "dave");
    }
    app.post("/api/auth/login", None, json!({"username": "dave"}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
}

async fn login_failures_look_alike(kind: Kind) {
    let app = TestApp::new(kind).await;
    app.register("erin").await;
    let wrong = app.try_login("erin", "wrong password!").await;
    let unknown = app.try_login("nobody", "wrong password!").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.body["code"], "invalid_credentials");
}

async fn login_of_a_disabled_account_is_forbidden(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (id, _, _) = app.user("frank").await;
    disable(&app, &id).await;
    // Right password: told the account is disabled
    app.try_login("frank", PASSWORD)
        .await
        .expect_error(StatusCode::FORBIDDEN, "account_disabled");
    // Wrong password: told nothing more than for anyone else
    app.try_login("frank", "wrong password!")
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
}

async fn disable(app: &TestApp, id: &str) {
    let before = app.core.store.get_user(id).await.unwrap().unwrap();
    let mut after = before.clone();
    after.is_active = false;
    app.core.store.update_user(&before, &after).await.unwrap();
}

async fn stale_writes_cannot_undo_a_password_change(kind: Kind) {
    use shared::store::WriteUserError;
    let app = TestApp::new(kind).await;
    let (id, token, _) = app.user("zoe").await;
    // GIVEN a copy of the user read before a password change (a request already in flight)
    let stale = app.core.store.get_user(&id).await.unwrap().unwrap();
    let new = "an entirely new passphrase";
    app.post(
        "/api/auth/change-password",
        Some(&token),
        json!({"old_password": PASSWORD, "new_password": new, "new_password2": new}),
    )
    .await
    .expect(StatusCode::OK);
    // WHEN that request writes its profile change based on the stale copy
    let mut after = stale.clone();
    after.first_name = "Zoe".into();
    let err = app
        .core
        .store
        .update_user(&stale, &after)
        .await
        .unwrap_err();
    // THEN nothing is written, and the new password stands
    assert!(matches!(err, WriteUserError::Stale), "{err:?}");
    app.try_login("zoe", new).await.expect(StatusCode::OK);
    app.try_login("zoe", PASSWORD)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
}

async fn refresh_rotates_and_reuse_ends_the_session(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, access, refresh) = app.user("judy").await;
    // WHEN the refresh token is used
    let pair = app
        .post("/api/auth/token/refresh", None, json!({"refresh": refresh}))
        .await
        .expect(StatusCode::OK);
    let (access2, refresh2) = (
        pair["access"].as_str().unwrap().to_owned(),
        pair["refresh"].as_str().unwrap().to_owned(),
    );
    assert_ne!(refresh2, refresh);
    assert_eq!(pair["token_type"], "Bearer");
    app.get("/api/auth/profile", Some(&access2))
        .await
        .expect(StatusCode::OK);
    // THEN the old one is spent: presenting it again is reuse, and ends the whole session
    app.post("/api/auth/token/refresh", None, json!({"refresh": refresh}))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "token_reused");
    app.post(
        "/api/auth/token/refresh",
        None,
        json!({"refresh": refresh2}),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    app.get("/api/auth/profile", Some(&access2))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    app.get("/api/auth/profile", Some(&access))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    // A chain of rotations keeps working
    let (_, mut refresh) = app.login("judy").await;
    for _ in 0..3 {
        let pair = app
            .post("/api/auth/token/refresh", None, json!({"refresh": refresh}))
            .await
            .expect(StatusCode::OK);
        refresh = pair["refresh"].as_str().unwrap().to_owned();
    }
}

async fn malformed_refresh_tokens_are_refused(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (id, _, refresh) = app.user("kate").await;
    let forged_secret = bend_last(&refresh);
    let future_generation = refresh.replacen(".0.", ".7.", 1);
    let invalid = (StatusCode::UNAUTHORIZED, "invalid_token");
    for (bad, (status, code)) in [
        ("garbage".to_owned(), invalid),
        (String::new(), (StatusCode::BAD_REQUEST, "validation_error")),
        (forged_secret, invalid),
        (future_generation, invalid),
        (
            format!("vcr1.{id}.{}.0.{}", uuid::Uuid::new_v4(), "x".repeat(43)),
            invalid,
        ),
        ("vcr1.../../etc.0.secret".to_owned(), invalid),
    ] {
        let reply = app
            .post("/api/auth/token/refresh", None, json!({"refresh": bad}))
            .await;
        assert_eq!(
            (reply.status, reply.body["code"].as_str()),
            (status, Some(code)),
            "{bad:?}: {}",
            reply.body
        );
    }
    // None of that ended the real session
    let pair = app
        .post("/api/auth/token/refresh", None, json!({"refresh": refresh}))
        .await
        .expect(StatusCode::OK);
    // After a rotation, a forged token of the earlier generation (the ids are not secret) is
    // merely invalid: only the genuine spent token proves a reuse and ends the session
    let forged_previous = bend_last(&refresh);
    app.post(
        "/api/auth/token/refresh",
        None,
        json!({"refresh": forged_previous}),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    app.post(
        "/api/auth/logout",
        None,
        json!({"refresh": forged_previous}),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    let current = pair["refresh"].as_str().unwrap();
    app.post("/api/auth/token/refresh", None, json!({"refresh": current}))
        .await
        .expect(StatusCode::OK);
    app.post("/api/auth/token/refresh", None, json!({}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
}

async fn logout_ends_the_session_at_once(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, access, refresh) = app.user("liam").await;
    let (other_access, _) = app.login("liam").await;
    let body = app
        .post(
            "/api/auth/logout",
            Some(&access),
            json!({"refresh_token": refresh}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(body["message"], "Logged out successfully");
    // The very next request with that session's tokens fails
    app.get("/api/auth/profile", Some(&access))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    app.post("/api/auth/token/refresh", None, json!({"refresh": refresh}))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    // Logging out twice is refused; another session is untouched
    app.post("/api/auth/logout", None, json!({"refresh": refresh}))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    app.get("/api/auth/profile", Some(&other_access))
        .await
        .expect(StatusCode::OK);
    app.post("/api/auth/logout", None, json!({}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
}

async fn logout_all_ends_every_session(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, a1, r1) = app.user("mia").await;
    let (a2, r2) = app.login("mia").await;
    let (_, other, _) = app.user("noah").await;
    app.call(Method::POST, "/api/auth/logout-all", Some(&a1), None)
        .await
        .expect(StatusCode::OK);
    for access in [&a1, &a2] {
        app.get("/api/auth/profile", Some(access))
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    for refresh in [&r1, &r2] {
        app.post("/api/auth/token/refresh", None, json!({"refresh": refresh}))
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    app.get("/api/auth/profile", Some(&other))
        .await
        .expect(StatusCode::OK);
    app.call(Method::POST, "/api/auth/logout-all", None, None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not_authenticated");
}

async fn change_password_ends_other_sessions(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, current, _) = app.user("olga").await;
    let (other, other_refresh) = app.login("olga").await;
    let new = "a much better passphrase";
    // Wrong old password: a field error, nothing changes
    app.post(
        "/api/auth/change-password",
        Some(&current),
        json!({"old_password": "not my password", "new_password": new, "new_password2": new}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    app.post(
        "/api/auth/change-password",
        Some(&current),
        json!({"old_password": PASSWORD, "new_password": new, "new_password2": "typo"}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    app.post(
        "/api/auth/change-password",
        Some(&current),
        json!({"old_password": PASSWORD, "new_password": "12345678", "new_password2": "12345678"}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    app.get("/api/auth/profile", Some(&other))
        .await
        .expect(StatusCode::OK);
    // Right old password
    app.post(
        "/api/auth/change-password",
        Some(&current),
        json!({"old_password": PASSWORD, "new_password": new, "new_password2": new}),
    )
    .await
    .expect(StatusCode::OK);
    // The other session is over, this one goes on
    app.get("/api/auth/profile", Some(&other))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    app.post(
        "/api/auth/token/refresh",
        None,
        json!({"refresh": other_refresh}),
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    app.get("/api/auth/profile", Some(&current))
        .await
        .expect(StatusCode::OK);
    // Only the new password logs in
    app.try_login("olga", PASSWORD)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    app.try_login("olga", new).await.expect(StatusCode::OK);
}

async fn profile_can_change_names_and_email_only(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("paul").await;
    app.register("quinn").await;
    let me = app
        .call(
            Method::PATCH,
            "/api/auth/profile",
            Some(&token),
            Some(json!({"first_name": "Paul", "last_name": "Atreides", "email": "Paul@Dune.org"})),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["full_name"], "Paul Atreides");
    assert_eq!(me["email"], "Paul@dune.org");
    // The new email logs in, the old one no longer does
    app.try_login("paul@dune.org", PASSWORD)
        .await
        .expect(StatusCode::OK);
    app.try_login("paul@example.com", PASSWORD)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    // The old email is free again; another user's is not
    app.call(
        Method::PUT,
        "/api/auth/profile",
        Some(&token),
        Some(json!({"email": "quinn@example.com"})),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "email_taken");
    app.post(
        "/api/auth/register",
        None,
        json!({"username": "paula", "email": "paul@example.com", "password": PASSWORD, "password2": PASSWORD}),
    )
    .await
    .expect(StatusCode::CREATED);
    // Username and role cannot be changed here
    for body in [
        json!({"username": "pauline"}),
        json!({"user_type": "superuser"}),
        json!({"role": "manager"}),
    ] {
        app.call(Method::PATCH, "/api/auth/profile", Some(&token), Some(body))
            .await
            .expect_error(StatusCode::BAD_REQUEST, "invalid_json");
    }
    app.call(
        Method::PATCH,
        "/api/auth/profile",
        Some(&token),
        Some(json!({"email": "nope"})),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    let me = app
        .get("/api/auth/profile", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (me["username"].as_str(), me["user_type"].as_str()),
        (Some("paul"), Some("user"))
    );
}

async fn user_info_reports_storage(kind: Kind) {
    let app = TestApp::with(kind, |c| c.default_quota_bytes = Some(1 << 30)).await;
    let (id, token, _) = app.user("rita").await;
    let info = app
        .get("/api/auth/user-info", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(info["id"], id.as_str());
    assert_eq!(info["quota_bytes"], 1u64 << 30);
    assert_eq!(
        info["storage"],
        json!({"used_bytes": 0, "reserved_bytes": 0, "quota_bytes": 1u64 << 30, "file_count": 0,
            "file_limit": 1_000_000})
    );
}

async fn delete_account_removes_everything(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (id, token, refresh) = app.user("sam").await;
    let (other_id, _, _) = app.user("sue").await;
    // GIVEN files in sam's home (more than one listing page) and in sue's
    let objects = app.core.objects.clone();
    let file = |owner: &str, path: &str| Home::of(owner).file(&UserPath::parse(path).unwrap());
    let keys: Vec<String> = (0..1005)
        .map(|i| file(&id, &format!("d{}/f{i}", i % 3)))
        .chain([file(&other_id, "keep.txt")])
        .collect();
    for key in &keys {
        let body = Box::pin(futures::stream::iter([Ok(bytes::Bytes::from_static(b"x"))]));
        objects
            .put(key, body, "text/plain", u64::MAX)
            .await
            .unwrap();
    }
    let key = app.api_key(&token, "backup script").await;
    // ...and an archive of them
    app.post("/api/zip", Some(&token), json!({"paths": ["d0"]}))
        .await
        .expect(StatusCode::OK);
    app.post(
        "/api/auth/delete-account",
        Some(&token),
        json!({"password": "wrong password!"}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    app.get("/api/auth/profile", Some(&key))
        .await
        .expect(StatusCode::OK);
    let body = app
        .post(
            "/api/auth/delete-account",
            Some(&token),
            json!({"password": PASSWORD}),
        )
        .await
        .expect(StatusCode::OK);
    assert!(body["message"].is_string());
    // Every credential is dead, the login is gone, the name is free
    for credential in [&token, &key] {
        app.get("/api/auth/profile", Some(credential))
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    app.post("/api/auth/token/refresh", None, json!({"refresh": refresh}))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    app.try_login("sam", PASSWORD)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    let again = app.register("sam").await;
    assert_ne!(again["id"], id.as_str());
    // Sam's files and archives are gone, sue's are not
    for prefix in [Home::of(&id).prefix().to_owned(), layout::archives_of(&id)] {
        let left = objects.list(&prefix, false, None, 10).await.unwrap();
        assert!(left.items.is_empty(), "{prefix}: {:?}", left.items);
    }
    assert!(objects
        .head(&file(&other_id, "keep.txt"))
        .await
        .unwrap()
        .is_some());
}

async fn deactivation_bites_on_the_next_request(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (id, token, refresh) = app.user("tina").await;
    let key = app.api_key(&token, "k").await;
    disable(&app, &id).await;
    app.get("/api/auth/profile", Some(&token))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "account_disabled");
    app.get("/api/auth/profile", Some(&key))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "account_disabled");
    app.post("/api/auth/token/refresh", None, json!({"refresh": refresh}))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
}

async fn api_keys_work_as_bearer_and_revoke(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("uma").await;
    let (_, other_token, _) = app.user("vic").await;
    // Create: the key is shown once
    let created = app
        .post(
            "/api/auth/keys",
            Some(&token),
            json!({"name": "nightly sync", "expires_in_days": 30}),
        )
        .await
        .expect(StatusCode::CREATED);
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with(created["prefix"].as_str().unwrap()));
    assert!(created["expires_at"].is_string());
    // List: never the secret
    let list = app
        .get("/api/auth/keys", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "nightly sync");
    assert!(!list.to_string().contains(&key[20..]));
    assert!(list[0].get("key").is_none());
    // Use: the key authenticates as its owner, but cannot mint keys
    let me = app
        .get("/api/auth/profile", Some(&key))
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["username"], "uma");
    app.post("/api/auth/keys", Some(&key), json!({"name": "more"}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "api_key_not_allowed");
    // A forged key with the right id is refused
    let forged = bend_last(&key);
    app.get("/api/auth/profile", Some(&forged))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    // Other users can neither see nor delete it
    assert_eq!(
        app.get("/api/auth/keys", Some(&other_token))
            .await
            .expect(StatusCode::OK),
        json!([])
    );
    app.call(
        Method::DELETE,
        &format!("/api/auth/keys/{id}"),
        Some(&other_token),
        None,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    // Validation
    for body in [
        json!({}),
        json!({"name": "x", "expires_in_days": 0}),
        json!({"name": "x", "expires_in_days": 99999}),
    ] {
        app.post("/api/auth/keys", Some(&token), body)
            .await
            .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    }
    // Revoke: the next request with it fails
    let reply = app
        .call(
            Method::DELETE,
            &format!("/api/auth/keys/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    app.get("/api/auth/profile", Some(&key))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    app.call(
        Method::DELETE,
        &format!("/api/auth/keys/{id}"),
        Some(&token),
        None,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.call(
        Method::DELETE,
        "/api/auth/keys/..%2F..%2Fetc",
        Some(&token),
        None,
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
}

async fn forged_and_expired_tokens_are_refused(kind: Kind) {
    use jsonwebtoken::{encode, EncodingKey, Header};
    let app = TestApp::new(kind).await;
    let (id, token, _) = app.user("walt").await;
    let claims = decode_claims(&token);
    let now = chrono::Utc::now().timestamp();
    let sign = |secret: &str, exp: i64, sub: &str| {
        let mut c = claims.clone();
        c["exp"] = json!(exp);
        c["sub"] = json!(sub);
        encode(
            &Header::default(),
            &c,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let (_, other_token, _) = app.user("xena").await;
    let other_id = decode_claims(&other_token)["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases = [
        (
            "wrong secret",
            sign("some-other-secret-some-other-secret!!", now + 600, &id),
        ),
        ("expired", sign(crate::helpers::SECRET, now - 60, &id)),
        // A valid signature but another user's id with this session: no such session
        (
            "session of another user",
            sign(crate::helpers::SECRET, now + 600, &other_id),
        ),
        ("garbage", "not.a.jwt".to_owned()),
        (
            "alg none",
            format!("eyJhbGciOiJub25lIn0.{}.", token.split('.').nth(1).unwrap()),
        ),
    ];
    for (what, bad) in cases {
        let reply = app.get("/api/auth/profile", Some(&bad)).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            reply.body
        );
        assert_eq!(reply.body["code"], "invalid_token", "{what}");
    }
    app.get("/api/auth/profile", None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    let req = http::Request::get("/api/auth/profile")
        .header("authorization", format!("Basic {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    app.send(req)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not_authenticated");
    // The genuine token still works
    app.get("/api/auth/profile", Some(&token))
        .await
        .expect(StatusCode::OK);
}

fn decode_claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The suite hashes at the minimal cost to stay fast; this case keeps the real one: what a
/// deployment stores is Argon2id at OWASP's minimum (m = 19 MiB, t = 2, p = 1).
async fn passwords_are_hashed_at_the_configured_cost(kind: Kind) {
    let real = TestApp::with(kind, |c| c.password_cost = PasswordCost::Standard).await;
    let cheap = real.sibling(|c| c.password_cost = PasswordCost::Minimal);
    real.register("ada").await;
    cheap.register("bob").await;
    for (app, name, params) in [
        (&real, "ada", "m=19456,t=2,p=1"),
        (&cheap, "bob", "m=8,t=1,p=1"),
    ] {
        let user = app
            .core
            .store
            .find_user_by_login(name)
            .await
            .unwrap()
            .expect("stored");
        let prefix = format!("$argon2id$v=19${params}$");
        assert!(
            user.password_hash.starts_with(&prefix),
            "{name}: {}",
            user.password_hash
        );
        // Either cost logs in whichever hashed it: the parameters travel with the hash.
        real.login(name).await;
        cheap.login(name).await;
    }
}

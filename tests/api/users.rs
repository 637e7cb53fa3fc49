//! The users endpoint group (administration), on every backend: the role table over HTTP, the
//! last-superuser rule, immediate effect of changes, complete deletion, listing and search.

use http::{Method, StatusCode};
use serde_json::{json, Value};
use shared::domain::Role;
use shared::layout::{self, Home};

use crate::backend_tests;
use crate::helpers::{Flaky, Kind, TestApp, PASSWORD};

backend_tests!(
    the_role_table_holds_on_every_endpoint,
    the_last_active_superuser_stays,
    changes_take_effect_on_the_next_request,
    deleting_a_user_removes_everything,
    listing_pages_and_searches,
    bad_administration_input,
    usage_counters_never_go_below_zero,
);

#[tokio::test]
async fn a_deletion_that_fails_midway_reports_and_resumes() {
    deletion_reports_and_resumes().await;
}

const NEW_PASSWORD: &str = "another horse battery";

fn new_user(name: &str, role: &str) -> Value {
    json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD,
           "role": role})
}

async fn create(app: &TestApp, token: &str, name: &str, role: &str) -> String {
    app.post("/api/users", Some(token), new_user(name, role))
        .await
        .expect(StatusCode::CREATED)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn patch(app: &TestApp, token: &str, id: &str, body: Value) -> crate::helpers::Reply {
    app.call(
        Method::PATCH,
        &format!("/api/users/{id}"),
        Some(token),
        Some(body),
    )
    .await
}

async fn delete(app: &TestApp, token: &str, id: &str) -> crate::helpers::Reply {
    app.call(
        Method::DELETE,
        &format!("/api/users/{id}"),
        Some(token),
        None,
    )
    .await
}

/// Nothing is stored under the user's home any more.
/// Neither the user's files nor their archives are left.
async fn assert_home_is_gone(app: &TestApp, id: &str) {
    for prefix in [Home::of(id).prefix().to_owned(), layout::archives_of(id)] {
        let left = app
            .core
            .objects
            .list(&prefix, false, None, 10)
            .await
            .unwrap();
        assert!(left.items.is_empty(), "objects left: {:?}", left.items);
    }
}

async fn reset(app: &TestApp, token: &str, id: &str) -> crate::helpers::Reply {
    app.post(
        &format!("/api/users/{id}/reset-password"),
        Some(token),
        json!({"new_password": NEW_PASSWORD}),
    )
    .await
}

/// The user `id` as a superuser sees it.
async fn user_as_seen(app: &TestApp, su: &str, id: &str) -> Value {
    app.get(&format!("/api/users/{id}"), Some(su))
        .await
        .expect(StatusCode::OK)
}

/// A success has this status; a refusal is 403 `permission_denied`.
#[track_caller]
fn assert_answer(reply: crate::helpers::Reply, status: StatusCode, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.body);
    if status == StatusCode::FORBIDDEN {
        assert_eq!(reply.body["code"], "permission_denied", "{what}");
    }
}

/// Whether API.md lets `actor` act on a user of role `target`.
fn allowed(actor: &str, target: &str) -> bool {
    match actor {
        "superuser" => true,
        "manager" => target == "user",
        _ => false,
    }
}

/// `status` when allowed, 403 when not.
fn expect(ok: bool, status: StatusCode) -> StatusCode {
    if ok {
        status
    } else {
        StatusCode::FORBIDDEN
    }
}

const ROLES: [&str; 3] = ["user", "manager", "superuser"];

/// Every actor role × every endpoint × every target role, against API.md's rules.
async fn the_role_table_holds_on_every_endpoint(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, su) = app.member("boss", Role::Superuser).await;
    let (_, mgr) = app.member("mona", Role::Manager).await;
    let (_, usr) = app.member("uma", Role::User).await;
    let actors = [("superuser", &su), ("manager", &mgr), ("user", &usr)];
    let mut n = 0;
    for (actor, token) in actors {
        // Seeing users: staff only.
        for uri in ["/api/users", "/api/auth/users"] {
            let reply = app.get(uri, Some(token)).await;
            let what = format!("{actor} {uri}");
            assert_answer(reply, expect(actor != "user", StatusCode::OK), &what);
        }
        for role in ROLES {
            n += 1;
            // Targets are made by the superuser, one fresh set per case.
            let target = format!("t{n}{}", &role[..1]);
            one_role_case(&app, &su, (actor, token), role, &target).await;
        }
    }
    // No credentials at all.
    app.get("/api/users", None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not_authenticated");
}

/// `actor` reads, creates, edits, promotes, resets and deletes a user of `role` named `name`.
async fn one_role_case(app: &TestApp, su: &str, actor: (&str, &str), role: &str, name: &str) {
    let (actor, token) = actor;
    let target = create(app, su, name, role).await;
    let before = user_as_seen(app, su, &target).await;
    let ok = allowed(actor, role);
    let reply = app.get(&format!("/api/users/{target}"), Some(token)).await;
    assert_answer(
        reply,
        expect(actor != "user", StatusCode::OK),
        &format!("{actor} get {role}"),
    );
    let created = app
        .post(
            "/api/users",
            Some(token),
            new_user(&format!("c{name}"), role),
        )
        .await;
    assert_answer(
        created,
        expect(ok, StatusCode::CREATED),
        &format!("{actor} create {role}"),
    );
    let reply = patch(app, token, &target, json!({"first_name": "Renamed"})).await;
    assert_answer(
        reply,
        expect(ok, StatusCode::OK),
        &format!("{actor} patch {role}"),
    );
    for grant in ROLES {
        let reply = patch(app, token, &target, json!({"role": grant})).await;
        let what = format!("{actor} makes {role} {grant}");
        if ok && allowed(actor, grant) {
            assert_answer(reply, StatusCode::OK, &what);
            // Back to the role the case is about.
            patch(app, su, &target, json!({"role": role}))
                .await
                .expect(StatusCode::OK);
        } else {
            assert_answer(reply, StatusCode::FORBIDDEN, &what);
            // Refused means untouched: checked before anything else writes.
            let now = user_as_seen(app, su, &target).await;
            assert_eq!(now["user_type"], role, "{what}");
        }
    }
    let reply = reset(app, token, &target).await;
    assert_answer(
        reply,
        expect(ok, StatusCode::OK),
        &format!("{actor} reset {role}"),
    );
    let reply = delete(app, token, &target).await;
    let what = format!("{actor} delete {role}");
    assert_answer(reply, expect(ok, StatusCode::NO_CONTENT), &what);
    if !ok {
        // Every change was refused: the user is exactly as before, password included.
        assert_eq!(user_as_seen(app, su, &target).await, before, "{what}");
        app.try_login(name, PASSWORD).await.expect(StatusCode::OK);
    }
}

async fn the_last_active_superuser_stays(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (boss, su) = app.member("boss", Role::Superuser).await;
    for body in [
        json!({"role": "manager"}),
        json!({"role": "user"}),
        json!({"is_active": false}),
    ] {
        patch(&app, &su, &boss, body)
            .await
            .expect_error(StatusCode::CONFLICT, "last_superuser");
    }
    delete(&app, &su, &boss)
        .await
        .expect_error(StatusCode::CONFLICT, "last_superuser");
    // Other changes to the last superuser are fine.
    patch(&app, &su, &boss, json!({"first_name": "Big"}))
        .await
        .expect(StatusCode::OK);
    // A second superuser makes the first one removable; a disabled one does not count.
    let second = create(&app, &su, "deputy", "superuser").await;
    patch(&app, &su, &second, json!({"is_active": false}))
        .await
        .expect(StatusCode::OK);
    patch(&app, &su, &boss, json!({"role": "manager"}))
        .await
        .expect_error(StatusCode::CONFLICT, "last_superuser");
    patch(&app, &su, &second, json!({"is_active": true}))
        .await
        .expect(StatusCode::OK);
    let body = patch(&app, &su, &boss, json!({"role": "manager"}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(body["user_type"], "manager");
    // The demotion bit at once: boss is a manager now, and cannot touch the superuser.
    patch(&app, &su, &second, json!({"role": "user"}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "permission_denied");
}

async fn changes_take_effect_on_the_next_request(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, su) = app.member("boss", Role::Superuser).await;
    let (id, access, _) = app.user("uma").await;
    let key = app.api_key(&access, "script").await;
    app.get("/api/users", Some(&access))
        .await
        .expect_error(StatusCode::FORBIDDEN, "permission_denied");
    // Promoted: the same token and key carry the new role.
    patch(&app, &su, &id, json!({"role": "manager"}))
        .await
        .expect(StatusCode::OK);
    app.get("/api/users", Some(&access))
        .await
        .expect(StatusCode::OK);
    app.get("/api/users", Some(&key))
        .await
        .expect(StatusCode::OK);
    let me = app
        .get("/api/auth/profile", Some(&access))
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["user_type"], "manager");
    assert_eq!(me["is_manager"], true);
    // Demoted: gone again.
    patch(&app, &su, &id, json!({"role": "user"}))
        .await
        .expect(StatusCode::OK);
    app.get("/api/users", Some(&key))
        .await
        .expect_error(StatusCode::FORBIDDEN, "permission_denied");
    // Disabled: token and key refused, login refused.
    patch(&app, &su, &id, json!({"is_active": false}))
        .await
        .expect(StatusCode::OK);
    app.get("/api/auth/profile", Some(&access))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    app.get("/api/auth/profile", Some(&key))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "account_disabled");
    app.try_login("uma", PASSWORD)
        .await
        .expect_error(StatusCode::FORBIDDEN, "account_disabled");
    // Enabled again: the key works, the ended session does not come back.
    patch(&app, &su, &id, json!({"is_active": true}))
        .await
        .expect(StatusCode::OK);
    app.get("/api/auth/profile", Some(&key))
        .await
        .expect(StatusCode::OK);
    app.get("/api/auth/profile", Some(&access))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    // Password reset: every session ends; only the new password works.
    let (access, refresh) = app.login("uma").await;
    reset(&app, &su, &id).await.expect(StatusCode::OK);
    app.get("/api/auth/profile", Some(&access))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    app.post("/api/auth/token/refresh", None, json!({"refresh": refresh}))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    app.try_login("uma", PASSWORD)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    app.try_login("uma", NEW_PASSWORD)
        .await
        .expect(StatusCode::OK);
    // Quota: the detail shows it and uploads are held to it at once.
    let body = patch(&app, &su, &id, json!({"quota_bytes": 10}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(body["storage"]["quota_bytes"], 10);
    let (access, _) = {
        let b = app
            .try_login("uma", NEW_PASSWORD)
            .await
            .expect(StatusCode::OK);
        (b["access"].as_str().unwrap().to_owned(), ())
    };
    app.upload(&access, &[], &[("big.txt", b"more than ten bytes")])
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded");
    let body = patch(&app, &su, &id, json!({"quota_bytes": null}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(body["storage"]["quota_bytes"], Value::Null);
    app.upload(&access, &[], &[("big.txt", b"more than ten bytes")])
        .await
        .expect(StatusCode::CREATED);
}

async fn deleting_a_user_removes_everything(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, mgr) = app.member("mona", Role::Manager).await;
    let (id, access, refresh) = app.user("uma").await;
    let key = app.api_key(&access, "script").await;
    app.post(
        "/api/files/create-folder",
        Some(&access),
        json!({"folder_name": "docs"}),
    )
    .await
    .expect(StatusCode::CREATED);
    app.upload(
        &access,
        &[("path", None, b"docs")],
        &[("a.txt", b"alpha"), ("b.txt", b"beta")],
    )
    .await
    .expect(StatusCode::CREATED);
    let detail = app
        .get(&format!("/api/users/{id}"), Some(&mgr))
        .await
        .expect(StatusCode::OK);
    assert_eq!(detail["storage"]["used_bytes"], 9);
    // two files and the marker of `docs`
    assert_eq!(detail["storage"]["file_count"], 3);
    app.post("/api/zip", Some(&access), json!({"paths": ["docs"]}))
        .await
        .expect(StatusCode::OK);

    delete(&app, &mgr, &id).await.expect(StatusCode::NO_CONTENT);
    app.get("/api/auth/profile", Some(&access))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    app.get("/api/auth/profile", Some(&key))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    app.post("/api/auth/token/refresh", None, json!({"refresh": refresh}))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    app.get(&format!("/api/users/{id}"), Some(&mgr))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    delete(&app, &mgr, &id)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_home_is_gone(&app, &id).await;
    // The name is free again, and its new owner starts with an empty home.
    let (new_id, access, _) = app.user("uma").await;
    assert_ne!(new_id, id);
    let listing = app
        .get("/api/files/list", Some(&access))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listing["items"], json!([]));
    let info = app
        .get("/api/auth/user-info", Some(&access))
        .await
        .expect(StatusCode::OK);
    assert_eq!(info["storage"]["used_bytes"], 0);
    assert_eq!(info["storage"]["file_count"], 0);
}

async fn listing_pages_and_searches(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, su) = app.member("boss", Role::Superuser).await;
    for name in ["alice", "bob", "carol", "dave", "erin", "frank"] {
        create(&app, &su, name, "user").await;
    }
    patch(
        &app,
        &su,
        &create(&app, &su, "zed", "user").await,
        json!({"last_name": "Alicent"}),
    )
    .await
    .expect(StatusCode::OK);
    // Pages of 3 cover everyone exactly once, in username order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/api/users?limit=3&cursor={c}"),
            None => "/api/users?limit=3".to_owned(),
        };
        let page = app.get(&uri, Some(&su)).await.expect(StatusCode::OK);
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(
            items
                .iter()
                .map(|u| u["username"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["alice", "bob", "boss", "carol", "dave", "erin", "frank", "zed"]
    );
    // Search: username, email or name, case-insensitively; the seed's path answers the same.
    for uri in ["/api/users?search=ALIC", "/api/auth/users?search=ALIC"] {
        let found = app.get(uri, Some(&su)).await.expect(StatusCode::OK);
        let names: Vec<&str> = found["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["alice", "zed"], "{uri}");
    }
    let found = app
        .get("/api/users?search=bob%40example", Some(&su))
        .await
        .expect(StatusCode::OK);
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    let none = app
        .get("/api/users?search=nobody", Some(&su))
        .await
        .expect(StatusCode::OK);
    assert_eq!(none, json!({"items": [], "next_cursor": null}));
    // Search pages too; its cursor is not valid for another search.
    let page = app
        .get("/api/users?search=a&limit=1", Some(&su))
        .await
        .expect(StatusCode::OK);
    let cursor = page["next_cursor"].as_str().unwrap();
    app.get(&format!("/api/users?cursor={cursor}"), Some(&su))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_cursor");
    app.get("/api/users?cursor=garbage", Some(&su))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_cursor");
    app.get("/api/users?limit=0", Some(&su))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    // No secret in any user object.
    let all = app
        .get("/api/users?limit=1000", Some(&su))
        .await
        .expect(StatusCode::OK);
    assert!(!all.to_string().contains("argon2"), "{all}");
}

async fn bad_administration_input(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, su) = app.member("boss", Role::Superuser).await;
    let bad_role = app
        .post("/api/users", Some(&su), new_user("newbie", "admin"))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    assert!(bad_role["details"]["role"].is_string(), "{bad_role}");
    let weak = app
        .post(
            "/api/users",
            Some(&su),
            json!({"username": "newbie", "email": "n@example.com", "password": "123"}),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    assert!(weak["details"]["password"].is_string(), "{weak}");
    app.post(
        "/api/users",
        Some(&su),
        json!({"username": "x", "is_superuser": true}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "invalid_json");
    app.post(
        "/api/users",
        Some(&su),
        json!({"username": "BOSS", "email": "other@example.com", "password": PASSWORD}),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "username_taken");
    let quota = app
        .post(
            "/api/users",
            Some(&su),
            json!({"username": "quoted", "email": "q@example.com", "password": PASSWORD,
                   "quota_bytes": 1000}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(quota["quota_bytes"], 1000);
    assert_eq!(quota["user_type"], "user");
    let id = quota["id"].as_str().unwrap();
    patch(&app, &su, id, json!({"quota_bytes": -1}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_json");
    patch(&app, &su, id, json!({"password": "x"}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_json");
    patch(&app, &su, id, json!({"email": "not an email"}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    patch(&app, &su, id, json!({"email": "boss@example.com"}))
        .await
        .expect_error(StatusCode::CONFLICT, "email_taken");
    patch(&app, &su, "no-such-user", json!({"first_name": "x"}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.post(
        &format!("/api/users/{id}/reset-password"),
        Some(&su),
        json!({"new_password": "quoted"}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    app.post(
        &format!("/api/users/{id}/reset-password"),
        Some(&su),
        json!({}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    let detail = app
        .get(&format!("/api/users/{id}"), Some(&su))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        detail["storage"],
        json!({"used_bytes": 0, "reserved_bytes": 0, "quota_bytes": 1000, "file_count": 0,
            "file_limit": 1_000_000})
    );
}

/// A release larger than what is counted (counters that drifted) leaves zero, not less, so the
/// quota keeps meaning what it says.
async fn usage_counters_never_go_below_zero(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (id, _, _) = app.user("uma").await;
    let store = &app.core.store;
    assert!(store.add_usage(&id, 5, 1, None).await.unwrap());
    assert!(store.add_usage(&id, -10, -2, None).await.unwrap());
    let user = store.get_user(&id).await.unwrap().unwrap();
    assert_eq!((user.used_bytes, user.file_count), (0, 0));
    assert!(store.add_usage(&id, 3, 1, Some(3)).await.unwrap());
    assert!(!store.add_usage(&id, 1, 1, Some(3)).await.unwrap());
    let user = store.get_user(&id).await.unwrap().unwrap();
    assert_eq!((user.used_bytes, user.file_count), (3, 1));
    assert!(!store.add_usage("no-such-user", -1, -1, None).await.unwrap());
}

/// Storage fails while a user's files are deleted: the answer says so (503), the account stays
/// disabled, and the same request later finishes the job.
async fn deletion_reports_and_resumes() {
    use std::sync::atomic::Ordering;
    let base = TestApp::new(Kind::Embedded).await;
    let (app, flaky) = Flaky::around(&base);
    let (_, su) = app.member("boss", Role::Superuser).await;
    let (id, access, _) = app.user("uma").await;
    app.upload(&access, &[], &[("a.txt", b"alpha"), ("b.txt", b"beta")])
        .await
        .expect(StatusCode::CREATED);
    flaky.failed_deletes.store(1, Ordering::SeqCst);
    delete(&app, &su, &id)
        .await
        .expect_error(StatusCode::SERVICE_UNAVAILABLE, "deletion_incomplete");
    let left = app
        .get(&format!("/api/users/{id}"), Some(&su))
        .await
        .expect(StatusCode::OK);
    assert_eq!(left["is_active"], false, "{left}");
    app.get("/api/auth/profile", Some(&access))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "account_disabled");
    app.try_login("uma", PASSWORD)
        .await
        .expect_error(StatusCode::FORBIDDEN, "account_disabled");
    // Resumed: done, nothing left.
    delete(&app, &su, &id).await.expect(StatusCode::NO_CONTENT);
    assert_home_is_gone(&app, &id).await;
    app.get(&format!("/api/users/{id}"), Some(&su))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
}

//! The users endpoint group (administration), on every backend: the role table over HTTP, the
//! last-superuser rule, immediate effect of changes, complete deletion, listing and search.

use http::{Method, StatusCode};
use serde_json::{json, Value};
use shared::domain::Role;

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
    for prefix in [format!("users/{id}/"), format!("archives/{id}/")] {
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

/// Every actor role × every endpoint × every target role, against API.md's rules.
async fn the_role_table_holds_on_every_endpoint(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, su) = app.member("boss", Role::Superuser).await;
    let (_, mgr) = app.member("mona", Role::Manager).await;
    let (_, usr) = app.member("uma", Role::User).await;
    let actors = [("superuser", &su), ("manager", &mgr), ("user", &usr)];
    let roles = ["user", "manager", "superuser"];
    let allowed = |actor: &str, target: &str| match actor {
        "superuser" => true,
        "manager" => target == "user",
        _ => false,
    };
    let expect = |ok: bool, status: StatusCode| if ok { status } else { StatusCode::FORBIDDEN };
    let mut n = 0;
    for (actor, token) in actors {
        // Seeing users: staff only.
        for uri in ["/api/users", "/api/auth/users"] {
            let reply = app.get(uri, Some(token)).await;
            assert_eq!(
                reply.status,
                expect(actor != "user", StatusCode::OK),
                "{actor} {uri}"
            );
        }
        for role in roles {
            n += 1;
            // Targets are made by the superuser, one fresh set per case.
            let target = create(&app, &su, &format!("t{n}{}", &role[..1]), role).await;
            let ok = allowed(actor, role);
            let reply = app.get(&format!("/api/users/{target}"), Some(token)).await;
            assert_eq!(
                reply.status,
                expect(actor != "user", StatusCode::OK),
                "{actor} get {role}"
            );
            let created = app
                .post(
                    "/api/users",
                    Some(token),
                    new_user(&format!("c{n}{}", &role[..1]), role),
                )
                .await;
            assert_eq!(
                created.status,
                expect(ok, StatusCode::CREATED),
                "{actor} create {role}"
            );
            let reply = patch(&app, token, &target, json!({"first_name": "Renamed"})).await;
            assert_eq!(
                reply.status,
                expect(ok, StatusCode::OK),
                "{actor} patch {role}"
            );
            for grant in roles {
                let reply = patch(&app, token, &target, json!({"role": grant})).await;
                let ok = ok && allowed(actor, grant);
                assert_eq!(
                    reply.status,
                    expect(ok, StatusCode::OK),
                    "{actor} makes {role} {grant}"
                );
                // Back to the role the case is about.
                patch(&app, &su, &target, json!({"role": role}))
                    .await
                    .expect(StatusCode::OK);
            }
            let reply = reset(&app, token, &target).await;
            assert_eq!(
                reply.status,
                expect(ok, StatusCode::OK),
                "{actor} reset {role}"
            );
            let reply = delete(&app, token, &target).await;
            assert_eq!(
                reply.status,
                expect(ok, StatusCode::NO_CONTENT),
                "{actor} delete {role}"
            );
            if !ok {
                // Refused means untouched.
                let body = app
                    .get(&format!("/api/users/{target}"), Some(&su))
                    .await
                    .expect(StatusCode::OK);
                assert_eq!(body["user_type"], role);
            }
            let refused = reply.status == StatusCode::FORBIDDEN;
            if refused {
                reply.expect_error(StatusCode::FORBIDDEN, "permission_denied");
            }
        }
    }
    // No credentials at all.
    app.get("/api/users", None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not_authenticated");
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
        .expect(StatusCode::FORBIDDEN);
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
        .expect(StatusCode::FORBIDDEN);
    // Disabled: token and key refused, login refused.
    patch(&app, &su, &id, json!({"is_active": false}))
        .await
        .expect(StatusCode::OK);
    app.get("/api/auth/profile", Some(&access))
        .await
        .expect(StatusCode::UNAUTHORIZED);
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
        .expect(StatusCode::UNAUTHORIZED);
    // Password reset: every session ends; only the new password works.
    let (access, refresh) = app.login("uma").await;
    reset(&app, &su, &id).await.expect(StatusCode::OK);
    app.get("/api/auth/profile", Some(&access))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    app.post("/api/auth/token/refresh", None, json!({"refresh": refresh}))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    app.try_login("uma", PASSWORD)
        .await
        .expect(StatusCode::UNAUTHORIZED);
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
    assert_eq!(detail["storage"]["file_count"], 2);
    app.post("/api/zip", Some(&access), json!({"paths": ["docs"]}))
        .await
        .expect(StatusCode::OK);

    delete(&app, &mgr, &id).await.expect(StatusCode::NO_CONTENT);
    app.get("/api/auth/profile", Some(&access))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    app.get("/api/auth/profile", Some(&key))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    app.post("/api/auth/token/refresh", None, json!({"refresh": refresh}))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    app.get(&format!("/api/users/{id}"), Some(&mgr))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    delete(&app, &mgr, &id).await.expect(StatusCode::NOT_FOUND);
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
        .expect(StatusCode::BAD_REQUEST);
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
        .expect(StatusCode::BAD_REQUEST);
    assert!(bad_role["details"]["role"].is_string(), "{bad_role}");
    let weak = app
        .post(
            "/api/users",
            Some(&su),
            json!({"username": "newbie", "email": "n@example.com", "password": "123"}),
        )
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert!(weak["details"]["password"].is_string(), "{weak}");
    app.post(
        "/api/users",
        Some(&su),
        json!({"username": "x", "is_superuser": true}),
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
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
        .expect(StatusCode::BAD_REQUEST);
    patch(&app, &su, id, json!({"password": "x"}))
        .await
        .expect(StatusCode::BAD_REQUEST);
    patch(&app, &su, id, json!({"email": "not an email"}))
        .await
        .expect(StatusCode::BAD_REQUEST);
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
    .expect(StatusCode::BAD_REQUEST);
    app.post(
        &format!("/api/users/{id}/reset-password"),
        Some(&su),
        json!({}),
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
    let detail = app
        .get(&format!("/api/users/{id}"), Some(&su))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        detail["storage"],
        json!({"used_bytes": 0, "quota_bytes": 1000, "file_count": 0})
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
        .expect(StatusCode::UNAUTHORIZED);
    app.try_login("uma", PASSWORD)
        .await
        .expect_error(StatusCode::FORBIDDEN, "account_disabled");
    // Resumed: done, nothing left.
    delete(&app, &su, &id).await.expect(StatusCode::NO_CONTENT);
    assert_home_is_gone(&app, &id).await;
    app.get(&format!("/api/users/{id}"), Some(&su))
        .await
        .expect(StatusCode::NOT_FOUND);
}

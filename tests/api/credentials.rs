//! Credentials stay credentials (issue 13): what an API key may not do, how keys are revoked
//! after a compromise, administrators' key routes, and the last superuser rule under races.
//! Each case is the attack, its refusal (status and code) and what remains afterwards.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::{json, Value};
use shared::domain::Role;

use crate::backend_tests;
use crate::helpers::{dynamo_client, race, Kind, Reply, TestApp, PASSWORD};

backend_tests!(
    an_api_key_cannot_change_the_account,
    an_api_key_keeps_its_data_rights,
    an_administrators_key_cannot_administer,
    a_reset_password_ends_sessions_and_revokes_keys,
    a_password_change_revokes_keys_when_asked,
    administrators_see_and_revoke_keys,
    role_rules_hold_for_key_routes,
    the_last_superuser_cannot_delete_their_account,
    superusers_disabling_each_other_leave_one,
    superusers_deleting_each_other_leave_one,
    a_table_without_the_superuser_count_counts_it,
);

const NEW_PASSWORD: &str = "another horse battery";

async fn delete(app: &TestApp, uri: &str, token: &str) -> Reply {
    app.call(Method::DELETE, uri, Some(token), None).await
}

async fn patch(app: &TestApp, uri: &str, token: &str, body: Value) -> Reply {
    app.call(Method::PATCH, uri, Some(token), Some(body)).await
}

/// The ids of `token`'s owner's keys, as listed.
async fn key_ids(app: &TestApp, token: &str) -> Vec<String> {
    let list = app.get("/api/auth/keys", Some(token)).await;
    let list = list.expect(StatusCode::OK);
    let ids = list.as_array().unwrap().iter();
    ids.map(|k| k["id"].as_str().unwrap().to_owned()).collect()
}

/// Creates a key with the session `token`; returns (id, key).
async fn new_key(app: &TestApp, token: &str, name: &str) -> (String, String) {
    let created = app
        .post("/api/auth/keys", Some(token), json!({ "name": name }))
        .await
        .expect(StatusCode::CREATED);
    let field = |f: &str| created[f].as_str().unwrap().to_owned();
    (field("id"), field("key"))
}

async fn an_api_key_cannot_change_the_account(kind: Kind) {
    // GIVEN a user with a session and an API key
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("kim").await;
    let (key_id, key) = new_key(&app, &token, "script").await;
    let not_allowed =
        |reply: Reply| reply.expect_error(StatusCode::FORBIDDEN, "api_key_not_allowed");
    // WHEN the key tries to change the password: right, wrong, or a body that is not even valid
    for body in [
        json!({"old_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password2": NEW_PASSWORD}),
        json!({"old_password": "wrong guess", "new_password": NEW_PASSWORD, "new_password2": NEW_PASSWORD}),
        json!({"old_password": 5}),
    ] {
        // THEN the same refusal each time: no password oracle
        not_allowed(
            app.post("/api/auth/change-password", Some(&key), body)
                .await,
        );
    }
    // AND to delete the account, with the right password or a wrong one
    for password in [PASSWORD, "wrong guess"] {
        let body = json!({ "password": password });
        not_allowed(app.post("/api/auth/delete-account", Some(&key), body).await);
    }
    // AND to mint a key, revoke one, end every session, or change the email
    not_allowed(
        app.post("/api/auth/keys", Some(&key), json!({"name": "more"}))
            .await,
    );
    not_allowed(
        app.post("/api/auth/keys", Some(&key), json!({"name": 7}))
            .await,
    );
    not_allowed(delete(&app, &format!("/api/auth/keys/{key_id}"), &key).await);
    not_allowed(
        app.post("/api/auth/logout-all", Some(&key), json!({}))
            .await,
    );
    let email = json!({"email": "evil@example.com"});
    not_allowed(patch(&app, "/api/auth/profile", &key, email).await);
    let email = json!({"email": "not an address", "first_name": "K"});
    not_allowed(patch(&app, "/api/auth/profile", &key, email).await);
    // THEN everything stands: password, account, session, the one key, the email, the name
    app.try_login("kim", PASSWORD).await.expect(StatusCode::OK);
    let me = app.get("/api/auth/profile", Some(&token)).await;
    let me = me.expect(StatusCode::OK);
    assert_eq!(
        (me["email"].as_str(), me["first_name"].as_str()),
        (Some("kim@example.com"), Some(""))
    );
    assert_eq!(key_ids(&app, &token).await, [key_id]);
}

async fn an_api_key_keeps_its_data_rights(kind: Kind) {
    // GIVEN a user's API key
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("kit").await;
    let (key_id, key) = new_key(&app, &token, "script").await;
    // WHEN it reads the account, lists its keys, changes names and works with files
    let me = app
        .get("/api/auth/profile", Some(&key))
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["username"], "kit");
    app.get("/api/auth/user-info", Some(&key))
        .await
        .expect(StatusCode::OK);
    assert_eq!(key_ids(&app, &key).await, [key_id]);
    let names = json!({"first_name": "Kit", "last_name": "Marlowe"});
    let changed = patch(&app, "/api/auth/profile", &key, names)
        .await
        .expect(StatusCode::OK);
    assert_eq!(changed["full_name"], "Kit Marlowe");
    app.upload(&key, &[], &[("notes.txt", b"hello")])
        .await
        .expect(StatusCode::CREATED);
    // THEN all of that was allowed, and the file is there for the session too
    let list = app
        .get("/api/files/list?path=", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(list["items"][0]["name"], "notes.txt");
}

async fn an_administrators_key_cannot_administer(kind: Kind) {
    // GIVEN a superuser's API key and a user to administer
    let app = TestApp::new(kind).await;
    let (_, admin_token) = app.member("root", Role::Superuser).await;
    let (_, admin_key) = new_key(&app, &admin_token, "ops").await;
    let (uid, user_token, _) = app.user("ula").await;
    let (ula_key_id, ula_key) = new_key(&app, &user_token, "sync").await;
    let not_allowed =
        |reply: Reply| reply.expect_error(StatusCode::FORBIDDEN, "api_key_not_allowed");
    // WHEN the key creates, changes, deletes, resets or revokes (valid bodies or not)
    let body = json!({"username": "eve", "email": "eve@example.com", "password": PASSWORD, "role": "superuser"});
    not_allowed(app.post("/api/users", Some(&admin_key), body).await);
    not_allowed(
        app.post("/api/users", Some(&admin_key), json!({"role": 1}))
            .await,
    );
    let user = format!("/api/users/{uid}");
    not_allowed(patch(&app, &user, &admin_key, json!({"role": "superuser"})).await);
    not_allowed(patch(&app, &user, &admin_key, json!({"is_active": "no"})).await);
    not_allowed(delete(&app, &user, &admin_key).await);
    let reset = format!("{user}/reset-password");
    not_allowed(
        app.post(
            &reset,
            Some(&admin_key),
            json!({"new_password": NEW_PASSWORD}),
        )
        .await,
    );
    not_allowed(delete(&app, &format!("{user}/keys/{ula_key_id}"), &admin_key).await);
    // THEN reads stay allowed, and the user is as before: role, password, key, no eve
    app.get("/api/users", Some(&admin_key))
        .await
        .expect(StatusCode::OK);
    let seen = app
        .get(&user, Some(&admin_key))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (seen["user_type"].as_str(), seen["is_active"].as_bool()),
        (Some("user"), Some(true))
    );
    let keys = app.get(&format!("{user}/keys"), Some(&admin_key)).await;
    assert_eq!(keys.expect(StatusCode::OK).as_array().unwrap().len(), 1);
    app.try_login("ula", PASSWORD).await.expect(StatusCode::OK);
    app.get("/api/auth/profile", Some(&ula_key))
        .await
        .expect(StatusCode::OK);
    app.try_login("eve", PASSWORD)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
}

async fn a_reset_password_ends_sessions_and_revokes_keys(kind: Kind) {
    // GIVEN a user (whose password leaked) with a session and two keys
    let app = TestApp::new(kind).await;
    let (_, admin) = app.member("root", Role::Superuser).await;
    let (uid, token, refresh) = app.user("lee").await;
    let (_, key1) = new_key(&app, &token, "a").await;
    let (_, key2) = new_key(&app, &token, "b").await;
    // WHEN an administrator resets the password
    let reset = format!("/api/users/{uid}/reset-password");
    let answer = app
        .post(&reset, Some(&admin), json!({"new_password": NEW_PASSWORD}))
        .await;
    let answer = answer.expect(StatusCode::OK);
    // THEN the answer says two keys went, and nothing issued before works any more
    assert_eq!(answer["api_keys_revoked"], 2, "{answer}");
    assert!(answer["message"].is_string());
    for old in [&token, &key1, &key2] {
        let reply = app.get("/api/auth/profile", Some(old)).await;
        reply.expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    let refreshed = app
        .post(
            "/api/auth/token/refresh",
            None,
            json!({ "refresh": refresh }),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::UNAUTHORIZED);
    // AND the new password works, with no key left
    app.try_login("lee", PASSWORD)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    let login = app
        .try_login("lee", NEW_PASSWORD)
        .await
        .expect(StatusCode::OK);
    assert!(key_ids(&app, login["access"].as_str().unwrap())
        .await
        .is_empty());
}

async fn a_password_change_revokes_keys_when_asked(kind: Kind) {
    // GIVEN two sessions and a key
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("max").await;
    let (other, _) = app.login("max").await;
    let (key_id, key) = new_key(&app, &token, "ci").await;
    // WHEN the password changes without `revoke_api_keys`
    let change = |old: &str, new: &str| json!({"old_password": old, "new_password": new, "new_password2": new});
    let answer = app
        .post(
            "/api/auth/change-password",
            Some(&token),
            change(PASSWORD, NEW_PASSWORD),
        )
        .await;
    let answer = answer.expect(StatusCode::OK);
    // THEN the other session ended, the key stays (and says so)
    assert_eq!(answer["api_keys_revoked"], 0, "{answer}");
    assert_eq!(answer["message"], "Password changed successfully");
    let ended = app.get("/api/auth/profile", Some(&other)).await;
    ended.expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    app.get("/api/auth/profile", Some(&key))
        .await
        .expect(StatusCode::OK);
    assert_eq!(key_ids(&app, &token).await, [key_id]);
    // WHEN it changes again, asking for the keys to go
    let mut body = change(NEW_PASSWORD, PASSWORD);
    body["revoke_api_keys"] = json!(true);
    let answer = app
        .post("/api/auth/change-password", Some(&token), body)
        .await;
    let answer = answer.expect(StatusCode::OK);
    // THEN the key is revoked and counted; this session still works
    assert_eq!(answer["api_keys_revoked"], 1, "{answer}");
    let revoked = app.get("/api/auth/profile", Some(&key)).await;
    revoked.expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    assert!(key_ids(&app, &token).await.is_empty());
    app.try_login("max", PASSWORD).await.expect(StatusCode::OK);
}

async fn administrators_see_and_revoke_keys(kind: Kind) {
    // GIVEN a manager, a user with two keys and another user with one
    let app = TestApp::new(kind).await;
    let (_, manager) = app.member("mona", Role::Manager).await;
    let (uid, token, _) = app.user("una").await;
    let (id1, key1) = new_key(&app, &token, "laptop").await;
    let (id2, key2) = new_key(&app, &token, "server").await;
    let (oid, other_token, _) = app.user("otto").await;
    let (other_id, other_key) = new_key(&app, &other_token, "otto's").await;
    // WHEN the manager lists una's keys
    let keys = format!("/api/users/{uid}/keys");
    let list = app.get(&keys, Some(&manager)).await.expect(StatusCode::OK);
    // THEN both are there as una sees them, without the secrets
    let mut listed: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    listed.sort_unstable();
    let mut made = [id1.as_str(), id2.as_str()];
    made.sort_unstable();
    assert_eq!(listed, made);
    assert!(list[0].get("key").is_none() && list[0].get("key_hash").is_none());
    assert!(!list.to_string().contains(&key1[20..]));
    // WHEN the manager revokes one: 204, and it stops working at once
    assert_eq!(
        delete(&app, &format!("{keys}/{id1}"), &manager)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let gone = app.get("/api/auth/profile", Some(&key1)).await;
    gone.expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    app.get("/api/auth/profile", Some(&key2))
        .await
        .expect(StatusCode::OK);
    // THEN a second revocation, otto's key under una, or nobody's are 404
    let not_found = |reply: Reply| reply.expect_error(StatusCode::NOT_FOUND, "not_found");
    not_found(delete(&app, &format!("{keys}/{id1}"), &manager).await);
    not_found(delete(&app, &format!("{keys}/{other_id}"), &manager).await);
    not_found(delete(&app, &format!("{keys}/not-a-key"), &manager).await);
    let nobody = "/api/users/00000000-0000-4000-8000-000000000000/keys";
    not_found(app.get(nobody, Some(&manager)).await);
    not_found(delete(&app, &format!("{nobody}/{id2}"), &manager).await);
    // AND what remains: una's second key, otto's key
    assert_eq!(key_ids(&app, &token).await, [id2]);
    let otto = app
        .get(&format!("/api/users/{oid}/keys"), Some(&manager))
        .await;
    assert_eq!(otto.expect(StatusCode::OK)[0]["id"], other_id.as_str());
    app.get("/api/auth/profile", Some(&other_key))
        .await
        .expect(StatusCode::OK);
}

async fn role_rules_hold_for_key_routes(kind: Kind) {
    // GIVEN a superuser, two managers and a user, each with a key
    let app = TestApp::new(kind).await;
    let (_, root) = app.member("root", Role::Superuser).await;
    let (mid, manager) = app.member("mona", Role::Manager).await;
    let (_, manager2) = app.member("mick", Role::Manager).await;
    let (uid, user, _) = app.user("una").await;
    let (mkey, mkey_secret) = new_key(&app, &manager, "m").await;
    let (ukey, _) = new_key(&app, &user, "u").await;
    let denied = |reply: Reply| reply.expect_error(StatusCode::FORBIDDEN, "permission_denied");
    // WHEN a user asks for anyone's keys, or a manager for a manager's
    denied(
        app.get(&format!("/api/users/{uid}/keys"), Some(&user))
            .await,
    );
    denied(delete(&app, &format!("/api/users/{uid}/keys/{ukey}"), &user).await);
    denied(
        app.get(&format!("/api/users/{mid}/keys"), Some(&manager2))
            .await,
    );
    denied(delete(&app, &format!("/api/users/{mid}/keys/{mkey}"), &manager2).await);
    // THEN the manager's key still works; a superuser may see and revoke it
    app.get("/api/auth/profile", Some(&mkey_secret))
        .await
        .expect(StatusCode::OK);
    let list = app
        .get(&format!("/api/users/{mid}/keys"), Some(&root))
        .await;
    assert_eq!(list.expect(StatusCode::OK)[0]["id"], mkey.as_str());
    let revoked = delete(&app, &format!("/api/users/{mid}/keys/{mkey}"), &root).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let gone = app.get("/api/auth/profile", Some(&mkey_secret)).await;
    gone.expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    assert_eq!(key_ids(&app, &user).await, [ukey]);
}

async fn the_last_superuser_cannot_delete_their_account(kind: Kind) {
    // GIVEN one superuser
    let app = TestApp::new(kind).await;
    let (_, root) = app.member("root", Role::Superuser).await;
    // (on a table from before the superuser count: the auth function counts them)
    forget_superuser_count(&app, kind).await;
    // WHEN they delete their own account
    let body = json!({ "password": PASSWORD });
    let reply = app
        .post("/api/auth/delete-account", Some(&root), body.clone())
        .await;
    // THEN 409, and they are still an active superuser
    reply.expect_error(StatusCode::CONFLICT, "last_superuser");
    let me = app
        .get("/api/auth/profile", Some(&root))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (me["is_superuser"].as_bool(), me["is_active"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(app.core.store.count_active_superusers().await.unwrap(), 1);
    // WHEN a second superuser exists, the first may leave
    let (_, other) = app.member("sue", Role::Superuser).await;
    let reply = app
        .post("/api/auth/delete-account", Some(&root), body.clone())
        .await;
    reply.expect(StatusCode::OK);
    app.try_login("root", PASSWORD)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    // THEN the one left is the last: the count followed
    let reply = app
        .post("/api/auth/delete-account", Some(&other), body)
        .await;
    reply.expect_error(StatusCode::CONFLICT, "last_superuser");
    assert_eq!(app.core.store.count_active_superusers().await.unwrap(), 1);
}

/// Two superusers send `request(token, other's id)` at once, `rounds` times, each round on a
/// fresh pair; exactly one wins each time and one active superuser is left.
async fn mutual_removal<F>(
    kind: Kind,
    rounds: usize,
    method: Method,
    body: Option<Value>,
    ok: StatusCode,
    check: F,
) where
    F: Fn(&[Reply]) -> usize,
{
    for round in 0..rounds {
        let app = Arc::new(TestApp::new(kind).await);
        let (ann, ann_token) = app.member("ann", Role::Superuser).await;
        let (bob, bob_token) = app.member("bob", Role::Superuser).await;
        let pairs = [(ann_token, bob), (bob_token, ann)];
        let replies = race(2, |i| {
            let (app, method, body) = (app.clone(), method.clone(), body.clone());
            let (token, target) = pairs[i].clone();
            async move {
                let uri = format!("/api/users/{target}");
                app.call(method, &uri, Some(&token), body).await
            }
        })
        .await;
        let seen: Vec<_> = replies
            .iter()
            .map(|r| (r.status, r.body["code"].clone()))
            .collect();
        assert_eq!(
            replies.iter().filter(|r| r.status == ok).count(),
            1,
            "round {round}: {seen:?}"
        );
        assert_eq!(check(&replies), 1, "round {round}: {seen:?}");
        assert_eq!(
            app.core.store.count_active_superusers().await.unwrap(),
            1,
            "round {round}"
        );
    }
}

/// How many of `replies` were refused as the rule (or a lost role, or a disabled caller) says.
fn refused(replies: &[Reply]) -> usize {
    let rule = |r: &&Reply| {
        matches!(
            (r.status, r.body["code"].as_str()),
            (StatusCode::CONFLICT, Some("last_superuser"))
                | (
                    StatusCode::UNAUTHORIZED,
                    Some("account_disabled" | "invalid_token")
                )
                | (StatusCode::FORBIDDEN, Some("permission_denied"))
        )
    };
    replies.iter().filter(rule).count()
}

async fn superusers_disabling_each_other_leave_one(kind: Kind) {
    let body = Some(json!({"is_active": false}));
    mutual_removal(kind, 4, Method::PATCH, body, StatusCode::OK, refused).await;
}

async fn superusers_deleting_each_other_leave_one(kind: Kind) {
    mutual_removal(
        kind,
        4,
        Method::DELETE,
        None,
        StatusCode::NO_CONTENT,
        refused,
    )
    .await;
}

/// On AWS, removes the superuser count's item, as on a table from before it.
async fn forget_superuser_count(app: &TestApp, kind: Kind) {
    if kind != Kind::Aws {
        return;
    }
    let table = app.core.config.table.clone().unwrap();
    let key = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.into());
    dynamo_client()
        .await
        .delete_item()
        .table_name(table)
        .key("pk", key("META#superusers"))
        .key("sk", key("META"))
        .send()
        .await
        .expect("delete the count");
}

async fn a_table_without_the_superuser_count_counts_it(kind: Kind) {
    // GIVEN two superusers, on a table as it was before the superuser count (AWS: the count's
    // item removed; the embedded store counts rows in its transaction and has no such item)
    let app = TestApp::new(kind).await;
    let (ann, ann_token) = app.member("ann", Role::Superuser).await;
    let (bob, _) = app.member("bob", Role::Superuser).await;
    forget_superuser_count(&app, kind).await;
    // WHEN ann demotes bob (the count is made first), then herself
    patch(
        &app,
        &format!("/api/users/{bob}"),
        &ann_token,
        json!({"role": "user"}),
    )
    .await
    .expect(StatusCode::OK);
    let reply = patch(
        &app,
        &format!("/api/users/{ann}"),
        &ann_token,
        json!({"role": "user"}),
    )
    .await;
    // THEN the second is the last superuser's: refused, ann remains
    reply.expect_error(StatusCode::CONFLICT, "last_superuser");
    assert_eq!(app.core.store.count_active_superusers().await.unwrap(), 1);
}

//! Owner and admin API of share links (issue 15): what a create answers, which paths and kinds
//! are refused, expiry and its maximum, the password setting, the limit of links per user,
//! paging, other users' links, and administrators through the role table. Each case is the
//! attempt, its answer (status and code) and what remains afterwards.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use http::{header, Method, StatusCode};
use serde_json::{json, Value};
use shared::domain::Role;
use shared::layout;
use shared::store::ShareKind;

use crate::backend_tests;
use crate::flaky::FlakyMeta;
use crate::helpers::{Kind, Reply, TestApp};
use crate::shares_support::{
    create_share, make_folder, put_expired_share, put_file, share_token, visitor,
};

backend_tests!(
    a_created_share_answers_its_link_and_never_its_password,
    shares_name_an_existing_item_inside_the_home,
    expiry_has_a_default_and_never_passes_the_maximum,
    a_required_password_is_required,
    the_number_of_shares_per_user_is_limited,
    shares_are_listed_a_page_at_a_time,
    another_users_share_is_not_found,
    a_deleted_share_stops_working_at_once,
    a_new_password_ends_the_old_tokens,
    a_change_read_before_a_new_password_never_brings_the_old_one_back,
    a_deleted_share_takes_its_visitor_archives_along,
    an_api_key_manages_its_owners_shares,
    administrators_list_and_revoke_shares_by_the_role_table,
);

const SHARE_PASSWORD: &str = "open sesame river";

async fn patch(app: &TestApp, uri: &str, token: &str, body: Value) -> Reply {
    app.call(Method::PATCH, uri, Some(token), Some(body)).await
}

async fn delete(app: &TestApp, uri: &str, token: &str) -> Reply {
    app.call(Method::DELETE, uri, Some(token), None).await
}

/// A user with `docs/a.txt` and the folder `photos`; returns (user id, token).
async fn owner_with_files(app: &TestApp, name: &str) -> (String, String) {
    let (id, token, _) = app.user(name).await;
    make_folder(app, &token, "docs").await;
    put_file(app, &token, "docs", "a.txt", b"hello").await;
    make_folder(app, &token, "photos").await;
    (id, token)
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a time"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

/// Whole days from now to `value` (rounded: the request took some milliseconds).
fn days_from_now(value: &Value) -> i64 {
    (time(value) - Utc::now() + Duration::hours(1)).num_days()
}

async fn a_created_share_answers_its_link_and_never_its_password(kind: Kind) {
    // GIVEN a user with a file
    let app = TestApp::new(kind).await;
    let (_, token) = owner_with_files(&app, "olga").await;
    // WHEN they share it with a password, a use limit and a note
    let reply = app
        .post(
            "/api/shares",
            Some(&token),
            json!({"path": "docs/a.txt", "kind": "download", "password": SHARE_PASSWORD,
                   "max_uses": 3, "note": "for the accountant"}),
        )
        .await;
    let location = reply.headers.get(header::LOCATION).cloned();
    let share = reply.expect(StatusCode::CREATED);
    // THEN the answer has the shape, with an unguessable id
    let id = share["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 22, "{share}");
    assert_eq!(URL_SAFE_NO_PAD.decode(&id).expect("base64url").len(), 16);
    assert!(
        share["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/api/s/{id}")),
        "{share}"
    );
    assert_eq!(location.unwrap(), format!("/api/shares/{id}").as_str());
    assert_eq!(share["path"], "docs/a.txt");
    assert_eq!(share["name"], "a.txt");
    assert_eq!(share["kind"], "download");
    assert_eq!(share["is_folder"], false);
    assert_eq!(share["max_uses"], 3);
    assert_eq!(share["uses"], 0);
    assert_eq!(share["has_password"], true);
    assert_eq!(share["note"], "for the accountant");
    assert_eq!(share["status"], "active");
    assert!(share["created_at"].is_string() && share["expires_at"].is_string());
    // AND neither the password nor its hash is in it, nor in the list or the single read
    let listed = app
        .get("/api/shares", Some(&token))
        .await
        .expect(StatusCode::OK);
    let one = app
        .get(&format!("/api/shares/{id}"), Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["items"][0], one);
    for text in [share.to_string(), listed.to_string(), one.to_string()] {
        assert!(!text.contains(SHARE_PASSWORD), "{text}");
        assert!(!text.contains("argon2"), "{text}");
        assert!(!text.contains("password_hash"), "{text}");
    }
    // AND the store holds only an argon2 hash
    let stored = app
        .core
        .store
        .load_share(&id)
        .await
        .unwrap()
        .expect("stored")
        .0;
    assert!(stored.password_hash.unwrap().starts_with("$argon2"));
}

async fn shares_name_an_existing_item_inside_the_home(kind: Kind) {
    // GIVEN a user with a file and a folder
    let app = TestApp::new(kind).await;
    let (_, token) = owner_with_files(&app, "olga").await;
    let refused = |body: Value| {
        let app = &app;
        let token = token.clone();
        async move { app.post("/api/shares", Some(&token), body).await }
    };
    // WHEN an upload share names a file THEN 400 not_a_directory
    refused(json!({"path": "docs/a.txt", "kind": "upload"}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "not_a_directory");
    // AND a missing path is 404, the home and escapes are 400 invalid_path
    refused(json!({"path": "nothing/here", "kind": "download"}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    for path in ["", "/", "..", "docs/../..", "docs\\a.txt", "./docs"] {
        let reply = refused(json!({"path": path, "kind": "download"})).await;
        let code = if path.is_empty() {
            "validation_error"
        } else {
            "invalid_path"
        };
        reply.expect_error(StatusCode::BAD_REQUEST, code);
    }
    // AND a missing or unknown kind, or an unknown field, is 400
    refused(json!({"path": "docs"}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    for body in [
        json!({"path": "docs", "kind": "delete"}),
        json!({"path": "docs", "kind": "download", "owner": "someone"}),
    ] {
        assert_eq!(refused(body).await.status, StatusCode::BAD_REQUEST);
    }
    // AND bad limits and notes are field errors, all named at once
    let errors = refused(json!({"path": "docs", "kind": "download", "max_uses": 0,
                                "expires_in_days": 0, "note": "a\u{0007}b", "password": "short"}))
    .await
    .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    for field in ["max_uses", "expires_in_days", "note", "password"] {
        assert!(errors["details"][field].is_string(), "{field}: {errors}");
    }
    // AND nothing was created by any of it
    let listed = app
        .get("/api/shares", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["items"], json!([]));
    // WHEN the folder is shared for uploads and the file for downloads THEN both are created
    let upload = create_share(&app, &token, json!({"path": "photos", "kind": "upload"})).await;
    assert_eq!(
        (upload["is_folder"].clone(), upload["kind"].clone()),
        (json!(true), json!("upload"))
    );
    let file = create_share(
        &app,
        &token,
        json!({"path": "docs/a.txt", "kind": "download"}),
    )
    .await;
    assert_eq!(file["is_folder"], false);
}

async fn expiry_has_a_default_and_never_passes_the_maximum(kind: Kind) {
    // GIVEN a service whose shares last 7 days by default and 30 at most
    let app = TestApp::new(kind).await;
    let (_, token) = owner_with_files(&app, "olga").await;
    // WHEN a share is created without an expiry THEN it expires in 7 days
    let share = create_share(&app, &token, json!({"path": "docs", "kind": "download"})).await;
    assert_eq!(days_from_now(&share["expires_at"]), 7, "{share}");
    // AND 30 days may be asked for, 31 may not
    let longest = create_share(
        &app,
        &token,
        json!({"path": "docs", "kind": "download", "expires_in_days": 30}),
    )
    .await;
    assert_eq!(days_from_now(&longest["expires_at"]), 30);
    app.post(
        "/api/shares",
        Some(&token),
        json!({"path": "docs", "kind": "download", "expires_in_days": 31}),
    )
    .await
    .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    // WHEN a share created 25 days ago is extended by 30 days
    let id = longest["id"].as_str().unwrap();
    let owner = app.core.store.load_share(id).await.unwrap().unwrap();
    let mut old = owner.0.clone();
    old.created_at = Utc::now() - Duration::days(25);
    old.expires_at = Utc::now() + Duration::days(1);
    // created_at is not an editable field: the record is written again, as it was made
    assert!(app.core.store.delete_share(&old.user_id, id).await.unwrap());
    assert!(app.core.store.create_share(&old, 100).await.unwrap());
    let extended = patch(
        &app,
        &format!("/api/shares/{id}"),
        &token,
        json!({"expires_in_days": 30}),
    )
    .await
    .expect(StatusCode::OK);
    // THEN it ends 30 days after its creation, 5 days from now, not 30
    assert_eq!(days_from_now(&extended["expires_at"]), 5, "{extended}");
    // AND a shorter extension is taken as asked
    let shorter = patch(
        &app,
        &format!("/api/shares/{id}"),
        &token,
        json!({"expires_in_days": 2}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(days_from_now(&shorter["expires_at"]), 2);
    // AND lowering the maximum shortens existing links at once
    let strict = app.sibling(|c| c.shares.max_expiry_days = 20);
    let now_read = strict
        .get(
            &format!("/api/shares/{}", share["id"].as_str().unwrap()),
            Some(&token),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        now_read["expires_at"], share["expires_at"],
        "7 < 20: unchanged"
    );
    let old_read = strict
        .get(&format!("/api/shares/{id}"), Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(old_read["status"], "expired", "{old_read}");
}

async fn a_required_password_is_required(kind: Kind) {
    // GIVEN a service that requires passwords on share links
    let app = TestApp::with(kind, |c| c.shares.password_required = true).await;
    let (_, token) = owner_with_files(&app, "olga").await;
    // WHEN a share is created without one THEN 400 names the field
    let refused = app
        .post(
            "/api/shares",
            Some(&token),
            json!({"path": "docs", "kind": "download"}),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    assert_eq!(
        refused["details"]["password"],
        "A password is required for share links."
    );
    // AND with one it is created
    let share = create_share(
        &app,
        &token,
        json!({"path": "docs", "kind": "download", "password": SHARE_PASSWORD}),
    )
    .await;
    assert_eq!(share["has_password"], true);
    // WHEN the owner tries to remove it THEN 400, and the share keeps its password
    let uri = format!("/api/shares/{}", share["id"].as_str().unwrap());
    patch(&app, &uri, &token, json!({"password": null}))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    let kept = app.get(&uri, Some(&token)).await.expect(StatusCode::OK);
    assert_eq!(kept["has_password"], true);
    // AND where passwords are optional, null removes it
    let relaxed = app.sibling(|c| c.shares.password_required = false);
    let removed = patch(&relaxed, &uri, &token, json!({"password": null}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(removed["has_password"], false);
}

async fn the_number_of_shares_per_user_is_limited(kind: Kind) {
    // GIVEN a service allowing 3 shares per user, and a user holding 3 live ones
    let app = TestApp::with(kind, |c| c.shares.max_per_user = 3).await;
    let (owner_id, token) = owner_with_files(&app, "olga").await;
    let body = json!({"path": "docs", "kind": "download"});
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(create_share(&app, &token, body.clone()).await["id"].clone());
    }
    // WHEN a fourth is asked for THEN 409 share_limit_reached, and still 3
    app.post("/api/shares", Some(&token), body.clone())
        .await
        .expect_error(StatusCode::CONFLICT, "share_limit_reached");
    let listed = app
        .get("/api/shares", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["items"].as_array().unwrap().len(), 3);
    // WHEN one of them is deleted THEN a new one fits
    delete(
        &app,
        &format!("/api/shares/{}", ids[0].as_str().unwrap()),
        &token,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    create_share(&app, &token, body.clone()).await;
    // WHEN the user's links are full but one of them has expired
    delete(
        &app,
        &format!("/api/shares/{}", ids[1].as_str().unwrap()),
        &token,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    let dead = put_expired_share(&app, &owner_id, "docs", ShareKind::Download).await;
    // THEN a create sweeps the dead link and succeeds
    create_share(&app, &token, body.clone()).await;
    assert!(app.core.store.load_share(&dead).await.unwrap().is_none());
    let listed = app
        .get("/api/shares", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["items"].as_array().unwrap().len(), 3);
    assert!(listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["status"] == "active"));
    // AND another user's links do not count against this one
    let (_, other) = owner_with_files(&app, "pia").await;
    create_share(&app, &other, body).await;
}

async fn shares_are_listed_a_page_at_a_time(kind: Kind) {
    // GIVEN a user with 5 shares
    let app = TestApp::new(kind).await;
    let (_, token) = owner_with_files(&app, "olga").await;
    let mut created = Vec::new();
    for _ in 0..5 {
        let share = create_share(&app, &token, json!({"path": "docs", "kind": "download"})).await;
        created.push(share["id"].as_str().unwrap().to_owned());
    }
    // WHEN they are read 2 at a time
    let mut seen = Vec::new();
    let mut uri = "/api/shares?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = app.get(&uri, Some(&token)).await.expect(StatusCode::OK);
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2, "{page}");
        seen.extend(items.iter().map(|s| s["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => uri = format!("/api/shares?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    // THEN every share comes once, in id order, in 3 pages
    assert_eq!(pages, 3);
    created.sort();
    assert_eq!(seen, created);
    // AND a cursor the API did not issue is 400, as is limit=0
    app.get("/api/shares?cursor=not-a-cursor", Some(&token))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "invalid_cursor");
    app.get("/api/shares?limit=0", Some(&token))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
}

async fn another_users_share_is_not_found(kind: Kind) {
    // GIVEN olga's share and pia
    let app = TestApp::new(kind).await;
    let (_, olga) = owner_with_files(&app, "olga").await;
    let (_, pia, _) = app.user("pia").await;
    let share = create_share(&app, &olga, json!({"path": "docs", "kind": "download"})).await;
    let uri = format!("/api/shares/{}", share["id"].as_str().unwrap());
    // WHEN pia reads, changes or deletes it THEN 404 share_not_found, as for an unknown id
    app.get(&uri, Some(&pia))
        .await
        .expect_error(StatusCode::NOT_FOUND, "share_not_found");
    patch(&app, &uri, &pia, json!({"max_uses": 1}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "share_not_found");
    delete(&app, &uri, &pia)
        .await
        .expect_error(StatusCode::NOT_FOUND, "share_not_found");
    app.get("/api/shares/AAAAAAAAAAAAAAAAAAAAAA", Some(&olga))
        .await
        .expect_error(StatusCode::NOT_FOUND, "share_not_found");
    // AND pia's list does not show it, and olga's share is unchanged
    let listed = app
        .get("/api/shares", Some(&pia))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["items"], json!([]));
    let kept = app.get(&uri, Some(&olga)).await.expect(StatusCode::OK);
    assert_eq!(kept["max_uses"], Value::Null);
    // AND without a login the owner routes are 401
    app.get("/api/shares", None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "not_authenticated");
}

async fn a_deleted_share_stops_working_at_once(kind: Kind) {
    // GIVEN a share its visitor has just opened
    let app = TestApp::new(kind).await;
    let (_, token) = owner_with_files(&app, "olga").await;
    let share = create_share(&app, &token, json!({"path": "docs", "kind": "download"})).await;
    let id = share["id"].as_str().unwrap();
    visitor(&app, Method::GET, &format!("/api/s/{id}"), &[])
        .await
        .expect(StatusCode::OK);
    // WHEN the owner deletes it
    delete(&app, &format!("/api/shares/{id}"), &token)
        .await
        .expect(StatusCode::NO_CONTENT);
    // THEN the visitor's next request is 404 share_not_found, and a second delete too
    visitor(&app, Method::GET, &format!("/api/s/{id}"), &[])
        .await
        .expect_error(StatusCode::NOT_FOUND, "share_not_found");
    delete(&app, &format!("/api/shares/{id}"), &token)
        .await
        .expect_error(StatusCode::NOT_FOUND, "share_not_found");
    // AND the shared files are untouched
    app.get("/api/files/stat?path=docs/a.txt", Some(&token))
        .await
        .expect(StatusCode::OK);
}

async fn a_new_password_ends_the_old_tokens(kind: Kind) {
    // GIVEN a password-protected share and a visitor's token for it
    let app = TestApp::new(kind).await;
    let (_, token) = owner_with_files(&app, "olga").await;
    let share = create_share(
        &app,
        &token,
        json!({"path": "docs", "kind": "download", "password": SHARE_PASSWORD}),
    )
    .await;
    let id = share["id"].as_str().unwrap();
    let info = format!("/api/s/{id}");
    let old = share_token(&app, id, SHARE_PASSWORD).await;
    visitor(&app, Method::GET, &info, &[("x-share-token", &old)])
        .await
        .expect(StatusCode::OK);
    // WHEN the owner changes the password
    let changed = patch(
        &app,
        &format!("/api/shares/{id}"),
        &token,
        json!({"password": "another secret phrase"}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(changed["has_password"], true);
    // THEN the old token is refused, and so is the old password
    visitor(&app, Method::GET, &info, &[("x-share-token", &old)])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_share_token");
    visitor(
        &app,
        Method::POST,
        &format!("/api/s/{id}/token"),
        &[("x-share-password", SHARE_PASSWORD)],
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "invalid_share_password");
    // AND the new password opens it
    let new = share_token(&app, id, "another secret phrase").await;
    visitor(&app, Method::GET, &info, &[("x-share-token", &new)])
        .await
        .expect(StatusCode::OK);
    // AND a share token is no access token: the owner's routes refuse it
    for uri in ["/api/shares", "/api/files/list", "/api/auth/profile"] {
        app.get(uri, Some(&new))
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
}

async fn a_change_read_before_a_new_password_never_brings_the_old_one_back(kind: Kind) {
    // GIVEN a password-protected share, a token for it, and a note change that has read the
    // share but not yet written it
    let base = TestApp::new(kind).await;
    let (app, meta) = FlakyMeta::around(&base);
    let (_, token) = owner_with_files(&base, "olga").await;
    let share = create_share(
        &base,
        &token,
        json!({"path": "docs", "kind": "download", "password": SHARE_PASSWORD}),
    )
    .await;
    let id = share["id"].as_str().unwrap();
    let uri = format!("/api/shares/{id}");
    let old = share_token(&base, id, SHARE_PASSWORD).await;
    meta.share_update_gate.shut();
    let note = patch(&app, &uri, &token, json!({"note": "for the team"}));
    // WHEN the password changes meanwhile, and then the note change writes
    let password = async {
        meta.share_update_gate.reached(1).await;
        let changed = patch(
            &base,
            &uri,
            &token,
            json!({"password": "another secret phrase"}),
        )
        .await
        .expect(StatusCode::OK);
        meta.share_update_gate.open();
        changed
    };
    let (note, changed) = tokio::join!(note, password);
    assert_eq!(changed["has_password"], true);
    // THEN the note is written on top of the new password (read again), not over it
    let note = note.expect(StatusCode::OK);
    assert_eq!(note["note"], "for the team");
    assert_eq!(note["has_password"], true);
    let stored = base.get(&uri, Some(&token)).await.expect(StatusCode::OK);
    assert_eq!(stored["note"], "for the team");
    // AND the old password and its token stay refused; the new one opens the link
    let info = format!("/api/s/{id}");
    visitor(&base, Method::GET, &info, &[("x-share-token", &old)])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_share_token");
    visitor(
        &base,
        Method::POST,
        &format!("/api/s/{id}/token"),
        &[("x-share-password", SHARE_PASSWORD)],
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "invalid_share_password");
    share_token(&base, id, "another secret phrase").await;
}

/// Visitor archive objects of the share.
async fn share_archives(app: &TestApp, id: &str) -> usize {
    let prefix = layout::share_archives_of(id);
    let page = app.core.objects.list(&prefix, false, None, 1000).await;
    page.unwrap().items.len()
}

/// A share of `docs` with one visitor archive made of it (built within the request); its id.
async fn archived_share(app: &TestApp, token: &str) -> String {
    let share = create_share(app, token, json!({"path": "docs", "kind": "download"})).await;
    let id = share["id"].as_str().unwrap().to_owned();
    let uri = format!("/api/s/{id}/download-zip");
    let reply = visitor(app, Method::GET, &uri, &[]).await;
    assert!(
        [StatusCode::OK, StatusCode::FOUND].contains(&reply.status),
        "{}",
        reply.body
    );
    assert_eq!(share_archives(app, &id).await, 1);
    id
}

async fn a_deleted_share_takes_its_visitor_archives_along(kind: Kind) {
    // GIVEN shares of olga with archives visitors made, and one of bob's
    let app = TestApp::new(kind).await;
    let (olga, token) = owner_with_files(&app, "olga").await;
    let (_, bob_token) = owner_with_files(&app, "bob").await;
    let (_, admin) = app.member("root", Role::Superuser).await;
    let deleted = archived_share(&app, &token).await;
    let revoked = archived_share(&app, &token).await;
    let with_account = archived_share(&app, &token).await;
    let bobs = archived_share(&app, &bob_token).await;
    // WHEN olga deletes one, an administrator revokes another, and then her account goes
    delete(&app, &format!("/api/shares/{deleted}"), &token)
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(share_archives(&app, &deleted).await, 0);
    assert_eq!(share_archives(&app, &with_account).await, 1);
    delete(&app, &format!("/api/users/{olga}/shares/{revoked}"), &admin)
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(share_archives(&app, &revoked).await, 0);
    delete(&app, &format!("/api/users/{olga}"), &admin)
        .await
        .expect(StatusCode::NO_CONTENT);
    // THEN none of her links' archives is left; bob's is untouched
    assert_eq!(share_archives(&app, &with_account).await, 0);
    assert_eq!(share_archives(&app, &bobs).await, 1);
    // AND deleting someone else's link (404) touches nothing of it
    delete(&app, &format!("/api/shares/{bobs}"), &admin)
        .await
        .expect_error(StatusCode::NOT_FOUND, "share_not_found");
    assert_eq!(share_archives(&app, &bobs).await, 1);
}

async fn an_api_key_manages_its_owners_shares(kind: Kind) {
    // GIVEN a user's API key
    let app = TestApp::new(kind).await;
    let (_, token) = owner_with_files(&app, "olga").await;
    let key = app.api_key(&token, "publisher").await;
    // WHEN the key creates, lists, changes and deletes a share THEN each works
    let share = create_share(&app, &key, json!({"path": "docs", "kind": "download"})).await;
    let uri = format!("/api/shares/{}", share["id"].as_str().unwrap());
    let listed = app
        .get("/api/shares", Some(&key))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["items"][0]["id"], share["id"]);
    let changed = patch(
        &app,
        &uri,
        &key,
        json!({"note": "from a script", "max_uses": 10}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        (changed["note"].clone(), changed["max_uses"].clone()),
        (json!("from a script"), json!(10))
    );
    let cleared = patch(&app, &uri, &key, json!({"note": null, "max_uses": null}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (cleared["note"].clone(), cleared["max_uses"].clone()),
        (Value::Null, Value::Null)
    );
    delete(&app, &uri, &key)
        .await
        .expect(StatusCode::NO_CONTENT);
    // AND the owner's session sees the same (nothing left)
    let listed = app
        .get("/api/shares", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["items"], json!([]));
}

async fn administrators_list_and_revoke_shares_by_the_role_table(kind: Kind) {
    // GIVEN a user, a manager and a superuser, each with a share
    let app = TestApp::new(kind).await;
    let (uid, user) = owner_with_files(&app, "ula").await;
    let (mid, manager) = app.member("max", Role::Manager).await;
    let (_, manager2) = app.member("mia", Role::Manager).await;
    let (_, root) = app.member("root", Role::Superuser).await;
    make_folder(&app, &manager, "work").await;
    let body = json!({"path": "docs", "kind": "download"});
    let ushare = create_share(&app, &user, body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mshare = create_share(&app, &manager, json!({"path": "work", "kind": "upload"})).await
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let denied = |reply: Reply| reply.expect_error(StatusCode::FORBIDDEN, "permission_denied");
    // WHEN a user lists someone's shares THEN 403; a manager another manager's THEN 403
    denied(
        app.get(&format!("/api/users/{mid}/shares"), Some(&user))
            .await,
    );
    denied(
        app.get(&format!("/api/users/{mid}/shares"), Some(&manager2))
            .await,
    );
    denied(
        delete(
            &app,
            &format!("/api/users/{mid}/shares/{mshare}"),
            &manager2,
        )
        .await,
    );
    // AND a manager sees and revokes a user's share
    let listed = app
        .get(&format!("/api/users/{uid}/shares"), Some(&manager))
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["items"][0]["id"], ushare.as_str());
    assert!(!listed.to_string().contains("argon2"));
    // AND an administrator's API key may list but not revoke
    let root_key = app.api_key(&root, "ops").await;
    app.get(&format!("/api/users/{mid}/shares"), Some(&root_key))
        .await
        .expect(StatusCode::OK);
    delete(
        &app,
        &format!("/api/users/{mid}/shares/{mshare}"),
        &root_key,
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "api_key_not_allowed");
    delete(&app, &format!("/api/users/{uid}/shares/{ushare}"), &manager)
        .await
        .expect(StatusCode::NO_CONTENT);
    visitor(&app, Method::GET, &format!("/api/s/{ushare}"), &[])
        .await
        .expect_error(StatusCode::NOT_FOUND, "share_not_found");
    // AND a superuser revokes a manager's share; a share of another user by id is 404
    delete(&app, &format!("/api/users/{uid}/shares/{mshare}"), &root)
        .await
        .expect_error(StatusCode::NOT_FOUND, "share_not_found");
    delete(&app, &format!("/api/users/{mid}/shares/{mshare}"), &root)
        .await
        .expect(StatusCode::NO_CONTENT);
    // AND an unknown user is 404
    app.get(
        "/api/users/00000000-0000-4000-8000-000000000000/shares",
        Some(&root),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    // AND nothing is left of either share
    for token in [&user, &manager] {
        let mine = app
            .get("/api/shares", Some(token))
            .await
            .expect(StatusCode::OK);
        assert_eq!(mine["items"], json!([]));
    }
}

//! Shares end when their item is deleted or moved, or their owner disabled or deleted.
//!
//! A share names a path: once that path is deleted, renamed or moved away (itself or a folder
//! above it), its links answer 404 `share_not_found` at once, and never lead to whatever is
//! put at that path later. Copies, refused moves and neighbours with a similar name leave
//! shares alone.

use http::{Method, StatusCode};
use serde_json::{json, Value};
use shared::domain::Role;
use shared::layout;

use crate::backend_tests;
use crate::flaky::FlakyMeta;
use crate::helpers::{Kind, TestApp};
use crate::shares_support::{create_share, make_folder, put_file, visitor};

backend_tests!(
    deleting_a_shared_file_or_folder_ends_its_shares,
    deleting_a_folder_ends_shares_below_it_not_beside_it,
    renaming_or_moving_ends_the_shares_of_what_moved,
    copies_and_refused_moves_leave_shares_alone,
    a_disabled_owner_s_shares_end_for_good,
    a_deleted_owner_s_shares_are_gone,
    a_new_share_of_an_ended_path_is_a_new_link,
    a_failure_to_end_shares_stops_the_delete_or_move,
    a_disable_that_failed_to_end_shares_is_finished_by_a_repeat,
);

/// A download share of `path`; its id.
async fn share(app: &TestApp, token: &str, path: &str) -> String {
    let body = json!({ "path": path, "kind": "download" });
    let created = create_share(app, token, body).await;
    created["id"].as_str().expect("id").to_owned()
}

async fn upload_share(app: &TestApp, token: &str, path: &str) -> String {
    let body = json!({ "path": path, "kind": "upload" });
    let created = create_share(app, token, body).await;
    created["id"].as_str().expect("id").to_owned()
}

/// What a visitor of the share's page is answered.
async fn visit(app: &TestApp, id: &str) -> (StatusCode, Value) {
    let reply = visitor(app, Method::GET, &format!("/api/s/{id}"), &[]).await;
    (reply.status, reply.body)
}

#[track_caller]
fn assert_live((status, body): (StatusCode, Value)) {
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[track_caller]
fn assert_ended((status, body): (StatusCode, Value)) {
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "share_not_found", "{body}");
}

/// Whether the owner's store still holds the share (what the owner's list shows).
async fn stored(app: &TestApp, owner: &str, id: &str) -> bool {
    let found = app.core.store.get_share(owner, id).await.expect("store");
    found.is_some()
}

/// Visitor archive objects of the share.
async fn share_archives(app: &TestApp, id: &str) -> usize {
    let prefix = layout::share_archives_of(id);
    let page = app.core.objects.list(&prefix, false, None, 1000).await;
    page.expect("list").items.len()
}

async fn files_post(app: &TestApp, token: &str, route: &str, body: Value) -> StatusCode {
    app.post(&format!("/api/files/{route}"), Some(token), body)
        .await
        .status
}

/// ann with `photos/` (`a.jpg`, `trip/b.jpg`), `photos2/c.jpg` and `notes.txt`.
async fn ann_with_files(app: &TestApp) -> (String, String) {
    let (ann, token) = app.member("ann", Role::User).await;
    make_folder(app, &token, "photos").await;
    make_folder(app, &token, "photos/trip").await;
    make_folder(app, &token, "photos2").await;
    put_file(app, &token, "photos", "a.jpg", b"aaaa").await;
    put_file(app, &token, "photos/trip", "b.jpg", b"bbbb").await;
    put_file(app, &token, "photos2", "c.jpg", b"cccc").await;
    put_file(app, &token, "", "notes.txt", b"nnnn").await;
    (ann, token)
}

async fn deleting_a_shared_file_or_folder_ends_its_shares(kind: Kind) {
    // GIVEN shares of a file and of a folder, both live
    let app = TestApp::new(kind).await;
    let (ann, token) = ann_with_files(&app).await;
    let file = share(&app, &token, "notes.txt").await;
    let folder = share(&app, &token, "photos/trip").await;
    let drop_box = upload_share(&app, &token, "photos/trip").await;
    for id in [&file, &folder, &drop_box] {
        assert_live(visit(&app, id).await);
    }
    // WHEN the file and the folder are deleted
    let delete = |path: &str| files_post(&app, &token, "delete", json!({ "path": path }));
    assert_eq!(delete("notes.txt").await, StatusCode::OK);
    assert_eq!(delete("photos/trip").await, StatusCode::OK);
    // THEN every share of them is gone at once, for visitors and for the owner
    for id in [&file, &folder, &drop_box] {
        assert_ended(visit(&app, id).await);
        assert!(!stored(&app, &ann, id).await, "{id} still stored");
    }
    // ...and a new file at the old path is not reachable through the old link
    put_file(&app, &token, "", "notes.txt", b"new secret").await;
    assert_ended(visit(&app, &file).await);
}

async fn deleting_a_folder_ends_shares_below_it_not_beside_it(kind: Kind) {
    // GIVEN shares of `photos`, of a file and a folder inside it, and of its neighbour `photos2`
    let app = TestApp::new(kind).await;
    let (ann, token) = ann_with_files(&app).await;
    let inside = [
        share(&app, &token, "photos").await,
        share(&app, &token, "photos/a.jpg").await,
        share(&app, &token, "photos/trip/b.jpg").await,
    ];
    let beside = [
        share(&app, &token, "photos2").await,
        share(&app, &token, "photos2/c.jpg").await,
        share(&app, &token, "notes.txt").await,
    ];
    // WHEN `photos` is deleted
    let reply = files_post(&app, &token, "delete", json!({ "path": "photos" })).await;
    assert_eq!(reply, StatusCode::OK);
    // THEN what was inside ends, the neighbours whose names merely start alike stay
    for id in &inside {
        assert_ended(visit(&app, id).await);
        assert!(!stored(&app, &ann, id).await);
    }
    for id in &beside {
        assert_live(visit(&app, id).await);
        assert!(stored(&app, &ann, id).await);
    }
}

async fn renaming_or_moving_ends_the_shares_of_what_moved(kind: Kind) {
    // GIVEN shares of a folder, of a file in a folder, and of a file at the top
    let app = TestApp::new(kind).await;
    let (ann, token) = ann_with_files(&app).await;
    make_folder(&app, &token, "archive").await;
    let renamed = share(&app, &token, "photos2").await;
    let below_moved = share(&app, &token, "photos/trip/b.jpg").await;
    let moved_file = share(&app, &token, "notes.txt").await;
    let untouched = share(&app, &token, "photos/a.jpg").await;
    // WHEN the folder is renamed, an ancestor of the file moved, and the file moved
    let rename = json!({ "old_path": "photos2", "new_name": "pictures" });
    assert_eq!(
        files_post(&app, &token, "rename", rename).await,
        StatusCode::OK
    );
    let ancestor = json!({ "source_path": "photos/trip", "dest_path": "archive" });
    assert_eq!(
        files_post(&app, &token, "move", ancestor).await,
        StatusCode::OK
    );
    let file = json!({ "source_path": "notes.txt", "dest_path": "archive" });
    assert_eq!(files_post(&app, &token, "move", file).await, StatusCode::OK);
    // THEN those links end (they do not follow the item), the sibling's stays
    for id in [&renamed, &below_moved, &moved_file] {
        assert_ended(visit(&app, id).await);
        assert!(!stored(&app, &ann, id).await);
    }
    assert_live(visit(&app, &untouched).await);
    // ...and putting something back at an old path does not revive a link
    make_folder(&app, &token, "photos2").await;
    assert_ended(visit(&app, &renamed).await);
}

async fn copies_and_refused_moves_leave_shares_alone(kind: Kind) {
    // GIVEN shares of a folder and of a file, and a destination that already has `a.jpg`
    let app = TestApp::new(kind).await;
    let (ann, token) = ann_with_files(&app).await;
    make_folder(&app, &token, "taken").await;
    put_file(&app, &token, "taken", "a.jpg", b"other").await;
    let folder = share(&app, &token, "photos").await;
    let file = share(&app, &token, "photos/a.jpg").await;
    // WHEN both are copied, and the file's move is refused for the name taken
    let copy = json!({ "source_path": "photos", "dest_path": "photos2" });
    assert_eq!(files_post(&app, &token, "copy", copy).await, StatusCode::OK);
    let copy = json!({ "source_path": "photos/a.jpg", "dest_path": "photos2" });
    assert_eq!(files_post(&app, &token, "copy", copy).await, StatusCode::OK);
    let refused = json!({ "source_path": "photos/a.jpg", "dest_path": "taken" });
    let reply = app.post("/api/files/move", Some(&token), refused).await;
    reply.expect_error(StatusCode::CONFLICT, "already_exists");
    // ...and a move of the folder into itself is refused too
    let into_itself = json!({ "source_path": "photos", "dest_path": "photos/trip" });
    let reply = files_post(&app, &token, "move", into_itself).await;
    assert_eq!(reply, StatusCode::BAD_REQUEST);
    // THEN both shares still work
    for id in [&folder, &file] {
        assert_live(visit(&app, id).await);
        assert!(stored(&app, &ann, id).await);
    }
}

async fn a_disabled_owner_s_shares_end_for_good(kind: Kind) {
    // GIVEN ann's share and an administrator
    let app = TestApp::new(kind).await;
    let (ann, token) = ann_with_files(&app).await;
    let (_, admin) = app.member("root", Role::Superuser).await;
    let id = share(&app, &token, "photos").await;
    assert_live(visit(&app, &id).await);
    // ...of which a visitor made an archive
    let zip = visitor(&app, Method::GET, &format!("/api/s/{id}/download-zip"), &[]).await;
    assert!(
        [StatusCode::OK, StatusCode::FOUND].contains(&zip.status),
        "{}",
        zip.body
    );
    assert_eq!(share_archives(&app, &id).await, 1);
    // WHEN the administrator disables ann
    let uri = format!("/api/users/{ann}");
    let off = app
        .call(
            Method::PATCH,
            &uri,
            Some(&admin),
            Some(json!({ "is_active": false })),
        )
        .await;
    off.expect(StatusCode::OK);
    // THEN the link is a plain 404 (nothing says the owner was disabled), its archive gone
    assert_ended(visit(&app, &id).await);
    assert_eq!(share_archives(&app, &id).await, 0);
    // ...and enabling ann again does not bring it back
    let on = app
        .call(
            Method::PATCH,
            &uri,
            Some(&admin),
            Some(json!({ "is_active": true })),
        )
        .await;
    on.expect(StatusCode::OK);
    assert_ended(visit(&app, &id).await);
    assert!(!stored(&app, &ann, &id).await);
}

async fn a_deleted_owner_s_shares_are_gone(kind: Kind) {
    // GIVEN shares of two users
    let app = TestApp::new(kind).await;
    let (ann, token) = ann_with_files(&app).await;
    let (_, bob_token) = app.member("bob", Role::User).await;
    make_folder(&app, &bob_token, "docs").await;
    let (_, admin) = app.member("root", Role::Superuser).await;
    let anns = [
        share(&app, &token, "photos").await,
        share(&app, &token, "notes.txt").await,
    ];
    let bobs = share(&app, &bob_token, "docs").await;
    // WHEN ann is deleted
    let reply = app
        .call(
            Method::DELETE,
            &format!("/api/users/{ann}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    // THEN her links are 404 and gone from the store; bob's works
    for id in &anns {
        assert_ended(visit(&app, id).await);
        assert!(app.core.store.load_share(id).await.unwrap().is_none());
    }
    assert_live(visit(&app, &bobs).await);
}

async fn a_new_share_of_an_ended_path_is_a_new_link(kind: Kind) {
    // GIVEN a share of a folder that was then deleted and made again
    let app = TestApp::new(kind).await;
    let (_, token) = ann_with_files(&app).await;
    let old = share(&app, &token, "photos2").await;
    let reply = files_post(&app, &token, "delete", json!({ "path": "photos2" })).await;
    assert_eq!(reply, StatusCode::OK);
    make_folder(&app, &token, "photos2").await;
    // WHEN the owner shares the path again
    let new = share(&app, &token, "photos2").await;
    // THEN that is a new link; the old one stays dead
    assert_ne!(new, old);
    assert_live(visit(&app, &new).await);
    assert_ended(visit(&app, &old).await);
}

async fn a_failure_to_end_shares_stops_the_delete_or_move(kind: Kind) {
    // GIVEN shares of a folder and a file, and a store that fails to end them once each
    let base = TestApp::new(kind).await;
    let (app, meta) = FlakyMeta::around(&base);
    let (ann, token) = ann_with_files(&app).await;
    let folder = share(&app, &token, "photos").await;
    let file = share(&app, &token, "notes.txt").await;
    // WHEN the delete and the move cannot end the shares
    meta.share_ends.fail_next();
    let delete = json!({ "path": "photos" });
    let reply = app
        .post("/api/files/delete", Some(&token), delete.clone())
        .await;
    reply.expect_error(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
    meta.share_ends.fail_next();
    let rename = json!({ "old_path": "notes.txt", "new_name": "moved.txt" });
    let reply = app
        .post("/api/files/rename", Some(&token), rename.clone())
        .await;
    reply.expect_error(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
    // THEN nothing was deleted or moved, and the shares still work
    let listed = app
        .get("/api/files/list?recursive=true", Some(&token))
        .await
        .expect(StatusCode::OK);
    let paths: Vec<&str> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["path"].as_str())
        .collect();
    for path in ["photos/a.jpg", "photos/trip/b.jpg", "notes.txt"] {
        assert!(paths.contains(&path), "{path} missing from {paths:?}");
    }
    assert!(!paths.contains(&"moved.txt"), "{paths:?}");
    for id in [&folder, &file] {
        assert_live(visit(&app, id).await);
    }
    // ...and repeating each succeeds and ends them
    assert!(meta.share_ends.spent());
    assert_eq!(
        files_post(&app, &token, "delete", delete).await,
        StatusCode::OK
    );
    assert_eq!(
        files_post(&app, &token, "rename", rename).await,
        StatusCode::OK
    );
    for id in [&folder, &file] {
        assert_ended(visit(&app, id).await);
        assert!(!stored(&app, &ann, id).await);
    }
}

async fn a_disable_that_failed_to_end_shares_is_finished_by_a_repeat(kind: Kind) {
    // GIVEN ann's share, and a store that fails to end it once
    let base = TestApp::new(kind).await;
    let (app, meta) = FlakyMeta::around(&base);
    let (ann, token) = ann_with_files(&app).await;
    let (_, admin) = app.member("root", Role::Superuser).await;
    let id = share(&app, &token, "photos").await;
    let uri = format!("/api/users/{ann}");
    let set_active = |active: bool| {
        let body = json!({ "is_active": active });
        app.call(Method::PATCH, &uri, Some(&admin), Some(body))
    };
    // WHEN ann is disabled but her shares cannot be ended
    meta.share_ends.fail_next();
    let reply = set_active(false).await;
    reply.expect_error(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
    // THEN she is disabled (the link is a 404 meanwhile), the share not yet ended
    assert_ended(visit(&app, &id).await);
    assert!(stored(&app, &ann, &id).await);
    // ...and the administrator's repeat ends it, so enabling her again revives nothing
    set_active(false).await.expect(StatusCode::OK);
    assert!(!stored(&app, &ann, &id).await);
    set_active(true).await.expect(StatusCode::OK);
    assert_ended(visit(&app, &id).await);
}

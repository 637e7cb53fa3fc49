//! A folder stays when its last item leaves it: a folder an upload made (it has no marker, it
//! exists only through what is in it) is given a marker when a delete or a move takes its last
//! item, so it lists as empty (200) instead of vanishing (404). A folder that still holds
//! something gets none (a marker is one object of the file limit); the home never does; a
//! rename leaves the item in its folder; deleting the folder itself still removes it whole.
//! Each case ends with the usage equal to what is stored (a marker counts as one object, like
//! create-folder's).

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::{json, Value};
use shared::domain::{Role, UserPath};
use shared::layout::Home;

use crate::backend_tests;
use crate::helpers::{race, Kind, Reply, TestApp};
use crate::invariants::usage_matches_listing;

backend_tests!(
    a_folder_outlives_the_delete_of_its_last_file,
    a_folder_outlives_the_move_of_its_last_item,
    a_rename_keeps_the_folder_and_adds_no_marker,
    deleting_the_folder_itself_still_removes_it,
    concurrent_deletes_of_the_last_two_files_leave_one_marker,
    the_file_limit_never_fails_a_delete_or_a_move,
);

/// Uploads `name` into `folder` (made by the upload when missing: no marker).
async fn upload(app: &TestApp, token: &str, folder: &str, name: &str, data: &[u8]) {
    app.upload(token, &[("path", None, folder.as_bytes())], &[(name, data)])
        .await
        .expect(StatusCode::CREATED);
}

async fn list(app: &TestApp, token: &str, path: &str) -> Reply {
    app.get(&format!("/api/files/list?path={path}"), Some(token))
        .await
}

fn names(listing: &Value) -> Vec<String> {
    listing["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["name"].as_str().expect("name").to_owned())
        .collect()
}

/// The folder's entry in its parent's listing.
async fn entry(app: &TestApp, token: &str, path: &str) -> Option<Value> {
    let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
    let listing = list(app, token, parent).await.expect(StatusCode::OK);
    listing["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["path"] == path)
        .cloned()
}

/// True when the folder has a marker (a folder without one shows no `modified`).
async fn has_marker(app: &TestApp, token: &str, path: &str) -> bool {
    let stat = app
        .get(&format!("/api/files/stat?path={path}"), Some(token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(stat["is_directory"], true, "{stat}");
    stat["modified"].is_number()
}

/// The folder is in its parent's listing as a folder, and its own listing is 200 and empty.
async fn assert_empty_folder(app: &TestApp, token: &str, path: &str) {
    let listed = entry(app, token, path).await;
    assert_eq!(
        listed.as_ref().map(|e| e["is_directory"].clone()),
        Some(Value::Bool(true)),
        "{path} in its parent: {listed:?}"
    );
    let own = list(app, token, path).await.expect(StatusCode::OK);
    assert_eq!(own["items"], json!([]), "{path}: {own}");
    assert_eq!(own["total_items"], 0);
    assert!(has_marker(app, token, path).await, "{path} has no marker");
}

/// The home's own marker key holds nothing.
async fn assert_home_unmarked(app: &TestApp, user_id: &str) {
    let key = Home::of(user_id).folder(&UserPath::home());
    let marker = app.core.objects.head(&key).await.expect("head");
    assert!(marker.is_none(), "the home was given a marker: {marker:?}");
}

async fn delete(app: &TestApp, token: &str, path: &str) -> Reply {
    app.post("/api/files/delete", Some(token), json!({"path": path}))
        .await
}

async fn move_to(app: &TestApp, token: &str, source: &str, dest: &str) -> Reply {
    app.post(
        "/api/files/move",
        Some(token),
        json!({"source_path": source, "dest_path": dest}),
    )
    .await
}

async fn a_folder_outlives_the_delete_of_its_last_file(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (id, token, _) = app.user("amy").await;
    // GIVEN folders an upload made, one two levels deep, and a file in the home
    upload(&app, &token, "docs", "a.txt", b"aaa").await;
    upload(&app, &token, "docs", "z.txt", b"zzzz").await;
    upload(&app, &token, "deep/er", "b.txt", b"bb").await;
    upload(&app, &token, "", "top.txt", b"t").await;
    assert!(!has_marker(&app, &token, "docs").await);
    assert_eq!(usage_matches_listing(&app, &token).await, (10, 4));
    // WHEN a file that is not a folder's last is deleted: THEN no marker yet, one object less
    delete(&app, &token, "docs/z.txt")
        .await
        .expect(StatusCode::OK);
    assert!(!has_marker(&app, &token, "docs").await);
    assert_eq!(usage_matches_listing(&app, &token).await, (6, 3));
    // WHEN the last file of each folder is deleted
    delete(&app, &token, "docs/a.txt")
        .await
        .expect(StatusCode::OK);
    delete(&app, &token, "deep/er/b.txt")
        .await
        .expect(StatusCode::OK);
    // THEN each folder is still listed, empty, and its listing answers 200 with no items
    assert_empty_folder(&app, &token, "docs").await;
    assert_empty_folder(&app, &token, "deep/er").await;
    // AND only the folder the file left was given a marker: `deep` is there through `deep/er`
    assert!(!has_marker(&app, &token, "deep").await);
    assert_eq!(
        names(&list(&app, &token, "deep").await.expect(StatusCode::OK)),
        ["er"]
    );
    // AND a marker is a stored object, counted like create-folder's
    assert_eq!(usage_matches_listing(&app, &token).await, (1, 3));
    // AND deleting a file of the home gives the home no marker
    delete(&app, &token, "top.txt").await.expect(StatusCode::OK);
    assert_home_unmarked(&app, &id).await;
    assert_eq!(
        names(&list(&app, &token, "").await.expect(StatusCode::OK)),
        ["deep", "docs"]
    );
    assert_eq!(usage_matches_listing(&app, &token).await, (0, 2));
}

async fn a_folder_outlives_the_move_of_its_last_item(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (id, token, _) = app.user("ben").await;
    // GIVEN folders an upload made: one with a file, one with a subfolder, and a destination
    upload(&app, &token, "src", "a.txt", b"aaa").await;
    upload(&app, &token, "out/inner", "f.txt", b"ff").await;
    upload(&app, &token, "dst", "d.txt", b"d").await;
    upload(&app, &token, "", "top.txt", b"t").await;
    // WHEN the last file of one and the last folder of the other are moved out
    move_to(&app, &token, "src/a.txt", "dst")
        .await
        .expect(StatusCode::OK);
    move_to(&app, &token, "out/inner", "")
        .await
        .expect(StatusCode::OK);
    // THEN both stay, empty
    assert_empty_folder(&app, &token, "src").await;
    assert_empty_folder(&app, &token, "out").await;
    assert_eq!(
        names(&list(&app, &token, "dst").await.expect(StatusCode::OK)),
        ["a.txt", "d.txt"]
    );
    assert_eq!(
        names(&list(&app, &token, "inner").await.expect(StatusCode::OK)),
        ["f.txt"]
    );
    assert_eq!(usage_matches_listing(&app, &token).await, (7, 6));
    // AND a move into a folder within the same folder adds no marker (the folder holds it)
    upload(&app, &token, "m/sub", "y.txt", b"y").await;
    upload(&app, &token, "m", "x.txt", b"x").await;
    move_to(&app, &token, "m/x.txt", "m/sub")
        .await
        .expect(StatusCode::OK);
    assert!(!has_marker(&app, &token, "m").await);
    // AND moving an item of the home elsewhere gives the home no marker
    move_to(&app, &token, "top.txt", "dst")
        .await
        .expect(StatusCode::OK);
    assert_home_unmarked(&app, &id).await;
    assert_eq!(usage_matches_listing(&app, &token).await, (9, 8));
}

/// A rename keeps the item in its folder: the folder cannot be emptied by it, and gets no
/// marker; deleting the renamed item afterwards leaves it empty like any delete.
async fn a_rename_keeps_the_folder_and_adds_no_marker(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("cid").await;
    upload(&app, &token, "r", "old.txt", b"old").await;
    upload(&app, &token, "f/inner", "g.txt", b"g").await;
    // WHEN the last item of each folder is renamed (a file, a folder)
    for (old, new) in [("r/old.txt", "new.txt"), ("f/inner", "outer")] {
        app.post(
            "/api/files/rename",
            Some(&token),
            json!({"old_path": old, "new_name": new}),
        )
        .await
        .expect(StatusCode::OK);
    }
    // THEN each folder is listed with only the renamed item, and has no marker
    assert_eq!(
        names(&list(&app, &token, "r").await.expect(StatusCode::OK)),
        ["new.txt"]
    );
    assert_eq!(
        names(&list(&app, &token, "f").await.expect(StatusCode::OK)),
        ["outer"]
    );
    assert!(!has_marker(&app, &token, "r").await);
    assert!(!has_marker(&app, &token, "f").await);
    assert_eq!(usage_matches_listing(&app, &token).await, (4, 2));
    // AND once the renamed item is deleted the folder stays, empty
    delete(&app, &token, "r/new.txt")
        .await
        .expect(StatusCode::OK);
    assert_empty_folder(&app, &token, "r").await;
    assert_eq!(usage_matches_listing(&app, &token).await, (1, 2));
}

async fn deleting_the_folder_itself_still_removes_it(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (id, token, _) = app.user("dan").await;
    upload(&app, &token, "whole/sub", "f.txt", b"ff").await;
    upload(&app, &token, "emptied", "e.txt", b"e").await;
    upload(&app, &token, "outer/inner", "i.txt", b"i").await;
    // WHEN an upload-made folder, a folder left empty (now with a marker) and a subfolder of
    // an upload-made folder are deleted
    delete(&app, &token, "emptied/e.txt")
        .await
        .expect(StatusCode::OK);
    assert_empty_folder(&app, &token, "emptied").await;
    for path in ["whole", "emptied", "outer/inner"] {
        delete(&app, &token, path).await.expect(StatusCode::OK);
    }
    // THEN those are gone entirely; the subfolder's parent stays, empty
    for path in ["whole", "whole/sub", "emptied", "outer/inner"] {
        list(&app, &token, path)
            .await
            .expect_error(StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(
        names(&list(&app, &token, "").await.expect(StatusCode::OK)),
        ["outer"]
    );
    assert_empty_folder(&app, &token, "outer").await;
    // AND deleting the last folder of the home leaves the home unmarked and empty
    delete(&app, &token, "outer").await.expect(StatusCode::OK);
    assert_home_unmarked(&app, &id).await;
    assert_eq!(
        list(&app, &token, "").await.expect(StatusCode::OK)["items"],
        json!([])
    );
    assert_eq!(usage_matches_listing(&app, &token).await, (0, 0));
}

async fn concurrent_deletes_of_the_last_two_files_leave_one_marker(kind: Kind) {
    let app = Arc::new(TestApp::new(kind).await);
    let (_, token, _) = app.user("eve").await;
    for round in 0..4 {
        // GIVEN an upload-made folder with two files
        let folder = format!("pair{round}");
        upload(&app, &token, &folder, "a.txt", b"a").await;
        upload(&app, &token, &folder, "b.txt", b"b").await;
        // WHEN both are deleted at once
        let replies = race(2, |i| {
            let (app, token) = (app.clone(), token.clone());
            let path = format!("{folder}/{}", ["a.txt", "b.txt"][i]);
            async move { delete(&app, &token, &path).await }
        })
        .await;
        // THEN both succeed and the folder stays, empty, with one marker counted once
        for reply in replies {
            reply.expect(StatusCode::OK);
        }
        assert_empty_folder(&app, &token, &folder).await;
        assert_eq!(
            usage_matches_listing(&app, &token).await,
            (0, round + 1),
            "round {round}"
        );
    }
}

/// A delete frees the object the marker takes, so at the file limit the folder still stays. A
/// move frees none: at the limit it succeeds and its emptied folder goes, as before markers.
async fn the_file_limit_never_fails_a_delete_or_a_move(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, admin) = app.member("boss", Role::Manager).await;
    let (id, token, _) = app.user("fay").await;
    app.call(
        Method::PATCH,
        &format!("/api/users/{id}"),
        Some(&admin),
        Some(json!({"file_limit": 3})),
    )
    .await
    .expect(StatusCode::OK);
    // GIVEN a user at the file limit
    upload(&app, &token, "d", "a.txt", b"aa").await;
    upload(&app, &token, "m", "b.txt", b"b").await;
    upload(&app, &token, "", "c.txt", b"c").await;
    assert_eq!(usage_matches_listing(&app, &token).await, (4, 3));
    // WHEN the last file of a folder is deleted: THEN the folder stays
    delete(&app, &token, "d/a.txt").await.expect(StatusCode::OK);
    assert_empty_folder(&app, &token, "d").await;
    assert_eq!(usage_matches_listing(&app, &token).await, (2, 3));
    // WHEN the last file of another is moved out: THEN the move succeeds and the folder,
    // whose marker would pass the limit, is gone
    move_to(&app, &token, "m/b.txt", "d")
        .await
        .expect(StatusCode::OK);
    list(&app, &token, "m")
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        names(&list(&app, &token, "d").await.expect(StatusCode::OK)),
        ["b.txt"]
    );
    assert_eq!(usage_matches_listing(&app, &token).await, (2, 3));
}

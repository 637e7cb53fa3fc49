//! A shared folder stays until it is deleted or moved itself: a folder known only by the files
//! below it would vanish with its last file, and its link would come back to life for whatever
//! later took its name.

use http::{Method, StatusCode};
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Kind, TestApp};
use crate::shares_support::{create_share, put_file, visitor};

backend_tests!(a_shared_folder_outlives_its_last_file);

async fn a_shared_folder_outlives_its_last_file(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (_, token, _) = app.user("pia").await;
    // GIVEN a folder that exists only through the one file uploaded into it, shared
    put_file(&app, &token, "drop", "only.txt", b"one").await;
    let share = create_share(&app, &token, json!({"path": "drop", "kind": "download"})).await;
    let id = share["id"].as_str().unwrap();
    // WHEN its last file is deleted
    app.post(
        "/api/files/delete",
        Some(&token),
        json!({"path": "drop/only.txt"}),
    )
    .await
    .expect(StatusCode::OK);
    // THEN the folder is still there, and so is its link, now empty
    let stat = app
        .get("/api/files/stat?path=drop", Some(&token))
        .await
        .expect(StatusCode::OK);
    assert_eq!(stat["is_directory"], true, "{stat}");
    let listed = visitor(&app, Method::GET, &format!("/api/s/{id}/list"), &[])
        .await
        .expect(StatusCode::OK);
    assert_eq!(listed["items"], json!([]), "{listed}");
    // AND deleting the folder itself ends the link, and a new folder of its name does not
    // bring it back
    app.post("/api/files/delete", Some(&token), json!({"path": "drop"}))
        .await
        .expect(StatusCode::OK);
    put_file(&app, &token, "drop", "new.txt", b"two").await;
    let gone = visitor(&app, Method::GET, &format!("/api/s/{id}"), &[]).await;
    gone.expect_error(StatusCode::NOT_FOUND, "share_not_found");
}

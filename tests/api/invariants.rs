//! What must hold after any race or injected failure, whatever the interleaving: checked at the
//! end of each such case.

use http::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;

/// Every item below the user's home (files and folders), as listed, following the pages.
pub async fn listing_of(app: &TestApp, token: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut uri = "/api/files/list?recursive=true&limit=1000".to_owned();
        if let Some(c) = &cursor {
            uri.push_str(&format!("&cursor={}", encode(c)));
        }
        let page = app.get(&uri, Some(token)).await.expect(StatusCode::OK);
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

/// Every file below the user's home: (path, size).
pub async fn files_of(app: &TestApp, token: &str) -> Vec<(String, u64)> {
    listing_of(app, token)
        .await
        .iter()
        .filter(|item| item["is_directory"] != Value::Bool(true))
        .map(|item| {
            let path = item["path"].as_str().expect("path").to_owned();
            (path, item["size"].as_u64().expect("size"))
        })
        .collect()
}

/// Every stored object below the user's home, as a recursive listing shows them: files, and
/// folders that have a marker (a folder that exists only through what is in it has none, and
/// a recursive listing shows only objects). (path, size, is a folder).
pub async fn objects_of(app: &TestApp, token: &str) -> Vec<(String, u64, bool)> {
    listing_of(app, token)
        .await
        .iter()
        .map(|item| {
            let path = item["path"].as_str().expect("path").to_owned();
            let folder = item["is_directory"] == Value::Bool(true);
            if folder {
                assert!(
                    item["modified"].is_number(),
                    "a folder without a marker: {item}"
                );
            }
            (path, item["size"].as_u64().expect("size"), folder)
        })
        .collect()
}

/// The usage the user is charged for is what their stored objects add up to: (bytes,
/// objects), files and folder markers alike.
pub async fn usage_matches_listing(app: &TestApp, token: &str) -> (u64, u64) {
    let info = app
        .get("/api/auth/user-info", Some(token))
        .await
        .expect(StatusCode::OK);
    let charged = (
        info["storage"]["used_bytes"].as_u64().expect("used_bytes"),
        info["storage"]["file_count"].as_u64().expect("file_count"),
    );
    let objects = objects_of(app, token).await;
    let listed = (
        objects.iter().map(|(_, size, _)| size).sum::<u64>(),
        objects.len() as u64,
    );
    assert_eq!(
        charged, listed,
        "charged (bytes, objects) differ from the listing: {objects:?}"
    );
    charged
}

/// At least one active superuser is left to administer the service.
pub async fn a_superuser_remains(app: &TestApp) {
    let active = app
        .core
        .store
        .count_active_superusers()
        .await
        .expect("count");
    assert!(active >= 1, "no active superuser is left");
}

/// The generation the session of `refresh` (`vcr1.<user>.<session>.<generation>.<secret>`) is
/// at now, or None once it has ended.
pub async fn session_generation(app: &TestApp, refresh: &str) -> Option<u64> {
    let parts: Vec<&str> = refresh.split('.').collect();
    assert_eq!(parts.len(), 5, "not a refresh token: {refresh}");
    let (_, session) = app
        .core
        .store
        .load_session_principal(parts[1], parts[2])
        .await
        .expect("session");
    session.map(|s| s.generation)
}

/// A listing cursor as a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

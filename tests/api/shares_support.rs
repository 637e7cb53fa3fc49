//! Helpers for the share-link tests: create, visit, unlock.

#![allow(dead_code)]

use axum::body::Body;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{Duration, Utc};
use http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use shared::store::{Share, ShareKind};

use crate::helpers::{Raw, Reply, TestApp};

/// Creates a share with the owner's `token`; expects 201 and returns the share as answered.
pub async fn create_share(app: &TestApp, token: &str, body: Value) -> Value {
    app.post("/api/shares", Some(token), body)
        .await
        .expect(StatusCode::CREATED)
}

/// Creates the folder `path` (its parent must exist) in the home of `token`'s owner.
pub async fn make_folder(app: &TestApp, token: &str, path: &str) {
    let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
    app.post(
        "/api/files/create-folder",
        Some(token),
        json!({ "parent_path": parent, "folder_name": name }),
    )
    .await
    .expect(StatusCode::CREATED);
}

/// Uploads one file `name` with `data` into folder `path` ("" for the home).
pub async fn put_file(app: &TestApp, token: &str, path: &str, name: &str, data: &[u8]) {
    app.upload(token, &[("path", None, path.as_bytes())], &[(name, data)])
        .await
        .expect(StatusCode::CREATED);
}

fn visitor_request(method: Method, uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(Body::empty()).expect("request")
}

/// A visitor's request (no bearer of an account), answered in JSON.
pub async fn visitor(app: &TestApp, method: Method, uri: &str, headers: &[(&str, &str)]) -> Reply {
    app.send(visitor_request(method, uri, headers)).await
}

/// A visitor's request whose answer may be bytes (downloads).
pub async fn visitor_raw(
    app: &TestApp,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
) -> Raw {
    app.send_raw(visitor_request(method, uri, headers)).await
}

/// A share token for `password` (`POST /api/s/{id}/token` with `X-Share-Password`).
pub async fn share_token(app: &TestApp, id: &str, password: &str) -> String {
    let answer = visitor(
        app,
        Method::POST,
        &format!("/api/s/{id}/token"),
        &[("x-share-password", password)],
    )
    .await
    .expect(StatusCode::OK);
    answer["token"].as_str().expect("token").to_owned()
}

/// A fresh 22-character share id, as the service makes them.
pub fn random_share_id() -> String {
    URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}

/// Stores (through the store, as no route can) a share of `path` that expired a day ago
/// (outside the limit of shares per user, up to 1000).
pub async fn put_expired_share(
    app: &TestApp,
    owner_id: &str,
    path: &str,
    kind: ShareKind,
) -> String {
    let now = Utc::now();
    let share = Share {
        id: random_share_id(),
        user_id: owner_id.to_owned(),
        path: path.to_owned(),
        kind,
        is_folder: kind == ShareKind::Upload || !path.contains('.'),
        password_hash: None,
        password_version: 0,
        max_uses: None,
        uses: 0,
        note: None,
        created_at: now - Duration::days(3),
        updated_at: now - Duration::days(3),
        expires_at: now - Duration::days(1),
    };
    assert!(app
        .core
        .store
        .create_share(&share, 1000)
        .await
        .expect("store"));
    share.id
}

/// The bearer header of `token`, for the visitor helpers.
pub fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

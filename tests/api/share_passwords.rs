//! Share passwords, tokens and their throttling, on every backend: a token for the password
//! (Basic or `X-Share-Password`) used as Bearer or `X-Share-Token`, wrong and missing
//! passwords, brute force per (share, address), per address and per share, tokens bound to
//! their share and password version, and no password in any URL handed out.

use axum::body::Body;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Kind, Reply, TestApp};
use crate::share_links::{peer, share, share_id, visit, visit_by, visit_raw};

backend_tests!(
    a_password_gives_a_token_that_unlocks,
    wrong_and_missing_passwords_are_401,
    guesses_are_throttled_per_share_and_address,
    guesses_are_throttled_per_address_across_shares,
    a_share_refuses_guesses_past_its_ceiling_from_anywhere,
    a_token_opens_only_its_share_and_password,
    no_password_is_ever_in_a_url,
    a_used_up_link_never_asks_for_a_password,
);

const PASSWORD: &str = "Share-Pass-2718";

fn basic(password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("visitor:{password}")))
}

/// `POST /api/s/{id}/token` from `n`'s address with these headers.
async fn token_by(app: &TestApp, n: u8, id: &str, headers: &[(&str, &str)]) -> Reply {
    let uri = format!("/api/s/{id}/token");
    visit_by(app, peer(n), Method::POST, &uri, headers).await
}

/// A token for `PASSWORD` on `id`.
async fn token_for(app: &TestApp, id: &str) -> String {
    let reply = token_by(app, 1, id, &[("x-share-password", PASSWORD)])
        .await
        .expect(StatusCode::OK);
    reply["token"].as_str().expect("token").to_owned()
}

/// Asserts 429 `throttled` with a `Retry-After` within the window.
#[track_caller]
fn assert_throttled(reply: Reply) {
    let retry: u64 = reply
        .headers
        .get(header::RETRY_AFTER)
        .unwrap_or_else(|| panic!("no Retry-After: {}", reply.body))
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "Retry-After {retry}");
    reply.expect_error(StatusCode::TOO_MANY_REQUESTS, "throttled");
}

/// An owner with `docs/a.txt`; a password-protected download share of `docs`.
async fn protected(app: &TestApp, name: &str) -> (String, String) {
    let (_, token, _) = app.user(name).await;
    app.upload(&token, &[("path", None, b"docs")], &[("a.txt", b"abc")])
        .await
        .expect(StatusCode::CREATED);
    let body = json!({"path": "docs", "kind": "download", "password": PASSWORD});
    let id = share_id(app, &token, body).await;
    (token, id)
}

async fn a_password_gives_a_token_that_unlocks(kind: Kind) {
    // GIVEN a protected share
    let app = TestApp::new(kind).await;
    let (_, id) = protected(&app, "tina").await;
    // WHEN the password is sent as Basic, or as X-Share-Password
    for sent in [
        ("authorization", basic(PASSWORD)),
        ("x-share-password", PASSWORD.to_owned()),
    ] {
        let reply = token_by(&app, 1, &id, &[(sent.0, &sent.1)])
            .await
            .expect(StatusCode::OK);
        // THEN a Bearer token comes back, short-lived
        assert_eq!(reply["token_type"], "Bearer");
        let expires_in = reply["expires_in"].as_i64().unwrap();
        assert!((3500..=3600).contains(&expires_in), "{reply}");
        assert!(reply["expires_at"].is_string());
        let token = reply["token"].as_str().unwrap();
        // AND it unlocks info, listing and downloads as Bearer or X-Share-Token
        let bearer = format!("Bearer {token}");
        for auth in [("authorization", bearer.as_str()), ("x-share-token", token)] {
            let info = visit(&app, &format!("/api/s/{id}"), &[auth])
                .await
                .expect(StatusCode::OK);
            assert_eq!(
                (info["unlocked"].clone(), info["name"].clone()),
                (json!(true), json!("docs"))
            );
            visit(&app, &format!("/api/s/{id}/list"), &[auth])
                .await
                .expect(StatusCode::OK);
            let uri = format!("/api/s/{id}/download?path=a.txt");
            let raw = visit_raw(&app, Method::GET, &uri, &[auth]).await;
            assert!(
                matches!(raw.status, StatusCode::OK | StatusCode::FOUND),
                "{}",
                raw.status
            );
        }
    }
    // AND the password itself works on a download too
    let uri = format!("/api/s/{id}/download?path=a.txt");
    let raw = visit_raw(&app, Method::GET, &uri, &[("x-share-password", PASSWORD)]).await;
    assert!(
        matches!(raw.status, StatusCode::OK | StatusCode::FOUND),
        "{}",
        raw.status
    );
    let auth = basic(PASSWORD);
    let raw = visit_raw(&app, Method::GET, &uri, &[("authorization", &auth)]).await;
    assert!(
        matches!(raw.status, StatusCode::OK | StatusCode::FOUND),
        "{}",
        raw.status
    );
}

async fn wrong_and_missing_passwords_are_401(kind: Kind) {
    // GIVEN a protected share and an open one
    let app = TestApp::new(kind).await;
    let (token, id) = protected(&app, "walt").await;
    let open = share_id(&app, &token, json!({"path": "docs", "kind": "download"})).await;
    // WHEN nothing is sent THEN 401 asks for the password
    visit(&app, &format!("/api/s/{id}/list"), &[])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "share_password_required");
    token_by(&app, 1, &id, &[])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "share_password_required");
    // AND a wrong password is 401, on the token route and directly
    token_by(&app, 1, &id, &[("x-share-password", "wrong")])
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_share_password");
    visit(
        &app,
        &format!("/api/s/{id}/list"),
        &[("x-share-password", "wrong")],
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "invalid_share_password");
    // AND info with a wrong password is refused, not shown locked
    visit(
        &app,
        &format!("/api/s/{id}"),
        &[("x-share-password", "wrong")],
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "invalid_share_password");
    // AND a made-up token is 401
    visit(
        &app,
        &format!("/api/s/{id}/list"),
        &[("x-share-token", "e30.e30.e30")],
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "invalid_share_token");
    // AND a link without a password has no token to give
    token_by(&app, 1, &open, &[("x-share-password", PASSWORD)])
        .await
        .expect_error(StatusCode::BAD_REQUEST, "no_share_password");
}

async fn guesses_are_throttled_per_share_and_address(kind: Kind) {
    // GIVEN at most 3 wrong passwords per share and address
    let app = TestApp::with(kind, |c| c.shares.max_failures = 3).await;
    let (_, id) = protected(&app, "bruno").await;
    // WHEN one address guesses
    for _ in 0..3 {
        token_by(&app, 5, &id, &[("x-share-password", "guess")])
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_share_password");
    }
    // THEN the next attempt is 429, even with the right password, and on other routes
    assert_throttled(token_by(&app, 5, &id, &[("x-share-password", "guess")]).await);
    assert_throttled(token_by(&app, 5, &id, &[("x-share-password", PASSWORD)]).await);
    let uri = format!("/api/s/{id}/list");
    let reply = visit_by(
        &app,
        peer(5),
        Method::GET,
        &uri,
        &[("x-share-password", PASSWORD)],
    )
    .await;
    assert_throttled(reply);
    // AND another address still gets in with the password
    token_by(&app, 6, &id, &[("x-share-password", PASSWORD)])
        .await
        .expect(StatusCode::OK);
}

async fn guesses_are_throttled_per_address_across_shares(kind: Kind) {
    // GIVEN an address budget of 4 wrong passwords, shared with logins, and two shares
    let app = TestApp::with(kind, |c| {
        c.throttle.address_max_failures = 4;
        c.shares.max_failures = 10;
    })
    .await;
    let (token, first) = protected(&app, "ada").await;
    let body = json!({"path": "docs/a.txt", "kind": "download", "password": PASSWORD});
    let second = share_id(&app, &token, body).await;
    // WHEN one address spends it over both shares
    for id in [&first, &second, &first, &second] {
        token_by(&app, 9, id, &[("x-share-password", "guess")])
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_share_password");
    }
    // THEN it is refused on both, and at the login too
    assert_throttled(token_by(&app, 9, &first, &[("x-share-password", PASSWORD)]).await);
    assert_throttled(token_by(&app, 9, &second, &[("x-share-password", "guess")]).await);
    let login = json!({"username": "ada", "password": "wrong password!"});
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(login.to_string()))
        .unwrap();
    assert_throttled(app.send_by(peer(9), req).await);
    // AND another address is not
    token_by(&app, 10, &second, &[("x-share-password", PASSWORD)])
        .await
        .expect(StatusCode::OK);
}

async fn a_share_refuses_guesses_past_its_ceiling_from_anywhere(kind: Kind) {
    // GIVEN a share that takes 4 wrong passwords per window from all addresses together
    let app = TestApp::with(kind, |c| c.shares.max_failures_per_share = 4).await;
    let (token, id) = protected(&app, "cara").await;
    let body = json!({"path": "docs/a.txt", "kind": "download", "password": PASSWORD});
    let other = share_id(&app, &token, body).await;
    // WHEN four addresses guess once each
    for n in 20..24 {
        token_by(&app, n, &id, &[("x-share-password", "guess")])
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_share_password");
    }
    // THEN every further attempt is refused, from a new address, right password or not
    assert_throttled(token_by(&app, 30, &id, &[("x-share-password", "guess")]).await);
    assert_throttled(token_by(&app, 31, &id, &[("x-share-password", PASSWORD)]).await);
    // AND another share of the owner is not affected
    token_by(&app, 31, &other, &[("x-share-password", PASSWORD)])
        .await
        .expect(StatusCode::OK);
}

async fn a_token_opens_only_its_share_and_password(kind: Kind) {
    // GIVEN two protected shares and a token of the first
    let app = TestApp::new(kind).await;
    let (token, first) = protected(&app, "tom").await;
    let body = json!({"path": "docs", "kind": "download", "password": PASSWORD});
    let second = share_id(&app, &token, body).await;
    let share_token = token_for(&app, &first).await;
    let with = [("x-share-token", share_token.as_str())];
    // WHEN it is used on the second THEN 401
    visit(&app, &format!("/api/s/{second}/list"), &with)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_share_token");
    // AND it is no access token either
    app.get("/api/files/list", Some(&share_token))
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_token");
    // AND an owner's access token is no share token
    visit(
        &app,
        &format!("/api/s/{first}/list"),
        &[("x-share-token", token.as_str())],
    )
    .await
    .expect_error(StatusCode::UNAUTHORIZED, "invalid_share_token");
    visit(&app, &format!("/api/s/{first}/list"), &with)
        .await
        .expect(StatusCode::OK);
    // WHEN the owner changes the password THEN the token stops working at once
    let uri = format!("/api/shares/{first}");
    app.call(
        Method::PATCH,
        &uri,
        Some(&token),
        Some(json!({"password": "Other-Pass-3141"})),
    )
    .await
    .expect(StatusCode::OK);
    visit(&app, &format!("/api/s/{first}/list"), &with)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_share_token");
    // AND the new password gives a working one
    let reply = token_by(&app, 1, &first, &[("x-share-password", "Other-Pass-3141")])
        .await
        .expect(StatusCode::OK);
    let fresh = reply["token"].as_str().unwrap();
    visit(
        &app,
        &format!("/api/s/{first}/list"),
        &[("x-share-token", fresh)],
    )
    .await
    .expect(StatusCode::OK);
}

async fn no_password_is_ever_in_a_url(kind: Kind) {
    // GIVEN a protected share of a file
    let app = TestApp::new(kind).await;
    let (token, _) = protected(&app, "uri").await;
    let body = json!({"path": "docs/a.txt", "kind": "download", "password": PASSWORD});
    let created: Value = share(&app, &token, body).await;
    let id = created["id"].as_str().unwrap();
    // THEN neither the link, nor the owner's view, nor a token, nor a download URL holds it
    assert!(!created.to_string().contains(PASSWORD), "{created}");
    let url = created["url"].as_str().unwrap();
    assert!(url.ends_with(&format!("/api/s/{id}")), "{url}");
    let reply = token_by(&app, 1, id, &[("x-share-password", PASSWORD)])
        .await
        .expect(StatusCode::OK);
    assert!(!reply.to_string().contains(PASSWORD));
    let share_token = reply["token"].as_str().unwrap();
    let uri = format!("/api/s/{id}/download");
    let raw = visit_raw(&app, Method::GET, &uri, &[("x-share-token", share_token)]).await;
    let location = raw
        .headers
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        !location.contains(PASSWORD) && !location.contains(share_token),
        "{location}"
    );
    assert!(
        matches!(raw.status, StatusCode::OK | StatusCode::FOUND),
        "{}",
        raw.status
    );
}

async fn a_used_up_link_never_asks_for_a_password(kind: Kind) {
    // GIVEN a password-protected download link and upload link of `docs`, one use each, and
    // an upload started through the upload link
    let app = TestApp::new(kind).await;
    let (owner_id, token, _) = app.user("ulla").await;
    app.upload(&token, &[("path", None, b"docs")], &[("a.txt", b"abc")])
        .await
        .expect(StatusCode::CREATED);
    let link =
        |kind: &str| json!({"path": "docs", "kind": kind, "password": PASSWORD, "max_uses": 1});
    let down = share_id(&app, &token, link("download")).await;
    let up = share_id(&app, &token, link("upload")).await;
    let started = crate::share_uploads::visit(
        &app,
        Method::POST,
        &format!("/api/s/{up}/uploads"),
        &[("x-share-password", PASSWORD)],
        Some(json!({"path": "b.txt", "size": 3})),
    )
    .await
    .expect(StatusCode::CREATED);
    let upload_id = started["upload_id"].as_str().expect("upload id");
    // WHEN both links' uses are taken
    for id in [&down, &up] {
        let claimed = app
            .core
            .store
            .claim_share_use(&owner_id, id, chrono::Utc::now());
        assert!(claimed.await.expect("store"));
    }
    // THEN every route that needs a use answers 410 before asking for the password, with
    // none, a wrong one or the right one
    let routes = [
        (Method::GET, format!("/api/s/{down}")),
        (Method::POST, format!("/api/s/{down}/token")),
        (Method::GET, format!("/api/s/{down}/list")),
        (Method::GET, format!("/api/s/{down}/download?path=a.txt")),
        (Method::GET, format!("/api/s/{down}/download-zip")),
        (Method::POST, format!("/api/s/{up}/uploads")),
        (
            Method::POST,
            format!("/api/s/{up}/uploads/{upload_id}/complete"),
        ),
    ];
    for (method, uri) in &routes {
        for headers in [
            &[][..],
            &[("x-share-password", "wrong")][..],
            &[("x-share-password", PASSWORD)][..],
        ] {
            let body = match uri.ends_with("/uploads") {
                true => Some(json!({"path": "c.txt", "size": 3})),
                false if uri.ends_with("/complete") => Some(json!({"parts": []})),
                false => None,
            };
            crate::share_uploads::visit(&app, method.clone(), uri, headers, body)
                .await
                .expect_error(StatusCode::GONE, "share_expired");
        }
    }
    // AND none of the wrong passwords was checked or counted
    let now = chrono::Utc::now().timestamp();
    for id in [&down, &up] {
        let counted = app
            .core
            .store
            .throttle_counts(&[format!("share:{id}")], now)
            .await
            .expect("store");
        assert_eq!(counted[0].count, 0, "{id}");
    }
    // AND the started upload can still be looked at with the password
    crate::share_uploads::visit(
        &app,
        Method::GET,
        &format!("/api/s/{up}/uploads/{upload_id}"),
        &[("x-share-password", PASSWORD)],
        None,
    )
    .await
    .expect(StatusCode::OK);
}

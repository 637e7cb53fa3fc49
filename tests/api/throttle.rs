//! Throttling of password checks, on every backend: attempts count before the hash (also when
//! hundreds arrive at once), per (login as typed, address) and per address; the owner from
//! elsewhere still gets in; the client address comes from trusted proxies only.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};
use shared::config::Config;

use crate::backend_tests;
use crate::helpers::{race, Kind, Reply, TestApp, PASSWORD};

backend_tests!(
    parallel_guesses_past_the_limit_never_reach_the_hash,
    parallel_guesses_from_one_address_stop_at_its_limit,
    repeated_failures_are_throttled_per_login_and_address,
    repeated_failures_are_throttled_per_address,
    username_and_email_are_counted_apart,
    a_login_over_its_ceiling_is_slowed_not_refused,
    forwarded_for_counts_only_from_trusted_proxies,
    ipv6_clients_are_counted_per_64,
    password_confirmations_are_throttled,
    a_busy_hasher_counts_nothing,
);

const WRONG: &str = "wrong password!";

/// A login attempt whose TCP connection comes from `peer`, with `X-Forwarded-For` fields.
async fn login_by(app: &TestApp, peer: &str, forwarded: &[&str], login: &str, pw: &str) -> Reply {
    let body = json!({ "username": login, "password": pw });
    call_by(app, peer, forwarded, "/api/auth/login", None, body).await
}

async fn call_by(
    app: &TestApp,
    peer: &str,
    forwarded: &[&str],
    uri: &str,
    token: Option<&str>,
    body: Value,
) -> Reply {
    let ip: IpAddr = peer.parse().expect("peer address");
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json");
    for field in forwarded {
        req = req.header("x-forwarded-for", *field);
    }
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = req.body(Body::from(body.to_string())).expect("request");
    app.send_by(SocketAddr::new(ip, 40000), req).await
}

/// Asserts 429 `throttled` with a `Retry-After` within the window.
#[track_caller]
fn assert_throttled(reply: Reply, window: u64) {
    let retry: u64 = reply
        .headers
        .get(header::RETRY_AFTER)
        .unwrap_or_else(|| panic!("no Retry-After: {:?} {}", reply.headers, reply.body))
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=window).contains(&retry), "Retry-After {retry}");
    reply.expect_error(StatusCode::TOO_MANY_REQUESTS, "throttled");
}

fn count(replies: &[Reply], status: StatusCode) -> usize {
    replies.iter().filter(|r| r.status == status).count()
}

/// An app whose hashers queue every login the test sends, so none is answered 503.
async fn app_with(kind: Kind, tweak: impl FnOnce(&mut Config)) -> TestApp {
    TestApp::with(kind, |c| {
        c.limits.password_queue = 1000;
        tweak(c);
    })
    .await
}

async fn parallel_guesses_past_the_limit_never_reach_the_hash(kind: Kind) {
    let app = Arc::new(app_with(kind, |c| c.throttle.address_max_failures = 1000).await);
    app.register("alice").await;
    // WHEN 200 wrong passwords for alice arrive at once from one address
    let replies = race(200, |i| {
        let app = app.clone();
        let guess = format!("guess number {i}");
        async move { login_by(&app, "198.51.100.20", &[], "alice", &guess).await }
    })
    .await;
    // THEN exactly the bound (5) were checked, and every other one refused before its hash
    assert_eq!(count(&replies, StatusCode::UNAUTHORIZED), 5);
    assert_eq!(count(&replies, StatusCode::TOO_MANY_REQUESTS), 195);
    for reply in replies {
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            assert_throttled(reply, 900);
        }
    }
    // AND the right password from that address is refused too, until the window closes
    assert_throttled(
        login_by(&app, "198.51.100.20", &[], "alice", PASSWORD).await,
        900,
    );
    // BUT the owner from another address logs in
    login_by(&app, "203.0.113.5", &[], "alice", PASSWORD)
        .await
        .expect(StatusCode::OK);
}

async fn parallel_guesses_from_one_address_stop_at_its_limit(kind: Kind) {
    let app = Arc::new(app_with(kind, |c| c.throttle.address_max_failures = 50).await);
    app.register("bruno").await;
    // WHEN 200 guesses, each for another login, arrive at once from one address
    let replies = race(200, |i| {
        let app = app.clone();
        let login = format!("user{i}");
        async move { login_by(&app, "198.51.100.21", &[], &login, WRONG).await }
    })
    .await;
    // THEN exactly the address's bound were checked
    assert_eq!(count(&replies, StatusCode::UNAUTHORIZED), 50);
    assert_eq!(count(&replies, StatusCode::TOO_MANY_REQUESTS), 150);
    // AND that address stays refused, for a real account too; other addresses are not
    assert_throttled(
        login_by(&app, "198.51.100.21", &[], "bruno", PASSWORD).await,
        900,
    );
    login_by(&app, "198.51.100.22", &[], "bruno", PASSWORD)
        .await
        .expect(StatusCode::OK);
}

async fn repeated_failures_are_throttled_per_login_and_address(kind: Kind) {
    let app = TestApp::new(kind).await;
    app.register("gina").await;
    app.register("hank").await;
    let attempt = |user: &'static str, password: &'static str| app.try_login(user, password);
    // Four failures, then a success: the success resets the count
    for _ in 0..4 {
        attempt("gina", WRONG)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    attempt("gina", PASSWORD).await.expect(StatusCode::OK);
    for _ in 0..5 {
        attempt("gina", WRONG)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    // The sixth attempt from this address is refused even with the right password
    assert_throttled(attempt("gina", PASSWORD).await, 900);
    // Case does not make another counter: the lookup ignores it too
    assert_throttled(attempt("GINA", PASSWORD).await, 900);
    // Another account from the same address is not affected
    attempt("hank", PASSWORD).await.expect(StatusCode::OK);
    // Unknown accounts are throttled alike, so throttling reveals nothing
    for _ in 0..5 {
        attempt("ghost", WRONG)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    assert_throttled(attempt("ghost", WRONG).await, 900);
}

async fn repeated_failures_are_throttled_per_address(kind: Kind) {
    let app = TestApp::with(kind, |c| c.throttle.address_max_failures = 6).await;
    app.register("ivan").await;
    // GIVEN one address failing on many different accounts
    for i in 0..6 {
        login_by(&app, "10.0.0.7", &[], &format!("user{i}"), WRONG)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    // THEN that address is refused, even for a real account
    assert_throttled(login_by(&app, "10.0.0.7", &[], "ivan", PASSWORD).await, 900);
    // AND another address is not
    login_by(&app, "10.0.0.8", &[], "ivan", PASSWORD)
        .await
        .expect(StatusCode::OK);
}

async fn username_and_email_are_counted_apart(kind: Kind) {
    let app = TestApp::new(kind).await;
    app.register("alice").await;
    // GIVEN five failures as `alice`: `alice` is throttled at this address
    for _ in 0..5 {
        app.try_login("alice", WRONG)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    assert_throttled(app.try_login("alice", WRONG).await, 900);
    // THEN her email is not: a 401 as for any address, so the two cannot be linked
    app.try_login("alice@example.com", WRONG)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    app.try_login("ALICE@example.com", PASSWORD)
        .await
        .expect(StatusCode::OK);
    // AND `alice` stays throttled (a success by email does not clear it)
    assert_throttled(app.try_login("alice", PASSWORD).await, 900);
}

async fn a_login_over_its_ceiling_is_slowed_not_refused(kind: Kind) {
    let app = TestApp::with(kind, |c| {
        c.throttle.slowdown_after = 4;
        c.throttle.max_delay_ms = 400;
    })
    .await;
    app.register("carla").await;
    // GIVEN an attacker failing from many addresses, each below its own bound
    for i in 0..8u8 {
        let peer = format!("198.51.100.{}", 30 + i / 2);
        login_by(&app, &peer, &[], "carla", WRONG)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    // WHEN the owner logs in from yet another address
    let started = std::time::Instant::now();
    let reply = login_by(&app, "203.0.113.9", &[], "carla", PASSWORD).await;
    // THEN she gets in, only later: 9 attempts against a ceiling of 4 wait at least the cap
    // (a lower bound, which sleeping guarantees; no upper bound is asserted)
    reply.expect(StatusCode::OK);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    // AND the attacker is slowed as much, never refused below the per-address bound
    login_by(&app, "198.51.100.40", &[], "carla", WRONG)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
}

async fn forwarded_for_counts_only_from_trusted_proxies(kind: Kind) {
    let app = TestApp::with(kind, |c| {
        c.throttle.address_max_failures = 3;
        c.trusted_proxies = "10.9.0.0/16, fd00:9::/32".parse().unwrap();
    })
    .await;
    app.register("dora").await;
    // An untrusted peer: its header is ignored, the peer is what counts
    for (i, claimed) in ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
        .iter()
        .enumerate()
    {
        login_by(&app, "192.0.2.10", &[claimed], &format!("u{i}"), WRONG)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let reply = login_by(&app, "192.0.2.10", &["198.51.100.99"], "dora", PASSWORD).await;
    assert_throttled(reply, 900);
    // A trusted proxy: the right-most hop that is not a trusted proxy is the client (here
    // 203.0.113.1 each time: behind a second proxy, over IPv6, in the last of two fields)
    let through: [(&str, &[&str]); 3] = [
        ("10.9.0.1", &["203.0.113.1, 10.9.0.5"]),
        ("fd00:9::7", &["203.0.113.1"]),
        ("::ffff:10.9.1.1", &["198.51.100.77", "203.0.113.1"]),
    ];
    for (i, (proxy, forwarded)) in through.iter().enumerate() {
        login_by(&app, proxy, forwarded, &format!("v{i}"), WRONG)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    // …so that client is refused, whatever it puts in front of its address
    let spoofed = "192.0.2.200, 203.0.113.1";
    assert_throttled(
        login_by(&app, "10.9.0.1", &[spoofed], "dora", PASSWORD).await,
        900,
    );
    // AND another client behind the same proxy is not
    login_by(&app, "10.9.0.1", &["203.0.113.2"], "dora", PASSWORD)
        .await
        .expect(StatusCode::OK);
    // AND the proxy's own address was never counted
    login_by(&app, "10.9.0.1", &[], "dora", PASSWORD)
        .await
        .expect(StatusCode::OK);
}

async fn ipv6_clients_are_counted_per_64(kind: Kind) {
    let app = TestApp::with(kind, |c| c.throttle.address_max_failures = 3).await;
    app.register("emil").await;
    // GIVEN failures from three addresses of one /64
    for (i, peer) in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ab::3"]
        .iter()
        .enumerate()
    {
        login_by(&app, peer, &[], &format!("u{i}"), WRONG)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    // THEN a fourth address of it is refused; the next /64 is not
    let reply = login_by(&app, "2001:db8:1:2:ffff::9", &[], "emil", PASSWORD).await;
    assert_throttled(reply, 900);
    login_by(&app, "2001:db8:1:3::1", &[], "emil", PASSWORD)
        .await
        .expect(StatusCode::OK);
    // AND an IPv4-mapped IPv6 peer is its IPv4 address
    for i in 0..3 {
        login_by(&app, "::ffff:192.0.2.44", &[], &format!("w{i}"), WRONG)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    assert_throttled(
        login_by(&app, "192.0.2.44", &[], "emil", PASSWORD).await,
        900,
    );
}

async fn password_confirmations_are_throttled(kind: Kind) {
    let app = TestApp::new(kind).await;
    let (id, token, _) = app.user("fritz").await;
    let new = "an entirely new passphrase";
    let change =
        |old: &str| json!({"old_password": old, "new_password": new, "new_password2": new});
    let attacker = "198.51.100.60";
    // GIVEN a stolen session guessing the password: three by change-password, two by delete
    for _ in 0..3 {
        call_by(
            &app,
            attacker,
            &[],
            "/api/auth/change-password",
            Some(&token),
            change(WRONG),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    }
    for _ in 0..2 {
        let body = json!({ "password": WRONG });
        call_by(
            &app,
            attacker,
            &[],
            "/api/auth/delete-account",
            Some(&token),
            body,
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "validation_error");
    }
    // THEN the next check is refused before the hash, even with the right password
    let body = json!({ "password": PASSWORD });
    let reply = call_by(
        &app,
        attacker,
        &[],
        "/api/auth/delete-account",
        Some(&token),
        body,
    )
    .await;
    assert_throttled(reply, 900);
    let reply = call_by(
        &app,
        attacker,
        &[],
        "/api/auth/change-password",
        Some(&token),
        change(PASSWORD),
    )
    .await;
    assert_throttled(reply, 900);
    // AND nothing changed: the account and its password stand
    assert!(app.core.store.get_user(&id).await.unwrap().is_some());
    app.try_login("fritz", PASSWORD)
        .await
        .expect(StatusCode::OK);
    // AND the owner from her own address still changes it
    call_by(
        &app,
        "203.0.113.60",
        &[],
        "/api/auth/change-password",
        Some(&token),
        change(PASSWORD),
    )
    .await
    .expect(StatusCode::OK);
    app.try_login("fritz", new).await.expect(StatusCode::OK);
}

async fn a_busy_hasher_counts_nothing(kind: Kind) {
    let app = TestApp::with(kind, |c| c.limits.password_queue = 0).await;
    app.register("gus").await;
    // One core for every request (on AWS the app's functions each have their own).
    let served = TestApp::from_core(app.core.clone());
    // GIVEN every hasher busy and no queue: more logins than the bound are answered 503
    let held = app.core.passwords.occupy().await;
    for _ in 0..8 {
        served
            .try_login("gus", WRONG)
            .await
            .expect_error(StatusCode::SERVICE_UNAVAILABLE, "busy");
    }
    drop(held);
    // THEN none of them counted: the right password gets in, and five failures still 401
    served
        .try_login("gus", PASSWORD)
        .await
        .expect(StatusCode::OK);
    for _ in 0..5 {
        served
            .try_login("gus", WRONG)
            .await
            .expect_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    assert_throttled(served.try_login("gus", WRONG).await, 900);
}

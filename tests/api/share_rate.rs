//! Public routes are rate-limited per address: a link that exists still answers 429 to an
//! address past its bound of visitor requests, and to that address only.

use http::{Method, StatusCode};
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Kind, TestApp};
use crate::share_links::{peer, share_id, visit_by};
use crate::shares_support::make_folder;

backend_tests!(visitors_are_rate_limited_per_address);

async fn visitors_are_rate_limited_per_address(kind: Kind) {
    let app = TestApp::with(kind, |c| c.shares.max_requests_per_address = 3).await;
    let (_, token, _) = app.user("rhea").await;
    make_folder(&app, &token, "open").await;
    let id = share_id(&app, &token, json!({"path": "open", "kind": "download"})).await;
    let info = format!("/api/s/{id}");
    // GIVEN an address that used its three visitor requests on a live link
    for _ in 0..3 {
        visit_by(&app, peer(7), Method::GET, &info, &[])
            .await
            .expect(StatusCode::OK);
    }
    // WHEN it asks once more
    let refused = visit_by(&app, peer(7), Method::GET, &info, &[]).await;
    // THEN it is refused with a time to come back, and the refusal is not counted against it
    assert!(
        refused.headers.contains_key("retry-after"),
        "{:?}",
        refused.headers
    );
    refused.expect_error(StatusCode::TOO_MANY_REQUESTS, "throttled");
    // AND another address is served
    visit_by(&app, peer(8), Method::GET, &info, &[])
        .await
        .expect(StatusCode::OK);
    let list = format!("/api/s/{id}/list");
    visit_by(&app, peer(8), Method::GET, &list, &[])
        .await
        .expect(StatusCode::OK);
}

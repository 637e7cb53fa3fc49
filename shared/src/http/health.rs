//! `GET /api/health` and `GET /api/openapi.json`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(openapi_json))
}

#[derive(Serialize, ToSchema)]
struct Health {
    /// `ok`, or `unavailable` when a check failed.
    status: &'static str,
    version: &'static str,
    /// Check name (`users`, `files`) → `ok` or `unavailable`.
    checks: BTreeMap<&'static str, &'static str>,
}

/// Liveness and backing-store checks (no authentication).
#[utoipa::path(get, path = "/api/health", tag = "health",
    responses((status = 200, body = Health), (status = 503, description = "A check failed", body = Health)))]
async fn health(State(core): State<AppState>) -> (StatusCode, Json<Health>) {
    // Each check answers within a bound, so a hung store is reported, not waited for.
    async fn bounded<E: std::fmt::Display>(
        check: impl std::future::Future<Output = Result<(), E>>,
    ) -> Result<(), String> {
        match tokio::time::timeout(std::time::Duration::from_secs(3), check).await {
            Ok(result) => result.map_err(|e| format!("{e:#}")),
            Err(_) => Err("no answer within 3 s".into()),
        }
    }
    let (users, files) = tokio::join!(bounded(core.store.ping()), bounded(core.objects.ping()));
    let mut checks = BTreeMap::new();
    for (name, result) in [("users", users), ("files", files)] {
        let state = match result {
            Ok(()) => "ok",
            Err(e) => {
                tracing::error!(error = %e, check = name, "health check failed");
                "unavailable"
            }
        };
        checks.insert(name, state);
    }
    let all_ok = checks.values().all(|v| *v == "ok");
    let status = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Health {
        status: if all_ok { "ok" } else { "unavailable" },
        version: crate::VERSION,
        checks,
    };
    (status, Json(body))
}

/// This document: the OpenAPI 3 description of the whole API.
#[utoipa::path(get, path = "/api/openapi.json", tag = "health",
    responses((status = 200, description = "OpenAPI 3 document", content_type = "application/json")))]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(super::openapi())
}

//! HTTP: one axum router per endpoint group. The same routers serve the Lambda functions (through
//! `lambda_http`) and the local server, so both deployments answer alike.

mod auth;
mod doc;
pub mod extract;
mod files;
mod health;
mod jobs;
pub mod middleware;
#[cfg(feature = "embedded")]
pub mod serve;
pub mod share_links;
pub mod share_uploads;
mod shares;
mod slash;
mod upload;
mod users;
mod zip;

use std::sync::{Arc, OnceLock};

use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::error::AppError;
use crate::Core;

pub use slash::instance_of;

pub type AppState = Arc<Core>;

/// JSON bodies of the API are small; uploads (files group) set their own limit.
const JSON_BODY_LIMIT: usize = 64 * 1024;

/// The endpoint groups, one Lambda function each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// `/api/auth/*`, plus `/api/health` and `/api/openapi.json`.
    Auth,
    Users,
    Files,
    Zip,
    /// `/api/shares/*` (owners' share links) and `/api/s/*` (their visitors).
    Shares,
}

impl Group {
    pub const ALL: [Group; 5] = [
        Group::Auth,
        Group::Users,
        Group::Files,
        Group::Zip,
        Group::Shares,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Group::Auth => "auth",
            Group::Users => "users",
            Group::Files => "files",
            Group::Zip => "zip",
            Group::Shares => "shares",
        }
    }

    fn routes(self) -> OpenApiRouter<AppState> {
        match self {
            Group::Auth => auth::routes().merge(health::routes()),
            Group::Users => users::routes(),
            Group::Files => files::routes().merge(jobs::routes()),
            Group::Zip => zip::routes(),
            Group::Shares => shares::routes()
                .merge(share_links::routes())
                .merge(share_uploads::routes()),
        }
    }
}

/// `{"message": "..."}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    pub message: String,
}

impl Message {
    pub fn json(message: impl Into<String>) -> Json<Self> {
        Json(Self {
            message: message.into(),
        })
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access JWT from login/refresh, or an API key (`vck_…`).",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "VertexCloud API",
        description = "Secure file storage and management. Errors are always \
            `{\"error\", \"code\", \"details\"}` with the status of the failure.",
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::error::ErrorBody)),
    tags(
        (name = "auth", description = "Accounts, sessions and API keys"),
        (name = "health", description = "Service status and this document"),
        (name = "files", description = "Files and folders in the caller's home"),
        (name = "users", description = "Users administration (managers and superusers)"),
        (name = "zip", description = "ZIP archives of files and folders"),
        (name = "jobs", description = "Background jobs: archives, and copy, move, rename or \
            delete of large folders (progress, cancel, resume, undo)"),
        (name = "shares", description = "Share links: owners' public links and their visitors"),
    )
)]
struct ApiDoc;

fn documented(groups: &[Group]) -> OpenApiRouter<AppState> {
    groups
        .iter()
        .fold(OpenApiRouter::with_openapi(ApiDoc::openapi()), |r, g| {
            r.merge(g.routes())
        })
}

/// The OpenAPI document of the whole API, generated from the routes themselves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = documented(&Group::ALL).split_for_parts().1;
        doc::complete(&mut doc);
        doc.info.version = crate::VERSION.to_owned();
        doc
    })
    .clone()
}

/// The OpenAPI document of one group's routes: what that group's function must be routed.
pub fn openapi_for(group: Group) -> utoipa::openapi::OpenApi {
    let mut doc = documented(&[group]).split_for_parts().1;
    doc::complete(&mut doc);
    doc
}

/// The router serving `groups`: one group on Lambda, all four locally.
pub fn router(state: AppState, groups: &[Group]) -> Router {
    routed(groups.iter().map(|group| (*group, state.clone())))
}

/// The whole API with each group served by its own core, as API Gateway hands each group to
/// its own function (and process): what one group's function does is attributable to it.
pub fn routed(groups: impl IntoIterator<Item = (Group, AppState)>) -> Router {
    let mut served = Vec::new();
    let router = groups
        .into_iter()
        .fold(Router::new(), |router, (group, state)| {
            served.push(group);
            let (routes, _) = documented(&[group]).split_for_parts();
            router.merge(routes.with_state(state))
        });
    let router = slash::with_fallback(router, &served)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT));
    slash::tolerant(middleware::layered(router))
}

/// 302 to `url`, the status the OpenAPI document gives downloads that redirect (axum's
/// `Redirect` offers 303/307/308 only).
fn found(url: String) -> axum::response::Response {
    (
        axum::http::StatusCode::FOUND,
        [(axum::http::header::LOCATION, url)],
    )
        .into_response()
}

async fn not_found() -> impl IntoResponse {
    AppError::not_found("not_found", "No such endpoint.")
}

async fn method_not_allowed() -> impl IntoResponse {
    AppError::MethodNotAllowed
}

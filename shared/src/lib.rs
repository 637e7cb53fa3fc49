//! VertexCloud's shared crate: domain types, services, ports and adapters, and the HTTP routers
//! that both the Lambda functions and the local server run.

pub mod archive;
pub mod aws;
pub mod config;
pub mod domain;
#[cfg(feature = "embedded")]
pub(crate) mod embedded_db;
pub mod error;
pub mod http;
pub mod objects;
pub mod runtime;
pub mod security;
pub mod services;
pub mod store;

pub use config::Config;
/// The storage-key layout (it lives with the domain values keys are built from).
pub use domain::layout;
pub use error::{AppError, AppResult};
pub use services::Core;

/// The service's version, as reported by the health check.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

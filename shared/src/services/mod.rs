//! The service layer: every rule of the product, once, independent of HTTP and of the backend.

mod accounts;
mod api_keys;
mod authn;
mod check;
mod files;
mod jobs;
pub(crate) mod schema;
mod shares;
mod throttle;
mod users;
mod zip;

use std::sync::Arc;

pub use accounts::{
    ChangePasswordInput, DeleteAccountInput, IssuedToken, Login, LoginInput, LoginOutput,
    LogoutInput, NewAccount, PasswordChange, PasswordChanged, ProfileChanges, ProfileUpdate,
    RefreshInput, RegisterInput, TokenPair, ISSUED_TOKEN_MAX_TTL_SECS,
};
pub use api_keys::{ApiKeyCreated, ApiKeyView, CreateKeyInput, NewKey};
pub use authn::{Credential, Principal};
pub use check::Check;
pub use files::{
    parse_range, CompleteUploadInput, Conditions, CreateFolderInput, DeleteInput, Delivery,
    DirectUpload, DownloadQuery, FileItem, FolderCreated, ListQuery, Listing, MoveInput,
    MoveRequest, Moved, NewFolder, NewUpload, NewUploadInput, PartUrl, PathQuery, RangeError,
    Relocated, Relocation, RenameInput, SignedUrl, UploadBatch, Uploaded, UploadedFile,
};

pub use jobs::{
    job_event, sweep_event, CancelFlags, JobEvent, JobList, JobQuery, JobRef, JobRole, JobView,
    Launcher, Swept, JOB_EVENT_KEY, SWEEP_EVENT_KEY, SWEEP_PERIOD,
};
pub use shares::{
    share_url, NewShareInput, OpenShare, ShareCredential, ShareInfo, SharePage, ShareQuery,
    ShareStatus, ShareToken, ShareUpdate, ShareView,
};
pub use users::rules as role_rules;
pub use users::{
    NewUserInput, PasswordReset, ResetPasswordInput, UserDetail, UserPage, UserQuery, UserUpdate,
};
pub use zip::{ZipFolderQuery, ZipInput, ZipRequest, Zipped};

use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::objects::ObjectStore;
use crate::security::{PasswordHasher, TicketKeys, TokenKeys};
use crate::store::MetaStore;

/// Everything a request needs, built once per process (cold start) and shared.
pub struct Core {
    pub config: Config,
    /// Users, sessions, keys, throttling.
    pub store: Arc<dyn MetaStore>,
    /// File bytes.
    pub objects: Arc<dyn ObjectStore>,
    pub tokens: TokenKeys,
    /// Direct-upload ids and the local store's transfer URLs.
    pub tickets: TicketKeys,
    pub passwords: PasswordHasher,
    /// Where jobs run in the background.
    pub launcher: Launcher,
    /// The cancel flags of the job runs of this process.
    pub cancels: CancelFlags,
}

/// The two stores of one backend.
#[derive(Clone)]
pub struct Backends {
    pub store: Arc<dyn MetaStore>,
    pub objects: Arc<dyn ObjectStore>,
}

impl Core {
    pub fn new(config: Config, backends: Backends, jwt_secret: &[u8]) -> Self {
        let passwords =
            PasswordHasher::with_queue(config.password_cost, config.limits.password_queue);
        Self {
            config,
            store: backends.store,
            objects: backends.objects,
            tokens: TokenKeys::new(jwt_secret),
            tickets: TicketKeys::new(jwt_secret),
            passwords,
            launcher: Launcher::Task,
            cancels: CancelFlags::default(),
        }
    }
}

/// A listing's page size when `limit` is not given, and the most it may ask for (API.md's
/// convention).
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// A listing's page size from its `limit`: 1 at least (a field error for 0), larger values
/// capped at [`MAX_PAGE`], [`DEFAULT_PAGE`] when not given.
pub(crate) fn page_limit(limit: Option<usize>) -> AppResult<usize> {
    match limit {
        Some(0) => Err(AppError::field("limit", "Must be at least 1.")),
        Some(n) => Ok(n.min(MAX_PAGE)),
        None => Ok(DEFAULT_PAGE),
    }
}

pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

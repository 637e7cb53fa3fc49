//! Share links: an owner's public links to one file or folder of their home. Owners create,
//! list, change and delete them ([`owner`]); anyone holding a link visits it ([`access`],
//! [`visitor`], [`uploads`], [`zip`]); deleting or moving the shared item, or disabling its
//! owner, ends it ([`ends`]).

mod access;
mod ends;
mod input;
mod owner;
mod uploads;
mod view;
mod visitor;
mod zip;

pub use access::{OpenShare, ShareCredential, ShareToken};
pub use input::{NewShareInput, ShareUpdate};
pub use view::{SharePage, ShareQuery, ShareStatus, ShareView};
pub use visitor::ShareInfo;

pub(crate) use owner::log_id;

use chrono::{DateTime, Duration, Utc};

use crate::config::ShareConfig;
use crate::error::AppError;
use crate::security::random_secret;
use crate::store::Share;

/// Random bytes of a share id: 128 bits, 22 base64url characters.
const ID_BYTES: usize = 16;

/// The link visitors open: the web app's page `{web}/s/{id}` when there is an app, else the
/// API's `{origin}/api/s/{id}` ([`crate::config::WebApp`]).
pub fn share_url(config: &ShareConfig, origin: &str, id: &str) -> String {
    config.web_app.share_url(origin, id)
}

/// A new, unguessable share id.
pub(crate) fn new_share_id() -> String {
    random_secret(ID_BYTES)
}

/// True when `id` could be a share id at all: anything else is not looked up.
pub(crate) fn plausible_id(id: &str) -> bool {
    id.len() == 22
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The answer for every dead or unknown link, whatever the reason (nothing about the owner
/// shows), and for another user's share.
pub(crate) fn share_not_found() -> AppError {
    AppError::not_found("share_not_found", "No such share link.")
}

/// The answer for a link that exists but expired or was used up: ask its owner for a new one.
pub(crate) fn share_expired() -> AppError {
    AppError::gone(
        "share_expired",
        "This share link has expired or has been used up.",
    )
}

/// The expiry the share actually has now: never later than its creation plus the maximum
/// configured now (lowering the setting ends older links at once).
pub(crate) fn effective_expiry(share: &Share, config: &ShareConfig) -> DateTime<Utc> {
    share
        .expires_at
        .min(latest_expiry(share.created_at, config))
}

/// The latest a share created at `created_at` may expire.
fn latest_expiry(created_at: DateTime<Utc>, config: &ShareConfig) -> DateTime<Utc> {
    created_at + Duration::days(i64::from(config.max_expiry_days))
}

//! Share links as their owner (and administrators) see them, and pages of them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{effective_expiry, plausible_id, share_url};
use crate::config::ShareConfig;
use crate::domain::rfc3339;
use crate::error::{AppError, AppResult};
use crate::services::files::name_of;
use crate::services::page_limit;
use crate::store::{Share, ShareKind};

/// Whether visitors can still use a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShareStatus {
    Active,
    /// Past `expires_at`: visitors get 410.
    Expired,
    /// `uses` reached `max_uses`: visitors get 410.
    UsedUp,
}

/// A share link as its owner sees it: never the password (only whether there is one).
#[derive(Debug, Serialize, ToSchema)]
pub struct ShareView {
    /// 22 random base64url characters; the link's secret part.
    pub id: String,
    /// The link to hand out, the page to open in a browser: the web app's visitor page
    /// `{web app}/s/{id}` (the API's own origin when the server serves the app), or
    /// `{origin}/api/s/{id}` where no web app is deployed. Programs call the API at
    /// `/api/s/{id}` whatever this says.
    pub url: String,
    /// The shared file or folder, relative to the owner's home.
    pub path: String,
    pub name: String,
    pub kind: ShareKind,
    pub is_folder: bool,
    /// RFC 3339 UTC: when visitors start getting 410.
    pub expires_at: String,
    /// `null`: unlimited.
    pub max_uses: Option<u64>,
    /// Downloads, archives and uploads counted so far.
    pub uses: u64,
    pub has_password: bool,
    pub note: Option<String>,
    pub status: ShareStatus,
    pub created_at: String,
    pub updated_at: String,
}

impl ShareView {
    pub(crate) fn of(
        share: &Share,
        config: &ShareConfig,
        origin: &str,
        now: DateTime<Utc>,
    ) -> Self {
        let expires_at = effective_expiry(share, config);
        let status = if expires_at <= now {
            ShareStatus::Expired
        } else if share.is_used_up() {
            ShareStatus::UsedUp
        } else {
            ShareStatus::Active
        };
        Self {
            id: share.id.clone(),
            url: share_url(config, origin, &share.id),
            path: share.path.clone(),
            name: name_of(&share.path),
            kind: share.kind,
            is_folder: share.is_folder,
            expires_at: rfc3339(expires_at),
            max_uses: share.max_uses,
            uses: share.uses,
            has_password: share.password_hash.is_some(),
            note: share.note.clone(),
            status,
            created_at: rfc3339(share.created_at),
            updated_at: rfc3339(share.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SharePage {
    /// In id order (ids are random: not the order of creation).
    pub items: Vec<ShareView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShareQuery {
    /// Page size, 1–1000 (default 100; larger values are capped at 1000).
    #[param(minimum = 1)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Where a page of shares starts, and how long it is.
pub(crate) struct ShareCursor {
    pub after: Option<String>,
    pub limit: usize,
}

impl ShareCursor {
    /// 400 `invalid_cursor` for a cursor this API did not issue, a field error for `limit=0`.
    pub(crate) fn parse(query: &ShareQuery) -> AppResult<Self> {
        let limit = page_limit(query.limit)?;
        let after = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(raw) => Some(decode_cursor(raw)?),
        };
        Ok(Self { after, limit })
    }
}

fn decode_cursor(raw: &str) -> AppResult<String> {
    let invalid = || AppError::bad_request("invalid_cursor", "The cursor is not valid here.");
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let id = String::from_utf8(bytes).map_err(|_| invalid())?;
    if !plausible_id(&id) {
        return Err(invalid());
    }
    Ok(id)
}

/// One page of `shares` (read with one more than `limit`: its presence says there is a next
/// page), as the owner sees them.
pub(crate) fn shares_page(
    mut shares: Vec<Share>,
    limit: usize,
    config: &ShareConfig,
    origin: &str,
    now: DateTime<Utc>,
) -> SharePage {
    let more = shares.len() > limit;
    shares.truncate(limit);
    let next_cursor = match (more, shares.last()) {
        (true, Some(last)) => Some(URL_SAFE_NO_PAD.encode(last.id.as_bytes())),
        _ => None,
    };
    SharePage {
        items: shares
            .iter()
            .map(|s| ShareView::of(s, config, origin, now))
            .collect(),
        next_cursor,
    }
}

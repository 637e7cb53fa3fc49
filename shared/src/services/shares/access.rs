//! Opening a share for a visitor: lookup, expiry, password, token, throttling.
//!
//! Checks run in one order on every visitor route (README, "Share links"): the id-guessing
//! throttle (429), the lookup (404 for an unknown id, a deleted or ended share, or an owner
//! who is disabled or gone: nothing about the owner shows), expiry (410), used up (410, on the
//! routes that need a use left), the password or token (401, 429), the kind (403). Dead links
//! never ask for a password.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{effective_expiry, log_id, plausible_id, share_expired, share_not_found};
use crate::domain::{rfc3339, User, UserPath};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::security::TicketError;
use crate::services::files::parse_path;
use crate::services::throttle::Counters;
use crate::services::{now, Core, Credential, Principal};
use crate::store::{Share, ShareKind};

/// The ticket kind of share tokens: never accepted as anything else, nor anything else as one.
const TOKEN: &str = "share";

/// What a visitor presented to unlock a password-protected share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareCredential {
    None,
    /// A share token from `POST /api/s/{id}/token`.
    Token(String),
    /// The share's password itself (throttled like the token route).
    Password(String),
}

/// Whether a visitor route needs a use of the link left, checked before any password (a
/// used-up link never asks for one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Uses {
    /// 410 `share_expired` once every use is taken.
    Needed,
    /// The route decides later (a download's resume, a started upload, a ZIP job's progress).
    Later,
}

/// What a share token says (short names: it travels in every request).
#[derive(Serialize, Deserialize)]
struct ShareTokenBody {
    /// The share.
    s: String,
    /// The password version it was issued for: a changed password ends every token.
    v: u32,
}

/// A share token: send it as `X-Share-Token` or `Authorization: Bearer`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShareToken {
    pub token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires (never after the share does).
    pub expires_in: i64,
    /// RFC 3339 UTC.
    pub expires_at: String,
}

/// A share opened for a visitor: the link, its owner as stored now, and the shared item.
#[derive(Debug, Clone)]
pub struct OpenShare {
    pub share: Share,
    pub owner: User,
    /// The shared file or folder, relative to the owner's home.
    pub root: UserPath,
}

impl OpenShare {
    /// The visitor acting in the owner's home, for the owner's services (which then charge
    /// the owner's quota and build the owner's keys). Never an account credential.
    pub fn principal(&self) -> Principal {
        Principal {
            user: self.owner.clone(),
            credential: Credential::Share(self.share.id.clone()),
        }
    }

    /// A path the visitor names, relative to the shared folder, as a home path below it.
    /// Parsed alone first, so `..`, `.`, `\` and the like are refused (400 `invalid_path`)
    /// and the result lies inside the root by construction.
    pub fn resolve(&self, rel: Option<&str>) -> AppResult<UserPath> {
        let rel = parse_path("path", rel)?;
        if rel.is_home() {
            return Ok(self.root.clone());
        }
        self.root
            .join(rel.as_str())
            .map_err(|e| AppError::BadRequest {
                code: "invalid_path",
                message: format!("path: {e}"),
            })
    }

    /// A home path inside the share, relative to the shared folder ("" for the folder).
    pub fn relative<'a>(&self, home_path: &'a str) -> &'a str {
        let root = self.root.as_str();
        match home_path.strip_prefix(root) {
            Some("") => "",
            Some(rest) => rest.strip_prefix('/').unwrap_or(home_path),
            None => home_path,
        }
    }

    /// 410 `share_expired` once every use is taken (a started download's resume excepted,
    /// see `share_download`).
    pub fn require_uses_left(&self) -> AppResult<()> {
        match self.share.is_used_up() {
            true => Err(share_expired()),
            false => Ok(()),
        }
    }

    /// 403 `share_action_not_allowed` unless the share is of `kind`.
    pub(super) fn require_kind(&self, kind: ShareKind) -> AppResult<()> {
        if self.share.kind == kind {
            return Ok(());
        }
        Err(AppError::forbidden(
            "share_action_not_allowed",
            match kind {
                ShareKind::Download => "This link is for uploading files only.",
                ShareKind::Upload => "This link is for downloading only.",
            },
        ))
    }

    /// The error of an owner's service with the owner's home paths in its message (quoted,
    /// or after `path: `) rewritten relative to the share, so nothing above the shared item
    /// shows.
    pub fn scrub(&self, err: AppError) -> AppError {
        let fix = |message: String| self.scrub_text(&message);
        match err {
            AppError::BadRequest { code, message } => AppError::BadRequest {
                code,
                message: fix(message),
            },
            AppError::Unauthorized { code, message } => AppError::Unauthorized {
                code,
                message: fix(message),
            },
            AppError::Forbidden { code, message } => AppError::Forbidden {
                code,
                message: fix(message),
            },
            AppError::NotFound { code, message } => AppError::NotFound {
                code,
                message: fix(message),
            },
            AppError::Conflict { code, message } => AppError::Conflict {
                code,
                message: fix(message),
            },
            AppError::TooLarge { code, message } => AppError::TooLarge {
                code,
                message: fix(message),
            },
            AppError::Gone { code, message } => AppError::Gone {
                code,
                message: fix(message),
            },
            AppError::Validation(fields) => AppError::Validation(
                fields
                    .into_iter()
                    .map(|(field, message)| (field, fix(message)))
                    .collect::<FieldErrors>(),
            ),
            other => other,
        }
    }

    /// `text` with every quoted home path inside the share made share-relative, and the root
    /// itself shown by its name.
    pub(super) fn scrub_text(&self, text: &str) -> String {
        let root = self.root.as_str();
        if root.is_empty() {
            return text.to_owned();
        }
        let name = self.root.name();
        let mut out = text.to_owned();
        for (open, close) in [("'", "'"), ("\"", "\""), ("path: ", "")] {
            out = out.replace(&format!("{open}{root}/"), open);
            if !close.is_empty() {
                out = out.replace(
                    &format!("{open}{root}{close}"),
                    &format!("{open}{name}{close}"),
                );
            }
        }
        // Cut to 100 characters by `UserPath::shown`: the root's start may remain.
        let shown = self.root.shown();
        if shown != root {
            let cut = shown.trim_end_matches('…');
            out = out.replace(&format!("'{cut}"), "'…");
        }
        out
    }
}

impl Core {
    /// Miss throttle, lookup, owner active, expiry (410), used up (410, when `uses` is
    /// [`Uses::Needed`]), credential, kind (in that order).
    pub(crate) async fn open_share(
        &self,
        id: &str,
        cred: &ShareCredential,
        client: Option<IpAddr>,
        kind: Option<ShareKind>,
        uses: Uses,
    ) -> AppResult<OpenShare> {
        let open = self.find_share(id, client).await?;
        if uses == Uses::Needed {
            open.require_uses_left()?;
        }
        self.unlock(&open, cred, client).await?;
        if let Some(kind) = kind {
            open.require_kind(kind)?;
        }
        Ok(open)
    }

    /// The live share `id` (any password aside): 429 past the address's misses, 404 for an
    /// unknown id or an inactive owner (counted as a miss), 410 once expired.
    pub(super) async fn find_share(
        &self,
        id: &str,
        client: Option<IpAddr>,
    ) -> AppResult<OpenShare> {
        // Counted as a miss before the lookup, so parallel guesses cannot all pass the bound;
        // a found link gives its count back.
        self.claim_share_lookup(client).await?;
        let found = match plausible_id(id) {
            true => self.store.load_share(id).await,
            false => Ok(None),
        };
        let (share, owner) = match found {
            Ok(Some((share, owner))) if owner.is_active => (share, owner),
            Ok(_) => return Err(share_not_found()),
            Err(e) => {
                self.release_share_lookup(client).await;
                return Err(e.into());
            }
        };
        self.release_share_lookup(client).await;
        if effective_expiry(&share, &self.config.shares) <= now() {
            return Err(share_expired());
        }
        // A stored path that no longer parses names nothing a visitor may reach.
        let root = UserPath::parse(&share.path).map_err(|_| share_not_found())?;
        if root.is_home() {
            return Err(share_not_found());
        }
        Ok(OpenShare { share, owner, root })
    }

    /// `Ok` when the share has no password, or `cred` proves it: a token of this share and
    /// password version, or the password (throttled).
    pub(super) async fn unlock(
        &self,
        open: &OpenShare,
        cred: &ShareCredential,
        client: Option<IpAddr>,
    ) -> AppResult<()> {
        let Some(hash) = open.share.password_hash.as_deref() else {
            return Ok(());
        };
        match cred {
            ShareCredential::None => Err(password_required()),
            ShareCredential::Token(token) => self.check_share_token(&open.share, token),
            ShareCredential::Password(password) => {
                self.check_share_password(&open.share, hash, password, client)
                    .await
            }
        }
    }

    fn check_share_token(&self, share: &Share, token: &str) -> AppResult<()> {
        let invalid = || {
            AppError::unauthorized(
                "invalid_share_token",
                "The share token is invalid or expired, or the link's password changed.",
            )
        };
        let body: ShareTokenBody = self
            .tickets
            .check(TOKEN, token)
            .map_err(|_: TicketError| invalid())?;
        match body.s == share.id && body.v == share.password_version {
            true => Ok(()),
            false => Err(invalid()),
        }
    }

    async fn check_share_password(
        &self,
        share: &Share,
        hash: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> AppResult<()> {
        let counters = Counters::share(&share.id, client, &self.config.shares);
        let check = async {
            let ok = self.passwords.verify(password, Some(hash)).await?;
            Ok(((), ok))
        };
        match self.throttled(&counters, check).await? {
            ((), true) => Ok(()),
            ((), false) => Err(AppError::unauthorized(
                "invalid_share_password",
                "Wrong password for this link.",
            )),
        }
    }

    /// A share token for the password `password`: 400 `no_share_password` when the link has
    /// none, 401 `share_password_required` without one, `invalid_share_password`, 429 past
    /// the throttle.
    pub async fn issue_share_token(
        &self,
        id: &str,
        password: Option<&str>,
        client: Option<IpAddr>,
    ) -> AppResult<ShareToken> {
        let open = self.find_share(id, client).await?;
        open.require_uses_left()?;
        let Some(hash) = open.share.password_hash.as_deref() else {
            return Err(AppError::bad_request(
                "no_share_password",
                "This link has no password: use it without a token.",
            ));
        };
        let Some(password) = password else {
            return Err(password_required());
        };
        self.check_share_password(&open.share, hash, password, client)
            .await?;
        let now = now();
        let ttl = chrono::Duration::seconds(self.config.shares.token_ttl_secs);
        let expires = (now + ttl).min(effective_expiry(&open.share, &self.config.shares));
        let body = ShareTokenBody {
            s: open.share.id.clone(),
            v: open.share.password_version,
        };
        let token = self.tickets.issue(TOKEN, expires.timestamp(), &body)?;
        Ok(ShareToken {
            token,
            token_type: "Bearer",
            expires_in: (expires - now).num_seconds().max(0),
            expires_at: rfc3339(expires),
        })
    }
}

/// Takes one use of the link, atomically: 410 `share_expired` when another request took the
/// last one (or the link expired) since it was opened.
pub(super) async fn claim_use(core: &Core, open: &OpenShare) -> AppResult<()> {
    let share = &open.share;
    match core
        .store
        .claim_share_use(&share.user_id, &share.id, now())
        .await?
    {
        true => Ok(()),
        false => Err(share_expired()),
    }
}

/// Gives back a use whose action failed. The request already fails with that cause, so a
/// failure here is logged: the link then counts one use too many.
pub(super) async fn release_use(core: &Core, open: &OpenShare) {
    let share = &open.share;
    if let Err(e) = core
        .store
        .release_share_use(&share.user_id, &share.id)
        .await
    {
        tracing::warn!(share = %log_id(&share.id), error = %e, "share use not given back");
    }
}

fn password_required() -> AppError {
    AppError::unauthorized(
        "share_password_required",
        "This link is protected by a password: send it as `Authorization: Basic` or \
         `X-Share-Password` (to POST /api/s/{id}/token for a token).",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Email, Role, UserId, Username};

    fn open(root: &str) -> OpenShare {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let owner = User {
            id: UserId::from("0b8f2a52-3f4e-4a39-9a57-6e1b3c1c0f00"),
            username: Username::parse("olivia").unwrap(),
            email: Email::parse("olivia@example.com").unwrap(),
            first_name: String::new(),
            last_name: String::new(),
            role: Role::User,
            is_active: true,
            password_hash: "$argon2id$x".into(),
            quota_bytes: None,
            file_limit: None,
            used_bytes: 0,
            file_count: 0,
            reserved_bytes: 0,
            reserved_files: 0,
            created_at: at,
            updated_at: at,
        };
        let share = Share {
            id: "s".into(),
            user_id: owner.id.to_string(),
            path: root.into(),
            kind: ShareKind::Download,
            is_folder: true,
            password_hash: None,
            password_version: 0,
            max_uses: None,
            uses: 0,
            note: None,
            created_at: at,
            updated_at: at,
            expires_at: at,
        };
        OpenShare {
            share,
            owner,
            root: UserPath::parse(root).unwrap(),
        }
    }

    #[test]
    fn visitor_paths_stay_below_the_root() {
        let open = open("private/photos");
        assert_eq!(open.resolve(None).unwrap().as_str(), "private/photos");
        assert_eq!(open.resolve(Some("")).unwrap().as_str(), "private/photos");
        assert_eq!(
            open.resolve(Some("sub/a.jpg")).unwrap().as_str(),
            "private/photos/sub/a.jpg"
        );
        for attack in [
            "..",
            "../x",
            "a/../../b",
            "sub/..",
            "./a",
            "/etc",
            "a\\..\\b",
            "a\0",
        ] {
            let err = open.resolve(Some(attack)).unwrap_err();
            assert!(
                matches!(
                    err,
                    AppError::BadRequest {
                        code: "invalid_path",
                        ..
                    }
                ),
                "{attack}"
            );
        }
        assert_eq!(open.relative("private/photos"), "");
        assert_eq!(open.relative("private/photos/sub/a.jpg"), "sub/a.jpg");
    }

    #[test]
    fn messages_name_paths_relative_to_the_share() {
        let open = open("private/photos");
        let err = AppError::conflict(
            "already_exists",
            "A file 'private/photos/sub/a.jpg' already exists.",
        );
        match open.scrub(err) {
            AppError::Conflict { code, message } => {
                assert_eq!(code, "already_exists");
                assert_eq!(message, "A file 'sub/a.jpg' already exists.");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            open.scrub_text("'private/photos' is a file, not a folder."),
            "'photos' is a file, not a folder."
        );
        // Only quoted paths: a word that merely starts like the root stays.
        assert_eq!(
            open.scrub_text("private/photos2 'private/photos2'"),
            "private/photos2 'private/photos2'"
        );
    }
}

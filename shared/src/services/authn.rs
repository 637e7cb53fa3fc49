//! Who is calling: turns a Bearer token into a [`Principal`], re-checking the store every time so
//! that revocation, deactivation and role changes bite on the very next request.

use subtle::ConstantTimeEq;

use super::{now, Core};
use crate::domain::User;
use crate::error::{AppError, AppResult};
use crate::security::{ApiKeyToken, API_KEY_PREFIX};

/// How the caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An access token of this session.
    Session(String),
    /// This API key.
    ApiKey(String),
    /// A visitor of this share link, acting in its owner's home within the share.
    Share(String),
}

/// An authenticated, active user, as stored right now.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub credential: Credential,
}

impl Principal {
    pub fn session_id(&self) -> Option<&str> {
        match &self.credential {
            Credential::Session(id) => Some(id),
            Credential::ApiKey(_) | Credential::Share(_) => None,
        }
    }

    /// 403 `api_key_not_allowed` for an API key: keys are for files and shares, not for
    /// changing an account (API.md). Asked before the body is judged or a password checked,
    /// so a leaked key learns nothing from the answer.
    pub fn require_session(&self, what: &str) -> AppResult<()> {
        match self.credential {
            Credential::Session(_) => Ok(()),
            Credential::ApiKey(_) => Err(AppError::forbidden(
                "api_key_not_allowed",
                format!("An API key cannot {what}: sign in with a password to do it."),
            )),
            Credential::Share(_) => Err(AppError::forbidden(
                "share_action_not_allowed",
                format!("A share link cannot {what}."),
            )),
        }
    }
}

pub(super) fn hashes_match(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

fn active(user: Option<User>) -> AppResult<User> {
    match user {
        Some(u) if u.is_active => Ok(u),
        Some(_) => Err(AppError::unauthorized(
            "account_disabled",
            "This account is disabled.",
        )),
        None => Err(AppError::invalid_token()),
    }
}

impl Core {
    pub async fn authenticate(&self, bearer: &str) -> AppResult<Principal> {
        if bearer.starts_with(API_KEY_PREFIX) {
            return self.authenticate_key(bearer).await;
        }
        let claims = self
            .tokens
            .verify_access(bearer)
            .ok_or_else(AppError::invalid_token)?;
        let (user, session) = self
            .store
            .load_session_principal(&claims.sub, &claims.sid)
            .await?;
        match session {
            Some(s) if s.is_live(now()) => Ok(Principal {
                user: active(user)?,
                credential: Credential::Session(s.id),
            }),
            _ => Err(AppError::invalid_token()),
        }
    }

    async fn authenticate_key(&self, raw: &str) -> AppResult<Principal> {
        let token = ApiKeyToken::parse(raw).ok_or_else(AppError::invalid_token)?;
        let (user, key) = self
            .store
            .load_key_principal(&token.user_id, &token.key_id)
            .await?;
        match key {
            Some(k) if k.is_live(now()) && hashes_match(&k.key_hash, &token.hash()) => {
                Ok(Principal {
                    user: active(user)?,
                    credential: Credential::ApiKey(k.id),
                })
            }
            _ => Err(AppError::invalid_token()),
        }
    }
}

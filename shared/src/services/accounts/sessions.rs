//! Logins and sessions: log in, refresh (rotating, with reuse detection), log out, and the
//! command line's tokens.

use std::net::IpAddr;

use chrono::Duration;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::input::Login;
use crate::domain::{User, UserView};
use crate::error::{AppError, AppResult};
use crate::security::RefreshToken;
use crate::services::authn::hashes_match;
use crate::services::throttle::Counters;
use crate::services::{now, Core, Principal};
use crate::store::Session;

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// Access JWT for `Authorization: Bearer`.
    pub access: String,
    /// Opaque refresh token; single use (rotated on refresh).
    pub refresh: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until `access` expires.
    pub expires_in: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginOutput {
    #[serde(flatten)]
    pub tokens: TokenPair,
    #[serde(flatten)]
    pub user: UserView,
}

/// The longest lifetime [`Core::issue_token`] grants: its tokens are for trying things out;
/// scripts have API keys.
pub const ISSUED_TOKEN_MAX_TTL_SECS: i64 = 24 * 3600;

/// What [`Core::issue_token`] made.
#[derive(Debug)]
pub struct IssuedToken {
    /// Access JWT for `Authorization: Bearer`.
    pub access: String,
    pub user: User,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

fn invalid_credentials() -> AppError {
    AppError::unauthorized(
        "invalid_credentials",
        "No active account found with the given credentials.",
    )
}

impl Core {
    pub async fn login(&self, attempt: Login, client: Option<IpAddr>) -> AppResult<LoginOutput> {
        let Login { login, password } = attempt;
        // Counted before the account is even looked up: what was typed is the key, and
        // unknown accounts are throttled alike.
        let counters = Counters::login(&login, client);
        let check = async {
            let user = self.store.find_user_by_login(&login).await?;
            let phc = user.as_ref().map(|u| u.password_hash.as_str());
            let ok = self.passwords.verify(&password, phc).await?;
            Ok((user, ok))
        };
        let (user, ok) = self.throttled(&counters, check).await?;
        let user = match user {
            Some(user) if ok => user,
            _ => {
                // What was typed as the login is not logged: people type passwords there too.
                match &user {
                    Some(u) => tracing::info!(user_id = %u.id, "login failed: wrong password"),
                    None => tracing::info!("login failed: unknown account"),
                }
                return Err(invalid_credentials());
            }
        };
        if !user.is_active {
            return Err(AppError::forbidden(
                "account_disabled",
                "This account is disabled.",
            ));
        }
        let tokens = self.start_session(&user).await?;
        tracing::info!(user_id = %user.id, "login");
        Ok(LoginOutput {
            tokens,
            user: user.view(),
        })
    }

    async fn start_session(&self, user: &User) -> AppResult<TokenPair> {
        let (session, refresh) = self
            .new_session(user, Duration::seconds(self.config.refresh_ttl_secs))
            .await?;
        self.token_pair(&user.id, &session.id, &refresh)
    }

    /// Stores a new session of `user` that lives for `ttl`; returns it with its refresh token.
    /// Beyond the configured number of live sessions the oldest end. Two logins at once may
    /// briefly leave one more each (each trims after its own write); once both are done at most
    /// the limit remain, and only sessions older than the newest `limit` are ever ended.
    async fn new_session(&self, user: &User, ttl: Duration) -> AppResult<(Session, RefreshToken)> {
        let at = now();
        // Time-ordered, so "oldest" is well defined within one second too.
        let session_id = Uuid::now_v7().to_string();
        let refresh = RefreshToken::generate(&user.id, &session_id, 0);
        let session = Session {
            id: session_id,
            user_id: user.id.to_string(),
            refresh_hash: refresh.hash(),
            previous_hash: None,
            generation: 0,
            created_at: at,
            expires_at: at + ttl,
        };
        self.store.create_session(&session).await?;
        let limit = self.config.limits.max_sessions_per_user;
        let ended = self.store.trim_sessions(&session.user_id, limit).await?;
        if ended > 0 {
            tracing::info!(user_id = %user.id, ended, limit, "oldest sessions ended: limit reached");
        }
        Ok((session, refresh))
    }

    /// An access token for an existing, active user, without their password: what
    /// `vertexcloud issue-token` prints for invoking functions locally. It has a session of its
    /// own that ends with the token (its refresh token is never shown), so the normal per-request
    /// check accepts it, and logout-all, deactivation or deletion end it like any other.
    pub async fn issue_token(&self, login: &str, ttl_secs: i64) -> AppResult<IssuedToken> {
        if !(1..=ISSUED_TOKEN_MAX_TTL_SECS).contains(&ttl_secs) {
            return Err(AppError::field(
                "ttl",
                format!("Must be between 1 and {ISSUED_TOKEN_MAX_TTL_SECS} seconds."),
            ));
        }
        let user = match self.store.find_user_by_login(login.trim()).await? {
            Some(user) if user.is_active => user,
            Some(_) => {
                return Err(AppError::forbidden(
                    "account_disabled",
                    "This account is disabled.",
                ))
            }
            None => {
                return Err(AppError::not_found(
                    "user_not_found",
                    format!("No user {:?} (username or email).", login.trim()),
                ))
            }
        };
        let (session, _) = self.new_session(&user, Duration::seconds(ttl_secs)).await?;
        let access = self
            .tokens
            .issue_access(
                &user.id,
                &session.id,
                session.created_at.timestamp(),
                ttl_secs,
            )
            .map_err(AppError::internal)?;
        tracing::info!(user_id = %user.id, session_id = %session.id, ttl_secs, "access token issued");
        Ok(IssuedToken {
            access,
            user,
            expires_at: session.expires_at,
        })
    }

    fn token_pair(
        &self,
        user_id: &str,
        session_id: &str,
        refresh: &RefreshToken,
    ) -> AppResult<TokenPair> {
        let ttl = self.config.access_ttl_secs;
        let access = self
            .tokens
            .issue_access(user_id, session_id, now().timestamp(), ttl)
            .map_err(AppError::internal)?;
        Ok(TokenPair {
            access,
            refresh: refresh.expose(),
            token_type: "Bearer",
            expires_in: ttl,
        })
    }

    /// Finds the session a refresh token belongs to. The token the last rotation replaced is a
    /// proven reuse (it was rotated already, so someone else has it): the whole session ends.
    /// Anything else that does not match is just invalid, so a forged token ends nothing.
    async fn session_of(&self, raw: &str) -> AppResult<(RefreshToken, Session, Option<User>)> {
        let token = RefreshToken::parse(raw).ok_or_else(AppError::invalid_token)?;
        let (user, session) = self
            .store
            .load_session_principal(&token.user_id, &token.session_id)
            .await?;
        let session = match session {
            Some(s) if s.is_live(now()) => s,
            _ => return Err(AppError::invalid_token()),
        };
        let reused = token.generation + 1 == session.generation
            && session
                .previous_hash
                .as_deref()
                .is_some_and(|h| hashes_match(&token.hash(), h));
        if reused {
            self.store
                .delete_session(&session.user_id, &session.id)
                .await?;
            tracing::warn!(user_id = %session.user_id, session_id = %session.id, "refresh token reuse: session revoked");
            return Err(AppError::unauthorized(
                "token_reused",
                "This refresh token was already used; the session has been ended.",
            ));
        }
        if token.generation != session.generation
            || !hashes_match(&token.hash(), &session.refresh_hash)
        {
            return Err(AppError::invalid_token());
        }
        Ok((token, session, user))
    }

    /// Rotates the session of the refresh token `presented`.
    pub async fn refresh(&self, presented: &str) -> AppResult<TokenPair> {
        let (token, session, user) = self.session_of(presented).await?;
        let user = match user {
            Some(u) if u.is_active => u,
            _ => return Err(AppError::invalid_token()),
        };
        let next = RefreshToken::generate(&user.id, &session.id, token.generation + 1);
        let expires = now() + Duration::seconds(self.config.refresh_ttl_secs);
        let rotated = self
            .store
            .rotate_session(
                &user.id,
                &session.id,
                token.generation,
                &next.hash(),
                expires,
            )
            .await?;
        if !rotated {
            // Another request rotated this same token first: that is a reuse too.
            self.store.delete_session(&user.id, &session.id).await?;
            tracing::warn!(user_id = %user.id, session_id = %session.id, "concurrent refresh: session revoked");
            return Err(AppError::unauthorized(
                "token_reused",
                "This refresh token was already used; the session has been ended.",
            ));
        }
        self.token_pair(&user.id, &session.id, &next)
    }

    /// Ends the session the refresh token belongs to; its access tokens stop working at once.
    pub async fn logout(&self, presented: &str) -> AppResult<()> {
        let (_, session, _) = self.session_of(presented).await?;
        self.store
            .delete_session(&session.user_id, &session.id)
            .await?;
        tracing::info!(user_id = %session.user_id, session_id = %session.id, "logout");
        Ok(())
    }

    pub async fn logout_all(&self, principal: &Principal) -> AppResult<()> {
        principal.require_session("end the account's sessions")?;
        self.store.delete_sessions(&principal.user.id, None).await?;
        tracing::info!(user_id = %principal.user.id, "logout from every session");
        Ok(())
    }
}

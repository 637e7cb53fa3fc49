//! Accounts and sessions: register, log in, refresh, log out, profile, password, deletion.

use std::net::IpAddr;

use chrono::Duration;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::authn::hashes_match;
use super::check::Check;
use super::schema::{EmailText, NewPasswordText, PasswordText, PersonName, Required, UsernameText};
use super::throttle::LoginCounters;
use super::zip::archives_prefix;
use super::{now, Core, Principal};
use crate::domain::{Email, NewPassword, Role, User, UserView, Username};
use crate::error::{AppError, AppResult};
use crate::security::RefreshToken;
use crate::store::{Session, WriteUserError};

pub(super) const NAME_MAX: usize = 150;

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterInput {
    #[schema(value_type = UsernameText)]
    pub username: Option<String>,
    #[schema(value_type = EmailText)]
    pub email: Option<String>,
    #[schema(value_type = NewPasswordText)]
    pub password: Option<String>,
    /// Must equal `password`.
    #[schema(value_type = String, format = Password)]
    pub password2: Option<String>,
    #[schema(value_type = Option<PersonName>)]
    pub first_name: Option<String>,
    #[schema(value_type = Option<PersonName>)]
    pub last_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginInput {
    /// Username or email.
    #[schema(value_type = Required)]
    pub username: Option<String>,
    #[schema(value_type = PasswordText)]
    pub password: Option<String>,
}

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

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshInput {
    #[schema(value_type = Required)]
    pub refresh: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LogoutInput {
    /// The session's refresh token (`refresh` is accepted too).
    #[schema(value_type = Required, required = false)]
    pub refresh_token: Option<String>,
    /// The same as `refresh_token`, which wins when both are given.
    #[schema(value_type = Required, required = false)]
    pub refresh: Option<String>,
}

/// Only these fields can be changed here; anything else is rejected.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    #[schema(value_type = Option<PersonName>)]
    pub first_name: Option<String>,
    #[schema(value_type = Option<PersonName>)]
    pub last_name: Option<String>,
    #[schema(value_type = Option<EmailText>)]
    pub email: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordInput {
    #[schema(value_type = PasswordText)]
    pub old_password: Option<String>,
    #[schema(value_type = NewPasswordText)]
    pub new_password: Option<String>,
    /// Must equal `new_password`.
    #[schema(value_type = String, format = Password)]
    pub new_password2: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DeleteAccountInput {
    #[schema(value_type = PasswordText)]
    pub password: Option<String>,
}

pub(super) fn taken(err: WriteUserError) -> AppError {
    match err {
        WriteUserError::UsernameTaken => AppError::conflict(
            "username_taken",
            "A user with that username already exists.",
        ),
        WriteUserError::EmailTaken => {
            AppError::conflict("email_taken", "A user with that email already exists.")
        }
        WriteUserError::Stale => AppError::conflict(
            "concurrent_update",
            "The account changed while this request ran; try again.",
        ),
        WriteUserError::Store(e) => e.into(),
    }
}

/// Applies the given names and email to `user`, each validated (errors go to `check`).
pub(super) fn edit_profile(
    check: &mut Check,
    user: &mut User,
    first_name: Option<&str>,
    last_name: Option<&str>,
    email: Option<&str>,
) {
    if let Some(first) = check.text("first_name", first_name, NAME_MAX) {
        user.first_name = first;
    }
    if let Some(last) = check.text("last_name", last_name, NAME_MAX) {
        user.last_name = last;
    }
    if let Some(email) = email.and_then(|e| check.parse("email", Email::parse(e))) {
        user.email = email.to_string();
    }
}

fn invalid_credentials() -> AppError {
    AppError::unauthorized(
        "invalid_credentials",
        "No active account found with the given credentials.",
    )
}

impl Core {
    /// Validates and creates an account of role `user` (or `role`, for the CLI), with the
    /// default quota.
    pub async fn create_account(&self, input: RegisterInput, role: Role) -> AppResult<User> {
        self.create_account_with(input, role, self.config.default_quota_bytes)
            .await
    }

    /// Validates and creates an account with this role and quota (`None`: unlimited).
    pub(super) async fn create_account_with(
        &self,
        input: RegisterInput,
        role: Role,
        quota_bytes: Option<u64>,
    ) -> AppResult<User> {
        let mut check = Check::default();
        let username = check
            .required("username", &input.username)
            .and_then(|u| check.parse("username", Username::parse(u)));
        let email = check
            .required("email", &input.email)
            .and_then(|e| check.parse("email", Email::parse(e)));
        let first_name = check.text("first_name", input.first_name.as_deref(), NAME_MAX);
        let last_name = check.text("last_name", input.last_name.as_deref(), NAME_MAX);
        let password = match (input.password.as_deref(), input.password2.as_deref()) {
            (None | Some(""), _) => {
                check.fail("password", super::check::REQUIRED);
                None
            }
            (Some(p), p2) => {
                if p2 != Some(p) {
                    check.fail("password2", "Password fields didn't match.");
                }
                let ids = [
                    input.username.as_deref().unwrap_or_default(),
                    input.email.as_deref().unwrap_or_default(),
                ];
                check.parse("password", NewPassword::parse(p, &ids))
            }
        };
        check.finish()?;
        let (Some(username), Some(email), Some(password)) = (username, email, password) else {
            return Err(AppError::internal(anyhow::anyhow!(
                "validated input missing"
            )));
        };
        let at = now();
        let user = User {
            id: Uuid::new_v4().to_string(),
            username: username.to_string(),
            email: email.to_string(),
            first_name: first_name.unwrap_or_default(),
            last_name: last_name.unwrap_or_default(),
            role,
            is_active: true,
            password_hash: self.passwords.hash(password.expose()).await?,
            quota_bytes,
            used_bytes: 0,
            file_count: 0,
            created_at: at,
            updated_at: at,
        };
        self.store.create_user(&user).await.map_err(taken)?;
        tracing::info!(user_id = %user.id, username = %user.username, role = role.as_str(), "user created");
        Ok(user)
    }

    pub async fn login(&self, input: LoginInput, client: Option<IpAddr>) -> AppResult<LoginOutput> {
        let mut check = Check::default();
        let login = check.required("username", &input.username).map(str::trim);
        let password = check.required("password", &input.password);
        check.finish()?;
        let (Some(login), Some(password)) = (login, password) else {
            return Err(invalid_credentials());
        };
        let user = self.store.find_user_by_login(login).await?;
        let account = user.as_ref().map_or_else(
            || format!("login:{}", login.to_lowercase()),
            |u| u.id.clone(),
        );
        let counters = LoginCounters::new(&account, client);
        self.check_throttle(&counters).await?;
        self.claim_attempt(&counters).await?;

        let ok = self
            .passwords
            .verify(password, user.as_ref().map(|u| u.password_hash.as_str()))
            .await?;
        let user = match user {
            Some(user) if ok => user,
            _ => {
                self.record_failure(&counters).await?;
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
        self.reset_account(&counters).await?;
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
    async fn new_session(&self, user: &User, ttl: Duration) -> AppResult<(Session, RefreshToken)> {
        let at = now();
        let session_id = Uuid::new_v4().to_string();
        let refresh = RefreshToken::generate(&user.id, &session_id, 0);
        let session = Session {
            id: session_id,
            user_id: user.id.clone(),
            refresh_hash: refresh.hash(),
            previous_hash: None,
            generation: 0,
            created_at: at,
            expires_at: at + ttl,
        };
        self.store.create_session(&session).await?;
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

    pub async fn refresh(&self, input: RefreshInput) -> AppResult<TokenPair> {
        let mut check = Check::default();
        let raw = check.required("refresh", &input.refresh);
        check.finish()?;
        let (token, session, user) = self.session_of(raw.unwrap_or_default()).await?;
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
    pub async fn logout(&self, input: LogoutInput) -> AppResult<()> {
        let raw = input.refresh_token.or(input.refresh);
        let mut check = Check::default();
        let raw = check.required("refresh_token", &raw);
        check.finish()?;
        let (_, session, _) = self.session_of(raw.unwrap_or_default()).await?;
        self.store
            .delete_session(&session.user_id, &session.id)
            .await?;
        tracing::info!(user_id = %session.user_id, session_id = %session.id, "logout");
        Ok(())
    }

    pub async fn logout_all(&self, principal: &Principal) -> AppResult<()> {
        self.store.delete_sessions(&principal.user.id, None).await?;
        tracing::info!(user_id = %principal.user.id, "logout from every session");
        Ok(())
    }

    pub async fn update_profile(
        &self,
        principal: &Principal,
        input: ProfileUpdate,
    ) -> AppResult<User> {
        let mut check = Check::default();
        let before = &principal.user;
        let mut after = before.clone();
        edit_profile(
            &mut check,
            &mut after,
            input.first_name.as_deref(),
            input.last_name.as_deref(),
            input.email.as_deref(),
        );
        check.finish()?;
        after.updated_at = now();
        self.store
            .update_user(before, &after)
            .await
            .map_err(taken)?;
        Ok(after)
    }

    /// Verifies the caller's current password; a wrong one is a field error, not a 401, so a
    /// client does not take it for an expired token.
    async fn confirm_password(&self, user: &User, field: &str, password: &str) -> AppResult<()> {
        if self
            .passwords
            .verify(password, Some(&user.password_hash))
            .await?
        {
            Ok(())
        } else {
            Err(AppError::field(field, "Wrong password."))
        }
    }

    /// Changes the password and ends every other session.
    pub async fn change_password(
        &self,
        principal: &Principal,
        input: ChangePasswordInput,
    ) -> AppResult<()> {
        let user = &principal.user;
        let mut check = Check::default();
        let old = check.required("old_password", &input.old_password);
        let new = check.required("new_password", &input.new_password);
        let new2 = input.new_password2.as_deref();
        let new = new.and_then(|p| {
            if new2 != Some(p) {
                check.fail("new_password2", "Password fields didn't match.");
            }
            check.parse(
                "new_password",
                NewPassword::parse(p, &[&user.username, &user.email]),
            )
        });
        check.finish()?;
        let (Some(old), Some(new)) = (old, new) else {
            return Err(AppError::internal(anyhow::anyhow!(
                "validated input missing"
            )));
        };
        self.confirm_password(user, "old_password", old).await?;
        let mut after = user.clone();
        after.password_hash = self.passwords.hash(new.expose()).await?;
        after.updated_at = now();
        self.store.update_user(user, &after).await.map_err(taken)?;
        self.store
            .delete_sessions(&user.id, principal.session_id())
            .await?;
        tracing::info!(user_id = %user.id, "password changed; other sessions ended");
        Ok(())
    }

    /// Removes the caller's account, sessions, keys and files.
    pub async fn delete_account(
        &self,
        principal: &Principal,
        input: DeleteAccountInput,
    ) -> AppResult<()> {
        let mut check = Check::default();
        let password = check.required("password", &input.password);
        check.finish()?;
        let user = &principal.user;
        self.confirm_password(user, "password", password.unwrap_or_default())
            .await?;
        self.remove_user_data(user).await?;
        tracing::info!(user_id = %user.id, "account deleted");
        Ok(())
    }

    /// Deletes the user's files and archives, then the user with sessions, keys and usage.
    /// Files first: if that fails midway the account still exists and the call can be
    /// repeated; the metadata goes last, in one step.
    pub(super) async fn remove_user_data(&self, user: &User) -> AppResult<()> {
        self.delete_prefix(Some(&user.id), &format!("{}/", user.dir_name()))
            .await?;
        self.delete_prefix(None, &format!("{}/", archives_prefix(&user.id)))
            .await?;
        self.store.delete_user(user).await?;
        Ok(())
    }
}

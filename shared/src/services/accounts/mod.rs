//! Accounts: registration, profile, password and deletion here; the request bodies and what
//! they parse into in [`input`]; logins and sessions in [`sessions`].

mod input;
mod sessions;

pub use input::{
    ChangePasswordInput, DeleteAccountInput, Login, LoginInput, LogoutInput, NewAccount,
    PasswordChange, ProfileChanges, ProfileUpdate, RefreshInput, RegisterInput,
};
pub use sessions::{IssuedToken, LoginOutput, TokenPair, ISSUED_TOKEN_MAX_TTL_SECS};

use std::net::IpAddr;

use serde::Serialize;
use utoipa::ToSchema;

use super::throttle::Counters;
use super::{now, Core, Principal};
use crate::config::Registration;
use crate::domain::{Role, User, UserId};
use crate::error::{AppError, AppResult};
use crate::layout::{self, Home};
use crate::store::{Caps, WriteUserError};

/// The answer to a password change: what else ended with the old password.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordChanged {
    pub message: String,
    /// How many API keys were revoked (0 unless `revoke_api_keys` was asked for).
    pub api_keys_revoked: u64,
}

/// The longest first or last name, in characters.
pub(super) const NAME_MAX: usize = 150;

/// The answer to a user write the store refused.
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
        WriteUserError::LastSuperuser => AppError::conflict(
            "last_superuser",
            "This is the last active superuser: it cannot be demoted, disabled or deleted.",
        ),
        WriteUserError::Store(e) => e.into(),
    }
}

impl Core {
    /// Creates an account from raw input (the command line's `create-superuser`), with the
    /// default quota.
    pub async fn create_account(&self, input: RegisterInput, role: Role) -> AppResult<User> {
        self.register(input.parse()?, role).await
    }

    /// Creates an account of this role with the default quota and file limit.
    pub async fn register(&self, account: NewAccount, role: Role) -> AppResult<User> {
        self.create_account_with(account, role, self.default_caps())
            .await
    }

    /// Self-service registration (`POST /api/auth/register`): 403 `registration_closed` when
    /// only managers create accounts (`VERTEX_REGISTRATION=closed`), before the body is judged.
    pub async fn register_self(&self, input: RegisterInput) -> AppResult<User> {
        if self.config.limits.registration == Registration::Closed {
            return Err(AppError::forbidden(
                "registration_closed",
                "Registration is closed: ask an administrator for an account.",
            ));
        }
        self.register(input.parse()?, Role::User).await
    }

    /// What a new account may hold unless told otherwise.
    pub(super) fn default_caps(&self) -> Caps {
        Caps {
            quota_bytes: self.config.default_quota_bytes,
            file_limit: self.config.limits.default_file_limit,
        }
    }

    /// Creates an account with this role, quota and file limit (`None`: unlimited).
    pub(super) async fn create_account_with(
        &self,
        account: NewAccount,
        role: Role,
        caps: Caps,
    ) -> AppResult<User> {
        let at = now();
        let user = User {
            id: UserId::generate(),
            username: account.username,
            email: account.email,
            first_name: account.first_name,
            last_name: account.last_name,
            role,
            is_active: true,
            password_hash: self.passwords.hash(account.password.expose()).await?,
            quota_bytes: caps.quota_bytes,
            file_limit: caps.file_limit,
            used_bytes: 0,
            file_count: 0,
            reserved_bytes: 0,
            reserved_files: 0,
            created_at: at,
            updated_at: at,
        };
        self.store.create_user(&user).await.map_err(taken)?;
        tracing::info!(user_id = %user.id, username = %user.username, role = role.as_str(), "user created");
        Ok(user)
    }

    /// Names may be changed with an API key; the email (where password resets would go) not.
    pub async fn update_profile(
        &self,
        principal: &Principal,
        input: ProfileUpdate,
    ) -> AppResult<User> {
        if input.email.is_some() {
            principal.require_session("change the account's email")?;
        }
        let changes = input.parse()?;
        let before = &principal.user;
        let mut after = before.clone();
        changes.apply(&mut after);
        after.updated_at = now();
        self.store
            .update_user(before, &after)
            .await
            .map_err(taken)?;
        Ok(after)
    }

    /// Verifies the caller's current password; a wrong one is a field error, not a 401, so a
    /// client does not take it for an expired token. Throttled as logins are (per account and
    /// client address, and per address; counted before the hash): a stolen session must not
    /// become a password oracle.
    async fn confirm_password(
        &self,
        user: &User,
        client: Option<IpAddr>,
        field: &str,
        password: &str,
    ) -> AppResult<()> {
        let counters = Counters::account(&user.id, client);
        let check = async {
            let ok = self.passwords.verify(password, Some(&user.password_hash));
            Ok(((), ok.await?))
        };
        match self.throttled(&counters, check).await? {
            ((), true) => Ok(()),
            ((), false) => Err(AppError::field(field, "Wrong password.")),
        }
    }

    /// Changes the password and ends every other session.
    pub async fn change_password(
        &self,
        principal: &Principal,
        input: AppResult<ChangePasswordInput>,
        client: Option<IpAddr>,
    ) -> AppResult<PasswordChanged> {
        principal.require_session("change the password")?;
        let user = &principal.user;
        let change = input?.parse(user)?;
        self.confirm_password(user, client, "old_password", &change.old_password)
            .await?;
        let mut after = user.clone();
        after.password_hash = self.passwords.hash(change.new_password.expose()).await?;
        after.updated_at = now();
        self.store.update_user(user, &after).await.map_err(taken)?;
        self.store
            .delete_sessions(&user.id, principal.session_id())
            .await?;
        let api_keys_revoked = match change.revoke_api_keys {
            true => self.store.delete_api_keys(&user.id).await?,
            false => 0,
        };
        tracing::info!(user_id = %user.id, api_keys_revoked, "password changed; other sessions ended");
        let message = match api_keys_revoked {
            0 => "Password changed successfully".to_owned(),
            n => format!("Password changed successfully; {n} API key(s) revoked"),
        };
        Ok(PasswordChanged {
            message,
            api_keys_revoked,
        })
    }

    /// Removes the caller's account, sessions, keys and files. A superuser's account is
    /// disabled first, in the step that keeps the last active superuser (409 for that one).
    /// `input` is the body as read (or why it could not be): a key is refused before it.
    pub async fn delete_account(
        &self,
        principal: &Principal,
        input: AppResult<DeleteAccountInput>,
        client: Option<IpAddr>,
    ) -> AppResult<()> {
        principal.require_session("delete the account")?;
        let password = input?.password()?;
        let mut user = principal.user.clone();
        self.confirm_password(&user, client, "password", &password)
            .await?;
        if user.role == Role::Superuser {
            user = self.disable(&user).await?;
        }
        self.remove_user_data(&user).await?;
        tracing::info!(user_id = %user.id, "account deleted");
        Ok(())
    }

    /// Deletes the user's files and archives (their own and their share links' visitors'),
    /// then the user with sessions, keys, shares and usage. Files first: if that fails midway
    /// the account still exists and the call can be repeated; the metadata goes last, in one
    /// step.
    pub(super) async fn remove_user_data(&self, user: &User) -> AppResult<()> {
        let home = Home::of_user(user);
        self.delete_home(&user.id, home.prefix()).await?;
        self.delete_prefix(None, &layout::archives_of(&user.id))
            .await?;
        self.delete_all_share_archives(&user.id).await?;
        self.store.delete_user(user).await?;
        Ok(())
    }
}

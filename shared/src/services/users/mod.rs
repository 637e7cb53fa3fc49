//! Users administration (managers and superusers): list, create, read, change, delete, reset a
//! password. Who may do what is decided by [`rules`]; the last-superuser rule, here.
//!
//! Every change takes effect on the next request of the user concerned: requests re-read the
//! user (role, active flag) from the store, and ending sessions revokes their access tokens.

mod input;
mod keys;
pub mod rules;
mod shares;

pub use input::{NewUserInput, ResetPasswordInput, UserUpdate};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use self::rules::{require, Act};
use super::accounts::taken;
use super::{now, page_limit, Core, Principal};
use crate::domain::{NewPassword, StorageUsage, User, UserView};
use crate::error::{AppError, AppResult};
use crate::store::{Caps, UserKey};

const SEARCH_MAX: usize = 150;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Case-insensitive text to find in username, email, first or last name.
    #[param(max_length = 150)]
    pub search: Option<String>,
    /// Page size, 1–1000 (default 100; larger values are capped at 1000).
    #[param(minimum = 1)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page (with the same `search`).
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    pub items: Vec<UserView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The user object with storage usage.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserDetail {
    #[serde(flatten)]
    pub user: UserView,
    pub storage: StorageUsage,
}

impl UserDetail {
    pub fn of(user: &User) -> Self {
        Self {
            user: user.view(),
            storage: user.usage(),
        }
    }
}

/// The answer to a password reset.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordReset {
    pub message: String,
    /// How many API keys of the user were revoked with it.
    pub api_keys_revoked: u64,
}

/// Cursors carry the search they belong to, so a page cannot be continued with another one.
#[derive(Serialize, Deserialize)]
struct Cursor {
    q: String,
    #[serde(flatten)]
    after: UserKey,
}

fn invalid_cursor() -> AppError {
    AppError::bad_request("invalid_cursor", "The cursor is not valid here.")
}

fn no_such_user() -> AppError {
    AppError::not_found("not_found", "No such user.")
}

impl Core {
    /// The user `id`, for an administrator allowed to see users.
    async fn administered(&self, me: &Principal, id: &str) -> AppResult<User> {
        require(me.user.role, Act::View)?;
        self.store.get_user(id).await?.ok_or_else(no_such_user)
    }

    /// `user` disabled (if active), in the write that keeps the last active superuser (409
    /// `last_superuser`): deletions start with it, so a failure midway leaves an account no one
    /// can use, and a superuser leaves the count before their data goes.
    pub(super) async fn disable(&self, user: &User) -> AppResult<User> {
        if !user.is_active {
            return Ok(user.clone());
        }
        let mut disabled = user.clone();
        disabled.is_active = false;
        disabled.updated_at = now();
        self.store
            .update_user(user, &disabled)
            .await
            .map_err(taken)?;
        Ok(disabled)
    }

    pub async fn list_users(&self, me: &Principal, query: UserQuery) -> AppResult<UserPage> {
        require(me.user.role, Act::View)?;
        let limit = page_limit(query.limit)?;
        let search = query.search.unwrap_or_default().trim().to_lowercase();
        if search.chars().count() > SEARCH_MAX {
            return Err(AppError::field(
                "search",
                format!("Ensure this field has at most {SEARCH_MAX} characters."),
            ));
        }
        let after = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(raw) => {
                let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid_cursor())?;
                let cursor: Cursor =
                    serde_json::from_slice(&bytes).map_err(|_| invalid_cursor())?;
                if cursor.q != search {
                    return Err(invalid_cursor());
                }
                Some(cursor.after)
            }
        };
        let filter = (!search.is_empty()).then_some(search.as_str());
        // One more than the page: whether it exists says if there is a next page.
        let mut users = self
            .store
            .list_users(filter, after.as_ref(), limit + 1)
            .await?;
        let more = users.len() > limit;
        users.truncate(limit);
        let next_cursor = match (more, users.last()) {
            (true, Some(last)) => {
                let cursor = Cursor {
                    q: search.clone(),
                    after: UserKey::of(last),
                };
                Some(
                    URL_SAFE_NO_PAD
                        .encode(serde_json::to_vec(&cursor).map_err(AppError::internal)?),
                )
            }
            _ => None,
        };
        Ok(UserPage {
            items: users.iter().map(User::view).collect(),
            next_cursor,
        })
    }

    /// Who may create a user depends on the role asked for, so the body is parsed in two steps:
    /// the role, the permission, then the other fields (refused callers learn nothing more).
    /// An API key is refused before the body is read (`input`: the body, or why it is not).
    pub async fn admin_create_user(
        &self,
        me: &Principal,
        input: AppResult<NewUserInput>,
    ) -> AppResult<User> {
        me.require_session("create users")?;
        let input = input?;
        let role = input.role()?;
        require(me.user.role, Act::Create(role))?;
        let defaults = self.default_caps();
        let caps = Caps {
            quota_bytes: input.quota_bytes.unwrap_or(defaults.quota_bytes),
            file_limit: input.file_limit.unwrap_or(defaults.file_limit),
        };
        let user = self
            .create_account_with(input.account()?, role, caps)
            .await?;
        tracing::info!(by = %me.user.id, user_id = %user.id, "user created by an administrator");
        Ok(user)
    }

    pub async fn admin_get_user(&self, me: &Principal, id: &str) -> AppResult<UserDetail> {
        let user = self.administered(me, id).await?;
        self.user_detail(user).await
    }

    /// The user with storage usage as it stands: charges that expired are given back first
    /// (lazily, here and before a refusal; nothing sweeps them in the background).
    pub async fn user_detail(&self, user: User) -> AppResult<UserDetail> {
        let user = self.without_expired_charges(user).await?;
        Ok(UserDetail::of(&user))
    }

    pub async fn admin_update_user(
        &self,
        me: &Principal,
        id: &str,
        input: AppResult<UserUpdate>,
    ) -> AppResult<User> {
        me.require_session("change users")?;
        let before = self.administered(me, id).await?;
        let changes = input?.parse()?;
        require(
            me.user.role,
            Act::Change {
                target: before.role,
                grant: changes.role,
            },
        )?;
        let mut after = before.clone();
        changes.profile.apply(&mut after);
        if let Some(role) = changes.role {
            after.role = role;
        }
        if let Some(active) = changes.is_active {
            after.is_active = active;
        }
        if let Some(quota) = changes.quota_bytes {
            after.quota_bytes = quota;
        }
        if let Some(limit) = changes.file_limit {
            after.file_limit = limit;
        }
        // The store refuses to demote or disable the last active superuser, atomically.
        after.updated_at = now();
        self.store
            .update_user(&before, &after)
            .await
            .map_err(taken)?;
        if before.is_active && !after.is_active {
            // A disabled account's tokens are refused anyway; ending its sessions means that
            // enabling it again does not bring them back.
            self.store.delete_sessions(&after.id, None).await?;
        }
        if !after.is_active {
            // Likewise for share links: enabling the account again does not revive them. On
            // every write that leaves it disabled, so repeating one finishes a failed end.
            self.end_shares_of(&after.id).await?;
        }
        tracing::info!(by = %me.user.id, user_id = %after.id, role = after.role.as_str(),
            active = after.is_active, "user changed by an administrator");
        Ok(after)
    }

    /// Removes the user, their sessions, keys, usage, archives and every stored object.
    ///
    /// The account is disabled first, then the files go page by page, then the metadata in one
    /// step. If storage fails midway the answer says so (503) and the account stays, disabled:
    /// repeating the request resumes where it stopped.
    pub async fn admin_delete_user(&self, me: &Principal, id: &str) -> AppResult<()> {
        me.require_session("delete users")?;
        let user = self.administered(me, id).await?;
        require(me.user.role, Act::Manage(user.role))?;
        let user = self.disable(&user).await?;
        if let Err(err) = self.remove_user_data(&user).await {
            return Err(AppError::Incomplete {
                code: "deletion_incomplete",
                message: "Storage failed while the user's files were deleted; the account is \
                          disabled. Repeat the request to finish."
                    .into(),
                cause: anyhow::anyhow!("deleting user {}: {err}", user.id),
            });
        }
        tracing::info!(by = %me.user.id, user_id = %user.id, "user deleted by an administrator");
        Ok(())
    }

    /// A new password for the user, after which nothing issued under the old one works: every
    /// session ends and every API key is revoked (the reset usually follows a compromise).
    pub async fn admin_reset_password(
        &self,
        me: &Principal,
        id: &str,
        input: AppResult<ResetPasswordInput>,
    ) -> AppResult<PasswordReset> {
        me.require_session("reset passwords")?;
        let user = self.administered(me, id).await?;
        require(me.user.role, Act::Manage(user.role))?;
        let new_password = input?.new_password()?;
        let password = NewPassword::parse(&new_password, &[&user.username, &user.email])
            .map_err(|e| AppError::field("new_password", e.to_string()))?;
        let mut after = user.clone();
        after.password_hash = self.passwords.hash(password.expose()).await?;
        after.updated_at = now();
        self.store.update_user(&user, &after).await.map_err(taken)?;
        self.store.delete_sessions(&user.id, None).await?;
        let api_keys_revoked = self.store.delete_api_keys(&user.id).await?;
        tracing::info!(by = %me.user.id, user_id = %user.id, api_keys_revoked,
            "password reset by an administrator; sessions ended, API keys revoked");
        Ok(PasswordReset {
            message: "Password reset; the user's sessions have ended and API keys are revoked"
                .into(),
            api_keys_revoked,
        })
    }
}

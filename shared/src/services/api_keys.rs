//! API keys: long-lived credentials for scripts, used as bearer tokens like access tokens.

use chrono::Duration;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::check::Check;
use super::schema::Label;
use super::{now, Core, Principal};
use crate::domain::rfc3339;
use crate::error::{AppError, AppResult};
use crate::security::ApiKeyToken;
use crate::store::ApiKey;

const NAME_MAX: usize = 100;
const MAX_DAYS: i64 = 3650;
/// Keeps listings and the per-user partition small.
const MAX_KEYS_PER_USER: usize = 100;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateKeyInput {
    #[schema(value_type = Label)]
    pub name: Option<String>,
    /// 1–3650; omitted: the key does not expire.
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<i64>,
}

/// A key as listed: never the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    pub created_at: String,
    pub expires_at: Option<String>,
}

/// A new key: `key` is shown this once and never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyCreated {
    #[serde(flatten)]
    pub view: ApiKeyView,
    pub key: String,
}

impl From<&ApiKey> for ApiKeyView {
    fn from(k: &ApiKey) -> Self {
        Self {
            id: k.id.clone(),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            created_at: rfc3339(k.created_at),
            expires_at: k.expires_at.map(rfc3339),
        }
    }
}

/// A key to create, parsed.
pub struct NewKey {
    pub name: String,
    /// `None`: the key does not expire.
    pub expires_in_days: Option<i64>,
}

impl CreateKeyInput {
    pub fn parse(self) -> AppResult<NewKey> {
        let mut check = Check::default();
        let name = check
            .required("name", &self.name)
            .and_then(|n| check.text("name", Some(n), NAME_MAX));
        if let Some(days) = self.expires_in_days {
            if !(1..=MAX_DAYS).contains(&days) {
                check.fail(
                    "expires_in_days",
                    format!("Must be between 1 and {MAX_DAYS}."),
                );
            }
        }
        let key = name.map(|name| NewKey {
            name,
            expires_in_days: self.expires_in_days,
        });
        check.done(key)
    }
}

impl Core {
    /// Who may create keys depends on the credential, so that is checked before the body
    /// (`input`: the body as read, or why it could not be). A leaked key cannot mint more.
    pub async fn create_api_key(
        &self,
        principal: &Principal,
        input: AppResult<CreateKeyInput>,
    ) -> AppResult<ApiKeyCreated> {
        principal.require_session("create API keys")?;
        let new = input?.parse()?;
        let user_id = &principal.user.id;
        if self.store.list_api_keys(user_id).await?.len() >= MAX_KEYS_PER_USER {
            return Err(AppError::conflict(
                "too_many_keys",
                format!("A user can have at most {MAX_KEYS_PER_USER} API keys."),
            ));
        }
        let token = ApiKeyToken::generate(user_id);
        let at = now();
        let key = ApiKey {
            id: token.key_id.clone(),
            user_id: user_id.to_string(),
            name: new.name,
            prefix: token.display_prefix(),
            key_hash: token.hash(),
            created_at: at,
            expires_at: new.expires_in_days.map(|d| at + Duration::days(d)),
        };
        self.store.create_api_key(&key).await?;
        tracing::info!(user_id = %user_id, key_id = %key.id, "API key created");
        Ok(ApiKeyCreated {
            view: ApiKeyView::from(&key),
            key: token.expose(),
        })
    }

    pub async fn list_api_keys(&self, principal: &Principal) -> AppResult<Vec<ApiKeyView>> {
        self.api_keys_of(&principal.user.id).await
    }

    pub async fn delete_api_key(&self, principal: &Principal, key_id: &str) -> AppResult<()> {
        principal.require_session("revoke API keys")?;
        self.revoke_api_key(&principal.user.id, key_id).await?;
        tracing::info!(user_id = %principal.user.id, key_id = %key_id, "API key revoked");
        Ok(())
    }

    /// The user's keys as listed (never the secrets).
    pub(super) async fn api_keys_of(&self, user_id: &str) -> AppResult<Vec<ApiKeyView>> {
        let keys = self.store.list_api_keys(user_id).await?;
        Ok(keys.iter().map(ApiKeyView::from).collect())
    }

    /// Deletes the user's key `key_id`; 404 when the user has no such key (another user's
    /// key id included: its existence is not confirmed).
    pub(super) async fn revoke_api_key(&self, user_id: &str, key_id: &str) -> AppResult<()> {
        let valid_id = key_id.len() == 32 && key_id.bytes().all(|b| b.is_ascii_hexdigit());
        if !valid_id
            || !self
                .store
                .delete_api_key(user_id, &key_id.to_ascii_lowercase())
                .await?
        {
            return Err(AppError::not_found("not_found", "No such API key."));
        }
        Ok(())
    }
}

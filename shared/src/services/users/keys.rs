//! Another user's API keys, for administrators: seeing them, and revoking one after a leak.
//! Who may is the role table's `Manage` (managers: users of role `user`; superusers: anyone).

use super::rules::{require, Act};
use crate::error::AppResult;
use crate::services::{ApiKeyView, Core, Principal};

impl Core {
    /// The keys of user `id` as the user sees them (never the secrets).
    pub async fn admin_list_keys(&self, me: &Principal, id: &str) -> AppResult<Vec<ApiKeyView>> {
        let user = self.administered(me, id).await?;
        require(me.user.role, Act::Manage(user.role))?;
        self.api_keys_of(&user.id).await
    }

    /// Revokes the key `key_id` of user `id`; 404 for a key of anyone else.
    pub async fn admin_delete_key(&self, me: &Principal, id: &str, key_id: &str) -> AppResult<()> {
        me.require_session("revoke API keys")?;
        let user = self.administered(me, id).await?;
        require(me.user.role, Act::Manage(user.role))?;
        self.revoke_api_key(&user.id, key_id).await?;
        tracing::info!(by = %me.user.id, user_id = %user.id, key_id = %key_id,
            "API key revoked by an administrator");
        Ok(())
    }
}

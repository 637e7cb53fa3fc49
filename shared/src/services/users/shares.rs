//! Administrators' view of a user's share links: list and revoke (through the role table).
//! Who may is the role table's `Manage`, as for API keys (managers: users of role `user`;
//! superusers: anyone).

use super::rules::{require, Act};
use crate::error::AppResult;
use crate::services::shares::log_id;
use crate::services::{Core, Principal, SharePage, ShareQuery};

impl Core {
    /// The links of user `user_id`, as the user sees them.
    pub async fn admin_list_shares(
        &self,
        me: &Principal,
        user_id: &str,
        query: ShareQuery,
        origin: &str,
    ) -> AppResult<SharePage> {
        let user = self.administered(me, user_id).await?;
        require(me.user.role, Act::Manage(user.role))?;
        self.shares_of(&user.id, query, origin).await
    }

    /// Revokes the link `share_id` of user `user_id` (after a leak, say); 404 for a link of
    /// anyone else.
    pub async fn admin_delete_share(
        &self,
        me: &Principal,
        user_id: &str,
        share_id: &str,
    ) -> AppResult<()> {
        me.require_session("revoke share links")?;
        let user = self.administered(me, user_id).await?;
        require(me.user.role, Act::Manage(user.role))?;
        self.remove_share(&user.id, share_id).await?;
        tracing::info!(by = %me.user.id, user_id = %user.id, share = %log_id(share_id),
            "share link revoked by an administrator");
        Ok(())
    }
}

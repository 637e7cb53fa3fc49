//! Ends an owner's shares when the shared item is deleted or moved, or the owner is disabled.
//!
//! A share names a path, not an object: once the path is gone (or names something else after
//! a move), the link must not lead to whatever comes to live there. So the shares end first,
//! before the delete or move runs: if ending them fails, the operation stops with nothing
//! moved and can be repeated; a share is never left pointing at a path that moved.

use crate::domain::{layout, UserPath};
use crate::error::AppResult;
use crate::services::Core;

/// Shares read per page when deleting their archives.
const ARCHIVE_PAGE: usize = 1000;

impl Core {
    /// Ends the owner's shares of `path` and below, before the delete or move of `path` runs
    /// (a failure then stops the operation: nothing moved, repeatable).
    pub(crate) async fn end_shares_under(&self, owner_id: &str, path: &UserPath) -> AppResult<u64> {
        let ended = self
            .store
            .delete_shares_under(owner_id, path.as_str())
            .await?;
        if ended > 0 {
            tracing::info!(user_id = %owner_id, ended, "share links ended with their path");
        }
        Ok(ended)
    }

    /// Ends every share of a disabled owner, with the archives its visitors made.
    pub(crate) async fn end_shares_of(&self, owner_id: &str) -> AppResult<u64> {
        self.delete_all_share_archives(owner_id).await?;
        let ended = self.store.delete_shares_under(owner_id, "").await?;
        if ended > 0 {
            tracing::info!(user_id = %owner_id, ended, "share links ended: owner disabled");
        }
        Ok(ended)
    }

    /// Deletes the archives visitors of the share made: copies of the owner's files that must
    /// not outlive the link (nor the account) until the bucket's expiry. Called before the
    /// share goes, so a failure leaves it in place and the call can be repeated.
    pub(crate) async fn delete_share_archives(&self, share_id: &str) -> AppResult<()> {
        self.delete_prefix(None, &layout::share_archives_of(share_id))
            .await
    }

    /// Deletes the visitor archives of every share of the owner (before the shares or the
    /// owner go).
    pub(crate) async fn delete_all_share_archives(&self, owner_id: &str) -> AppResult<()> {
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .list_shares(owner_id, after.as_deref(), ARCHIVE_PAGE)
                .await?;
            for share in &page {
                self.delete_share_archives(&share.id).await?;
            }
            match page.last() {
                Some(last) if page.len() == ARCHIVE_PAGE => after = Some(last.id.clone()),
                _ => return Ok(()),
            }
        }
    }
}

//! The usage counters behind quotas: bytes and files per user, changed by atomic additions in
//! the metadata store (never read-modify-write), so concurrent uploads cannot both slip under
//! the quota.

use super::super::Core;
use crate::domain::User;
use crate::error::{AppError, AppResult};
use crate::objects::ObjectInfo;

/// Folder markers are not files and hold no bytes.
pub(crate) fn is_file(info: &ObjectInfo) -> bool {
    !info.key.ends_with('/')
}

/// Bytes and files of these objects.
pub(crate) fn tally(objects: &[ObjectInfo]) -> (u64, u64) {
    objects
        .iter()
        .filter(|o| is_file(o))
        .fold((0, 0), |(b, f), o| (b + o.size, f + 1))
}

pub(crate) fn quota_exceeded(user: &User) -> AppError {
    let quota = user.quota_bytes.unwrap_or_default();
    AppError::too_large(
        "quota_exceeded",
        format!(
            "This would exceed your storage quota ({quota} bytes, {} used).",
            user.used_bytes
        ),
    )
}

impl Core {
    /// Bytes still free under the user's quota (`None`: unlimited), as of this request.
    pub(crate) fn room(&self, user: &User) -> Option<u64> {
        user.quota_bytes.map(|q| q.saturating_sub(user.used_bytes))
    }

    /// Counts `bytes` and `files` more (either may be negative) against the user's quota:
    /// 413 `quota_exceeded` and no change if growth would pass it.
    pub(crate) async fn charge(&self, user: &User, bytes: i64, files: i64) -> AppResult<()> {
        if bytes == 0 && files == 0 {
            return Ok(());
        }
        if self
            .store
            .add_usage(&user.id, bytes, files, user.quota_bytes)
            .await?
        {
            Ok(())
        } else {
            Err(quota_exceeded(user))
        }
    }

    /// Takes `bytes` and `files` off the owner's usage: the one way usage is given back.
    async fn give_back(&self, owner: &str, bytes: i64, files: i64) -> AppResult<()> {
        if bytes == 0 && files == 0 {
            return Ok(());
        }
        self.store.add_usage(owner, -bytes, -files, None).await?;
        Ok(())
    }

    /// Gives back what [`Core::charge`] counted for work that then failed. The request already
    /// fails with that cause, so a failure here is logged (the counters stay too high), not
    /// returned.
    pub(crate) async fn refund(&self, user_id: &str, bytes: i64, files: i64) {
        if let Err(e) = self.give_back(user_id, bytes, files).await {
            tracing::warn!(user_id, bytes, files, error = %e, "usage not given back");
        }
    }

    /// Gives back what these (deleted) objects held.
    pub(crate) async fn release(&self, owner: &str, gone: &[ObjectInfo]) -> AppResult<()> {
        let (bytes, files) = tally(gone);
        self.give_back(owner, bytes as i64, files as i64).await
    }
}

//! The usage counters behind quotas: bytes and files per user, changed by atomic additions in
//! the metadata store (never read-modify-write), so concurrent uploads cannot both slip under
//! the quota or the file limit.
//!
//! Room that work in progress will need is held by a [`Charge`] (a direct upload's declared
//! size and parts): taken when the work starts, settled into usage when it completes, dropped
//! when it is abandoned, and given back by a lazy sweep once it expires (on a refusal, and before
//! usage is shown), since nothing runs when S3's lifecycle rule aborts a forgotten upload.

use chrono::{DateTime, Utc};

use super::super::{now, Core};
use crate::domain::User;
use crate::error::{AppError, AppResult};
use crate::objects::ObjectInfo;
use crate::store::{Caps, Charge};

/// Bytes and stored objects of these objects. A folder marker is an object like a file (it
/// holds no bytes but counts against the file limit), so empty folders are not free.
pub(crate) fn tally(objects: &[ObjectInfo]) -> (u64, u64) {
    objects.iter().fold((0, 0), |(b, f), o| (b + o.size, f + 1))
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

pub(crate) fn file_limit_exceeded(user: &User) -> AppError {
    let limit = user.file_limit.unwrap_or_default();
    AppError::too_large(
        "file_limit_exceeded",
        format!(
            "This would exceed the number of files you may keep ({limit}, {} kept).",
            user.file_count
        ),
    )
}

/// Why growth by `files` was refused: the file limit if that alone is passed, else the quota.
fn over_caps(user: &User, files: i64) -> AppError {
    let over_limit = user
        .file_limit
        .is_some_and(|limit| files > 0 && user.file_count.saturating_add(files as u64) > limit);
    if over_limit {
        file_limit_exceeded(user)
    } else {
        quota_exceeded(user)
    }
}

impl Core {
    /// Bytes still free under the user's quota (`None`: unlimited), as of this request, not
    /// counting reservations: some may have expired unswept, so this bounds what a request may
    /// send, and the charge itself (which sweeps them) decides.
    pub(crate) fn room(&self, user: &User) -> Option<u64> {
        let stored = user.used_bytes.saturating_sub(user.reserved_bytes);
        user.quota_bytes.map(|q| q.saturating_sub(stored))
    }

    /// Counts `bytes` and `files` more (either may be negative) against the user's quota and
    /// file limit: 413 `quota_exceeded` or `file_limit_exceeded` and no change if growth would
    /// pass one.
    pub(crate) async fn charge(&self, user: &User, bytes: i64, files: i64) -> AppResult<()> {
        if bytes == 0 && files == 0 {
            return Ok(());
        }
        let caps = Caps::of(user);
        let add = || self.store.add_usage_within(&user.id, bytes, files, caps);
        if add().await? {
            return Ok(());
        }
        // Expired charges may still hold the room: give them back, then ask once more.
        if self.store.sweep_charges(&user.id, now()).await? > 0 && add().await? {
            return Ok(());
        }
        Err(self.refusal(user, files).await)
    }

    /// Holds `bytes` and `files` of the user's room until `expires_at`, atomically against
    /// the caps (413 as [`Core::charge`]); the charge's id, to settle or drop it.
    pub(crate) async fn reserve(
        &self,
        user: &User,
        bytes: u64,
        files: u64,
        expires_at: DateTime<Utc>,
    ) -> AppResult<String> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        self.reserve_as(user, id, bytes, files, expires_at).await
    }

    /// [`Core::reserve`] under a chosen charge id (one its owner can name again).
    pub(crate) async fn reserve_as(
        &self,
        user: &User,
        id: String,
        bytes: u64,
        files: u64,
        expires_at: DateTime<Utc>,
    ) -> AppResult<String> {
        let charge = Charge {
            id,
            user_id: user.id.to_string(),
            bytes,
            files,
            expires_at,
        };
        let caps = Caps::of(user);
        if self.store.take_charge(&charge, caps).await? {
            return Ok(charge.id);
        }
        if self.store.sweep_charges(&user.id, now()).await? > 0
            && self.store.take_charge(&charge, caps).await?
        {
            return Ok(charge.id);
        }
        Err(self.refusal(user, files as i64).await)
    }

    /// Ends a charge and counts what its work stored (`bytes`, `files`) in its place; if the
    /// charge is gone (ended by a concurrent request, or expired and swept), charges the usage
    /// afresh, against the caps. True when it was this call that ended the charge.
    pub(crate) async fn settle(
        &self,
        user: &User,
        charge_id: &str,
        bytes: i64,
        files: i64,
    ) -> AppResult<bool> {
        if self
            .store
            .settle_charge(&user.id, charge_id, bytes, files)
            .await?
        {
            return Ok(true);
        }
        self.charge(user, bytes, files).await?;
        Ok(false)
    }

    /// The user as stored once expired charges are given back (the same user if none).
    pub(crate) async fn without_expired_charges(&self, user: User) -> AppResult<User> {
        if user.reserved_bytes == 0 && user.reserved_files == 0 {
            return Ok(user);
        }
        if self.store.sweep_charges(&user.id, now()).await? == 0 {
            return Ok(user);
        }
        Ok(self.store.get_user(&user.id).await?.unwrap_or(user))
    }

    /// The answer to a refused growth, from the counters as they are now.
    pub(super) async fn refusal(&self, user: &User, files: i64) -> AppError {
        match self.store.get_user(&user.id).await {
            Ok(Some(now)) => over_caps(&now, files),
            _ => over_caps(user, files),
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

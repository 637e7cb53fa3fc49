//! The owner's share links: create, list, read, change, delete. API keys may do all of it (a
//! script sharing its own uploads); visitors never reach these routes.

use chrono::{DateTime, Duration, Utc};

use super::input::{NewShare, ShareChanges};
use super::view::{shares_page, ShareCursor};
use super::{
    effective_expiry, latest_expiry, new_share_id, plausible_id, share_not_found, NewShareInput,
    SharePage, ShareQuery, ShareUpdate, ShareView,
};
use crate::domain::{NewPassword, UserPath};
use crate::error::{AppError, AppResult};
use crate::services::files::parse_path;
use crate::services::{now, Core, PathQuery, Principal};
use crate::store::{Share, ShareKind};

/// Shares read per page when sweeping an owner's dead ones.
const SWEEP_PAGE: usize = 1000;

impl Core {
    /// A new link to `input.path` (201). At the limit of shares per user the owner's dead ones
    /// (expired, used up) are removed first; 409 `share_limit_reached` when that frees nothing.
    pub async fn create_share(
        &self,
        me: &Principal,
        input: NewShareInput,
        origin: &str,
    ) -> AppResult<ShareView> {
        let new = input.parse(&self.config.shares)?;
        let path = self.shareable(me, &new).await?;
        if path.1 {
            // A shared folder must not vanish with its last file (see `pin_folder`).
            self.pin_folder(&me.user, &path.0).await?;
        }
        let share = self.new_share(&me.user.id, path, &new).await?;
        let limit = self.config.shares.max_per_user;
        if !self.store.create_share(&share, limit).await? {
            self.sweep_dead_shares(&me.user.id).await?;
            if !self.store.create_share(&share, limit).await? {
                return Err(AppError::conflict(
                    "share_limit_reached",
                    format!("A user can have at most {limit} share links: delete some first."),
                ));
            }
        }
        tracing::info!(user_id = %me.user.id, share = %log_id(&share.id), kind = ?share.kind,
            "share link created");
        Ok(ShareView::of(&share, &self.config.shares, origin, now()))
    }

    /// The caller's links, a page at a time, in id order.
    pub async fn list_shares(
        &self,
        me: &Principal,
        query: ShareQuery,
        origin: &str,
    ) -> AppResult<SharePage> {
        self.shares_of(&me.user.id, query, origin).await
    }

    /// One of the caller's links; 404 `share_not_found` for anyone else's.
    pub async fn get_share(&self, me: &Principal, id: &str, origin: &str) -> AppResult<ShareView> {
        let share = self.own_share(me, id).await?;
        Ok(ShareView::of(&share, &self.config.shares, origin, now()))
    }

    /// Changes a link's password, expiry, use limit or note. A new (or removed) password ends
    /// every token issued for the old one; uses counted so far stay.
    pub async fn update_share(
        &self,
        me: &Principal,
        id: &str,
        input: ShareUpdate,
        origin: &str,
    ) -> AppResult<ShareView> {
        let changes = input.parse(&self.config.shares)?;
        // Hashed once: a second try applies the same change.
        let password = match &changes.password {
            Some(p) => Some(self.hash_share_password(p.as_ref()).await?),
            None => None,
        };
        let at = now();
        let share = self
            .write_changes(me, id, &changes, password.as_ref(), at)
            .await?;
        tracing::info!(user_id = %me.user.id, share = %log_id(&share.id), "share link changed");
        Ok(ShareView::of(&share, &self.config.shares, origin, at))
    }

    /// Deletes a link: its visitors get 404 from their next request on.
    pub async fn delete_share(&self, me: &Principal, id: &str) -> AppResult<()> {
        self.remove_share(&me.user.id, id).await?;
        tracing::info!(user_id = %me.user.id, share = %log_id(id), "share link deleted");
        Ok(())
    }

    /// A page of `user_id`'s links (the caller's own, or an administered user's).
    pub(crate) async fn shares_of(
        &self,
        user_id: &str,
        query: ShareQuery,
        origin: &str,
    ) -> AppResult<SharePage> {
        let page = ShareCursor::parse(&query)?;
        let shares = self
            .store
            .list_shares(user_id, page.after.as_deref(), page.limit + 1)
            .await?;
        Ok(shares_page(
            shares,
            page.limit,
            &self.config.shares,
            origin,
            now(),
        ))
    }

    /// Deletes `user_id`'s link `id` with its visitors' archives; 404 when they have none of
    /// that id (checked first: the archives of someone else's link are not theirs to delete).
    pub(crate) async fn remove_share(&self, user_id: &str, id: &str) -> AppResult<()> {
        if !plausible_id(id) || self.store.get_share(user_id, id).await?.is_none() {
            return Err(share_not_found());
        }
        self.delete_share_archives(id).await?;
        if !self.store.delete_share(user_id, id).await? {
            return Err(share_not_found());
        }
        Ok(())
    }

    async fn own_share(&self, me: &Principal, id: &str) -> AppResult<Share> {
        if !plausible_id(id) {
            return Err(share_not_found());
        }
        self.store
            .get_share(&me.user.id, id)
            .await?
            .ok_or_else(share_not_found)
    }

    /// The path to share, checked against the home: inside it, existing, a folder for uploads.
    async fn shareable(&self, me: &Principal, new: &NewShare) -> AppResult<(UserPath, bool)> {
        let path = parse_path("path", Some(&new.path))?;
        if path.is_home() {
            return Err(AppError::bad_request(
                "invalid_path",
                "Share a file or a folder inside your home.",
            ));
        }
        let item = self
            .stat(
                me,
                PathQuery {
                    path: Some(path.to_string()),
                },
            )
            .await?;
        if new.kind == ShareKind::Upload && !item.is_directory {
            return Err(AppError::bad_request(
                "not_a_directory",
                "Visitors can only upload into a folder.",
            ));
        }
        Ok((path, item.is_directory))
    }

    async fn new_share(
        &self,
        owner: &str,
        (path, is_folder): (UserPath, bool),
        new: &NewShare,
    ) -> AppResult<Share> {
        let at = now();
        Ok(Share {
            id: new_share_id(),
            user_id: owner.to_owned(),
            path: path.to_string(),
            kind: new.kind,
            is_folder,
            password_hash: self.hash_share_password(new.password.as_ref()).await?,
            password_version: 0,
            max_uses: new.max_uses,
            uses: 0,
            note: new.note.clone(),
            created_at: at,
            updated_at: at,
            expires_at: at + Duration::days(i64::from(new.expires_in_days)),
        })
    }

    async fn hash_share_password(
        &self,
        password: Option<&NewPassword>,
    ) -> AppResult<Option<String>> {
        Ok(match password {
            Some(p) => Some(self.passwords.hash(p.expose()).await?),
            None => None,
        })
    }

    /// Applies the changes to the share as stored and writes it, unless its password changed
    /// since the read: written over, the older read would bring the replaced password (and
    /// its tokens) back. Then once more from a fresh read; 409 `concurrent_update` when the
    /// password changed again.
    async fn write_changes(
        &self,
        me: &Principal,
        id: &str,
        changes: &ShareChanges,
        password_hash: Option<&Option<String>>,
        at: DateTime<Utc>,
    ) -> AppResult<Share> {
        for _ in 0..2 {
            // 404 once the share is gone.
            let mut share = self.own_share(me, id).await?;
            let read_version = share.password_version;
            self.apply(&mut share, changes, password_hash, at);
            if self.store.update_share(&share, read_version).await? {
                return Ok(share);
            }
        }
        Err(AppError::conflict(
            "concurrent_update",
            "The link's password changed while this request ran; try again.",
        ))
    }

    fn apply(
        &self,
        share: &mut Share,
        changes: &ShareChanges,
        password_hash: Option<&Option<String>>,
        at: DateTime<Utc>,
    ) {
        if let Some(hash) = password_hash {
            share.password_hash = hash.clone();
            share.password_version = share.password_version.wrapping_add(1);
        }
        if let Some(days) = changes.expires_in_days {
            // From now, but never past the maximum counted from the link's creation.
            let asked = at + Duration::days(i64::from(days));
            share.expires_at = asked.min(latest_expiry(share.created_at, &self.config.shares));
        }
        if let Some(max_uses) = changes.max_uses {
            share.max_uses = max_uses;
        }
        if let Some(note) = &changes.note {
            share.note = note.clone();
        }
        share.updated_at = at;
    }

    /// Deletes the owner's expired and used-up links, which visitors can no longer use anyway.
    async fn sweep_dead_shares(&self, user_id: &str) -> AppResult<u64> {
        let at = now();
        let (mut after, mut swept) = (None::<String>, 0);
        loop {
            let page = self
                .store
                .list_shares(user_id, after.as_deref(), SWEEP_PAGE)
                .await?;
            for share in &page {
                let dead = effective_expiry(share, &self.config.shares) <= at || share.is_used_up();
                if dead && self.store.delete_share(user_id, &share.id).await? {
                    swept += 1;
                }
            }
            match page.last() {
                Some(last) if page.len() == SWEEP_PAGE => after = Some(last.id.clone()),
                _ => return Ok(swept),
            }
        }
    }
}

/// What logs name a share by: its id is the link's secret, so only its first characters.
pub(crate) fn log_id(id: &str) -> &str {
    id.get(..6).unwrap_or(id)
}

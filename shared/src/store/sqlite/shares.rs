//! Share links in SQLite: a row per share; the owner's count is checked and the row written in
//! one transaction (the connection is shared, so transactions do not interleave).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};

use super::{from_ts, get_user, ts, SqliteStore};
use crate::domain::User;
use crate::embedded_db::db_error;
use crate::store::{Share, ShareKind, ShareStore, StoreResult};

const SHARE_COLUMNS: &str = "id, user_id, path, kind, is_folder, password_hash, \
    password_version, max_uses, uses, note, created_at, updated_at, expires_at";

fn kind_name(kind: ShareKind) -> &'static str {
    match kind {
        ShareKind::Download => "download",
        ShareKind::Upload => "upload",
    }
}

/// Rows are written by this module only; anything but "upload" reads as the narrower
/// download kind.
fn kind_of(name: &str) -> ShareKind {
    match name {
        "upload" => ShareKind::Upload,
        _ => ShareKind::Download,
    }
}

fn share_from_row(row: &Row<'_>) -> rusqlite::Result<Share> {
    Ok(Share {
        id: row.get(0)?,
        user_id: row.get(1)?,
        path: row.get(2)?,
        kind: kind_of(&row.get::<_, String>(3)?),
        is_folder: row.get(4)?,
        password_hash: row.get(5)?,
        password_version: row.get::<_, i64>(6)?.max(0) as u32,
        max_uses: row.get::<_, Option<i64>>(7)?.map(|m| m.max(0) as u64),
        uses: row.get::<_, i64>(8)?.max(0) as u64,
        note: row.get(9)?,
        created_at: from_ts(row.get(10)?),
        updated_at: from_ts(row.get(11)?),
        expires_at: from_ts(row.get(12)?),
    })
}

fn clamp(n: u64) -> i64 {
    n.min(i64::MAX as u64) as i64
}

#[async_trait]
impl ShareStore for SqliteStore {
    async fn create_share(&self, share: &Share, max_per_user: u64) -> StoreResult<bool> {
        let s = share.clone();
        self.with(move |c| {
            let tx = c.transaction()?;
            let owner_active: Option<bool> = tx
                .query_row(
                    "SELECT is_active FROM users WHERE id = ?1",
                    [&s.user_id],
                    |r| r.get(0),
                )
                .optional()?;
            if owner_active != Some(true) {
                return Ok(false);
            }
            let held: i64 = tx.query_row(
                "SELECT COUNT(*) FROM shares WHERE user_id = ?1",
                [&s.user_id],
                |r| r.get(0),
            )?;
            if held >= clamp(max_per_user) {
                return Ok(false);
            }
            tx.execute(
                &format!(
                    "INSERT INTO shares ({SHARE_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                ),
                params![
                    s.id,
                    s.user_id,
                    s.path,
                    kind_name(s.kind),
                    s.is_folder,
                    s.password_hash,
                    s.password_version,
                    s.max_uses.map(clamp),
                    clamp(s.uses),
                    s.note,
                    ts(s.created_at),
                    ts(s.updated_at),
                    ts(s.expires_at),
                ],
            )?;
            tx.commit()?;
            Ok(true)
        })
        .await
        .map_err(db_error)
    }

    async fn get_share(&self, user_id: &str, share_id: &str) -> StoreResult<Option<Share>> {
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {SHARE_COLUMNS} FROM shares WHERE id = ?1 AND user_id = ?2"
            ))?
            .query_row([share_id, user_id], share_from_row)
            .optional()
        })
        .await
        .map_err(db_error)
    }

    async fn load_share(&self, share_id: &str) -> StoreResult<Option<(Share, User)>> {
        self.read(|c| {
            // One read transaction: the share and its owner as of the same moment (ended by
            // its drop, whatever happens).
            let tx = c.unchecked_transaction()?;
            load(&tx, share_id)
        })
        .await
        .map_err(db_error)
    }

    async fn list_shares(
        &self,
        user_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Share>> {
        let limit = limit.min(i64::MAX as usize) as i64;
        self.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {SHARE_COLUMNS} FROM shares WHERE user_id = ?1 AND id > ?2 \
                 ORDER BY id LIMIT ?3"
            ))?
            .query_map(params![user_id, after.unwrap_or(""), limit], share_from_row)?
            .collect()
        })
        .await
        .map_err(db_error)
    }

    async fn update_share(&self, share: &Share, read_version: u32) -> StoreResult<bool> {
        let s = share.clone();
        self.with(move |c| {
            c.execute(
                "UPDATE shares SET password_hash = ?3, password_version = ?4, max_uses = ?5, \
                 note = ?6, expires_at = ?7, updated_at = ?8 \
                 WHERE id = ?1 AND user_id = ?2 AND password_version = ?9",
                params![
                    s.id,
                    s.user_id,
                    s.password_hash,
                    s.password_version,
                    s.max_uses.map(clamp),
                    s.note,
                    ts(s.expires_at),
                    ts(s.updated_at),
                    read_version,
                ],
            )
        })
        .await
        .map(|n| n > 0)
        .map_err(db_error)
    }

    async fn delete_share(&self, user_id: &str, share_id: &str) -> StoreResult<bool> {
        let (user, id) = (user_id.to_owned(), share_id.to_owned());
        self.with(move |c| {
            c.execute(
                "DELETE FROM shares WHERE id = ?1 AND user_id = ?2",
                params![id, user],
            )
        })
        .await
        .map(|n| n > 0)
        .map_err(db_error)
    }

    async fn delete_shares_under(&self, user_id: &str, path: &str) -> StoreResult<u64> {
        let (user, path) = (user_id.to_owned(), path.to_owned());
        // A prefix compared with substr, not LIKE: names may hold `_` and `%`.
        self.with(move |c| {
            c.execute(
                "DELETE FROM shares WHERE user_id = ?1 AND (?2 = '' OR path = ?2 \
                 OR substr(path, 1, length(?2) + 1) = ?2 || '/')",
                params![user, path],
            )
        })
        .await
        .map(|n| n as u64)
        .map_err(db_error)
    }

    async fn claim_share_use(
        &self,
        user_id: &str,
        share_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (user, id) = (user_id.to_owned(), share_id.to_owned());
        self.with(move |c| {
            c.execute(
                "UPDATE shares SET uses = uses + 1 WHERE id = ?1 AND user_id = ?2 \
                 AND expires_at > ?3 AND (max_uses IS NULL OR uses < max_uses)",
                params![id, user, ts(now)],
            )
        })
        .await
        .map(|n| n == 1)
        .map_err(db_error)
    }

    async fn release_share_use(&self, user_id: &str, share_id: &str) -> StoreResult<()> {
        let (user, id) = (user_id.to_owned(), share_id.to_owned());
        self.with(move |c| {
            c.execute(
                "UPDATE shares SET uses = uses - 1 WHERE id = ?1 AND user_id = ?2 AND uses > 0",
                params![id, user],
            )
        })
        .await
        .map(|_| ())
        .map_err(db_error)
    }
}

fn load(c: &rusqlite::Connection, share_id: &str) -> rusqlite::Result<Option<(Share, User)>> {
    let share = c
        .prepare_cached(&format!("SELECT {SHARE_COLUMNS} FROM shares WHERE id = ?1"))?
        .query_row([share_id], share_from_row)
        .optional()?;
    let Some(share) = share else {
        return Ok(None);
    };
    Ok(get_user(c, &share.user_id)?.map(|owner| (share, owner)))
}

//! Charges in SQLite: a row per charge beside the user's counters, each change in one
//! transaction (the connection is shared, so transactions do not interleave).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::{add_usage, ts, SqliteStore};
use crate::embedded_db::db_error;
use crate::store::{Caps, Charge, ChargeStore, StoreResult};

/// Adds `sign` × the charge's bytes and files to both the usage and the reserved counters.
fn hold(c: &Connection, user_id: &str, bytes: i64, files: i64) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE users SET used_bytes = MAX(0, used_bytes + ?2), \
         file_count = MAX(0, file_count + ?3), \
         reserved_bytes = MAX(0, reserved_bytes + ?2), \
         reserved_files = MAX(0, reserved_files + ?3) WHERE id = ?1",
        params![user_id, bytes, files],
    )
}

/// Removes the charge; its bytes and files if it was there.
fn take_out(c: &Connection, user_id: &str, id: &str) -> rusqlite::Result<Option<(i64, i64)>> {
    c.query_row(
        "DELETE FROM charges WHERE id = ?1 AND user_id = ?2 RETURNING bytes, files",
        params![id, user_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

#[async_trait]
impl ChargeStore for SqliteStore {
    async fn take_charge(&self, charge: &Charge, caps: Caps) -> StoreResult<bool> {
        let charge = charge.clone();
        self.with(move |c| {
            let tx = c.transaction()?;
            let (bytes, files) = (charge.bytes as i64, charge.files as i64);
            if add_usage(&tx, &charge.user_id, bytes, files, caps)? == 0 {
                return Ok(false);
            }
            tx.execute(
                "UPDATE users SET reserved_bytes = reserved_bytes + ?2, \
                 reserved_files = reserved_files + ?3 WHERE id = ?1",
                params![charge.user_id, bytes, files],
            )?;
            tx.execute(
                "INSERT INTO charges (id, user_id, bytes, files, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    charge.id,
                    charge.user_id,
                    bytes,
                    files,
                    ts(charge.expires_at)
                ],
            )?;
            tx.commit()?;
            Ok(true)
        })
        .await
        .map_err(db_error)
    }

    async fn settle_charge(
        &self,
        user_id: &str,
        charge_id: &str,
        bytes: i64,
        files: i64,
    ) -> StoreResult<bool> {
        let (user, id) = (user_id.to_owned(), charge_id.to_owned());
        self.with(move |c| {
            let tx = c.transaction()?;
            let Some((held_bytes, held_files)) = take_out(&tx, &user, &id)? else {
                return Ok(false);
            };
            hold(&tx, &user, -held_bytes, -held_files)?;
            let caps = Caps::default();
            add_usage(&tx, &user, bytes, files, caps)?;
            tx.commit()?;
            Ok(true)
        })
        .await
        .map_err(db_error)
    }

    async fn drop_charge(&self, user_id: &str, charge_id: &str) -> StoreResult<bool> {
        let (user, id) = (user_id.to_owned(), charge_id.to_owned());
        self.with(move |c| {
            let tx = c.transaction()?;
            let Some((bytes, files)) = take_out(&tx, &user, &id)? else {
                return Ok(false);
            };
            hold(&tx, &user, -bytes, -files)?;
            tx.commit()?;
            Ok(true)
        })
        .await
        .map_err(db_error)
    }

    async fn sweep_charges(&self, user_id: &str, now: DateTime<Utc>) -> StoreResult<u64> {
        let user = user_id.to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            let (count, bytes, files): (i64, i64, i64) = tx.query_row(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0), COALESCE(SUM(files), 0) \
                 FROM charges WHERE user_id = ?1 AND expires_at <= ?2",
                params![user, ts(now)],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            if count > 0 {
                tx.execute(
                    "DELETE FROM charges WHERE user_id = ?1 AND expires_at <= ?2",
                    params![user, ts(now)],
                )?;
                hold(&tx, &user, -bytes, -files)?;
            }
            tx.commit()?;
            Ok(count as u64)
        })
        .await
        .map_err(db_error)
    }
}

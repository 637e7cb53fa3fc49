//! Running-job slots in SQLite: a row per held slot. A claim reads the user's live slots and
//! writes the first free one in one transaction (the connection is shared, so claims do not
//! interleave).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, TransactionBehavior};

use super::{from_ts, ts, SqliteStore};
use crate::embedded_db::db_error;
use crate::store::{GuardedClaim, JobSlot, JobSlotStore, StoreError, StoreResult};

#[async_trait]
impl JobSlotStore for SqliteStore {
    async fn claim_job_slot(
        &self,
        user_id: &str,
        job_id: &str,
        slots: u64,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (user, job) = (user_id.to_owned(), job_id.to_owned());
        self.with(move |c| {
            let tx = c.transaction()?;
            let held: Vec<i64> = tx
                .prepare("SELECT slot FROM job_slots WHERE user_id = ?1 AND expires_at > ?2")?
                .query_map(params![user, ts(now)], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let Some(free) = (0..slots as i64).find(|i| !held.contains(i)) else {
                return Ok(false);
            };
            // The free slot may still have an expired row: it is taken over.
            tx.execute(
                "INSERT INTO job_slots (user_id, slot, job_id, expires_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT(user_id, slot) DO UPDATE SET \
                 job_id = excluded.job_id, expires_at = excluded.expires_at, paths = '[]'",
                params![user, free, job, ts(until)],
            )?;
            tx.commit()?;
            Ok(true)
        })
        .await
        .map_err(db_error)
    }

    async fn renew_job_slot(
        &self,
        user_id: &str,
        job_id: &str,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (user, job) = (user_id.to_owned(), job_id.to_owned());
        self.with(move |c| {
            c.execute(
                "UPDATE job_slots SET expires_at = ?3 WHERE user_id = ?1 AND job_id = ?2",
                params![user, job, ts(until)],
            )
        })
        .await
        .map(|n| n > 0)
        .map_err(db_error)
    }

    async fn release_job_slot(&self, user_id: &str, job_id: &str) -> StoreResult<bool> {
        let (user, job) = (user_id.to_owned(), job_id.to_owned());
        self.with(move |c| {
            c.execute(
                "DELETE FROM job_slots WHERE user_id = ?1 AND job_id = ?2",
                params![user, job],
            )
        })
        .await
        .map(|n| n > 0)
        .map_err(db_error)
    }

    async fn job_slots(&self, user_id: &str) -> StoreResult<Vec<JobSlot>> {
        let user = user_id.to_owned();
        self.with(move |c| slots_of(c, &user))
            .await
            .map_err(db_error)
    }

    async fn claim_guarded_slot(&self, claim: &GuardedClaim<'_>) -> StoreResult<bool> {
        let paths = serde_json::to_string(claim.paths).map_err(StoreError::other)?;
        let (user, job) = (claim.user_id.to_owned(), claim.job_id.to_owned());
        let (slot, now, until) = (claim.slot, claim.now, claim.until);
        let live_seen = live_holders(claim);
        let slots = claim.slots;
        self.with(move |c| {
            // One write transaction: no other claim or renewal comes between check and write.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let stored = slots_of(&tx, &user)?;
            let as_seen = stored.iter().all(|s| {
                let free = s.expires_at <= now;
                match s.slot == slot {
                    true => free,
                    false => {
                        s.slot as u64 >= slots
                            || free
                            || live_seen.contains(&(s.slot, s.job_id.clone()))
                    }
                }
            });
            if !as_seen {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO job_slots (user_id, slot, job_id, expires_at, paths) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(user_id, slot) DO UPDATE SET \
                 job_id = excluded.job_id, expires_at = excluded.expires_at, \
                 paths = excluded.paths",
                params![user, slot, job, ts(until), paths],
            )?;
            tx.commit()?;
            Ok(true)
        })
        .await
        .map_err(db_error)
    }
}

/// The slots that were live when the claim read them, by slot and holder: those may still be
/// held by the same job (renewed or not) without failing the claim.
fn live_holders(claim: &GuardedClaim<'_>) -> Vec<(u32, String)> {
    let live = claim.seen.iter().filter(|s| s.expires_at > claim.now);
    live.map(|s| (s.slot, s.job_id.clone())).collect()
}

/// Every slot row of the user, live or lapsed.
fn slots_of(c: &Connection, user: &str) -> rusqlite::Result<Vec<JobSlot>> {
    c.prepare_cached(
        "SELECT slot, job_id, expires_at, paths FROM job_slots WHERE user_id = ?1 ORDER BY slot",
    )?
    .query_map([user], |r| {
        let paths: String = r.get(3)?;
        Ok(JobSlot {
            user_id: user.to_owned(),
            slot: r.get(0)?,
            job_id: r.get(1)?,
            expires_at: from_ts(r.get(2)?),
            paths: serde_json::from_str(&paths).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, e.into())
            })?,
        })
    })?
    .collect()
}

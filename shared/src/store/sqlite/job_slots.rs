//! Running-job slots in SQLite: a row per held slot. A claim reads the user's live slots and
//! writes the first free one in one transaction (the connection is shared, so claims do not
//! interleave).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{ts, SqliteStore};
use crate::embedded_db::db_error;
use crate::store::{JobSlotStore, StoreResult};

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
                 job_id = excluded.job_id, expires_at = excluded.expires_at",
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
}

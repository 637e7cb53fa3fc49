//! Running-job slots in DynamoDB: `JOBSLOT#<i>` items in the user's partition. A claim tries
//! the slots in order, each with a conditional put (absent, or expired), so two claims never
//! both win one slot; renewing and releasing are conditional on the holder's job id.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::items::{job_slot_item, to_item, Key, JOB_SLOT};
use super::DynamoStore;
use crate::aws::errors;
use crate::store::{JobSlot, JobSlotStore, StoreResult};

#[async_trait]
impl JobSlotStore for DynamoStore {
    async fn claim_job_slot(
        &self,
        user_id: &str,
        job_id: &str,
        slots: u64,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        for slot in 0..slots.min(u32::MAX as u64) as u32 {
            let item = JobSlot {
                user_id: user_id.to_owned(),
                slot,
                job_id: job_id.to_owned(),
                expires_at: until,
            };
            let put = self
                .put_item(job_slot_item(&item)?)
                .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
                .set_expression_attribute_values(Some(to_item(
                    json!({ ":now": now.timestamp() }),
                )?));
            if errors::written(put.send().await)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn renew_job_slot(
        &self,
        user_id: &str,
        job_id: &str,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let Some(slot) = self.slot_of(user_id, job_id).await? else {
            return Ok(false);
        };
        let update = self.update_item(
            &Key::job_slot(user_id, slot.slot),
            "SET expires_at = :until, #ttl = :until",
            "job_id = :job",
            &["ttl"],
            json!({ ":until": until.timestamp(), ":job": job_id }),
        )?;
        Ok(errors::written(update.send().await)?.is_some())
    }

    async fn release_job_slot(&self, user_id: &str, job_id: &str) -> StoreResult<bool> {
        let Some(slot) = self.slot_of(user_id, job_id).await? else {
            return Ok(false);
        };
        let delete = self
            .delete_item(&Key::job_slot(user_id, slot.slot))?
            .condition_expression("job_id = :job")
            .set_expression_attribute_values(Some(to_item(json!({ ":job": job_id }))?));
        Ok(errors::written(delete.send().await)?.is_some())
    }
}

impl DynamoStore {
    /// The slot `job_id` holds, if any (a user has only a few slot items).
    async fn slot_of(&self, user_id: &str, job_id: &str) -> StoreResult<Option<JobSlot>> {
        let slots: Vec<JobSlot> = self.query(user_id, JOB_SLOT, None).await?;
        Ok(slots.into_iter().find(|s| s.job_id == job_id))
    }
}

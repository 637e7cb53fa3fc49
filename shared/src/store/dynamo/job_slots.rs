//! Running-job slots in DynamoDB: `JOBSLOT#<i>` items in the user's partition. A claim tries
//! the slots in order, each with a conditional put (absent, or expired), so two claims never
//! both win one slot; renewing and releasing are conditional on the holder's job id.
//!
//! A guarded claim (a folder job's slot, with the paths it reserves) is one transaction: the
//! put of its slot and a condition check of every other slot, so two jobs whose paths overlap
//! cannot both claim after each read the other's absence.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;

use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem};

use super::items::{job_slot_item, to_item, Key, JOB_SLOT};
use super::jobs::cancellation_reasons;
use super::DynamoStore;
use crate::aws::errors;
use crate::store::{GuardedClaim, JobSlot, JobSlotStore, StoreResult};

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
                paths: Vec::new(),
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

    async fn job_slots(&self, user_id: &str) -> StoreResult<Vec<JobSlot>> {
        self.query(user_id, JOB_SLOT, None).await
    }

    async fn claim_guarded_slot(&self, claim: &GuardedClaim<'_>) -> StoreResult<bool> {
        let mut items = vec![self.slot_put(claim)?];
        for slot in (0..claim.slots.min(u32::MAX as u64) as u32).filter(|s| *s != claim.slot) {
            items.push(self.slot_unchanged(claim, slot)?);
        }
        let request = self.client.transact_write_items();
        match request.set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(true),
            Err(err) => {
                // A failed condition or a collision with another write: changed meanwhile (the
                // service reads the slots again).
                let reasons = cancellation_reasons(&err);
                let changed =
                    |r: &String| r == "ConditionalCheckFailed" || r == "TransactionConflict";
                match reasons.iter().any(changed) {
                    true => Ok(false),
                    false => Err(err.into()),
                }
            }
        }
    }
}

impl DynamoStore {
    /// The put of the claimed slot, if it is free (absent or lapsed).
    fn slot_put(&self, claim: &GuardedClaim<'_>) -> StoreResult<TransactWriteItem> {
        let slot = JobSlot {
            user_id: claim.user_id.to_owned(),
            slot: claim.slot,
            job_id: claim.job_id.to_owned(),
            expires_at: claim.until,
            paths: claim.paths.to_vec(),
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(job_slot_item(&slot)?))
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
            .set_expression_attribute_values(Some(to_item(
                json!({ ":now": claim.now.timestamp() }),
            )?))
            .build()?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The check that another slot is as the claim saw it: free, or still held by the job
    /// seen live there (renewed or not).
    fn slot_unchanged(
        &self,
        claim: &GuardedClaim<'_>,
        slot: u32,
    ) -> StoreResult<TransactWriteItem> {
        let seen = claim
            .seen
            .iter()
            .find(|s| s.slot == slot && s.expires_at > claim.now);
        let mut values = json!({ ":now": claim.now.timestamp() });
        let mut condition = "attribute_not_exists(pk) OR expires_at <= :now".to_owned();
        if let Some(seen) = seen {
            values[":seen"] = seen.job_id.clone().into();
            condition.push_str(" OR job_id = :seen");
        }
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(Key::job_slot(claim.user_id, slot).item()?))
            .condition_expression(condition)
            .set_expression_attribute_values(Some(to_item(values)?))
            .build()?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// The slot `job_id` holds, if any (a user has only a few slot items).
    async fn slot_of(&self, user_id: &str, job_id: &str) -> StoreResult<Option<JobSlot>> {
        let slots: Vec<JobSlot> = self.query(user_id, JOB_SLOT, None).await?;
        Ok(slots.into_iter().find(|s| s.job_id == job_id))
    }
}

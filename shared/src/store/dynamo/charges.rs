//! Charges in DynamoDB: an item per charge in its user's partition, written or removed in one
//! transaction with the update of the user's counters.
//!
//! Charge items have no `ttl`: if the table's TTL deleted an expired charge, nothing would give
//! its bytes back. They stay until a sweep (or the user's deletion) removes them.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::items::{charge_item, to_item, Key, CHARGE};
use super::users::{caps_condition, refused, Tagged};
use super::DynamoStore;
use crate::store::{Caps, Charge, ChargeStore, StoreError, StoreResult, WriteUserError};

impl DynamoStore {
    /// Adds to the user's usage and reserved counters, if `condition` holds.
    pub(super) fn counters(
        &self,
        user_id: &str,
        (bytes, files): (i64, i64),
        (held_bytes, held_files): (i64, i64),
        condition: String,
        mut values: serde_json::Value,
    ) -> StoreResult<Tagged> {
        values[":bytes"] = bytes.into();
        values[":files"] = files.into();
        values[":held"] = held_bytes.into();
        values[":held_files"] = held_files.into();
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Key::user(user_id).item()?))
            .update_expression(
                "ADD used_bytes :bytes, file_count :files, reserved_bytes :held, \
                 reserved_files :held_files",
            )
            .condition_expression(condition)
            .set_expression_attribute_values(Some(to_item(values)?))
            .build()?;
        let update = TransactWriteItem::builder().update(update).build();
        Ok((Some(|| WriteUserError::Stale), update))
    }

    /// Removes a charge (it must be there) and adds `bytes` and `files` to usage in its place.
    async fn end_charge(&self, charge: &Charge, bytes: i64, files: i64) -> StoreResult<bool> {
        let key = Key::charge(&charge.user_id, &charge.id);
        let delete = self.delete(&key, Some("attribute_exists(pk)"))?;
        let (held_bytes, held_files) = (charge.bytes as i64, charge.files as i64);
        let counters = self.counters(
            &charge.user_id,
            (bytes - held_bytes, files - held_files),
            (-held_bytes, -held_files),
            "attribute_exists(pk)".into(),
            json!({}),
        )?;
        refused(self.transact(vec![delete, counters]).await)
    }

    async fn charge(&self, user_id: &str, charge_id: &str) -> StoreResult<Option<Charge>> {
        self.get(&Key::charge(user_id, charge_id)).await
    }
}

#[async_trait]
impl ChargeStore for DynamoStore {
    async fn take_charge(&self, charge: &Charge, caps: Caps) -> StoreResult<bool> {
        let (bytes, files) = (charge.bytes as i64, charge.files as i64);
        let mut values = json!({});
        let Some(condition) = caps_condition(&mut values, bytes, files, caps) else {
            return Ok(false);
        };
        let counters = self.counters(
            &charge.user_id,
            (bytes, files),
            (bytes, files),
            condition,
            values,
        )?;
        let item = self.put_new(charge_item(charge)?, || {
            WriteUserError::Store(StoreError::other(anyhow::anyhow!("charge id reused")))
        })?;
        refused(self.transact(vec![counters, item]).await)
    }

    async fn settle_charge(
        &self,
        user_id: &str,
        charge_id: &str,
        bytes: i64,
        files: i64,
    ) -> StoreResult<bool> {
        match self.charge(user_id, charge_id).await? {
            Some(charge) => self.end_charge(&charge, bytes, files).await,
            None => Ok(false),
        }
    }

    async fn drop_charge(&self, user_id: &str, charge_id: &str) -> StoreResult<bool> {
        match self.charge(user_id, charge_id).await? {
            Some(charge) => self.end_charge(&charge, 0, 0).await,
            None => Ok(false),
        }
    }

    async fn sweep_charges(&self, user_id: &str, now: DateTime<Utc>) -> StoreResult<u64> {
        let charges: Vec<Charge> = self.query(user_id, CHARGE, None).await?;
        let mut swept = 0;
        for charge in charges.iter().filter(|c| c.expires_at <= now) {
            // Ended meanwhile (completed, aborted, swept by another request): nothing to do.
            if self.end_charge(charge, 0, 0).await? {
                swept += 1;
            }
        }
        Ok(swept)
    }
}

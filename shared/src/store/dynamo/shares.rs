//! Share links in DynamoDB: a `SHARE#<id>` item in the owner's partition, a marker
//! `SHARE#<id>`/`SHARE` naming the owner (the visitor knows only the id), and the owner's
//! `share_count` on the profile. The three change together, in one transaction, so the
//! per-user limit and the owner's state (exists, active) are one condition.
//!
//! Every attribute name in an expression goes through a `#name` placeholder: `path` is one of
//! DynamoDB's reserved words, and others may join them.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::items::{from_items, share_item, to_item, Item, Key, MarkerItem, SHARE};
use super::users::{refused, Tagged};
use super::DynamoStore;
use crate::aws::errors;
use crate::domain::User;
use crate::store::{Share, ShareStore, StoreError, StoreResult, WriteUserError};

fn id_reused() -> WriteUserError {
    WriteUserError::Store(StoreError::other(anyhow::anyhow!("share id reused")))
}

/// The editable fields of a share as one `SET … REMOVE …` (an absent option is no attribute,
/// as in the item the share was written as), with the attribute names and values it uses.
fn editable(share: &Share) -> (String, Vec<&'static str>, serde_json::Value) {
    let fields = [
        ("password_version", json!(share.password_version)),
        ("expires_at", json!(share.expires_at.timestamp())),
        ("updated_at", json!(share.updated_at.timestamp())),
        ("password_hash", json!(share.password_hash)),
        ("max_uses", json!(share.max_uses)),
        ("note", json!(share.note)),
    ];
    let (mut set, mut remove, mut values) = (Vec::new(), Vec::new(), json!({}));
    for (name, value) in &fields {
        if value.is_null() {
            remove.push(format!("#{name}"));
        } else {
            set.push(format!("#{name} = :{name}"));
            values[format!(":{name}")] = value.clone();
        }
    }
    let mut update = format!("SET {}", set.join(", "));
    if !remove.is_empty() {
        update = format!("{update} REMOVE {}", remove.join(", "));
    }
    (update, fields.map(|(name, _)| name).to_vec(), values)
}

impl DynamoStore {
    /// Adds `by` to the owner's share count, if `condition` holds on the profile.
    fn count_shares(
        &self,
        user_id: &str,
        by: i64,
        condition: &str,
        mut values: serde_json::Value,
    ) -> StoreResult<Tagged> {
        values[":by"] = by.into();
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Key::user(user_id).item()?))
            .update_expression("ADD share_count :by")
            .condition_expression(condition)
            .set_expression_attribute_values(Some(to_item(values)?))
            .build()?;
        let update = TransactWriteItem::builder().update(update).build();
        Ok((Some(|| WriteUserError::Stale), update))
    }

    /// One page of the user's shares after `after`, and whether more may follow.
    async fn share_page(
        &self,
        user_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<(Vec<Item>, bool)> {
        let start = match after {
            Some(after) => Some(Key::share(user_id, after).item()?),
            None => None,
        };
        let values = json!({ ":pk": Key::user(user_id).pk, ":prefix": SHARE });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .set_expression_attribute_values(Some(to_item(values)?))
            .set_exclusive_start_key(start)
            .limit(limit.clamp(1, i32::MAX as usize) as i32)
            .send()
            .await?;
        let more = out.last_evaluated_key.is_some_and(|k| !k.is_empty());
        Ok((out.items.unwrap_or_default(), more))
    }
}

#[async_trait]
impl ShareStore for DynamoStore {
    async fn create_share(&self, share: &Share, max_per_user: u64) -> StoreResult<bool> {
        let marker = to_item(MarkerItem {
            key: Key::share_marker(&share.id),
            user_id: share.user_id.clone(),
        })?;
        let owner = "attribute_exists(pk) AND is_active = :yes AND \
                     (attribute_not_exists(share_count) OR share_count < :max)";
        let max = max_per_user.min(i64::MAX as u64);
        let items = vec![
            self.put_new(share_item(share)?, id_reused)?,
            self.put_new(marker, id_reused)?,
            self.count_shares(&share.user_id, 1, owner, json!({":yes": true, ":max": max}))?,
        ];
        refused(self.transact(items).await)
    }

    async fn get_share(&self, user_id: &str, share_id: &str) -> StoreResult<Option<Share>> {
        self.get(&Key::share(user_id, share_id)).await
    }

    async fn load_share(&self, share_id: &str) -> StoreResult<Option<(Share, User)>> {
        let marker = self.get::<MarkerItem>(&Key::share_marker(share_id)).await?;
        let Some(MarkerItem { user_id, .. }) = marker else {
            return Ok(None);
        };
        let (owner, share) = self
            .load_principal::<Share>(&user_id, Key::share(&user_id, share_id))
            .await?;
        Ok(share.zip(owner))
    }

    async fn list_shares(
        &self,
        user_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Share>> {
        let mut shares: Vec<Share> = Vec::new();
        let mut after = after.map(str::to_owned);
        // A page may stop short of `limit` (DynamoDB's 1 MB per query): read on until full.
        while shares.len() < limit {
            let (items, more) = self
                .share_page(user_id, after.as_deref(), limit - shares.len())
                .await?;
            let page: Vec<Share> = from_items(items)?;
            after = page.last().map(|s| s.id.clone());
            shares.extend(page);
            if !more || after.is_none() {
                break;
            }
        }
        Ok(shares)
    }

    async fn update_share(&self, share: &Share, read_version: u32) -> StoreResult<bool> {
        let (update, used, mut values) = editable(share);
        values[":read"] = json!(read_version);
        let key = Key::share(&share.user_id, &share.id);
        let condition = "attribute_exists(pk) AND #password_version = :read";
        let request = self.update_item(&key, &update, condition, &used, values)?;
        Ok(errors::written(request.send().await)?.is_some())
    }

    async fn delete_share(&self, user_id: &str, share_id: &str) -> StoreResult<bool> {
        let items = vec![
            self.delete(&Key::share(user_id, share_id), Some("attribute_exists(pk)"))?,
            self.delete(&Key::share_marker(share_id), None)?,
            self.count_shares(user_id, -1, "attribute_exists(pk)", json!({}))?,
        ];
        refused(self.transact(items).await)
    }

    async fn delete_shares_under(&self, user_id: &str, path: &str) -> StoreResult<u64> {
        let shares: Vec<Share> = self.query(user_id, SHARE, None).await?;
        let below = format!("{path}/");
        let mut ended = 0;
        for share in shares
            .iter()
            .filter(|s| path.is_empty() || s.path == path || s.path.starts_with(&below))
        {
            // Ended meanwhile by another request: nothing to do.
            if self.delete_share(user_id, &share.id).await? {
                ended += 1;
            }
        }
        Ok(ended)
    }

    async fn claim_share_use(
        &self,
        user_id: &str,
        share_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let condition = "attribute_exists(pk) AND #expires_at > :now AND \
                         (attribute_not_exists(#max_uses) OR #uses < #max_uses)";
        let request = self.update_item(
            &Key::share(user_id, share_id),
            "ADD #uses :one",
            condition,
            &["uses", "expires_at", "max_uses"],
            json!({ ":one": 1, ":now": now.timestamp() }),
        )?;
        Ok(errors::written(request.send().await)?.is_some())
    }

    async fn release_share_use(&self, user_id: &str, share_id: &str) -> StoreResult<()> {
        let request = self.update_item(
            &Key::share(user_id, share_id),
            "ADD #uses :minus_one",
            "#uses > :zero",
            &["uses"],
            json!({ ":minus_one": -1, ":zero": 0 }),
        )?;
        errors::written(request.send().await)?;
        Ok(())
    }
}

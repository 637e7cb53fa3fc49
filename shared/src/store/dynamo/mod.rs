//! AWS metadata store: one DynamoDB table (single-table design); the items and their keys are
//! described in [`items`].
//!
//! Keys are the string attributes `pk` and `sk`; `ttl` (epoch seconds) is the table's TTL
//! attribute. A user's sessions and keys share the user's partition, so the per-request check
//! (user + session or key) is one `BatchGetItem`, and deleting a user is one query over one
//! partition. A user is created in one transaction with both markers (`attribute_not_exists`),
//! so concurrent registrations of one name yield exactly one user. TTL deletion lags, so every
//! read of a session, key or counter also compares its expiry with the clock.

mod auth;
mod charges;
mod items;
mod job_slots;
mod jobs;
mod shares;
mod table;
mod users;

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{DeleteRequest, KeysAndAttributes, WriteRequest};
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;
use serde_json::json;

use self::items::{from_item, from_items, to_item, Item, Key};
use super::StoreResult;
use crate::aws::retry;
use crate::domain::User;

pub const GSI1: &str = "gsi1";

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// Expression placeholders `#name` for attribute names that are reserved words (`role`, `ttl`,
/// `count`); `None` for none, as DynamoDB refuses an empty map.
fn names(names: &[&str]) -> Option<HashMap<String, String>> {
    let placeholders = || {
        names
            .iter()
            .map(|n| (format!("#{n}"), n.to_string()))
            .collect()
    };
    (!names.is_empty()).then(placeholders)
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The item with `key`, read consistently.
    async fn get<T: DeserializeOwned>(&self, key: &Key) -> StoreResult<Option<T>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.item()?))
            .consistent_read(true)
            .send()
            .await?;
        out.item.map(from_item).transpose()
    }

    /// A write of `item`, replacing any item with its key.
    fn put_item(&self, item: Item) -> PutItemFluentBuilder {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
    }

    fn delete_item(&self, key: &Key) -> StoreResult<DeleteItemFluentBuilder> {
        Ok(self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key.item()?)))
    }

    /// An update of `key` if `condition` holds; `values` is a JSON object of the `:value`
    /// placeholders, `reserved` the attribute names written `#name`.
    fn update_item(
        &self,
        key: &Key,
        update: &str,
        condition: &str,
        reserved: &[&str],
        values: serde_json::Value,
    ) -> StoreResult<UpdateItemFluentBuilder> {
        Ok(self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.item()?))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(names(reserved))
            .set_expression_attribute_values(Some(to_item(values)?)))
    }

    /// Reads several items of this table at once, retrying unprocessed keys.
    async fn batch_get(&self, keys: &[Key]) -> StoreResult<Vec<Item>> {
        let keys = keys.iter().map(Key::item).collect::<StoreResult<_>>()?;
        let keys = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()?;
        let unprocessed = "BatchGetItem kept leaving keys unprocessed";
        retry::DEFAULT
            .batch(unprocessed, keys, |keys| async move {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await?;
                let found = out.responses.and_then(|mut r| r.remove(&self.table));
                let left = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table));
                let left = left.filter(|k| !k.keys().is_empty());
                Ok((found.unwrap_or_default(), left))
            })
            .await
    }

    /// Deletes items by key in batches of 25, retrying unprocessed ones.
    async fn batch_delete(&self, keys: &[Key]) -> StoreResult<()> {
        let delete = |key: &Key| -> StoreResult<WriteRequest> {
            let delete = DeleteRequest::builder()
                .set_key(Some(key.item()?))
                .build()?;
            Ok(WriteRequest::builder().delete_request(delete).build())
        };
        let unprocessed = "BatchWriteItem kept leaving items unprocessed";
        for chunk in keys.chunks(25) {
            let requests = chunk.iter().map(delete).collect::<StoreResult<Vec<_>>>()?;
            retry::DEFAULT
                .batch(unprocessed, requests, |requests| async move {
                    let out = self
                        .client
                        .batch_write_item()
                        .request_items(&self.table, requests)
                        .send()
                        .await?;
                    let left = out
                        .unprocessed_items
                        .and_then(|mut u| u.remove(&self.table));
                    Ok((Vec::<()>::new(), left.filter(|r| !r.is_empty())))
                })
                .await?;
        }
        Ok(())
    }

    /// Items of a user's partition whose sort key starts with `prefix` (all of them for ""),
    /// with only the `projection` attributes if given.
    async fn query<T: DeserializeOwned>(
        &self,
        user_id: &str,
        prefix: &str,
        projection: Option<&str>,
    ) -> StoreResult<Vec<T>> {
        let pk = Key::user(user_id).pk;
        // DynamoDB refuses an empty begins_with operand.
        let (condition, values) = match prefix {
            "" => ("pk = :pk", json!({ ":pk": pk })),
            _ => (
                "pk = :pk AND begins_with(sk, :prefix)",
                json!({ ":pk": pk, ":prefix": prefix }),
            ),
        };
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression(condition)
            .set_expression_attribute_values(Some(to_item(values)?))
            .set_projection_expression(projection.map(str::to_owned))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await?;
        from_items(items)
    }

    /// The user and one credential item of the user's partition, in one BatchGetItem.
    async fn load_principal<T: DeserializeOwned>(
        &self,
        user_id: &str,
        credential_key: Key,
    ) -> StoreResult<(Option<User>, Option<T>)> {
        let (mut user, mut credential) = (None, None);
        let keys = [Key::user(user_id), credential_key];
        for item in self.batch_get(&keys).await? {
            if from_item::<Key>(item.clone())?.is_user() {
                user = Some(from_item(item)?);
            } else {
                credential = Some(from_item(item)?);
            }
        }
        Ok((user, credential))
    }
}

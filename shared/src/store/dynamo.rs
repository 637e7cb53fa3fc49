//! AWS metadata store: one DynamoDB table (single-table design).
//!
//! Keys are the string attributes `pk` and `sk`; `ttl` (epoch seconds) is the table's TTL
//! attribute. Items:
//!
//! | item            | pk                    | sk                 | notes                                   |
//! |-----------------|-----------------------|--------------------|-----------------------------------------|
//! | user            | `USER#<id>`           | `PROFILE`          | `gsi1pk = "USERS"`, `gsi1sk = username` |
//! | username marker | `USERNAME#<lower>`    | `USERNAME`         | `user_id`; makes usernames unique       |
//! | email marker    | `EMAIL#<lower>`       | `EMAIL`            | `user_id`; makes emails unique          |
//! | session         | `USER#<id>`           | `SESSION#<sid>`    | refresh hash, generation, `ttl`         |
//! | API key         | `USER#<id>`           | `APIKEY#<kid>`     | key hash, optional expiry and `ttl`     |
//! | login failures  | `THROTTLE#<key>`      | `THROTTLE`         | `count`, window end in `ttl`            |
//! | ZIP job         | `USER#<id>`           | `ZIPJOB#<jid>`     | the job as JSON in `job`, `ttl`         |
//!
//! A user's sessions and keys share the user's partition, so the per-request check (user + session
//! or key) is one `BatchGetItem`, and deleting a user is one query over one partition. A user is
//! created in one transaction with both markers (`attribute_not_exists`), so concurrent
//! registrations of one name yield exactly one user. TTL deletion lags, so every read of a session,
//! key or counter also compares its expiry with the clock.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, DeleteRequest, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put,
    ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem, Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, TimeZone, Utc};

use super::{
    classify_aws, ApiKey, ApiKeyStore, Counter, JobStore, Session, SessionStore, StoreError,
    StoreResult, ThrottleStore, UserKey, UserStore, WriteUserError, ZipJob,
};
use crate::domain::{search_text, Role, User};

type Item = HashMap<String, AttributeValue>;

pub const GSI1: &str = "gsi1";
const PROFILE: &str = "PROFILE";
/// Transactions that collide (the registration race) are retried this many times.
const TRANSACTION_ATTEMPTS: usize = 8;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn user_pk(id: &str) -> String {
    format!("USER#{id}")
}

fn key(pk: String, sk: String) -> Item {
    HashMap::from([("pk".into(), s(pk)), ("sk".into(), s(sk))])
}

fn get_s(item: &Item, name: &str) -> anyhow::Result<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(anyhow!("item attribute {name} missing or not a string")),
    }
}

fn get_n(item: &Item, name: &str) -> anyhow::Result<Option<i64>> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => Ok(Some(v.parse().context(name.to_owned())?)),
        None | Some(AttributeValue::Null(_)) => Ok(None),
        _ => Err(anyhow!("item attribute {name} not a number")),
    }
}

fn get_bool(item: &Item, name: &str) -> bool {
    matches!(item.get(name), Some(AttributeValue::Bool(true)))
}

fn time(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

fn user_item(u: &User) -> Item {
    let mut item = key(user_pk(&u.id), PROFILE.into());
    item.extend([
        ("id".into(), s(&u.id)),
        ("username".into(), s(&u.username)),
        ("email".into(), s(&u.email)),
        ("first_name".into(), s(&u.first_name)),
        ("last_name".into(), s(&u.last_name)),
        ("role".into(), s(u.role.as_str())),
        ("is_active".into(), AttributeValue::Bool(u.is_active)),
        ("password_hash".into(), s(&u.password_hash)),
        ("used_bytes".into(), n(u.used_bytes)),
        ("file_count".into(), n(u.file_count)),
        ("created_at".into(), n(u.created_at.timestamp())),
        ("updated_at".into(), n(u.updated_at.timestamp())),
        ("gsi1pk".into(), s("USERS")),
        ("gsi1sk".into(), s(u.username.to_ascii_lowercase())),
    ]);
    if let Some(q) = u.quota_bytes {
        item.insert("quota_bytes".into(), n(q));
    }
    item
}

fn user_from_item(item: &Item) -> anyhow::Result<User> {
    Ok(User {
        id: get_s(item, "id")?,
        username: get_s(item, "username")?,
        email: get_s(item, "email")?,
        first_name: get_s(item, "first_name")?,
        last_name: get_s(item, "last_name")?,
        role: Role::parse(&get_s(item, "role")?).unwrap_or(Role::User),
        is_active: get_bool(item, "is_active"),
        password_hash: get_s(item, "password_hash")?,
        quota_bytes: get_n(item, "quota_bytes")?.map(|q| q as u64),
        used_bytes: get_n(item, "used_bytes")?.unwrap_or(0).max(0) as u64,
        file_count: get_n(item, "file_count")?.unwrap_or(0).max(0) as u64,
        created_at: time(get_n(item, "created_at")?.unwrap_or(0)),
        updated_at: time(get_n(item, "updated_at")?.unwrap_or(0)),
    })
}

fn session_from_item(item: &Item) -> anyhow::Result<Session> {
    Ok(Session {
        id: get_s(item, "session_id")?,
        user_id: get_s(item, "user_id")?,
        refresh_hash: get_s(item, "refresh_hash")?,
        previous_hash: get_s(item, "previous_hash").ok(),
        generation: get_n(item, "generation")?.unwrap_or(0) as u64,
        created_at: time(get_n(item, "created_at")?.unwrap_or(0)),
        expires_at: time(get_n(item, "expires_at")?.unwrap_or(0)),
    })
}

fn key_from_item(item: &Item) -> anyhow::Result<ApiKey> {
    Ok(ApiKey {
        id: get_s(item, "key_id")?,
        user_id: get_s(item, "user_id")?,
        name: get_s(item, "name")?,
        prefix: get_s(item, "prefix")?,
        key_hash: get_s(item, "key_hash")?,
        created_at: time(get_n(item, "created_at")?.unwrap_or(0)),
        expires_at: get_n(item, "expires_at")?.map(time),
    })
}

fn marker(kind: &str, value: &str, user_id: &str) -> Item {
    let mut item = key(format!("{kind}#{value}"), kind.into());
    item.insert("user_id".into(), s(user_id));
    item
}

fn marker_key(kind: &str, value: &str) -> Item {
    key(format!("{kind}#{value}"), kind.into())
}

/// Which of a cancelled transaction's items failed its condition.
fn failed_conditions(
    err: &SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> Option<Vec<Option<String>>> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
    match err.as_service_error() {
        Some(E::TransactionCanceledException(e)) => Some(
            e.cancellation_reasons()
                .iter()
                .map(|r| r.code().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    }
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Creates the table with the keys, index and TTL this adapter uses. For emulators and
    /// tests; on AWS the SAM template creates it.
    pub async fn create_table(client: &Client, table: &str) -> anyhow::Result<()> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key_el = |name: &str, kt: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kt)
                .build()
        };
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .attribute_definitions(attr("gsi1pk")?)
            .attribute_definitions(attr("gsi1sk")?)
            .key_schema(key_el("pk", KeyType::Hash)?)
            .key_schema(key_el("sk", KeyType::Range)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(GSI1)
                    .key_schema(key_el("gsi1pk", KeyType::Hash)?)
                    .key_schema(key_el("gsi1sk", KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()?,
            )
            .send()
            .await
            .context("CreateTable")?;
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("ttl")
                    .build()?,
            )
            .send()
            .await
            .context("UpdateTimeToLive")?;
        Ok(())
    }

    async fn get_item(&self, key: Item) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify_aws)?;
        Ok(out.item)
    }

    /// Reads several items of this table at once, retrying unprocessed keys.
    async fn batch_get(&self, keys: Vec<Item>) -> StoreResult<Vec<Item>> {
        let mut pending = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(StoreError::other)?;
        let mut found = Vec::new();
        for attempt in 0..10u32 {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(classify_aws)?;
            if let Some(mut responses) = out.responses {
                found.extend(responses.remove(&self.table).unwrap_or_default());
            }
            match out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                Some(rest) if !rest.keys().is_empty() => {
                    pending = rest;
                    tokio::time::sleep(Duration::from_millis(20 << attempt.min(6))).await;
                }
                _ => return Ok(found),
            }
        }
        Err(StoreError::Other(anyhow!(
            "BatchGetItem kept leaving keys unprocessed"
        )))
    }

    /// The user and one credential item (`sk`) of the user's partition, in one BatchGetItem.
    async fn load_principal<T>(
        &self,
        user_id: &str,
        sk: String,
        parse: fn(&Item) -> anyhow::Result<T>,
    ) -> StoreResult<(Option<User>, Option<T>)> {
        let items = self
            .batch_get(vec![
                key(user_pk(user_id), PROFILE.into()),
                key(user_pk(user_id), sk),
            ])
            .await?;
        let (mut user, mut credential) = (None, None);
        for item in &items {
            match item.get("sk") {
                Some(AttributeValue::S(sk)) if sk == PROFILE => {
                    user = Some(user_from_item(item).map_err(StoreError::Other)?)
                }
                Some(_) => credential = Some(parse(item).map_err(StoreError::Other)?),
                None => {}
            }
        }
        Ok((user, credential))
    }

    /// Deletes items by key in batches of 25, retrying unprocessed ones.
    async fn batch_delete(&self, keys: Vec<Item>) -> StoreResult<()> {
        for chunk in keys.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|k| {
                    DeleteRequest::builder()
                        .set_key(Some(k.clone()))
                        .build()
                        .map(|d| WriteRequest::builder().delete_request(d).build())
                })
                .collect::<Result<_, _>>()
                .map_err(StoreError::other)?;
            let mut attempt = 0u32;
            while !requests.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(classify_aws)?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                attempt += 1;
                if attempt > 10 {
                    return Err(StoreError::Other(anyhow!(
                        "BatchWriteItem kept leaving items unprocessed"
                    )));
                }
                if !requests.is_empty() {
                    tokio::time::sleep(Duration::from_millis(20 << attempt.min(6))).await;
                }
            }
        }
        Ok(())
    }

    /// Keys of the items in a user's partition whose sort key starts with `prefix`.
    async fn partition_keys(&self, user_id: &str, prefix: &str) -> StoreResult<Vec<Item>> {
        self.query_items(user_id, prefix, Some("pk, sk")).await
    }

    /// Items of a user's partition whose sort key starts with `prefix` (all of them for "").
    async fn query_items(
        &self,
        user_id: &str,
        prefix: &str,
        projection: Option<&str>,
    ) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", s(user_pk(user_id)))
                .set_projection_expression(projection.map(str::to_owned))
                .consistent_read(true)
                .set_exclusive_start_key(start);
            // DynamoDB refuses an empty begins_with operand.
            query = if prefix.is_empty() {
                query.key_condition_expression("pk = :pk")
            } else {
                query
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":prefix", s(prefix))
            };
            let out = query.send().await.map_err(classify_aws)?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// A release larger than the counters (they drifted): sets them to what is left, at least
    /// zero, if no other update came in between (else reads again).
    async fn clamp_usage(&self, user_id: &str, bytes: i64, files: i64) -> StoreResult<bool> {
        for _ in 0..TRANSACTION_ATTEMPTS {
            let Some(item) = self.get_item(key(user_pk(user_id), PROFILE.into())).await? else {
                return Ok(false);
            };
            let used = get_n(&item, "used_bytes")
                .map_err(StoreError::Other)?
                .unwrap_or(0);
            let count = get_n(&item, "file_count")
                .map_err(StoreError::Other)?
                .unwrap_or(0);
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(user_pk(user_id), PROFILE.into())))
                .update_expression("SET used_bytes = :used, file_count = :count")
                .condition_expression("used_bytes = :was_used AND file_count = :was_count")
                .expression_attribute_values(":used", n((used + bytes).max(0)))
                .expression_attribute_values(":count", n((count + files).max(0)))
                .expression_attribute_values(":was_used", n(used))
                .expression_attribute_values(":was_count", n(count))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(true),
                Err(e) if e.code() == Some("ConditionalCheckFailedException") => continue,
                Err(e) => return Err(classify_aws(e)),
            }
        }
        Err(StoreError::Other(anyhow!("usage counters kept changing")))
    }

    /// Writes an item, replacing any item with its key.
    async fn put_item(&self, item: Item) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(classify_aws)
    }

    /// Runs a transaction, retrying when it only collided with another one in flight.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), WriteUserError> {
        for attempt in 0..TRANSACTION_ATTEMPTS {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            let Some(reasons) = failed_conditions(&err) else {
                return Err(classify_aws(err).into());
            };
            let is = |code: &str, i: usize| reasons.get(i).and_then(|c| c.as_deref()) == Some(code);
            // Item order is the caller's contract: see `create_user` and `update_user`.
            if is("ConditionalCheckFailed", 0) {
                return Err(WriteUserError::Stale);
            }
            if is("ConditionalCheckFailed", 1) && items.len() == 3 {
                return Err(WriteUserError::UsernameTaken);
            }
            if (0..reasons.len()).any(|i| is("ConditionalCheckFailed", i)) {
                return Err(WriteUserError::EmailTaken);
            }
            let conflict = (0..reasons.len()).any(|i| is("TransactionConflict", i));
            if !conflict {
                return Err(classify_aws(err).into());
            }
            tokio::time::sleep(Duration::from_millis(10 * (attempt as u64 + 1))).await;
        }
        Err(StoreError::Other(anyhow!("transaction kept conflicting")).into())
    }

    fn put(&self, item: Item, condition: &str) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .build()
            .map_err(StoreError::other)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn delete(&self, key: Item) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .build()
            .map_err(StoreError::other)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}

#[async_trait]
impl UserStore for DynamoStore {
    async fn create_user(&self, user: &User) -> Result<(), WriteUserError> {
        // Order matters to `transact`: user, username marker, email marker.
        let items = vec![
            self.put(user_item(user), "attribute_not_exists(pk)")?,
            self.put(
                marker("USERNAME", &user.username.to_ascii_lowercase(), &user.id),
                "attribute_not_exists(pk)",
            )?,
            self.put(
                marker("EMAIL", &user.email.to_lowercase(), &user.id),
                "attribute_not_exists(pk)",
            )?,
        ];
        self.transact(items).await
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        self.get_item(key(user_pk(id), PROFILE.into()))
            .await?
            .map(|item| user_from_item(&item).map_err(StoreError::Other))
            .transpose()
    }

    async fn find_user_by_login(&self, login: &str) -> StoreResult<Option<User>> {
        let login = login.to_lowercase();
        let marker_key = if login.contains('@') {
            marker_key("EMAIL", &login)
        } else {
            marker_key("USERNAME", &login)
        };
        let Some(marker) = self.get_item(marker_key).await? else {
            return Ok(None);
        };
        let user_id = get_s(&marker, "user_id").map_err(StoreError::Other)?;
        self.get_user(&user_id).await
    }

    async fn update_user(&self, before: &User, after: &User) -> Result<(), WriteUserError> {
        let fields = "SET email = :email, first_name = :first, last_name = :last, #role = :role, \
                      is_active = :active, password_hash = :hash, updated_at = :updated";
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(&after.id), PROFILE.into())))
            .condition_expression(
                "attribute_exists(pk) AND password_hash = :old_hash AND email = :old_email \
                 AND #role = :old_role AND is_active = :old_active",
            )
            .expression_attribute_values(":old_hash", s(&before.password_hash))
            .expression_attribute_values(":old_email", s(&before.email))
            .expression_attribute_values(":old_role", s(before.role.as_str()))
            .expression_attribute_values(":old_active", AttributeValue::Bool(before.is_active))
            .expression_attribute_names("#role", "role")
            .expression_attribute_values(":email", s(&after.email))
            .expression_attribute_values(":first", s(&after.first_name))
            .expression_attribute_values(":last", s(&after.last_name))
            .expression_attribute_values(":role", s(after.role.as_str()))
            .expression_attribute_values(":active", AttributeValue::Bool(after.is_active))
            .expression_attribute_values(":hash", s(&after.password_hash))
            .expression_attribute_values(":updated", n(after.updated_at.timestamp()));
        update = match after.quota_bytes {
            Some(q) => update
                .update_expression(format!("{fields}, quota_bytes = :quota"))
                .expression_attribute_values(":quota", n(q)),
            None => update.update_expression(format!("{fields} REMOVE quota_bytes")),
        };
        let update = update.build().map_err(StoreError::other)?;
        // Order matters to `transact`: the user first.
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        let (old_email, new_email) = (before.email.to_lowercase(), after.email.to_lowercase());
        if old_email != new_email {
            items.push(self.delete(marker_key("EMAIL", &old_email))?);
            items.push(self.put(
                marker("EMAIL", &new_email, &after.id),
                "attribute_not_exists(pk)",
            )?);
        }
        self.transact(items).await
    }

    async fn add_usage(
        &self,
        user_id: &str,
        bytes: i64,
        files: i64,
        quota: Option<u64>,
    ) -> StoreResult<bool> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user_id), PROFILE.into())))
            .update_expression("ADD used_bytes :bytes, file_count :files")
            .expression_attribute_values(":bytes", n(bytes))
            .expression_attribute_values(":files", n(files));
        // Conditions cannot add, so "used + bytes <= quota" is asked as "used <= quota - bytes".
        // Only growth is held to the quota: freeing space always succeeds.
        // A release is held to what is there, so counters never go below zero (SQLite clamps).
        let release = bytes <= 0 && files <= 0;
        update = match quota.filter(|_| bytes > 0) {
            Some(q) if q < bytes as u64 => return Ok(false),
            Some(q) => update
                .condition_expression("attribute_exists(pk) AND used_bytes <= :max")
                .expression_attribute_values(":max", n(q - bytes as u64)),
            None if release => update
                .condition_expression(
                    "attribute_exists(pk) AND used_bytes >= :less AND file_count >= :fewer",
                )
                .expression_attribute_values(":less", n(-bytes))
                .expression_attribute_values(":fewer", n(-files)),
            None => update.condition_expression("attribute_exists(pk)"),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") && release => {
                self.clamp_usage(user_id, bytes, files).await
            }
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(classify_aws(e)),
        }
    }

    async fn list_users(
        &self,
        search: Option<&str>,
        after: Option<&UserKey>,
        limit: usize,
    ) -> StoreResult<Vec<User>> {
        let mut users = Vec::new();
        // The index is in username order; a page resumes after the last user shown.
        let mut start = after.map(|k| {
            let mut item = key(user_pk(&k.id), PROFILE.into());
            item.insert("gsi1pk".into(), s("USERS"));
            item.insert("gsi1sk".into(), s(&k.username_lc));
            item
        });
        loop {
            // Without a search every item read is shown, so read no more than the page needs.
            let batch = if search.is_some() {
                1000
            } else {
                limit - users.len()
            };
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("gsi1pk = :users")
                .expression_attribute_values(":users", s("USERS"))
                .limit(batch.clamp(1, 1000) as i32)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(classify_aws)?;
            for item in out.items.unwrap_or_default() {
                let user = user_from_item(&item).map_err(StoreError::Other)?;
                if search.is_none_or(|q| search_text(&user).contains(q)) {
                    users.push(user);
                    if users.len() == limit {
                        return Ok(users);
                    }
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(users);
            }
        }
    }

    async fn count_active_superusers(&self) -> StoreResult<u64> {
        let mut count = 0;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("gsi1pk = :users")
                .filter_expression("#role = :superuser AND is_active = :yes")
                .expression_attribute_names("#role", "role")
                .expression_attribute_values(":users", s("USERS"))
                .expression_attribute_values(":superuser", s(Role::Superuser.as_str()))
                .expression_attribute_values(":yes", AttributeValue::Bool(true))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(classify_aws)?;
            count += out.count.max(0) as u64;
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(count);
            }
        }
    }

    async fn delete_user(&self, user: &User) -> StoreResult<()> {
        // Profile and markers first, atomically: from then on no credential of the user works and
        // the name is free; the rest of the partition (sessions, keys) follows.
        let items = vec![
            self.delete(key(user_pk(&user.id), PROFILE.into()))?,
            self.delete(marker_key("USERNAME", &user.username.to_ascii_lowercase()))?,
            self.delete(marker_key("EMAIL", &user.email.to_lowercase()))?,
        ];
        match self.transact(items).await {
            Ok(()) | Err(WriteUserError::Stale) => {}
            Err(WriteUserError::Store(e)) => return Err(e),
            Err(other) => return Err(StoreError::Other(anyhow!("deleting user: {other}"))),
        }
        let rest = self.partition_keys(&user.id, "").await?;
        self.batch_delete(rest).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(classify_aws(e).into()))
    }
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn create_session(&self, s_: &Session) -> StoreResult<()> {
        let mut item = key(user_pk(&s_.user_id), format!("SESSION#{}", s_.id));
        item.extend([
            ("session_id".into(), s(&s_.id)),
            ("user_id".into(), s(&s_.user_id)),
            ("refresh_hash".into(), s(&s_.refresh_hash)),
            ("generation".into(), n(s_.generation)),
            ("created_at".into(), n(s_.created_at.timestamp())),
            ("expires_at".into(), n(s_.expires_at.timestamp())),
            ("ttl".into(), n(s_.expires_at.timestamp())),
        ]);
        self.put_item(item).await
    }

    async fn load_session_principal(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> StoreResult<(Option<User>, Option<Session>)> {
        self.load_principal(user_id, format!("SESSION#{session_id}"), session_from_item)
            .await
    }

    async fn rotate_session(
        &self,
        user_id: &str,
        session_id: &str,
        expected_generation: u64,
        new_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user_id), format!("SESSION#{session_id}"))))
            .condition_expression("attribute_exists(pk) AND generation = :expected")
            .update_expression(
                "SET previous_hash = refresh_hash, refresh_hash = :hash, generation = :next, \
                 expires_at = :exp, #ttl = :exp",
            )
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":expected", n(expected_generation))
            .expression_attribute_values(":next", n(expected_generation + 1))
            .expression_attribute_values(":hash", s(new_hash))
            .expression_attribute_values(":exp", n(expires_at.timestamp()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(classify_aws(e)),
        }
    }

    async fn delete_session(&self, user_id: &str, session_id: &str) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user_id), format!("SESSION#{session_id}"))))
            .send()
            .await
            .map(|_| ())
            .map_err(classify_aws)
    }

    async fn delete_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<()> {
        let keep_sk = keep.map(|k| format!("SESSION#{k}"));
        let keys = self
            .partition_keys(user_id, "SESSION#")
            .await?
            .into_iter()
            .filter(|k| match (k.get("sk"), &keep_sk) {
                (Some(AttributeValue::S(sk)), Some(keep)) => sk != keep,
                _ => true,
            })
            .collect();
        self.batch_delete(keys).await
    }
}

#[async_trait]
impl ApiKeyStore for DynamoStore {
    async fn create_api_key(&self, k: &ApiKey) -> StoreResult<()> {
        let mut item = key(user_pk(&k.user_id), format!("APIKEY#{}", k.id));
        item.extend([
            ("key_id".into(), s(&k.id)),
            ("user_id".into(), s(&k.user_id)),
            ("name".into(), s(&k.name)),
            ("prefix".into(), s(&k.prefix)),
            ("key_hash".into(), s(&k.key_hash)),
            ("created_at".into(), n(k.created_at.timestamp())),
        ]);
        if let Some(exp) = k.expires_at {
            item.insert("expires_at".into(), n(exp.timestamp()));
            item.insert("ttl".into(), n(exp.timestamp()));
        }
        self.put_item(item).await
    }

    async fn list_api_keys(&self, user_id: &str) -> StoreResult<Vec<ApiKey>> {
        let mut keys = self
            .query_items(user_id, "APIKEY#", None)
            .await?
            .iter()
            .map(key_from_item)
            .collect::<anyhow::Result<Vec<_>>>()
            .map_err(StoreError::Other)?;
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    async fn delete_api_key(&self, user_id: &str, key_id: &str) -> StoreResult<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(user_id), format!("APIKEY#{key_id}"))))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(classify_aws)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn load_key_principal(
        &self,
        user_id: &str,
        key_id: &str,
    ) -> StoreResult<(Option<User>, Option<ApiKey>)> {
        self.load_principal(user_id, format!("APIKEY#{key_id}"), key_from_item)
            .await
    }
}

impl DynamoStore {
    /// Adds one to the open window, or opens one; both conditional, so concurrent failures are
    /// all counted (a lost race just goes round again).
    async fn count_failure(&self, k: &str, now: i64, window_secs: i64) -> StoreResult<Counter> {
        for _ in 0..5 {
            let counted = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(throttle_key(k)))
                .condition_expression("#ttl > :now")
                .update_expression("ADD #count :one")
                .expression_attribute_names("#count", "count")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":now", n(now))
                .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
                .send()
                .await;
            match counted {
                Ok(out) => {
                    let item = out.attributes.unwrap_or_default();
                    return Ok(Counter {
                        count: get_n(&item, "count").ok().flatten().unwrap_or(1).max(0) as u64,
                        closes_at: get_n(&item, "ttl").ok().flatten().unwrap_or(now),
                    });
                }
                Err(e) if e.code() == Some("ConditionalCheckFailedException") => {}
                Err(e) => return Err(classify_aws(e)),
            }
            let mut item = throttle_key(k);
            item.insert("count".into(), n(1));
            item.insert("ttl".into(), n(now + window_secs));
            let opened = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk) OR #ttl <= :now")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":now", n(now))
                .send()
                .await;
            match opened {
                Ok(_) => {
                    return Ok(Counter {
                        count: 1,
                        closes_at: now + window_secs,
                    })
                }
                Err(e) if e.code() == Some("ConditionalCheckFailedException") => {}
                Err(e) => return Err(classify_aws(e)),
            }
        }
        Err(StoreError::Other(anyhow!(
            "login failure counter kept changing"
        )))
    }
}

fn throttle_key(name: &str) -> Item {
    key(format!("THROTTLE#{name}"), "THROTTLE".into())
}

#[async_trait]
impl ThrottleStore for DynamoStore {
    async fn throttle_counts(&self, keys: &[String], now: i64) -> StoreResult<Vec<Counter>> {
        let items = self
            .batch_get(keys.iter().map(|k| throttle_key(k)).collect())
            .await?;
        Ok(keys
            .iter()
            .map(|k| {
                let pk = format!("THROTTLE#{k}");
                let item = items
                    .iter()
                    .find(|i| matches!(i.get("pk"), Some(AttributeValue::S(p)) if *p == pk));
                let closes_at = item
                    .and_then(|i| get_n(i, "ttl").ok().flatten())
                    .unwrap_or(0);
                let count = item
                    .and_then(|i| get_n(i, "count").ok().flatten())
                    .unwrap_or(0);
                if closes_at > now {
                    Counter {
                        count: count.max(0) as u64,
                        closes_at,
                    }
                } else {
                    Counter::default()
                }
            })
            .collect())
    }

    async fn throttle_hit(
        &self,
        keys: &[String],
        now: i64,
        window_secs: i64,
    ) -> StoreResult<Vec<Counter>> {
        let mut counters = Vec::new();
        for k in keys {
            counters.push(self.count_failure(k, now, window_secs).await?);
        }
        Ok(counters)
    }

    async fn throttle_reset(&self, key_name: &str) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(throttle_key(key_name)))
            .send()
            .await
            .map(|_| ())
            .map_err(classify_aws)
    }
}

fn job_key(user_id: &str, job_id: &str) -> Item {
    key(user_pk(user_id), format!("ZIPJOB#{job_id}"))
}

#[async_trait]
impl JobStore for DynamoStore {
    async fn save_job(&self, job: &ZipJob) -> StoreResult<()> {
        let mut item = job_key(&job.user_id, &job.id);
        item.insert(
            "job".into(),
            s(serde_json::to_string(job).map_err(StoreError::other)?),
        );
        item.insert("ttl".into(), n(job.expires_at.timestamp()));
        self.put_item(item).await
    }

    async fn get_job(&self, user_id: &str, job_id: &str) -> StoreResult<Option<ZipJob>> {
        let Some(item) = self.get_item(job_key(user_id, job_id)).await? else {
            return Ok(None);
        };
        let job: ZipJob = serde_json::from_str(&get_s(&item, "job").map_err(StoreError::Other)?)
            .map_err(StoreError::other)?;
        // TTL deletion lags.
        Ok((job.expires_at > Utc::now()).then_some(job))
    }
}

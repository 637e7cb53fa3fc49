//! Users: the profile item, the username and email markers that make both unique (written in
//! transactions whose items say what their conditions guard), and the usage counters.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, Select, TransactWriteItem, Update};
use serde_json::json;

use super::items::{from_item, to_item, user_index_key, user_item, Item, Key, MarkerItem};
use super::items::{SuperuserCountItem, UsageItem, USERS};
use super::{names, DynamoStore, GSI1};
use crate::aws::errors;
use crate::aws::retry::{self, Step};
use crate::domain::{LoginKey, Role, User};
use crate::store::WriteUserError;
use crate::store::{counts_as_superuser, Caps, StoreError, StoreResult, UserKey, UserStore};

/// What a transaction item's failed condition means (the username is taken, the record
/// changed), so a cancelled transaction is reported by meaning rather than by position.
pub(super) type Guard = fn() -> WriteUserError;

/// One item of a transaction, with what its condition guards (`None`: it has none).
pub(super) type Tagged = (Option<Guard>, TransactWriteItem);

/// A transaction refused by a condition is "no" (not there, changed, over a cap); anything else
/// is the store's failure.
pub(super) fn refused(result: Result<(), WriteUserError>) -> StoreResult<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(WriteUserError::Store(e)) => Err(e),
        Err(_) => Ok(false),
    }
}

/// The marker item that reserves `key` for `user`.
fn marker(key: Key, user: &User) -> StoreResult<Item> {
    let user_id = user.id.to_string();
    to_item(MarkerItem { key, user_id })
}

impl DynamoStore {
    /// A put that succeeds only where no item has its key.
    pub(super) fn put_new(&self, item: Item, guard: Guard) -> StoreResult<Tagged> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()?;
        Ok((Some(guard), TransactWriteItem::builder().put(put).build()))
    }

    /// A delete, under `condition` if given (its failure means the record changed: `Stale`).
    pub(super) fn delete(&self, key: &Key, condition: Option<&str>) -> StoreResult<Tagged> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key.item()?))
            .set_condition_expression(condition.map(str::to_owned))
            .build()?;
        let guard: Option<Guard> = condition.map(|_| (|| WriteUserError::Stale) as Guard);
        Ok((guard, TransactWriteItem::builder().delete(delete).build()))
    }

    /// The update of `before`'s record to `after`'s editable fields, if it is still `before`.
    fn user_update(&self, before: &User, after: &User) -> StoreResult<Tagged> {
        let fields = "SET email = :email, first_name = :first, last_name = :last, #role = :role, \
                      is_active = :active, password_hash = :hash, updated_at = :updated";
        let mut values = json!({
            ":old_hash": before.password_hash, ":old_email": before.email.as_str(),
            ":old_role": before.role.as_str(), ":old_active": before.is_active,
            ":email": after.email.as_str(), ":first": after.first_name, ":last": after.last_name,
            ":role": after.role.as_str(), ":active": after.is_active,
            ":hash": after.password_hash, ":updated": after.updated_at.timestamp(),
        });
        // No quota or limit is no attribute, not a NULL (as in the user's item).
        let (mut set, mut remove) = (vec![fields.to_owned()], Vec::new());
        for (name, cap) in [
            ("quota_bytes", after.quota_bytes),
            ("file_limit", after.file_limit),
        ] {
            match cap {
                Some(n) => {
                    values[format!(":{name}")] = n.into();
                    set.push(format!("{name} = :{name}"));
                }
                None => remove.push(name),
            }
        }
        let mut update = set.join(", ");
        if !remove.is_empty() {
            update = format!("{update} REMOVE {}", remove.join(", "));
        }
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Key::user(&after.id).item()?))
            .condition_expression(
                "attribute_exists(pk) AND password_hash = :old_hash AND email = :old_email \
                 AND #role = :old_role AND is_active = :old_active",
            )
            .update_expression(update)
            .set_expression_attribute_names(names(&["role"]))
            .set_expression_attribute_values(Some(to_item(values)?))
            .build()?;
        let update = TransactWriteItem::builder().update(update).build();
        Ok((Some(|| WriteUserError::Stale), update))
    }

    /// Makes sure the superuser count exists: a table from before it gets it counted once from
    /// the user index, with a conditional put (of two first counts, one is written; both
    /// counted the same users, as no change of a superuser is written without the count).
    async fn ensure_superuser_count(&self) -> StoreResult<()> {
        let key = Key::superusers();
        if self.get::<SuperuserCountItem>(&key).await?.is_some() {
            return Ok(());
        }
        let active_superusers = self.count_active_superusers().await? as i64;
        let count = SuperuserCountItem {
            key,
            active_superusers,
        };
        let put = self
            .put_item(to_item(&count)?)
            .condition_expression("attribute_not_exists(pk)");
        errors::written(put.send().await)?;
        Ok(())
    }

    /// The transaction item that changes the superuser count by `delta` (one up or down) with
    /// the user's write: down only while another active superuser stays.
    async fn superuser_count_change(&self, delta: i64) -> StoreResult<Tagged> {
        self.ensure_superuser_count().await?;
        let (condition, values, guard): (_, _, Guard) = if delta < 0 {
            let values = json!({ ":delta": delta, ":one": 1 });
            ("active_superusers > :one", values, || {
                WriteUserError::LastSuperuser
            })
        } else {
            let values = json!({ ":delta": delta });
            ("attribute_exists(pk)", values, || WriteUserError::Stale)
        };
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Key::superusers().item()?))
            .update_expression("ADD active_superusers :delta")
            .condition_expression(condition)
            .set_expression_attribute_values(Some(to_item(values)?))
            .build()?;
        Ok((
            Some(guard),
            TransactWriteItem::builder().update(update).build(),
        ))
    }

    /// Runs a transaction, retrying when it only collided with another one in flight. A failed
    /// condition ends it with the error its item's guard names (the first in item order).
    pub(super) async fn transact(&self, tagged: Vec<Tagged>) -> Result<(), WriteUserError> {
        let (guards, items): (Vec<_>, Vec<_>) = tagged.into_iter().unzip();
        let (guards, items) = (&guards, &items);
        let attempt = || async move {
            let request = self.client.transact_write_items();
            let Err(err) = request.set_transact_items(Some(items.clone())).send().await else {
                return Ok(());
            };
            // DynamoDB gives one reason per item, in item order.
            let reasons: Vec<&str> = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                    let reasons = e.cancellation_reasons().iter();
                    reasons.map(|r| r.code().unwrap_or_default()).collect()
                }
                _ => Vec::new(),
            };
            let failed = guards
                .iter()
                .zip(&reasons)
                .find_map(|(guard, code)| guard.filter(|_| *code == "ConditionalCheckFailed"));
            if let Some(guard) = failed {
                return Err(Step::Stop(guard()));
            }
            if reasons.contains(&"TransactionConflict") {
                return Err(Step::Again("transaction kept conflicting"));
            }
            Err(Step::Stop(StoreError::from(err).into()))
        };
        retry::DEFAULT.steps(attempt).await
    }

    /// A query of the user index (every user, in normalized-username order).
    fn users_index(&self) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :users")
            .expression_attribute_values(":users", AttributeValue::S(USERS.into()))
    }

    /// A release larger than the counters (they drifted): sets them to what is left, at least
    /// zero, if no other update came in between (else reads again).
    async fn clamp_usage(&self, user_id: &str, bytes: i64, files: i64) -> StoreResult<bool> {
        let key = &Key::user(user_id);
        let attempt = || async move {
            let Some(was) = self.get::<UsageItem>(key).await? else {
                return Ok(false);
            };
            let values = json!({
                ":used": (was.used_bytes + bytes).max(0), ":count": (was.file_count + files).max(0),
                ":was_used": was.used_bytes, ":was_count": was.file_count,
            });
            let set = "SET used_bytes = :used, file_count = :count";
            let unchanged = "used_bytes = :was_used AND file_count = :was_count";
            let update = self.update_item(key, set, unchanged, &[], values)?;
            let written = errors::written(update.send().await)?;
            written
                .map(|_| true)
                .ok_or(Step::Again("usage counters kept changing"))
        };
        retry::DEFAULT.steps(attempt).await
    }
}

/// The condition that holds growth by `bytes` and `files` to `caps` (with its values put in
/// `values`); `None` when the growth alone passes a cap. Conditions cannot add, so
/// "used + bytes <= quota" is asked as "used <= quota - bytes". Only growth is held to a cap:
/// freeing space always succeeds.
pub(super) fn caps_condition(
    values: &mut serde_json::Value,
    bytes: i64,
    files: i64,
    caps: Caps,
) -> Option<String> {
    let mut condition = "attribute_exists(pk)".to_owned();
    for (counter, placeholder, growth, cap) in [
        ("used_bytes", ":max", bytes, caps.quota_bytes),
        ("file_count", ":max_files", files, caps.file_limit),
    ] {
        let Some(cap) = cap.filter(|_| growth > 0) else {
            continue;
        };
        values[placeholder] = cap.checked_sub(growth as u64)?.into();
        condition = format!("{condition} AND {counter} <= {placeholder}");
    }
    Some(condition)
}

#[async_trait]
impl UserStore for DynamoStore {
    async fn create_user(&self, user: &User) -> Result<(), WriteUserError> {
        let name = Key::username(&user.username.normalized());
        let email = Key::email(&user.email.normalized());
        let mut items = vec![
            self.put_new(user_item(user)?, || WriteUserError::Stale)?,
            self.put_new(marker(name, user)?, || WriteUserError::UsernameTaken)?,
            self.put_new(marker(email, user)?, || WriteUserError::EmailTaken)?,
        ];
        if counts_as_superuser(user) {
            items.push(self.superuser_count_change(1).await?);
        }
        self.transact(items).await
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        self.get(&Key::user(id)).await
    }

    async fn find_user_by_login(&self, login: &str) -> StoreResult<Option<User>> {
        let key = match LoginKey::of(login) {
            LoginKey::Username(name) => Key::username(&name),
            LoginKey::Email(address) => Key::email(&address),
        };
        match self.get::<MarkerItem>(&key).await? {
            Some(marker) => self.get_user(&marker.user_id).await,
            None => Ok(None),
        }
    }

    async fn update_user(&self, before: &User, after: &User) -> Result<(), WriteUserError> {
        let mut items = vec![self.user_update(before, after)?];
        let (old_email, new_email) = (before.email.normalized(), after.email.normalized());
        if old_email != new_email {
            items.push(self.delete(&Key::email(&old_email), None)?);
            let marker = marker(Key::email(&new_email), after)?;
            items.push(self.put_new(marker, || WriteUserError::EmailTaken)?);
        }
        let delta = i64::from(counts_as_superuser(after)) - i64::from(counts_as_superuser(before));
        if delta != 0 {
            items.push(self.superuser_count_change(delta).await?);
        }
        self.transact(items).await
    }

    async fn add_usage_within(
        &self,
        user_id: &str,
        bytes: i64,
        files: i64,
        caps: Caps,
    ) -> StoreResult<bool> {
        let mut values = json!({ ":bytes": bytes, ":files": files });
        // A release is held to what is there, so counters never go below zero (SQLite clamps).
        let release = bytes <= 0 && files <= 0;
        let condition = if release {
            values[":less"] = (-bytes).into();
            values[":fewer"] = (-files).into();
            "attribute_exists(pk) AND used_bytes >= :less AND file_count >= :fewer".to_owned()
        } else {
            match caps_condition(&mut values, bytes, files, caps) {
                Some(condition) => condition,
                None => return Ok(false),
            }
        };
        let add = "ADD used_bytes :bytes, file_count :files";
        let update = self.update_item(&Key::user(user_id), add, &condition, &[], values)?;
        match errors::written(update.send().await)? {
            Some(_) => Ok(true),
            None if release => self.clamp_usage(user_id, bytes, files).await,
            None => Ok(false),
        }
    }

    async fn list_users(
        &self,
        search: Option<&str>,
        after: Option<&UserKey>,
        limit: usize,
    ) -> StoreResult<Vec<User>> {
        // The index is in username order; a page resumes after the last user shown. Without a
        // search every user read is shown, so no more are read than the page needs.
        let page_size = if search.is_some() { 1000 } else { limit };
        let start = after.map(|k| user_index_key(&k.id, &k.username_lc));
        let mut items = self
            .users_index()
            .set_exclusive_start_key(start.transpose()?)
            .into_paginator()
            .page_size(page_size.clamp(1, 1000) as i32)
            .items()
            .send();
        let mut users = Vec::new();
        while users.len() < limit {
            let Some(item) = items.try_next().await? else {
                break;
            };
            let user: User = from_item(item)?;
            if user.matches(search) {
                users.push(user);
            }
        }
        Ok(users)
    }

    async fn count_active_superusers(&self) -> StoreResult<u64> {
        let superuser = AttributeValue::S(Role::Superuser.as_str().into());
        let pages = self
            .users_index()
            .filter_expression("#role = :superuser AND is_active = :yes")
            .set_expression_attribute_names(names(&["role"]))
            .expression_attribute_values(":superuser", superuser)
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .select(Select::Count)
            .into_paginator()
            .send()
            .try_collect()
            .await?;
        Ok(pages.iter().map(|p| p.count.max(0) as u64).sum())
    }

    async fn delete_user(&self, user: &User) -> StoreResult<()> {
        // Profile and markers first, atomically: from then on no credential of the user works and
        // the name is free; the rest of the partition (sessions, keys) follows.
        let items = vec![
            self.delete(&Key::user(&user.id), None)?,
            self.delete(&Key::username(&user.username.normalized()), None)?,
            self.delete(&Key::email(&user.email.normalized()), None)?,
        ];
        // Unconditional deletes cannot be refused for a condition: any error is the store's.
        self.transact(items).await.map_err(|e| match e {
            WriteUserError::Store(e) => e,
            other => StoreError::other(anyhow::anyhow!("deleting user: {other}")),
        })?;
        let mut rest: Vec<Key> = self.query(&user.id, "", Some("pk, sk")).await?;
        // Share markers live outside the partition; the count on the profile went with it.
        let markers: Vec<Key> = rest.iter().filter_map(Key::marker_of_share).collect();
        rest.extend(markers);
        self.batch_delete(&rest).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(errors::unavailable)?;
        Ok(())
    }
}

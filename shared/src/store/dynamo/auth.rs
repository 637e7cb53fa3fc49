//! What logging in leaves behind: sessions and API keys (items in their user's partition), and
//! login-failure counters (one item per counter, its window's end in `ttl`).

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::query::paginator::QueryPaginator;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::items::{api_key_item, from_item, from_items, session_item, to_item};
use super::items::{Key, ThrottleItem, API_KEY, SESSION};
use super::{names, DynamoStore};
use crate::aws::errors;
use crate::aws::retry::{self, Step};
use crate::domain::User;
use crate::store::ThrottleStore;
use crate::store::{ApiKey, ApiKeyStore, Counter, Session, SessionStore, StoreResult};

#[async_trait]
impl SessionStore for DynamoStore {
    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        self.put_item(session_item(session)?).send().await?;
        Ok(())
    }

    async fn load_session_principal(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> StoreResult<(Option<User>, Option<Session>)> {
        let session = Key::session(user_id, session_id);
        self.load_principal(user_id, session).await
    }

    async fn rotate_session(
        &self,
        user_id: &str,
        session_id: &str,
        expected_generation: u64,
        new_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let update = self.update_item(
            &Key::session(user_id, session_id),
            "SET previous_hash = refresh_hash, refresh_hash = :hash, generation = :next, \
             expires_at = :exp, #ttl = :exp",
            "attribute_exists(pk) AND generation = :expected",
            &["ttl"],
            json!({
                ":expected": expected_generation, ":next": expected_generation + 1,
                ":hash": new_hash, ":exp": expires_at.timestamp(),
            }),
        )?;
        Ok(errors::written(update.send().await)?.is_some())
    }

    async fn delete_session(&self, user_id: &str, session_id: &str) -> StoreResult<()> {
        self.delete_item(&Key::session(user_id, session_id))?
            .send()
            .await?;
        Ok(())
    }

    async fn delete_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<()> {
        let keep = keep.map(|k| Key::session(user_id, k));
        // A query page (up to 1 MB: thousands of keys) at a time, each in BatchWriteItems of
        // 25: memory stays flat and thousands of sessions end within seconds.
        let mut pages = self.session_pages(user_id, "pk, sk").send();
        while let Some(page) = pages.next().await {
            let items = page?.items.unwrap_or_default();
            let mut keys: Vec<Key> = from_items(items)?;
            keys.retain(|k| keep.as_ref() != Some(k));
            self.batch_delete(&keys).await?;
        }
        Ok(())
    }

    async fn trim_sessions(&self, user_id: &str, max_live: u64) -> StoreResult<u64> {
        let now = Utc::now().timestamp();
        let mut live = Vec::new();
        let mut expired = Vec::new();
        let mut pages = self
            .session_pages(user_id, "pk, sk, created_at, expires_at")
            .send();
        while let Some(page) = pages.next().await {
            for age in from_items::<SessionAge>(page?.items.unwrap_or_default())? {
                match age.expires_at > now {
                    true => live.push(age),
                    false => expired.push(age.key()),
                }
            }
        }
        // Newest first. Session ids are UUIDv7 (time-ordered within the second); ids of older
        // sessions (v4) only break ties between sessions made in the same second.
        live.sort_by(|a, b| (b.created_at, &b.sk).cmp(&(a.created_at, &a.sk)));
        let excess: Vec<Key> = live
            .into_iter()
            .skip(max_live as usize)
            .map(|a| a.key())
            .collect();
        let ended = excess.len() as u64;
        expired.extend(excess);
        self.batch_delete(&expired).await?;
        Ok(ended)
    }
}

/// What trimming needs of a session item.
#[derive(serde::Deserialize)]
struct SessionAge {
    pk: String,
    sk: String,
    #[serde(default)]
    created_at: i64,
    #[serde(default)]
    expires_at: i64,
}

impl SessionAge {
    fn key(self) -> Key {
        Key {
            pk: self.pk,
            sk: self.sk,
        }
    }
}

impl DynamoStore {
    /// The user's session items, a page (at most 1 MB) at a time, with `projection` only.
    fn session_pages(&self, user_id: &str, projection: &str) -> QueryPaginator {
        let values = [
            (":pk".to_owned(), AttributeValue::S(Key::user(user_id).pk)),
            (":prefix".to_owned(), AttributeValue::S(SESSION.to_owned())),
        ];
        self.client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .set_expression_attribute_values(Some(values.into_iter().collect()))
            .projection_expression(projection)
            .into_paginator()
    }
}

#[async_trait]
impl ApiKeyStore for DynamoStore {
    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        self.put_item(api_key_item(key)?).send().await?;
        Ok(())
    }

    async fn list_api_keys(&self, user_id: &str) -> StoreResult<Vec<ApiKey>> {
        let mut keys: Vec<ApiKey> = self.query(user_id, API_KEY, None).await?;
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    async fn delete_api_key(&self, user_id: &str, key_id: &str) -> StoreResult<bool> {
        let delete = self.delete_item(&Key::api_key(user_id, key_id))?;
        let out = delete.return_values(ReturnValue::AllOld).send().await?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn delete_api_keys(&self, user_id: &str) -> StoreResult<u64> {
        let keys: Vec<Key> = self.query(user_id, API_KEY, Some("pk, sk")).await?;
        self.batch_delete(&keys).await?;
        Ok(keys.len() as u64)
    }

    async fn load_key_principal(
        &self,
        user_id: &str,
        key_id: &str,
    ) -> StoreResult<(Option<User>, Option<ApiKey>)> {
        let key = Key::api_key(user_id, key_id);
        self.load_principal(user_id, key).await
    }
}

impl ThrottleItem {
    fn counter(&self) -> Counter {
        Counter {
            count: self.count.max(0) as u64,
            closes_at: self.ttl,
        }
    }
}

impl DynamoStore {
    /// Adds one to the open window, or opens one; both conditional, so concurrent failures are
    /// all counted (a lost race just goes round again).
    async fn count_failure(&self, name: &str, now: i64, window_secs: i64) -> StoreResult<Counter> {
        let key = &Key::throttle(name);
        let attempt = || async move {
            let values = json!({ ":one": 1, ":now": now });
            let add = "ADD #count :one";
            let add = self.update_item(key, add, "#ttl > :now", &["count", "ttl"], values)?;
            let added = add.return_values(ReturnValue::AllNew).send().await;
            if let Some(out) = errors::written(added)? {
                let item: ThrottleItem = from_item(out.attributes.unwrap_or_default())?;
                return Ok(item.counter());
            }
            // No window open: open one, unless another failure just did.
            let opened = ThrottleItem {
                key: key.clone(),
                count: 1,
                ttl: now + window_secs,
            };
            let open = self
                .put_item(to_item(&opened)?)
                .condition_expression("attribute_not_exists(pk) OR #ttl <= :now")
                .set_expression_attribute_names(names(&["ttl"]))
                .set_expression_attribute_values(Some(to_item(json!({ ":now": now }))?));
            let again = Step::Again("login failure counter kept changing");
            errors::written(open.send().await)?
                .map(|_| opened.counter())
                .ok_or(again)
        };
        retry::DEFAULT.steps(attempt).await
    }
}

#[async_trait]
impl ThrottleStore for DynamoStore {
    async fn throttle_counts(&self, names: &[String], now: i64) -> StoreResult<Vec<Counter>> {
        let keys: Vec<Key> = names.iter().map(|name| Key::throttle(name)).collect();
        let items: Vec<ThrottleItem> = from_items(self.batch_get(&keys).await?)?;
        let counter = |key: &Key| match items.iter().find(|i| i.key == *key) {
            Some(item) if item.ttl > now => item.counter(),
            _ => Counter::default(),
        };
        Ok(keys.iter().map(counter).collect())
    }

    async fn throttle_hit(
        &self,
        names: &[String],
        now: i64,
        window_secs: i64,
    ) -> StoreResult<Vec<Counter>> {
        // One item each, so the counters are counted side by side (a login takes three).
        let counting = names
            .iter()
            .map(|name| self.count_failure(name, now, window_secs));
        futures::future::try_join_all(counting).await
    }

    async fn throttle_release(&self, names: &[String], now: i64) -> StoreResult<()> {
        let releasing = names.iter().map(|name| async move {
            let key = &Key::throttle(name);
            let values = json!({ ":one": -1, ":now": now, ":zero": 0 });
            let condition = "#ttl > :now AND #count > :zero";
            let update = "ADD #count :one";
            let take = self.update_item(key, update, condition, &["count", "ttl"], values)?;
            // A closed window or an empty counter has nothing to give back.
            errors::written(take.send().await).map(|_| ())
        });
        futures::future::try_join_all(releasing).await.map(|_| ())
    }

    async fn throttle_reset(&self, name: &str) -> StoreResult<()> {
        self.delete_item(&Key::throttle(name))?.send().await?;
        Ok(())
    }
}

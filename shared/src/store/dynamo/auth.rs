//! What logging in leaves behind: sessions and API keys (items in their user's partition), and
//! login-failure counters (one item per counter, its window's end in `ttl`).

use async_trait::async_trait;
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
        let mut keys: Vec<Key> = self.query(user_id, SESSION, Some("pk, sk")).await?;
        keys.retain(|k| keep.as_ref() != Some(k));
        self.batch_delete(&keys).await
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
        let mut counters = Vec::new();
        for name in names {
            counters.push(self.count_failure(name, now, window_secs).await?);
        }
        Ok(counters)
    }

    async fn throttle_reset(&self, name: &str) -> StoreResult<()> {
        self.delete_item(&Key::throttle(name))?.send().await?;
        Ok(())
    }
}

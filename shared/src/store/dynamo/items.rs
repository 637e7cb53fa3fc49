//! The table's items, as serde types that `serde_dynamo` maps to and from DynamoDB items, and
//! the key of each. The attribute names are the stored ones, which existing tables and the
//! tests rely on.
//!
//! | item            | pk                    | sk                 | notes                                   |
//! |-----------------|-----------------------|--------------------|-----------------------------------------|
//! | user            | `USER#<id>`           | `PROFILE`          | `gsi1pk = "USERS"`, `gsi1sk = username` |
//! | username marker | `USERNAME#<lower>`    | `USERNAME`         | `user_id`; makes usernames unique       |
//! | email marker    | `EMAIL#<lower>`       | `EMAIL`            | `user_id`; makes emails unique          |
//! | session         | `USER#<id>`           | `SESSION#<sid>`    | refresh hash, generation, `ttl`         |
//! | API key         | `USER#<id>`           | `APIKEY#<kid>`     | key hash, optional expiry and `ttl`     |
//! | login failures  | `THROTTLE#<key>`      | `THROTTLE`         | `count`, window end in `ttl`            |
//! | job             | `USER#<id>`           | `ZIPJOB#<jid>`     | JSON in `job`, `run`, `cancel`, `ttl`;  |
//! |                 |                       |                    | running: `gsi1pk = "JOBS_RUNNING"`,     |
//! |                 |                       |                    | `gsi1sk = "<user>#<job>"` (see below)   |
//! | charge          | `USER#<id>`           | `CHARGE#<cid>`     | bytes, files, `expires_at`; no `ttl`    |
//! | job slot        | `USER#<id>`           | `JOBSLOT#<i>`      | `job_id`, `expires_at`, `ttl`           |
//! | share link      | `USER#<id>`           | `SHARE#<shid>`     | the share; no `ttl` (see below)         |
//! | share marker    | `SHARE#<shid>`        | `SHARE`            | `user_id`: the visitor's lookup by id   |
//! | superuser count | `META#superusers`     | `META`             | `active_superusers`; see below          |
//!
//! Jobs of every kind share the `ZIPJOB#` item (its name is older than folder jobs). A running
//! job is in the user index's partition `JOBS_RUNNING` (a sparse part of the index: the
//! attributes go when it ends), which the local server queries at start to resume them.
//!
//! The profile also holds `share_count`, the user's shares, changed in the same transaction as
//! every share item (so the per-user limit is one condition); `User` does not read it. Share
//! items have no `ttl`: a TTL delete would leave the marker and the count behind.
//!
//! `<lower>` is the normalized name or address (`Username::normalized`, `Email::normalized`).
//! Users, sessions and keys are stored in their own serde form (see [`User`]: times in epoch
//! seconds, and reading tolerates what older writers left).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::domain::User;
use crate::store::{ApiKey, Charge, Job, JobSlot, Session, Share, StoreError, StoreResult};

pub(super) type Item = HashMap<String, AttributeValue>;

/// The user index's partition: every user, in `gsi1sk` (normalized username) order.
pub(super) const USERS: &str = "USERS";
const PROFILE: &str = "PROFILE";
/// Sort-key prefixes of a user's partition.
pub(super) const SESSION: &str = "SESSION#";
pub(super) const API_KEY: &str = "APIKEY#";
pub(super) const CHARGE: &str = "CHARGE#";
/// Every kind of job, under the name archives had first.
pub(super) const JOB: &str = "ZIPJOB#";
pub(super) const JOB_SLOT: &str = "JOBSLOT#";
pub(super) const SHARE: &str = "SHARE#";

pub(super) fn to_item(value: impl Serialize) -> StoreResult<Item> {
    serde_dynamo::to_item(value).map_err(StoreError::other)
}

pub(super) fn from_item<T: DeserializeOwned>(item: Item) -> StoreResult<T> {
    serde_dynamo::from_item(item).map_err(StoreError::other)
}

pub(super) fn from_items<T: DeserializeOwned>(items: Vec<Item>) -> StoreResult<Vec<T>> {
    serde_dynamo::from_items(items).map_err(StoreError::other)
}

/// The primary key of an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    pub fn user(user_id: &str) -> Self {
        Self::new(format!("USER#{user_id}"), PROFILE)
    }

    /// An item of the user's partition other than the profile.
    fn of_user(user_id: &str, sk: String) -> Self {
        Self::new(Self::user(user_id).pk, sk)
    }

    pub fn session(user_id: &str, session_id: &str) -> Self {
        Self::of_user(user_id, format!("{SESSION}{session_id}"))
    }

    pub fn api_key(user_id: &str, key_id: &str) -> Self {
        Self::of_user(user_id, format!("{API_KEY}{key_id}"))
    }

    pub fn job(user_id: &str, job_id: &str) -> Self {
        Self::of_user(user_id, format!("{JOB}{job_id}"))
    }

    pub fn charge(user_id: &str, charge_id: &str) -> Self {
        Self::of_user(user_id, format!("{CHARGE}{charge_id}"))
    }

    pub fn job_slot(user_id: &str, slot: u32) -> Self {
        Self::of_user(user_id, format!("{JOB_SLOT}{slot}"))
    }

    pub fn share(user_id: &str, share_id: &str) -> Self {
        Self::of_user(user_id, format!("{SHARE}{share_id}"))
    }

    /// The marker that finds a share (and its owner) by the share's id alone.
    pub fn share_marker(share_id: &str) -> Self {
        Self::new(format!("{SHARE}{share_id}"), "SHARE")
    }

    /// The marker of the share whose item has this key, if it is a share's.
    pub fn marker_of_share(&self) -> Option<Self> {
        self.sk.strip_prefix(SHARE).map(Self::share_marker)
    }

    /// The count of active superusers: written in the same transaction as every change that
    /// makes or unmakes one, so the last-superuser rule is one conditional write.
    pub fn superusers() -> Self {
        Self::new("META#superusers", "META")
    }

    pub fn throttle(name: &str) -> Self {
        Self::new(format!("THROTTLE#{name}"), "THROTTLE")
    }

    /// The marker that reserves a normalized username.
    pub fn username(normalized: &str) -> Self {
        Self::new(format!("USERNAME#{normalized}"), "USERNAME")
    }

    /// The marker that reserves a normalized email address.
    pub fn email(normalized: &str) -> Self {
        Self::new(format!("EMAIL#{normalized}"), "EMAIL")
    }

    pub fn is_user(&self) -> bool {
        self.sk == PROFILE
    }

    pub fn item(&self) -> StoreResult<Item> {
        to_item(self)
    }
}

/// A username or email marker: whose the name is.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct MarkerItem {
    #[serde(flatten)]
    pub key: Key,
    pub user_id: String,
}

/// A record's item: its key (and expiry as `ttl`) beside the record's own serde form.
fn keyed(key: &Key, record: impl Serialize, ttl: Option<DateTime<Utc>>) -> StoreResult<Item> {
    let mut item = to_item(record)?;
    item.extend(key.item()?);
    if let Some(ttl) = ttl {
        item.insert("ttl".into(), AttributeValue::N(ttl.timestamp().to_string()));
    }
    Ok(item)
}

/// The user index's attributes of a user, beside `item`.
fn indexed(mut item: Item, username_normalized: String) -> Item {
    item.insert("gsi1pk".into(), AttributeValue::S(USERS.into()));
    item.insert("gsi1sk".into(), AttributeValue::S(username_normalized));
    item
}

pub(super) fn user_item(u: &User) -> StoreResult<Item> {
    let item = keyed(&Key::user(&u.id), u, None)?;
    Ok(indexed(item, u.username.normalized()))
}

/// The user index's key of a user (where a listing resumes after it).
pub(super) fn user_index_key(user_id: &str, username_normalized: &str) -> StoreResult<Item> {
    let key = Key::user(user_id).item()?;
    Ok(indexed(key, username_normalized.to_owned()))
}

pub(super) fn session_item(s: &Session) -> StoreResult<Item> {
    keyed(&Key::session(&s.user_id, &s.id), s, Some(s.expires_at))
}

/// No `ttl`: an expired charge must stay until a sweep gives its bytes back.
pub(super) fn charge_item(c: &Charge) -> StoreResult<Item> {
    keyed(&Key::charge(&c.user_id, &c.id), c, None)
}

/// With `ttl`: an expired slot is free anyway, so the table may drop it.
pub(super) fn job_slot_item(s: &JobSlot) -> StoreResult<Item> {
    keyed(&Key::job_slot(&s.user_id, s.slot), s, Some(s.expires_at))
}

/// No `ttl`: see the table above.
pub(super) fn share_item(s: &Share) -> StoreResult<Item> {
    keyed(&Key::share(&s.user_id, &s.id), s, None)
}

pub(super) fn api_key_item(k: &ApiKey) -> StoreResult<Item> {
    keyed(&Key::api_key(&k.user_id, &k.id), k, k.expires_at)
}

/// The counters of a user's profile item, as stored (for the clamping of a release).
#[derive(Debug, Deserialize)]
pub(super) struct UsageItem {
    #[serde(default)]
    pub used_bytes: i64,
    #[serde(default)]
    pub file_count: i64,
}

/// How many superusers are active. Tables from before the count have none until the first
/// change that needs it counts them (a conditional put, so two first counts agree).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct SuperuserCountItem {
    #[serde(flatten)]
    pub key: Key,
    #[serde(default)]
    pub active_superusers: i64,
}

/// A login-failure counter: `count` failures in the window that closes at `ttl`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ThrottleItem {
    #[serde(flatten)]
    pub key: Key,
    #[serde(default)]
    pub count: i64,
    #[serde(default)]
    pub ttl: i64,
}

/// A job, kept whole as JSON (its shape is the service's, not the table's), with the run that
/// owns it and the cancel flag beside it: writes are conditional on `run`, and only
/// `cancel_job` sets `cancel` (a take-over removes it). Items from before these attributes
/// read as run 0, not cancelled.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct JobItem {
    #[serde(flatten)]
    key: Key,
    job: String,
    ttl: i64,
    #[serde(default)]
    run: u32,
    #[serde(default)]
    cancel: bool,
}

impl JobItem {
    pub fn run(&self) -> u32 {
        self.run
    }

    pub fn cancel_requested(&self) -> bool {
        self.cancel
    }

    pub fn into_job(self) -> StoreResult<Job> {
        let mut job: Job = serde_json::from_str(&self.job).map_err(StoreError::other)?;
        job.run = self.run;
        job.cancel_requested = self.cancel;
        Ok(job)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::domain::{Email, Role, UserId, Username};

    fn time(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    fn s(item: &Item, name: &str) -> String {
        match item.get(name) {
            Some(AttributeValue::S(v)) => v.clone(),
            other => panic!("{name}: {other:?}"),
        }
    }

    fn n(item: &Item, name: &str) -> String {
        match item.get(name) {
            Some(AttributeValue::N(v)) => v.clone(),
            other => panic!("{name}: {other:?}"),
        }
    }

    fn names(item: &Item) -> Vec<&str> {
        let mut names: Vec<_> = item.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    fn user() -> User {
        User {
            id: UserId::from("0b8f2a52-3f4e-4a39-9a57-6e1b3c1c0f00"),
            username: Username::parse("Alice.B").unwrap(),
            email: Email::parse("Alice@Example.com").unwrap(),
            first_name: "Alice".into(),
            last_name: String::new(),
            role: Role::Manager,
            is_active: true,
            password_hash: "$argon2id$x".into(),
            quota_bytes: None,
            file_limit: None,
            used_bytes: 5,
            file_count: 1,
            reserved_bytes: 0,
            reserved_files: 0,
            created_at: time(1_700_000_000),
            updated_at: time(1_700_000_100),
        }
    }

    #[test]
    fn user_items_keep_the_stored_layout() {
        let item = user_item(&user()).unwrap();
        assert_eq!(s(&item, "pk"), "USER#0b8f2a52-3f4e-4a39-9a57-6e1b3c1c0f00");
        assert_eq!(s(&item, "sk"), "PROFILE");
        assert_eq!(s(&item, "id"), "0b8f2a52-3f4e-4a39-9a57-6e1b3c1c0f00");
        assert_eq!(s(&item, "gsi1pk"), "USERS");
        assert_eq!(s(&item, "gsi1sk"), "alice.b");
        assert_eq!(s(&item, "username"), "Alice.B");
        assert_eq!(s(&item, "email"), "Alice@example.com");
        assert_eq!(s(&item, "role"), "manager");
        assert_eq!(item.get("is_active"), Some(&AttributeValue::Bool(true)));
        assert_eq!(n(&item, "used_bytes"), "5");
        assert_eq!(n(&item, "created_at"), "1700000000");
        // No quota: no attribute (an update REMOVEs it), not a NULL; no TTL for users.
        assert_eq!(
            names(&item),
            [
                "created_at",
                "email",
                "file_count",
                "first_name",
                "gsi1pk",
                "gsi1sk",
                "id",
                "is_active",
                "last_name",
                "password_hash",
                "pk",
                "role",
                "sk",
                "updated_at",
                "used_bytes",
                "username"
            ]
        );
        let quota = User {
            quota_bytes: Some(7),
            file_limit: Some(8),
            reserved_bytes: 3,
            reserved_files: 1,
            ..user()
        };
        let item = user_item(&quota).unwrap();
        assert_eq!(n(&item, "quota_bytes"), "7");
        assert_eq!(n(&item, "file_limit"), "8");
        assert_eq!(
            (n(&item, "reserved_bytes"), n(&item, "reserved_files")),
            ("3".into(), "1".into())
        );
        let item = user_item(&user()).unwrap();

        let back: User = from_item(item).unwrap();
        assert_eq!(back.username, user().username);
        assert_eq!(back.updated_at, user().updated_at);
        assert_eq!(back.role, Role::Manager);
    }

    #[test]
    fn odd_old_users_still_load() {
        let mut item = user_item(&user()).unwrap();
        item.insert("role".into(), AttributeValue::S("admin".into()));
        item.insert("username".into(), AttributeValue::S("x".into()));
        item.insert("used_bytes".into(), AttributeValue::N("-3".into()));
        item.insert("quota_bytes".into(), AttributeValue::Null(true));
        for gone in ["file_count", "first_name", "is_active", "updated_at"] {
            item.remove(gone);
        }
        let back: User = from_item(item).unwrap();
        assert_eq!(back.role, Role::User);
        assert_eq!(back.username.as_str(), "x");
        assert_eq!(
            (back.used_bytes, back.file_count, back.quota_bytes),
            (0, 0, None)
        );
        assert_eq!((back.first_name.as_str(), back.is_active), ("", false));
        assert_eq!(back.updated_at.timestamp(), 0);
    }

    #[test]
    fn charges_have_no_ttl() {
        let charge = Charge {
            id: "c".into(),
            user_id: "u".into(),
            bytes: 5,
            files: 1,
            expires_at: time(20),
        };
        let item = charge_item(&charge).unwrap();
        assert_eq!(
            names(&item),
            [
                "bytes",
                "charge_id",
                "expires_at",
                "files",
                "pk",
                "sk",
                "user_id"
            ]
        );
        let back: Charge = from_item(item).unwrap();
        assert_eq!(back, charge);
    }

    #[test]
    fn shares_have_no_ttl_and_a_marker_each() {
        let share = Share {
            id: "sh".into(),
            user_id: "u".into(),
            path: "photos/2024".into(),
            kind: crate::store::ShareKind::Upload,
            is_folder: true,
            password_hash: None,
            password_version: 0,
            max_uses: Some(3),
            uses: 1,
            note: None,
            created_at: time(10),
            updated_at: time(11),
            expires_at: time(20),
        };
        let item = share_item(&share).unwrap();
        assert_eq!(
            (s(&item, "pk"), s(&item, "sk")),
            ("USER#u".into(), "SHARE#sh".into())
        );
        assert_eq!(s(&item, "kind"), "upload");
        assert_eq!(
            (n(&item, "uses"), n(&item, "max_uses")),
            ("1".into(), "3".into())
        );
        assert_eq!(
            names(&item),
            [
                "created_at",
                "expires_at",
                "is_folder",
                "kind",
                "max_uses",
                "password_version",
                "path",
                "pk",
                "share_id",
                "sk",
                "updated_at",
                "user_id",
                "uses"
            ]
        );
        let back: Share = from_item(item).unwrap();
        assert_eq!(back, share);
        let marker = Key::share_marker("sh");
        assert_eq!(
            (marker.pk.as_str(), marker.sk.as_str()),
            ("SHARE#sh", "SHARE")
        );
        assert_eq!(Key::share("u", "sh").marker_of_share(), Some(marker));
        assert_eq!(Key::session("u", "s").marker_of_share(), None);
        assert_eq!(Key::user("u").marker_of_share(), None);
    }

    #[test]
    fn keys_and_markers() {
        let marker = to_item(&MarkerItem {
            key: Key::email("a@b.com"),
            user_id: "u1".into(),
        })
        .unwrap();
        assert_eq!(s(&marker, "pk"), "EMAIL#a@b.com");
        assert_eq!(s(&marker, "sk"), "EMAIL");
        assert_eq!(s(&marker, "user_id"), "u1");
        assert_eq!(Key::username("bob").pk, "USERNAME#bob");
        assert_eq!(Key::session("u", "s").sk, "SESSION#s");
        assert_eq!(Key::api_key("u", "k").sk, "APIKEY#k");
        assert_eq!(Key::job("u", "j").sk, "ZIPJOB#j");
        assert_eq!(Key::charge("u", "c").sk, "CHARGE#c");
        assert_eq!(Key::throttle("login:x").pk, "THROTTLE#login:x");
        assert_eq!(Key::user("u").item().unwrap().len(), 2);
        let index = user_index_key("u", "bob").unwrap();
        assert_eq!(names(&index), ["gsi1pk", "gsi1sk", "pk", "sk"]);
    }

    #[test]
    fn sessions_keep_the_stored_layout() {
        let session = Session {
            id: "s1".into(),
            user_id: "u".into(),
            refresh_hash: "h1".into(),
            previous_hash: None,
            generation: 3,
            created_at: time(10),
            expires_at: time(20),
        };
        let item = session_item(&session).unwrap();
        assert_eq!(
            names(&item),
            [
                "created_at",
                "expires_at",
                "generation",
                "pk",
                "refresh_hash",
                "session_id",
                "sk",
                "ttl",
                "user_id"
            ]
        );
        assert_eq!(
            (n(&item, "ttl"), n(&item, "expires_at")),
            ("20".into(), "20".into())
        );
        let back: Session = from_item(item).unwrap();
        assert_eq!(
            (back.id, back.generation, back.expires_at),
            ("s1".into(), 3, time(20))
        );
    }

    #[test]
    fn api_keys_without_expiry_have_no_ttl() {
        let key = ApiKey {
            id: "k".into(),
            user_id: "u".into(),
            name: "ci".into(),
            prefix: "vc_abc".into(),
            key_hash: "00".into(),
            created_at: time(10),
            expires_at: None,
        };
        let item = api_key_item(&key).unwrap();
        assert_eq!(
            names(&item),
            [
                "created_at",
                "key_hash",
                "key_id",
                "name",
                "pk",
                "prefix",
                "sk",
                "user_id"
            ]
        );
        let with_expiry = ApiKey {
            expires_at: Some(time(20)),
            ..key
        };
        let item = api_key_item(&with_expiry).unwrap();
        assert_eq!(
            (n(&item, "ttl"), n(&item, "expires_at")),
            ("20".into(), "20".into())
        );
        let back: ApiKey = from_item(item).unwrap();
        assert_eq!(back.expires_at, Some(time(20)));
    }
}

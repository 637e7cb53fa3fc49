//! Stores that fail on demand, around real ones: the object store and the metadata store of a
//! test app, for the cases that check what a failure leaves behind.
//!
//! How to use them:
//! - `let (app, flaky) = Flaky::around(&base);` gives an app over `base`'s stores whose object
//!   calls go through `flaky`; `FlakyMeta::around` does the same for the metadata store. Both
//!   apps see the same data as `base`.
//! - [`Nth`] plans one failure: `flaky.lists.fail_after(2)` lets two calls pass and fails the
//!   third (once); `spent()` tells whether it happened. `lists` covers `list` and `list_after`;
//!   `FlakyMeta::job_updates` covers `update_job`.
//! - [`Gate`] holds calls back: `flaky.copy_gate.shut()`, start the work, `copy_gate.reached(k)`
//!   waits until k `copy_if` calls arrived (counted from the app's start), then check the state
//!   mid-way and `open()`. `put_gate` does the same for plain puts (archives).
//! - `flaky.copies_fail.store(true, SeqCst)` makes every `copy_if` fail (after the gate) until
//!   it is set back to false; `failed_copy = n` fails only the n-th copy.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use shared::domain::User;
use shared::objects::{
    ByteRange, ByteSource, CopyRefused, Download, IfDest, ListPage, ObjectInfo, ObjectResult,
    ObjectStore, PartInfo, Presign,
};
use shared::services::Backends;
use shared::store::{
    ApiKey, ApiKeyStore, Counter, Job, JobStore, JobWrite, MetaStore, Session, SessionStore,
    StoreError, StoreResult, ThrottleStore, UsageChange, UserKey, UserStore, WriteUserError,
};
use shared::store::{Caps, Charge, ChargeStore, GuardedClaim, JobSlot, JobSlotStore};
use shared::store::{Share, ShareStore};
use shared::Core;

use crate::helpers::{TestApp, SECRET};

/// One operation's planned failure: after [`Nth::fail_after`]`(k)`, the next `k` calls succeed
/// and the one after them fails (once).
#[derive(Default)]
pub struct Nth {
    /// Calls left until the failing one, itself included (0: none planned).
    left: AtomicUsize,
}

impl Nth {
    pub fn fail_after(&self, succeeding: usize) {
        self.left.store(succeeding + 1, Ordering::SeqCst);
    }

    pub fn fail_next(&self) {
        self.fail_after(0);
    }

    /// Counts a call; true when it is the one to fail.
    fn strikes(&self) -> bool {
        self.left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok_and(|n| n == 1)
    }

    /// Whether the planned failure has happened (or none was planned).
    pub fn spent(&self) -> bool {
        self.left.load(Ordering::SeqCst) == 0
    }
}

fn injected() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("injected failure"))
}

/// An app over `base`'s data whose stores are `backends`.
fn app_over(base: &TestApp, backends: Backends) -> TestApp {
    let core = Core::new(base.core.config.clone(), backends, SECRET.as_bytes());
    TestApp::from_core(Arc::new(core))
}

/// An object store that fails on demand: the next `failed_deletes` deletions fail; the copy
/// numbered `failed_copy` (1-based, counted from its creation, 0 = none) fails; and `puts`,
/// `completions` (of direct uploads) and `lists` fail as planned.
pub struct Flaky {
    inner: Arc<dyn ObjectStore>,
    pub failed_deletes: AtomicUsize,
    pub failed_copy: AtomicUsize,
    copies: AtomicUsize,
    pub puts: Nth,
    pub completions: Nth,
    pub lists: Nth,
    /// Plain puts (archives) wait while it is shut.
    pub put_gate: Gate,
    /// `copy_if` (folder copies and moves) waits while it is shut.
    pub copy_gate: Gate,
    /// Every `copy_if` fails while set.
    pub copies_fail: AtomicBool,
}

/// Holds calls back while shut: a ZIP job stays running for as long as a test needs.
#[derive(Default)]
pub struct Gate {
    shut: std::sync::atomic::AtomicBool,
    opened: tokio::sync::Notify,
    /// Calls that reached the gate so far.
    arrived: AtomicUsize,
}

impl Gate {
    pub fn shut(&self) {
        self.shut.store(true, Ordering::SeqCst);
    }

    pub fn open(&self) {
        self.shut.store(false, Ordering::SeqCst);
        self.opened.notify_waiters();
    }

    /// Waits until `n` calls in all have reached the gate.
    pub async fn reached(&self, n: usize) {
        while self.arrived.load(Ordering::SeqCst) < n {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    async fn pass(&self) {
        self.arrived.fetch_add(1, Ordering::SeqCst);
        loop {
            // Created before the check, so an `open` in between still wakes it.
            let opened = self.opened.notified();
            if !self.shut.load(Ordering::SeqCst) {
                return;
            }
            opened.await;
        }
    }
}

impl Flaky {
    /// An app sharing `base`'s stores, with its objects behind a `Flaky`.
    pub fn around(base: &TestApp) -> (TestApp, Arc<Flaky>) {
        let flaky = Arc::new(Flaky {
            inner: base.core.objects.clone(),
            failed_deletes: AtomicUsize::new(0),
            failed_copy: AtomicUsize::new(0),
            copies: AtomicUsize::new(0),
            puts: Nth::default(),
            completions: Nth::default(),
            lists: Nth::default(),
            put_gate: Gate::default(),
            copy_gate: Gate::default(),
            copies_fail: AtomicBool::new(false),
        });
        let backends = Backends {
            store: base.core.store.clone(),
            objects: flaky.clone(),
        };
        (app_over(base, backends), flaky)
    }
}

#[async_trait::async_trait]
impl ObjectStore for Flaky {
    async fn head(&self, key: &str) -> ObjectResult<Option<ObjectInfo>> {
        self.inner.head(key).await
    }
    async fn list(
        &self,
        prefix: &str,
        delimited: bool,
        cursor: Option<&str>,
        limit: usize,
    ) -> ObjectResult<ListPage> {
        if self.lists.strikes() {
            return Err(injected().into());
        }
        self.inner.list(prefix, delimited, cursor, limit).await
    }
    async fn list_after(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> ObjectResult<ListPage> {
        if self.lists.strikes() {
            return Err(injected().into());
        }
        self.inner.list_after(prefix, after, limit).await
    }
    async fn put(
        &self,
        key: &str,
        body: ByteSource<'_>,
        content_type: &str,
        max: u64,
    ) -> ObjectResult<ObjectInfo> {
        self.put_gate.pass().await;
        if self.puts.strikes() {
            return Err(injected().into());
        }
        self.inner.put(key, body, content_type, max).await
    }
    async fn put_if(
        &self,
        key: &str,
        body: ByteSource<'_>,
        content_type: &str,
        max: u64,
        dest: IfDest<'_>,
    ) -> ObjectResult<Option<ObjectInfo>> {
        if self.puts.strikes() {
            return Err(injected().into());
        }
        self.inner.put_if(key, body, content_type, max, dest).await
    }
    async fn get(&self, key: &str, range: Option<ByteRange>) -> ObjectResult<Option<Download>> {
        self.inner.get(key, range).await
    }
    async fn delete(&self, keys: &[String]) -> ObjectResult<()> {
        let failing = self
            .failed_deletes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if failing.is_ok() {
            return Err(injected().into());
        }
        self.inner.delete(keys).await
    }
    async fn copy(&self, from: &str, to: &str) -> ObjectResult<Option<ObjectInfo>> {
        let number = self.copies.fetch_add(1, Ordering::SeqCst) + 1;
        if number == self.failed_copy.load(Ordering::SeqCst) {
            return Err(injected().into());
        }
        self.inner.copy(from, to).await
    }
    async fn copy_if(
        &self,
        from: &str,
        etag: &str,
        to: &str,
        dest: IfDest<'_>,
    ) -> ObjectResult<Result<ObjectInfo, CopyRefused>> {
        self.copy_gate.pass().await;
        let number = self.copies.fetch_add(1, Ordering::SeqCst) + 1;
        if number == self.failed_copy.load(Ordering::SeqCst)
            || self.copies_fail.load(Ordering::SeqCst)
        {
            return Err(injected().into());
        }
        self.inner.copy_if(from, etag, to, dest).await
    }
    async fn delete_if_match(&self, key: &str, etag: &str) -> ObjectResult<bool> {
        let failing = self
            .failed_deletes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if failing.is_ok() {
            return Err(injected().into());
        }
        self.inner.delete_if_match(key, etag).await
    }
    async fn presign(
        &self,
        what: Presign<'_>,
        ttl: std::time::Duration,
    ) -> ObjectResult<Option<String>> {
        self.inner.presign(what, ttl).await
    }
    async fn begin_upload(&self, key: &str, content_type: &str) -> ObjectResult<String> {
        self.inner.begin_upload(key, content_type).await
    }
    async fn put_part(
        &self,
        id: &str,
        n: u32,
        offset: u64,
        size: u64,
        body: ByteSource<'_>,
    ) -> ObjectResult<PartInfo> {
        self.inner.put_part(id, n, offset, size, body).await
    }
    async fn list_parts(&self, key: &str, id: &str) -> ObjectResult<Option<Vec<PartInfo>>> {
        self.inner.list_parts(key, id).await
    }
    async fn complete_upload(
        &self,
        key: &str,
        id: &str,
        parts: &[PartInfo],
    ) -> ObjectResult<ObjectInfo> {
        if self.completions.strikes() {
            return Err(injected().into());
        }
        self.inner.complete_upload(key, id, parts).await
    }
    async fn complete_upload_if(
        &self,
        key: &str,
        id: &str,
        parts: &[PartInfo],
        dest: IfDest<'_>,
    ) -> ObjectResult<Option<ObjectInfo>> {
        if self.completions.strikes() {
            return Err(injected().into());
        }
        self.inner.complete_upload_if(key, id, parts, dest).await
    }
    async fn abort_upload(&self, key: &str, id: &str) -> ObjectResult<()> {
        self.inner.abort_upload(key, id).await
    }
    async fn ping(&self) -> ObjectResult<()> {
        self.inner.ping().await
    }
}

/// A metadata store that fails on demand: usage updates, user updates, session rotations and
/// job updates fail as planned; everything else passes through.
pub struct FlakyMeta {
    inner: Arc<dyn MetaStore>,
    pub usage_updates: Nth,
    pub user_updates: Nth,
    pub rotations: Nth,
    /// `delete_shares_under`: the step that ends shares before a delete or move.
    pub share_ends: Nth,
    /// `update_share` waits while it is shut (a read made, its write held back).
    pub share_update_gate: Gate,
    /// `update_job` (job progress, take-overs and their usage changes).
    pub job_updates: Nth,
}

impl FlakyMeta {
    /// An app sharing `base`'s stores, with its metadata behind a `FlakyMeta`.
    pub fn around(base: &TestApp) -> (TestApp, Arc<FlakyMeta>) {
        let flaky = Arc::new(FlakyMeta {
            inner: base.core.store.clone(),
            usage_updates: Nth::default(),
            user_updates: Nth::default(),
            rotations: Nth::default(),
            share_ends: Nth::default(),
            share_update_gate: Gate::default(),
            job_updates: Nth::default(),
        });
        let backends = Backends {
            store: flaky.clone(),
            objects: base.core.objects.clone(),
        };
        (app_over(base, backends), flaky)
    }
}

#[async_trait::async_trait]
impl UserStore for FlakyMeta {
    async fn create_user(&self, user: &User) -> Result<(), WriteUserError> {
        self.inner.create_user(user).await
    }
    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        self.inner.get_user(id).await
    }
    async fn find_user_by_login(&self, login: &str) -> StoreResult<Option<User>> {
        self.inner.find_user_by_login(login).await
    }
    async fn update_user(&self, before: &User, after: &User) -> Result<(), WriteUserError> {
        if self.user_updates.strikes() {
            return Err(injected().into());
        }
        self.inner.update_user(before, after).await
    }
    async fn add_usage_within(
        &self,
        user_id: &str,
        bytes: i64,
        files: i64,
        caps: Caps,
    ) -> StoreResult<bool> {
        if self.usage_updates.strikes() {
            return Err(injected());
        }
        self.inner
            .add_usage_within(user_id, bytes, files, caps)
            .await
    }
    async fn list_users(
        &self,
        search: Option<&str>,
        after: Option<&UserKey>,
        limit: usize,
    ) -> StoreResult<Vec<User>> {
        self.inner.list_users(search, after, limit).await
    }
    async fn count_active_superusers(&self) -> StoreResult<u64> {
        self.inner.count_active_superusers().await
    }
    async fn delete_user(&self, user: &User) -> StoreResult<()> {
        self.inner.delete_user(user).await
    }
    async fn ping(&self) -> StoreResult<()> {
        UserStore::ping(self.inner.as_ref()).await
    }
}

#[async_trait::async_trait]
impl SessionStore for FlakyMeta {
    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        self.inner.create_session(session).await
    }
    async fn load_session_principal(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> StoreResult<(Option<User>, Option<Session>)> {
        self.inner.load_session_principal(user_id, session_id).await
    }
    async fn rotate_session(
        &self,
        user_id: &str,
        session_id: &str,
        expected_generation: u64,
        new_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        if self.rotations.strikes() {
            return Err(injected());
        }
        self.inner
            .rotate_session(
                user_id,
                session_id,
                expected_generation,
                new_hash,
                expires_at,
            )
            .await
    }
    async fn delete_session(&self, user_id: &str, session_id: &str) -> StoreResult<()> {
        self.inner.delete_session(user_id, session_id).await
    }
    async fn delete_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<()> {
        self.inner.delete_sessions(user_id, keep).await
    }
    async fn trim_sessions(&self, user_id: &str, max_live: u64) -> StoreResult<u64> {
        self.inner.trim_sessions(user_id, max_live).await
    }
}

#[async_trait::async_trait]
impl ApiKeyStore for FlakyMeta {
    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        self.inner.create_api_key(key).await
    }
    async fn list_api_keys(&self, user_id: &str) -> StoreResult<Vec<ApiKey>> {
        self.inner.list_api_keys(user_id).await
    }
    async fn delete_api_key(&self, user_id: &str, key_id: &str) -> StoreResult<bool> {
        self.inner.delete_api_key(user_id, key_id).await
    }
    async fn delete_api_keys(&self, user_id: &str) -> StoreResult<u64> {
        self.inner.delete_api_keys(user_id).await
    }
    async fn load_key_principal(
        &self,
        user_id: &str,
        key_id: &str,
    ) -> StoreResult<(Option<User>, Option<ApiKey>)> {
        self.inner.load_key_principal(user_id, key_id).await
    }
}

#[async_trait::async_trait]
impl ThrottleStore for FlakyMeta {
    async fn throttle_counts(&self, keys: &[String], now: i64) -> StoreResult<Vec<Counter>> {
        self.inner.throttle_counts(keys, now).await
    }
    async fn throttle_hit(
        &self,
        keys: &[String],
        now: i64,
        window_secs: i64,
    ) -> StoreResult<Vec<Counter>> {
        self.inner.throttle_hit(keys, now, window_secs).await
    }
    async fn throttle_release(&self, keys: &[String], now: i64) -> StoreResult<()> {
        self.inner.throttle_release(keys, now).await
    }
    async fn throttle_reset(&self, key: &str) -> StoreResult<()> {
        self.inner.throttle_reset(key).await
    }
}

/// Charges change the usage counters: they fail with `usage_updates` too.
#[async_trait::async_trait]
impl ChargeStore for FlakyMeta {
    async fn take_charge(&self, charge: &Charge, caps: Caps) -> StoreResult<bool> {
        if self.usage_updates.strikes() {
            return Err(injected());
        }
        self.inner.take_charge(charge, caps).await
    }
    async fn settle_charge(
        &self,
        user_id: &str,
        charge_id: &str,
        bytes: i64,
        files: i64,
    ) -> StoreResult<bool> {
        if self.usage_updates.strikes() {
            return Err(injected());
        }
        self.inner
            .settle_charge(user_id, charge_id, bytes, files)
            .await
    }
    async fn drop_charge(&self, user_id: &str, charge_id: &str) -> StoreResult<bool> {
        if self.usage_updates.strikes() {
            return Err(injected());
        }
        self.inner.drop_charge(user_id, charge_id).await
    }
    async fn sweep_charges(&self, user_id: &str, now: DateTime<Utc>) -> StoreResult<u64> {
        self.inner.sweep_charges(user_id, now).await
    }
}

#[async_trait::async_trait]
impl JobStore for FlakyMeta {
    async fn save_job(&self, job: &Job) -> StoreResult<()> {
        self.inner.save_job(job).await
    }
    async fn get_job(&self, user_id: &str, job_id: &str) -> StoreResult<Option<Job>> {
        self.inner.get_job(user_id, job_id).await
    }
    async fn update_job(
        &self,
        job: &Job,
        expected_run: u32,
        usage: Option<UsageChange>,
    ) -> StoreResult<JobWrite> {
        if self.job_updates.strikes() {
            return Err(injected());
        }
        self.inner.update_job(job, expected_run, usage).await
    }
    async fn cancel_job(&self, user_id: &str, job_id: &str) -> StoreResult<bool> {
        self.inner.cancel_job(user_id, job_id).await
    }
    async fn running_jobs(&self, limit: usize) -> StoreResult<Vec<Job>> {
        self.inner.running_jobs(limit).await
    }

    async fn jobs_of(&self, user_id: &str) -> StoreResult<Vec<Job>> {
        self.inner.jobs_of(user_id).await
    }
}

#[async_trait::async_trait]
impl JobSlotStore for FlakyMeta {
    async fn claim_job_slot(
        &self,
        user_id: &str,
        job_id: &str,
        slots: u64,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.inner
            .claim_job_slot(user_id, job_id, slots, now, until)
            .await
    }
    async fn renew_job_slot(
        &self,
        user_id: &str,
        job_id: &str,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.inner.renew_job_slot(user_id, job_id, until).await
    }
    async fn release_job_slot(&self, user_id: &str, job_id: &str) -> StoreResult<bool> {
        self.inner.release_job_slot(user_id, job_id).await
    }
    async fn job_slots(&self, user_id: &str) -> StoreResult<Vec<JobSlot>> {
        self.inner.job_slots(user_id).await
    }
    async fn claim_guarded_slot(&self, claim: &GuardedClaim<'_>) -> StoreResult<bool> {
        self.inner.claim_guarded_slot(claim).await
    }
}

#[async_trait::async_trait]
impl ShareStore for FlakyMeta {
    async fn create_share(&self, share: &Share, max_per_user: u64) -> StoreResult<bool> {
        self.inner.create_share(share, max_per_user).await
    }
    async fn get_share(&self, user_id: &str, share_id: &str) -> StoreResult<Option<Share>> {
        self.inner.get_share(user_id, share_id).await
    }
    async fn load_share(&self, share_id: &str) -> StoreResult<Option<(Share, User)>> {
        self.inner.load_share(share_id).await
    }
    async fn list_shares(
        &self,
        user_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Share>> {
        self.inner.list_shares(user_id, after, limit).await
    }
    async fn update_share(&self, share: &Share, read_version: u32) -> StoreResult<bool> {
        self.share_update_gate.pass().await;
        self.inner.update_share(share, read_version).await
    }
    async fn delete_share(&self, user_id: &str, share_id: &str) -> StoreResult<bool> {
        self.inner.delete_share(user_id, share_id).await
    }
    async fn delete_shares_under(&self, user_id: &str, path: &str) -> StoreResult<u64> {
        if self.share_ends.strikes() {
            return Err(injected());
        }
        self.inner.delete_shares_under(user_id, path).await
    }
    async fn claim_share_use(
        &self,
        user_id: &str,
        share_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.inner.claim_share_use(user_id, share_id, now).await
    }
    async fn release_share_use(&self, user_id: &str, share_id: &str) -> StoreResult<()> {
        self.inner.release_share_use(user_id, share_id).await
    }
}

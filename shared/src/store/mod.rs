//! Ports: the metadata stores the services need, as narrow traits, and the records they keep.
//!
//! Two adapters implement every port: [`sqlite`] (the embedded backend) and [`dynamo`] (AWS).
//! The same contract suite (`tests/api/meta_store.rs`) runs against both. What the backends'
//! own errors mean is decided in the adapters (`crate::aws::errors` for AWS): only
//! [`StoreError`] reaches the services.

pub mod dynamo;
#[cfg(feature = "embedded")]
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::User;

/// What a metadata store's failure means to the services.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing store cannot be reached (network, timeout, missing table): HTTP 503.
    #[error("store unavailable: {0:#}")]
    Unavailable(anyhow::Error),
    #[error("store error: {0:#}")]
    Other(anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    pub fn other(err: impl Into<anyhow::Error>) -> Self {
        Self::Other(err.into())
    }
}

/// Why a user could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteUserError {
    #[error("username taken")]
    UsernameTaken,
    #[error("email taken")]
    EmailTaken,
    /// The stored user is gone, or no longer the `before` the write was based on (its password,
    /// email, role or active flag changed meanwhile): nothing was written.
    #[error("user changed or removed meanwhile")]
    Stale,
    /// The write would leave no active superuser (checked in the same atomic step as the
    /// write): nothing was written.
    #[error("last active superuser")]
    LastSuperuser,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether `user` is one of the active superusers the last-superuser rule keeps at least one of.
pub(crate) fn counts_as_superuser(user: &User) -> bool {
    user.role == crate::domain::Role::Superuser && user.is_active
}

/// Where a user listing resumes: after this user (listings are in normalized-username order).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserKey {
    pub username_lc: String,
    pub id: String,
}

impl UserKey {
    pub fn of(user: &User) -> Self {
        Self {
            username_lc: user.username.normalized(),
            id: user.id.to_string(),
        }
    }
}

/// A login session: one refresh-token family. Ending a session deletes it.
///
/// The serde form is the stored one (attribute names, times in epoch seconds), as for
/// [`User`]; it is read and written by the stores only.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Session {
    #[serde(rename = "session_id")]
    pub id: String,
    pub user_id: String,
    /// SHA-256 (hex) of the current refresh token.
    pub refresh_hash: String,
    /// SHA-256 (hex) of the token the last rotation replaced: presenting it again is a proven
    /// reuse (anything else that does not match is merely invalid, and ends nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_hash: Option<String>,
    /// Bumped on every rotation; the refresh token names the generation it was issued for.
    #[serde(default)]
    pub generation: u64,
    #[serde(default, with = "chrono::serde::ts_seconds")]
    pub created_at: DateTime<Utc>,
    #[serde(default, with = "chrono::serde::ts_seconds")]
    pub expires_at: DateTime<Utc>,
}

impl Session {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at > now
    }
}

/// A long-lived key for scripts. Only its hash is kept. The serde form is the stored one, as
/// for [`Session`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ApiKey {
    #[serde(rename = "key_id")]
    pub id: String,
    pub user_id: String,
    pub name: String,
    /// The first characters of the key, to recognise it in listings.
    pub prefix: String,
    /// SHA-256 (hex) of the key.
    pub key_hash: String,
    #[serde(default, with = "chrono::serde::ts_seconds")]
    pub created_at: DateTime<Utc>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "chrono::serde::ts_seconds_option"
    )]
    pub expires_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|t| t > now)
    }
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates the user; fails with `UsernameTaken`/`EmailTaken` (case-insensitive), race-free.
    async fn create_user(&self, user: &User) -> Result<(), WriteUserError>;
    async fn get_user(&self, id: &str) -> StoreResult<Option<User>>;
    /// Looks a user up by normalized username, or by normalized email when it contains `@`.
    async fn find_user_by_login(&self, login: &str) -> StoreResult<Option<User>>;
    /// Writes the editable fields of `after` (email, names, role, active, password, quota,
    /// file limit, updated_at), only if the stored user still has `before`'s password, email, role and
    /// active flag (optimistic locking: a stale write cannot undo a password change or a
    /// deactivation). Usage counters are not touched. A write that demotes or disables an
    /// active superuser is refused with `LastSuperuser` when no other one is active, decided
    /// in the same atomic step as the write (two superusers demoting each other at once leave
    /// one).
    async fn update_user(&self, before: &User, after: &User) -> Result<(), WriteUserError>;
    /// Adds `bytes` and `files` (either may be negative) to the user's usage counters in one
    /// atomic update. With `quota`, an addition of bytes that would take the total past it is
    /// refused (false) and nothing changes; counters never go below zero. The file limit is
    /// not checked: see [`UserStore::add_usage_within`].
    async fn add_usage(
        &self,
        user_id: &str,
        bytes: i64,
        files: i64,
        quota: Option<u64>,
    ) -> StoreResult<bool> {
        let caps = Caps {
            quota_bytes: quota,
            file_limit: None,
        };
        self.add_usage_within(user_id, bytes, files, caps).await
    }
    /// [`UserStore::add_usage`] held to both caps: an addition of files that would take the
    /// count past `caps.file_limit` is refused too, in the same one atomic update.
    async fn add_usage_within(
        &self,
        user_id: &str,
        bytes: i64,
        files: i64,
        caps: Caps,
    ) -> StoreResult<bool>;
    /// Users in username order after `after`, at most `limit`, whose [`search_text`] contains
    /// `search` (already lowercased) when given.
    ///
    /// [`search_text`]: crate::domain::search_text
    async fn list_users(
        &self,
        search: Option<&str>,
        after: Option<&UserKey>,
        limit: usize,
    ) -> StoreResult<Vec<User>>;
    /// How many superusers are active (the last one may not be demoted, disabled or deleted).
    async fn count_active_superusers(&self) -> StoreResult<u64>;
    /// Removes the user with every session and API key. The services disable an active
    /// superuser first (through [`UserStore::update_user`], which keeps the last one).
    async fn delete_user(&self, user: &User) -> StoreResult<()>;
    /// Cheap round trip for the health check.
    async fn ping(&self) -> StoreResult<()>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    /// The user and the session in one batched read (the per-request revocation check).
    async fn load_session_principal(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> StoreResult<(Option<User>, Option<Session>)>;
    /// Moves the current refresh hash to `previous_hash` and stores `new_hash`, if the session is
    /// still at `expected_generation`; false if not.
    async fn rotate_session(
        &self,
        user_id: &str,
        session_id: &str,
        expected_generation: u64,
        new_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    async fn delete_session(&self, user_id: &str, session_id: &str) -> StoreResult<()>;
    /// Ends every session of the user, except `keep` if given, however many there are.
    async fn delete_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<()>;
    /// Ends the user's expired sessions and the oldest live ones beyond `max_live` (oldest by
    /// creation); returns how many live ones it ended.
    async fn trim_sessions(&self, user_id: &str, max_live: u64) -> StoreResult<u64>;
}

#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<()>;
    async fn list_api_keys(&self, user_id: &str) -> StoreResult<Vec<ApiKey>>;
    /// False when no such key of that user exists.
    async fn delete_api_key(&self, user_id: &str, key_id: &str) -> StoreResult<bool>;
    /// Revokes every key of the user; how many there were.
    async fn delete_api_keys(&self, user_id: &str) -> StoreResult<u64>;
    /// The user and the key in one batched read.
    async fn load_key_principal(
        &self,
        user_id: &str,
        key_id: &str,
    ) -> StoreResult<(Option<User>, Option<ApiKey>)>;
}

/// Failure counters for login throttling. A counter's window opens at its first failure and
/// lasts `window_secs`; a failure after the window closes starts a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counter {
    pub count: u64,
    /// Epoch seconds when the window closes (0 for an empty counter).
    pub closes_at: i64,
}

#[async_trait]
pub trait ThrottleStore: Send + Sync {
    /// The live counters named by `keys`, in order (empty ones for closed windows).
    async fn throttle_counts(&self, keys: &[String], now: i64) -> StoreResult<Vec<Counter>>;
    /// Adds one to each counter, atomically, opening a window of `window_secs` where none is
    /// open; returns the counters after the addition.
    async fn throttle_hit(
        &self,
        keys: &[String],
        now: i64,
        window_secs: i64,
    ) -> StoreResult<Vec<Counter>>;
    /// Takes one back from each counter whose window is open and whose count is above zero
    /// (an attempt that turned out not to count); never opens a window.
    async fn throttle_release(&self, keys: &[String], now: i64) -> StoreResult<()>;
    async fn throttle_reset(&self, key: &str) -> StoreResult<()>;
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Running,
    Done,
    Failed,
    /// Stopped on its owner's request; what was done stays done (resumable).
    Cancelled,
    /// A cancelled or failed job whose work was put back.
    Undone,
}

/// What a job does. Records written before kinds existed are ZIP jobs.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    #[default]
    Zip,
    Copy,
    Move,
    Rename,
    Delete,
}

/// Where a folder job is in its work.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FolderPhase {
    /// Listing the source to learn the totals.
    Counting,
    Working,
    /// Passes over stragglers, then the folder markers.
    Finishing,
    /// Putting a cancelled or failed job's work back.
    Undoing,
}

/// The step of a folder job in progress, recorded before its objects are touched, so a run
/// that takes over redoes it without charging or counting it twice.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    /// Last key (relative to the listed prefix) the step covers.
    pub through: String,
    pub bytes: u64,
    pub files: u64,
}

/// The state of a folder copy, move, rename or delete, kept in its job's record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FolderWork {
    /// Home-relative path of the folder worked on (`UserPath::to_string`).
    pub source: String,
    /// Where copy/move/rename put it; None for delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub phase: FolderPhase,
    /// Last key (relative to the listed prefix) of the work done in this phase; None: start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Step>,
    /// Consecutive failed steps (backoff, then the job fails).
    #[serde(default)]
    pub failures: u32,
    /// Sources that vanished meanwhile.
    #[serde(default)]
    pub skipped: u64,
}

/// A background job of its owner: a ZIP archive being made, or a folder operation. Stored
/// whole; it lives until `expires_at` (archives: like the archive it names; folder jobs: a
/// day after their last write, pushed forward by every write).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Job {
    pub id: String,
    pub user_id: String,
    #[serde(default)]
    pub kind: JobKind,
    pub status: JobStatus,
    /// The archive's file name, as downloads name it (`photos.zip`); folder jobs: the name of
    /// the folder worked on.
    #[serde(default)]
    pub name: String,
    /// What to put in an archive: paths relative to the owner's home.
    #[serde(default)]
    pub paths: Vec<String>,
    /// True: the one path is a folder whose contents are named below it (download-zip);
    /// false: each path appears under its own name.
    #[serde(default)]
    pub folder_contents: bool,
    /// Files (archives) or objects (folder jobs).
    pub files_done: u64,
    pub files_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// Why a failed job failed, in words for its owner.
    pub error: Option<String>,
    /// The API error code of a failure (`quota_exceeded`, `service_unavailable`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The share link a visitor made this archive through (its archive is kept apart from the
    /// owner's, and only that link's visitors see the job); None for the owner's own jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<FolderWork>,
    /// The run that owns the job: one more at every hand-over and take-over. The stores keep
    /// it beside the body too, so writes can be conditional on it.
    #[serde(default)]
    pub run: u32,
    /// Asked to stop. Filled by the store from its own flag; never written by save or update.
    #[serde(default, skip_serializing)]
    pub cancel_requested: bool,
    pub created_at: DateTime<Utc>,
    /// Last progress; a running job that stops moving was interrupted.
    pub updated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The name the archive jobs had before folder jobs shared their record.
pub type ZipJob = Job;

/// A change of a user's usage counters made in the same atomic step as a job's write; with
/// `caps`, growth past them refuses the whole write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UsageChange {
    pub bytes: i64,
    pub files: i64,
    pub caps: Option<Caps>,
}

/// What a conditional job write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobWrite {
    /// Written; the job's stored cancel flag as it is now.
    Saved { cancel_requested: bool },
    /// Another run owns the job (or it is gone): nothing written.
    Superseded,
    /// The usage change would pass the caps: nothing written.
    OverCaps,
}

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Creates or overwrites the job (body, run, expiry, whether it is running); keeps the
    /// cancel flag while the job runs and clears it when the job has ended.
    async fn save_job(&self, job: &Job) -> StoreResult<()>;
    /// The user's job, if it exists and has not expired, with `cancel_requested` from the
    /// stored flag.
    async fn get_job(&self, user_id: &str, job_id: &str) -> StoreResult<Option<Job>>;
    /// Writes `job` iff the stored run is `expected_run`. The cancel flag survives the writes
    /// of a running job, hand-overs and take-overs included (a stop asked between a read and
    /// the write is never lost), and goes with the write that ends the job. With `usage`, the user's counters change in the
    /// same atomic step (refused against its caps: `OverCaps`, nothing written). A write that
    /// collides with another one in flight (DynamoDB's `TransactionConflict`) is tried again
    /// while the stored run is still `expected_run`, and is `Superseded` once it is not; one
    /// that keeps colliding is [`StoreError::Unavailable`].
    async fn update_job(
        &self,
        job: &Job,
        expected_run: u32,
        usage: Option<UsageChange>,
    ) -> StoreResult<JobWrite>;
    /// Sets the cancel flag of the user's running job; false if there is none.
    async fn cancel_job(&self, user_id: &str, job_id: &str) -> StoreResult<bool>;
    /// Running jobs of every user, at most `limit` (the local server resumes them at start).
    async fn running_jobs(&self, limit: usize) -> StoreResult<Vec<Job>>;
    /// Every job of the user that has not expired, in no particular order.
    async fn jobs_of(&self, user_id: &str) -> StoreResult<Vec<Job>>;
}

/// How many ZIP jobs a user has running: a few numbered slots, each held by one job.
#[async_trait]
pub trait JobSlotStore: Send + Sync {
    /// Takes one of the user's `slots` running-job slots (numbered `0..slots`) for `job_id`
    /// until `until`, if one is free: never taken, released, or expired before `now`. Each
    /// slot is claimed with one conditional write, so of concurrent claims at most `slots`
    /// win. False (nothing written) when every slot is held.
    async fn claim_job_slot(
        &self,
        user_id: &str,
        job_id: &str,
        slots: u64,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Moves the expiry of the slot `job_id` holds to `until`; false if it holds none (it was
    /// released, or taken over after it expired).
    async fn renew_job_slot(
        &self,
        user_id: &str,
        job_id: &str,
        until: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Frees the slot `job_id` holds, if it still holds one (never another job's slot).
    async fn release_job_slot(&self, user_id: &str, job_id: &str) -> StoreResult<bool>;
    /// Every slot item of the user, live or lapsed.
    async fn job_slots(&self, user_id: &str) -> StoreResult<Vec<JobSlot>>;
    /// Writes slot `claim.slot` (absent, or lapsed before `now`) for the job with its paths,
    /// iff every other slot `0..slots` is absent, lapsed, or still held by the job `seen`
    /// there. False (nothing written) otherwise, also when the claim collided with another
    /// write in flight.
    async fn claim_guarded_slot(&self, claim: &GuardedClaim<'_>) -> StoreResult<bool>;
}

/// One of a user's running-job slots, held by a job until it ends or `expires_at` passes (a
/// job that dies without finishing cannot hold it for ever). The serde form is the stored one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobSlot {
    pub user_id: String,
    pub slot: u32,
    pub job_id: String,
    #[serde(with = "chrono::serde::ts_seconds")]
    pub expires_at: DateTime<Utc>,
    /// What a folder job holds while it runs (home-relative paths): other writes there wait.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
}

/// A claim of slot `slot` that holds `paths`, made only if the user's other slots are as they
/// were `seen` (so checking for overlaps and claiming are one atomic step among jobs).
#[derive(Debug, Clone, Copy)]
pub struct GuardedClaim<'a> {
    pub user_id: &'a str,
    pub job_id: &'a str,
    pub slot: u32,
    /// How many slots a user has (`0..slots`).
    pub slots: u64,
    pub paths: &'a [String],
    pub now: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// The slots read before deciding to claim.
    pub seen: &'a [JobSlot],
}

/// A hold on part of a user's quota and file limit that ends by itself: the declared size of a
/// direct upload until it completes or is aborted.
///
/// Nothing runs on AWS when S3's lifecycle rule aborts a forgotten upload, so the hold is a
/// record with an expiry rather than a counter someone must remember to lower. While it lives
/// its bytes and files are part of the user's `used_bytes`/`file_count` (and shown apart as
/// `reserved_bytes`/`reserved_files`), so the one conditional addition that checks every other
/// growth against the quota checks it too: of two starts at the quota's edge only one passes.
/// Once expired it no longer counts: [`ChargeStore::sweep_charges`] gives it back, and the
/// services sweep before a refusal and before showing usage (lazy cleanup, no background job).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Charge {
    #[serde(rename = "charge_id")]
    pub id: String,
    pub user_id: String,
    pub bytes: u64,
    pub files: u64,
    #[serde(with = "chrono::serde::ts_seconds")]
    pub expires_at: DateTime<Utc>,
}

/// What a user may hold; `None`: unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Caps {
    pub quota_bytes: Option<u64>,
    pub file_limit: Option<u64>,
}

impl Caps {
    pub fn of(user: &User) -> Self {
        Self {
            quota_bytes: user.quota_bytes,
            file_limit: user.file_limit,
        }
    }
}

#[async_trait]
pub trait ChargeStore: Send + Sync {
    /// Records the charge and adds its bytes and files to the user's counters, in one atomic
    /// step, if the totals stay within `caps`; false (nothing changed) if not, or if the user
    /// is gone.
    async fn take_charge(&self, charge: &Charge, caps: Caps) -> StoreResult<bool>;
    /// Ends the charge and counts `bytes` and `files` in its place (what its upload stored; less
    /// than zero when it replaced a larger file), atomically, without a cap check: the charge
    /// held the room. False, and nothing changed, if the charge is no longer there (ended or
    /// swept).
    async fn settle_charge(
        &self,
        user_id: &str,
        charge_id: &str,
        bytes: i64,
        files: i64,
    ) -> StoreResult<bool>;
    /// Ends the charge and gives its bytes and files back; false if it was not there.
    async fn drop_charge(&self, user_id: &str, charge_id: &str) -> StoreResult<bool>;
    /// Gives back every charge of the user that expired before `now`; how many there were.
    async fn sweep_charges(&self, user_id: &str, now: DateTime<Utc>) -> StoreResult<u64>;
}

/// What a share link lets its visitors do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ShareKind {
    Download,
    Upload,
}

/// A public link to one file or folder of its owner's home. The serde form is the stored one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Share {
    #[serde(rename = "share_id")]
    pub id: String,
    /// The owner.
    pub user_id: String,
    /// Home-relative path of the shared item (`UserPath::to_string()`), never "".
    pub path: String,
    pub kind: ShareKind,
    /// What the path named when shared (an upload share is always a folder).
    pub is_folder: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// Bumped by every password change: share tokens name the version they were issued for.
    #[serde(default)]
    pub password_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<u64>,
    #[serde(default)]
    pub uses: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(with = "chrono::serde::ts_seconds")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "chrono::serde::ts_seconds")]
    pub updated_at: DateTime<Utc>,
    #[serde(with = "chrono::serde::ts_seconds")]
    pub expires_at: DateTime<Utc>,
}

impl Share {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }

    pub fn is_used_up(&self) -> bool {
        self.max_uses.is_some_and(|m| self.uses >= m)
    }
}

#[async_trait]
pub trait ShareStore: Send + Sync {
    /// Stores a new share, if its owner exists, is active and holds fewer than `max_per_user`
    /// shares, in one atomic step; false (nothing written) otherwise. An id already taken is an
    /// error.
    async fn create_share(&self, share: &Share, max_per_user: u64) -> StoreResult<bool>;
    /// The owner's share; None for a missing one or another user's.
    async fn get_share(&self, user_id: &str, share_id: &str) -> StoreResult<Option<Share>>;
    /// A share by id alone with its owner as stored now (the visitor's lookup); None when
    /// either is gone. One batched read after the marker where the backend needs one.
    async fn load_share(&self, share_id: &str) -> StoreResult<Option<(Share, User)>>;
    /// The user's shares in id order after `after`, at most `limit`.
    async fn list_shares(
        &self,
        user_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<Share>>;
    /// Writes the editable fields (password_hash, password_version, max_uses, note,
    /// expires_at, updated_at) — never `uses` — if the stored `password_version` is still
    /// `read_version` (the one the change was computed from: a change made from an older read
    /// must not bring back a replaced password); false, nothing written, when the share is gone
    /// or its password changed meanwhile.
    async fn update_share(&self, share: &Share, read_version: u32) -> StoreResult<bool>;
    /// False when that user has no such share.
    async fn delete_share(&self, user_id: &str, share_id: &str) -> StoreResult<bool>;
    /// Ends every share of the user whose path is `path` or lies below it (`path + "/"`
    /// prefix; "" = all); how many.
    async fn delete_shares_under(&self, user_id: &str, path: &str) -> StoreResult<u64>;
    /// One use more, if the share exists, `expires_at > now` and `uses < max_uses` (when
    /// set), atomically; false: nothing changed.
    async fn claim_share_use(
        &self,
        user_id: &str,
        share_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// One use back (an action that failed after its claim); never below zero.
    async fn release_share_use(&self, user_id: &str, share_id: &str) -> StoreResult<()>;
}

/// Everything the services need from metadata storage.
pub trait MetaStore:
    UserStore
    + SessionStore
    + ApiKeyStore
    + ThrottleStore
    + JobStore
    + JobSlotStore
    + ChargeStore
    + ShareStore
{
}
impl<T> MetaStore for T where
    T: UserStore
        + SessionStore
        + ApiKeyStore
        + ThrottleStore
        + JobStore
        + JobSlotStore
        + ChargeStore
        + ShareStore
{
}

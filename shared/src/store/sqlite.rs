//! Embedded metadata store: one SQLite file (rusqlite, bundled), for `cargo run` and
//! self-hosted single-binary deployments.
//!
//! The connection is the embedded backend's shared [`Db`]; uniqueness is enforced by `UNIQUE`
//! indexes on the normalized username and email, so registration races cannot create twins.

use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use rusqlite_migration::{HookResult, Migrations, M};

use super::{
    counts_as_superuser, ApiKey, ApiKeyStore, Caps, Counter, Job, JobStatus, JobStore, JobWrite,
    Session, SessionStore, StoreError, StoreResult, ThrottleStore, UsageChange, UserKey, UserStore,
    WriteUserError,
};
use crate::domain::{Email, LoginKey, Role, User, UserId, Username};
use crate::embedded_db::{db_error, Db};

/// Step 1 of the schema: every table as it was before steps were counted.
const SCHEMA_1: &str = "
CREATE TABLE IF NOT EXISTS users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    username_lc   TEXT NOT NULL UNIQUE,
    email         TEXT NOT NULL,
    email_lc      TEXT NOT NULL UNIQUE,
    first_name    TEXT NOT NULL,
    last_name     TEXT NOT NULL,
    role          TEXT NOT NULL,
    is_active     INTEGER NOT NULL,
    password_hash TEXT NOT NULL,
    quota_bytes   INTEGER,
    used_bytes    INTEGER NOT NULL DEFAULT 0,
    file_count    INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    refresh_hash TEXT NOT NULL,
    previous_hash TEXT,
    generation   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);
CREATE TABLE IF NOT EXISTS api_keys (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    key_hash   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);
CREATE INDEX IF NOT EXISTS api_keys_user ON api_keys(user_id);
CREATE TABLE IF NOT EXISTS zip_jobs (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    body       TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS zip_jobs_expiry ON zip_jobs(expires_at);
CREATE TABLE IF NOT EXISTS login_failures (
    key       TEXT PRIMARY KEY,
    count     INTEGER NOT NULL,
    closes_at INTEGER NOT NULL
);
";

/// Step 2: per-user file limits, and charges (see [`super::Charge`]) with the counters of what
/// they hold.
const SCHEMA_2: &str = "
ALTER TABLE users ADD COLUMN file_limit INTEGER;
ALTER TABLE users ADD COLUMN reserved_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN reserved_files INTEGER NOT NULL DEFAULT 0;
CREATE TABLE charges (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    bytes      INTEGER NOT NULL,
    files      INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX charges_user ON charges(user_id, expires_at);
";

/// Step 3: running ZIP jobs' slots (see [`super::JobSlot`]), at most a few per user.
const SCHEMA_3: &str = "
CREATE TABLE job_slots (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    slot       INTEGER NOT NULL,
    job_id     TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, slot)
);
";

/// Step 4: share links (see [`super::Share`]). The owner's rows go with the owner (cascade).
const SCHEMA_4: &str = "
CREATE TABLE shares (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    path             TEXT NOT NULL,
    kind             TEXT NOT NULL,
    is_folder        INTEGER NOT NULL,
    password_hash    TEXT,
    password_version INTEGER NOT NULL DEFAULT 0,
    max_uses         INTEGER,
    uses             INTEGER NOT NULL DEFAULT 0,
    note             TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL
);
CREATE INDEX shares_user ON shares(user_id, id);
";

/// Step 5: jobs of every kind (the table keeps its name). `run` and `cancel` beside the body so
/// writes can be conditional on the run and the cancel flag outlives them; `running` indexes
/// the jobs to resume at start (archives running at the upgrade included). Slots hold the paths a folder job reserves (JSON array).
const SCHEMA_5: &str = "
ALTER TABLE zip_jobs ADD COLUMN run INTEGER NOT NULL DEFAULT 0;
ALTER TABLE zip_jobs ADD COLUMN cancel INTEGER NOT NULL DEFAULT 0;
ALTER TABLE zip_jobs ADD COLUMN running INTEGER NOT NULL DEFAULT 0;
UPDATE zip_jobs SET running = 1 WHERE json_extract(body, '$.status') = 'running';
CREATE INDEX zip_jobs_running ON zip_jobs(running) WHERE running = 1;
ALTER TABLE job_slots ADD COLUMN paths TEXT NOT NULL DEFAULT '[]';
";

/// The schema, one numbered step per change; `user_version` counts the steps a file has had.
///
/// Files made before steps were counted are at `user_version` 0 with some version of step 1
/// already in place: its `IF NOT EXISTS` statements pass over what is there, and its hook adds
/// the one column added since step 1's tables were first written (`sessions.previous_hash`).
/// Later changes are new steps at the end, never edits of earlier ones.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up_with_hook(SCHEMA_1, add_previous_hash),
        M::up(SCHEMA_2),
        M::up(SCHEMA_3),
        M::up(SCHEMA_4),
        M::up(SCHEMA_5),
    ])
}

/// Sessions tables older than refresh-token reuse detection lack `previous_hash`.
fn add_previous_hash(tx: &rusqlite::Transaction) -> HookResult {
    let present: bool = tx.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('sessions') WHERE name = 'previous_hash'",
        [],
        |row| row.get(0),
    )?;
    if !present {
        tx.execute_batch("ALTER TABLE sessions ADD COLUMN previous_hash TEXT")?;
    }
    Ok(())
}

mod charges;
mod job_slots;
mod shares;

#[derive(Clone)]
pub struct SqliteStore {
    db: Db,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            db: Db::open(path, &migrations())?,
        })
    }

    async fn with<T, F>(&self, f: F) -> Result<T, rusqlite::Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        self.db.with(f).await
    }

    /// A read on its own, from the pool of readers (see [`Db::read`]).
    async fn read<T, F>(&self, f: F) -> Result<T, rusqlite::Error>
    where
        F: FnOnce(&Connection) -> Result<T, rusqlite::Error>,
    {
        self.db.read(f).await
    }
}

fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn from_ts(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

/// The columns [`user_from_row`] reads, as a macro so that constant statements can embed them.
macro_rules! user_columns {
    () => {
        "id, username, email, first_name, last_name, role, is_active, password_hash, \
         quota_bytes, used_bytes, file_count, created_at, updated_at, file_limit, \
         reserved_bytes, reserved_files"
    };
}
const USER_COLUMNS: &str = user_columns!();

/// The one mapping of a `users` row (selected as [`USER_COLUMNS`]) to a [`User`]. Stored values
/// are taken as they are, not re-validated: see [`Username`] on older data.
fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: UserId::from(row.get::<_, String>(0)?),
        username: Username::from_stored(row.get(1)?),
        email: Email::from_stored(row.get(2)?),
        first_name: row.get(3)?,
        last_name: row.get(4)?,
        role: Role::from_stored(&row.get::<_, String>(5)?),
        is_active: row.get(6)?,
        password_hash: row.get(7)?,
        quota_bytes: row.get::<_, Option<i64>>(8)?.map(|q| q.max(0) as u64),
        used_bytes: row.get::<_, i64>(9)?.max(0) as u64,
        file_count: row.get::<_, i64>(10)?.max(0) as u64,
        created_at: from_ts(row.get(11)?),
        updated_at: from_ts(row.get(12)?),
        file_limit: row.get::<_, Option<i64>>(13)?.map(|q| q.max(0) as u64),
        reserved_bytes: row.get::<_, i64>(14)?.max(0) as u64,
        reserved_files: row.get::<_, i64>(15)?.max(0) as u64,
    })
}

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: row.get(0)?,
        user_id: row.get(1)?,
        refresh_hash: row.get(2)?,
        generation: row.get::<_, i64>(3)? as u64,
        created_at: from_ts(row.get(4)?),
        expires_at: from_ts(row.get(5)?),
        previous_hash: row.get(6)?,
    })
}

fn key_from_row(row: &Row<'_>) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        id: row.get(0)?,
        user_id: row.get(1)?,
        name: row.get(2)?,
        prefix: row.get(3)?,
        key_hash: row.get(4)?,
        created_at: from_ts(row.get(5)?),
        expires_at: row.get::<_, Option<i64>>(6)?.map(from_ts),
    })
}

/// Maps a UNIQUE violation to the field it concerns.
fn write_error(err: rusqlite::Error) -> WriteUserError {
    if let rusqlite::Error::SqliteFailure(e, Some(msg)) = &err {
        if e.code == rusqlite::ErrorCode::ConstraintViolation {
            if msg.contains("users.username_lc") {
                return WriteUserError::UsernameTaken;
            }
            if msg.contains("users.email_lc") {
                return WriteUserError::EmailTaken;
            }
        }
    }
    WriteUserError::Store(db_error(err))
}

/// Only growth is held to a cap: freeing space always succeeds.
fn cap(limit: Option<u64>, growth: i64) -> Option<i64> {
    limit
        .filter(|_| growth > 0)
        .map(|q| q.min(i64::MAX as u64) as i64)
}

/// The one conditional addition to a user's counters; how many rows it changed (0: refused).
fn add_usage(
    c: &Connection,
    id: &str,
    bytes: i64,
    files: i64,
    caps: Caps,
) -> rusqlite::Result<usize> {
    c.execute(
        "UPDATE users SET used_bytes = MAX(0, used_bytes + ?2), \
         file_count = MAX(0, file_count + ?3) \
         WHERE id = ?1 AND (?4 IS NULL OR used_bytes + ?2 <= ?4) \
         AND (?5 IS NULL OR file_count + ?3 <= ?5)",
        params![
            id,
            bytes,
            files,
            cap(caps.quota_bytes, bytes),
            cap(caps.file_limit, files)
        ],
    )
}

/// Active superusers other than `id`.
fn other_active_superusers(c: &Connection, id: &str) -> rusqlite::Result<i64> {
    c.query_row(
        "SELECT COUNT(*) FROM users WHERE role = 'superuser' AND is_active AND id <> ?1",
        [id],
        |row| row.get(0),
    )
}

fn get_user(conn: &Connection, id: &str) -> rusqlite::Result<Option<User>> {
    conn.prepare_cached(USER_BY_ID)?
        .query_row([id], user_from_row)
        .optional()
}

// Statements run on every request, as constants so that `prepare_cached` finds them again.
const USER_BY_ID: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = ?1");
const SESSION_OF_USER: &str = "SELECT id, user_id, refresh_hash, generation, created_at, \
    expires_at, previous_hash FROM sessions WHERE id = ?1 AND user_id = ?2";
const KEY_OF_USER: &str = "SELECT id, user_id, name, prefix, key_hash, created_at, expires_at \
    FROM api_keys WHERE id = ?1 AND user_id = ?2";

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: &User) -> Result<(), WriteUserError> {
        let u = user.clone();
        self.with(move |c| {
            c.execute(
                "INSERT INTO users (id, username, username_lc, email, email_lc, first_name, \
                 last_name, role, is_active, password_hash, quota_bytes, used_bytes, file_count, \
                 created_at, updated_at, file_limit) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, 0, ?12, ?13, ?14)",
                params![
                    u.id.as_str(),
                    u.username.as_str(),
                    u.username.normalized(),
                    u.email.as_str(),
                    u.email.normalized(),
                    u.first_name,
                    u.last_name,
                    u.role.as_str(),
                    u.is_active,
                    u.password_hash,
                    u.quota_bytes.map(|q| q as i64),
                    ts(u.created_at),
                    ts(u.updated_at),
                    u.file_limit.map(|q| q as i64),
                ],
            )
            .map(|_| Ok(()))
            .or_else(|e| match write_error(e) {
                // SQLite names one violated index, the email's when both are: report the name
                // first, as the DynamoDB store does.
                WriteUserError::EmailTaken => {
                    let name_taken = c
                        .query_row(
                            "SELECT 1 FROM users WHERE username_lc = ?1",
                            [u.username.normalized()],
                            |_| Ok(()),
                        )
                        .optional()?
                        .is_some();
                    Ok(Err(if name_taken {
                        WriteUserError::UsernameTaken
                    } else {
                        WriteUserError::EmailTaken
                    }))
                }
                other => Ok(Err(other)),
            })
        })
        .await
        .map_err(write_error)?
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        self.read(|c| get_user(c, id)).await.map_err(db_error)
    }

    async fn find_user_by_login(&self, login: &str) -> StoreResult<Option<User>> {
        let (column, login) = match LoginKey::of(login) {
            LoginKey::Username(name) => ("username_lc", name),
            LoginKey::Email(address) => ("email_lc", address),
        };
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE {column} = ?1"
            ))?
            .query_row([login], user_from_row)
            .optional()
        })
        .await
        .map_err(db_error)
    }

    async fn update_user(&self, before: &User, after: &User) -> Result<(), WriteUserError> {
        let (u, b) = (after.clone(), before.clone());
        let removes_superuser = counts_as_superuser(before) && !counts_as_superuser(after);
        let changed = self
            .with(move |c| {
                // One write transaction: the count and the write cannot interleave with another.
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                if removes_superuser && other_active_superusers(&tx, u.id.as_str())? == 0 {
                    return Ok(None);
                }
                let changed = tx.execute(
                    "UPDATE users SET email = ?2, email_lc = ?3, first_name = ?4, last_name = ?5, \
                     role = ?6, is_active = ?7, password_hash = ?8, quota_bytes = ?9, \
                     updated_at = ?10, file_limit = ?15 WHERE id = ?1 AND password_hash = ?11 \
                     AND email = ?12 AND role = ?13 AND is_active = ?14",
                    params![
                        u.id.as_str(),
                        u.email.as_str(),
                        u.email.normalized(),
                        u.first_name,
                        u.last_name,
                        u.role.as_str(),
                        u.is_active,
                        u.password_hash,
                        u.quota_bytes.map(|q| q as i64),
                        ts(u.updated_at),
                        b.password_hash,
                        b.email.as_str(),
                        b.role.as_str(),
                        b.is_active,
                        u.file_limit.map(|q| q as i64),
                    ],
                )?;
                tx.commit()?;
                Ok(Some(changed))
            })
            .await
            .map_err(write_error)?;
        match changed {
            None => Err(WriteUserError::LastSuperuser),
            Some(0) => Err(WriteUserError::Stale),
            Some(_) => Ok(()),
        }
    }

    async fn add_usage_within(
        &self,
        user_id: &str,
        bytes: i64,
        files: i64,
        caps: Caps,
    ) -> StoreResult<bool> {
        let id = user_id.to_owned();
        let changed = self
            .with(move |c| add_usage(c, &id, bytes, files, caps))
            .await
            .map_err(db_error)?;
        Ok(changed > 0)
    }

    async fn list_users(
        &self,
        search: Option<&str>,
        after: Option<&UserKey>,
        limit: usize,
    ) -> StoreResult<Vec<User>> {
        let search = search.map(str::to_owned);
        let after = after.map(|k| k.username_lc.clone()).unwrap_or_default();
        self.with(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE username_lc > ?1 ORDER BY username_lc"
            ))?;
            // Rows are read lazily: the scan stops once the page is full.
            let mut users = Vec::new();
            for user in stmt.query_map([after], user_from_row)? {
                let user = user?;
                if user.matches(search.as_deref()) {
                    users.push(user);
                    if users.len() == limit {
                        break;
                    }
                }
            }
            Ok(users)
        })
        .await
        .map_err(db_error)
    }

    async fn count_active_superusers(&self) -> StoreResult<u64> {
        self.with(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM users WHERE role = 'superuser' AND is_active",
                [],
                |row| row.get::<_, i64>(0),
            )
        })
        .await
        .map(|n| n as u64)
        .map_err(db_error)
    }

    async fn delete_user(&self, user: &User) -> StoreResult<()> {
        let id = user.id.to_string();
        // Sessions and keys go with the user (ON DELETE CASCADE).
        self.with(move |c| c.execute("DELETE FROM users WHERE id = ?1", [id]))
            .await
            .map(|_| ())
            .map_err(db_error)
    }

    async fn ping(&self) -> StoreResult<()> {
        self.with(|c| c.query_row("SELECT 1", [], |_| Ok(())))
            .await
            .map_err(|e| StoreError::Unavailable(e.into()))
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, s: &Session) -> StoreResult<()> {
        let s = s.clone();
        self.with(move |c| {
            let tx = c.transaction()?;
            // Expired sessions of this user are swept as new ones are made.
            tx.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND expires_at <= ?2",
                params![s.user_id, ts(Utc::now())],
            )?;
            tx.execute(
                "INSERT INTO sessions (id, user_id, refresh_hash, generation, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    s.id,
                    s.user_id,
                    s.refresh_hash,
                    s.generation as i64,
                    ts(s.created_at),
                    ts(s.expires_at)
                ],
            )?;
            tx.commit()
        })
        .await
        .map_err(db_error)
    }

    async fn load_session_principal(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> StoreResult<(Option<User>, Option<Session>)> {
        self.read(|c| {
            let user = get_user(c, user_id)?;
            let session = c
                .prepare_cached(SESSION_OF_USER)?
                .query_row([session_id, user_id], session_from_row)
                .optional()?;
            Ok((user, session))
        })
        .await
        .map_err(db_error)
    }

    async fn rotate_session(
        &self,
        user_id: &str,
        session_id: &str,
        expected_generation: u64,
        new_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (uid, sid, hash) = (
            user_id.to_owned(),
            session_id.to_owned(),
            new_hash.to_owned(),
        );
        self.with(move |c| {
            c.execute(
                "UPDATE sessions SET previous_hash = refresh_hash, refresh_hash = ?3, \
                 generation = generation + 1, expires_at = ?4 \
                 WHERE id = ?1 AND user_id = ?2 AND generation = ?5",
                params![sid, uid, hash, ts(expires_at), expected_generation as i64],
            )
        })
        .await
        .map(|n| n == 1)
        .map_err(db_error)
    }

    async fn delete_session(&self, user_id: &str, session_id: &str) -> StoreResult<()> {
        let (uid, sid) = (user_id.to_owned(), session_id.to_owned());
        self.with(move |c| {
            c.execute(
                "DELETE FROM sessions WHERE id = ?1 AND user_id = ?2",
                [sid, uid],
            )
        })
        .await
        .map(|_| ())
        .map_err(db_error)
    }

    async fn delete_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<()> {
        let (uid, keep) = (user_id.to_owned(), keep.unwrap_or_default().to_owned());
        self.with(move |c| {
            c.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND id <> ?2",
                [uid, keep],
            )
        })
        .await
        .map(|_| ())
        .map_err(db_error)
    }

    async fn trim_sessions(&self, user_id: &str, max_live: u64) -> StoreResult<u64> {
        let uid = user_id.to_owned();
        self.with(move |c| {
            let tx = c.transaction()?;
            let now = ts(Utc::now());
            tx.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND expires_at <= ?2",
                params![uid, now],
            )?;
            // Oldest by creation; session ids (UUIDv7) order sessions made in one second, as on
            // DynamoDB.
            let ended = tx.execute(
                "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions \
                 WHERE user_id = ?1 ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET ?2)",
                params![uid, max_live as i64],
            )?;
            tx.commit()?;
            Ok(ended as u64)
        })
        .await
        .map_err(db_error)
    }
}

#[async_trait]
impl ApiKeyStore for SqliteStore {
    async fn create_api_key(&self, k: &ApiKey) -> StoreResult<()> {
        let k = k.clone();
        self.with(move |c| {
            c.execute(
                "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    k.id,
                    k.user_id,
                    k.name,
                    k.prefix,
                    k.key_hash,
                    ts(k.created_at),
                    k.expires_at.map(ts)
                ],
            )
        })
        .await
        .map(|_| ())
        .map_err(db_error)
    }

    async fn list_api_keys(&self, user_id: &str) -> StoreResult<Vec<ApiKey>> {
        let uid = user_id.to_owned();
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, user_id, name, prefix, key_hash, created_at, expires_at \
                 FROM api_keys WHERE user_id = ?1 ORDER BY created_at, id",
            )?;
            let rows = stmt.query_map([uid], key_from_row)?;
            rows.collect()
        })
        .await
        .map_err(db_error)
    }

    async fn delete_api_key(&self, user_id: &str, key_id: &str) -> StoreResult<bool> {
        let (uid, kid) = (user_id.to_owned(), key_id.to_owned());
        self.with(move |c| {
            c.execute(
                "DELETE FROM api_keys WHERE id = ?1 AND user_id = ?2",
                [kid, uid],
            )
        })
        .await
        .map(|n| n == 1)
        .map_err(db_error)
    }

    async fn delete_api_keys(&self, user_id: &str) -> StoreResult<u64> {
        let uid = user_id.to_owned();
        self.with(move |c| c.execute("DELETE FROM api_keys WHERE user_id = ?1", [uid]))
            .await
            .map(|n| n as u64)
            .map_err(db_error)
    }

    async fn load_key_principal(
        &self,
        user_id: &str,
        key_id: &str,
    ) -> StoreResult<(Option<User>, Option<ApiKey>)> {
        self.read(|c| {
            let user = get_user(c, user_id)?;
            let key = c
                .prepare_cached(KEY_OF_USER)?
                .query_row([key_id, user_id], key_from_row)
                .optional()?;
            Ok((user, key))
        })
        .await
        .map_err(db_error)
    }
}

#[async_trait]
impl ThrottleStore for SqliteStore {
    async fn throttle_counts(&self, keys: &[String], now: i64) -> StoreResult<Vec<Counter>> {
        let keys = keys.to_vec();
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT count, closes_at FROM login_failures WHERE key = ?1 AND closes_at > ?2",
            )?;
            keys.iter()
                .map(|k| {
                    stmt.query_row(params![k, now], |r| {
                        Ok(Counter {
                            count: r.get::<_, i64>(0)? as u64,
                            closes_at: r.get(1)?,
                        })
                    })
                    .optional()
                    .map(Option::unwrap_or_default)
                })
                .collect()
        })
        .await
        .map_err(db_error)
    }

    async fn throttle_hit(
        &self,
        keys: &[String],
        now: i64,
        window_secs: i64,
    ) -> StoreResult<Vec<Counter>> {
        let keys = keys.to_vec();
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM login_failures WHERE closes_at <= ?1", [now])?;
            let mut counters = Vec::new();
            for k in &keys {
                counters.push(tx.query_row(
                    "INSERT INTO login_failures (key, count, closes_at) VALUES (?1, 1, ?2) \
                     ON CONFLICT (key) DO UPDATE SET count = count + 1 \
                     RETURNING count, closes_at",
                    params![k, now + window_secs],
                    |r| {
                        Ok(Counter {
                            count: r.get::<_, i64>(0)? as u64,
                            closes_at: r.get(1)?,
                        })
                    },
                )?);
            }
            tx.commit()?;
            Ok(counters)
        })
        .await
        .map_err(db_error)
    }

    async fn throttle_release(&self, keys: &[String], now: i64) -> StoreResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let keys = keys.to_vec();
        self.with(move |c| {
            let mut stmt = c.prepare(
                "UPDATE login_failures SET count = count - 1 \
                 WHERE key = ?1 AND closes_at > ?2 AND count > 0",
            )?;
            for k in &keys {
                stmt.execute(params![k, now])?;
            }
            Ok(())
        })
        .await
        .map_err(db_error)
    }

    async fn throttle_reset(&self, key: &str) -> StoreResult<()> {
        let key = key.to_owned();
        self.with(move |c| c.execute("DELETE FROM login_failures WHERE key = ?1", [key]))
            .await
            .map(|_| ())
            .map_err(db_error)
    }
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn save_job(&self, job: &Job) -> StoreResult<()> {
        let row = JobRow::of(job)?;
        self.with(move |c| {
            // Expired jobs go as new ones come (the table's TTL, in effect).
            c.execute(
                "DELETE FROM zip_jobs WHERE expires_at < ?1",
                [ts(chrono::Utc::now())],
            )?;
            // The cancel flag outlives the writes of a running job; it goes when the job ends.
            c.execute(
                "INSERT INTO zip_jobs (id, user_id, body, expires_at, run, running) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(id) DO UPDATE SET \
                 body = excluded.body, expires_at = excluded.expires_at, run = excluded.run, \
                 running = excluded.running, \
                 cancel = CASE WHEN excluded.running = 0 THEN 0 ELSE cancel END",
                params![
                    row.id,
                    row.user,
                    row.body,
                    row.expires,
                    row.run,
                    row.running
                ],
            )
        })
        .await
        .map(|_| ())
        .map_err(db_error)
    }

    async fn get_job(&self, user_id: &str, job_id: &str) -> StoreResult<Option<Job>> {
        let (user, id) = (user_id.to_owned(), job_id.to_owned());
        let row: Option<(String, bool)> = self
            .with(move |c| {
                c.query_row(
                    "SELECT body, cancel FROM zip_jobs \
                     WHERE id = ?1 AND user_id = ?2 AND expires_at > ?3",
                    params![id, user, ts(chrono::Utc::now())],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
            })
            .await
            .map_err(db_error)?;
        row.map(|(body, cancel)| job_of(&body, cancel)).transpose()
    }

    async fn update_job(
        &self,
        job: &Job,
        expected_run: u32,
        usage: Option<UsageChange>,
    ) -> StoreResult<JobWrite> {
        let row = JobRow::of(job)?;
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // The flag survives hand-overs (a stop asked meanwhile is never lost) and goes
            // when the job ends, so a resumed job starts clean.
            let cancel: Option<bool> = tx
                .query_row(
                    "UPDATE zip_jobs SET body = ?3, expires_at = ?4, running = ?6, \
                     cancel = CASE WHEN ?6 = 0 THEN 0 ELSE cancel END, run = ?5 \
                     WHERE id = ?1 AND user_id = ?2 AND run = ?7 RETURNING cancel",
                    params![
                        row.id,
                        row.user,
                        row.body,
                        row.expires,
                        row.run,
                        row.running,
                        expected_run
                    ],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(cancel) = cancel else {
                return Ok(JobWrite::Superseded);
            };
            if let Some(u) = usage {
                // Refused: the transaction drops, and with it the job's write.
                if add_usage(&tx, &row.user, u.bytes, u.files, u.caps.unwrap_or_default())? == 0 {
                    return Ok(JobWrite::OverCaps);
                }
            }
            tx.commit()?;
            Ok(JobWrite::Saved {
                cancel_requested: cancel,
            })
        })
        .await
        .map_err(db_error)
    }

    async fn cancel_job(&self, user_id: &str, job_id: &str) -> StoreResult<bool> {
        let (user, id) = (user_id.to_owned(), job_id.to_owned());
        self.with(move |c| {
            c.execute(
                "UPDATE zip_jobs SET cancel = 1 \
                 WHERE id = ?1 AND user_id = ?2 AND running = 1 AND expires_at > ?3",
                params![id, user, ts(chrono::Utc::now())],
            )
        })
        .await
        .map(|n| n > 0)
        .map_err(db_error)
    }

    async fn running_jobs(&self, limit: usize) -> StoreResult<Vec<Job>> {
        let limit = limit.min(i64::MAX as usize) as i64;
        let rows: Vec<(String, bool)> = self
            .with(move |c| {
                c.prepare(
                    "SELECT body, cancel FROM zip_jobs \
                     WHERE running = 1 AND expires_at > ?1 ORDER BY id LIMIT ?2",
                )?
                .query_map(params![ts(chrono::Utc::now()), limit], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect()
            })
            .await
            .map_err(db_error)?;
        rows.iter().map(|(b, cancel)| job_of(b, *cancel)).collect()
    }

    async fn jobs_of(&self, user_id: &str) -> StoreResult<Vec<Job>> {
        let user = user_id.to_owned();
        let rows: Vec<(String, bool)> = self
            .with(move |c| {
                c.prepare(
                    "SELECT body, cancel FROM zip_jobs WHERE user_id = ?1 AND expires_at > ?2",
                )?
                .query_map(params![user, ts(chrono::Utc::now())], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect()
            })
            .await
            .map_err(db_error)?;
        rows.iter().map(|(b, cancel)| job_of(b, *cancel)).collect()
    }
}

/// A job's columns as stored.
struct JobRow {
    id: String,
    user: String,
    body: String,
    expires: i64,
    run: u32,
    running: bool,
}

impl JobRow {
    fn of(job: &Job) -> StoreResult<Self> {
        Ok(Self {
            id: job.id.clone(),
            user: job.user_id.clone(),
            body: serde_json::to_string(job).map_err(StoreError::other)?,
            expires: ts(job.expires_at),
            run: job.run,
            running: job.status == JobStatus::Running,
        })
    }
}

fn job_of(body: &str, cancel: bool) -> StoreResult<Job> {
    let mut job: Job = serde_json::from_str(body).map_err(StoreError::other)?;
    job.cancel_requested = cancel;
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(path: &Path) -> i64 {
        let conn = Connection::open(path).unwrap();
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    fn has_previous_hash(path: &Path) -> bool {
        let conn = Connection::open(path).unwrap();
        conn.query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info('sessions') WHERE name = 'previous_hash'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    }

    /// A database as an older build left it: `schema`, one user, `user_version` 0.
    fn old_database(path: &Path, schema: &str) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(schema).unwrap();
        drop(conn);
        old_database_user(path);
    }

    async fn still_has_the_user(store: &SqliteStore) {
        let user = store.find_user_by_login("OLD").await.unwrap().unwrap();
        assert_eq!((user.id.as_str(), user.role), ("u1", Role::Superuser));
    }

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
    }

    #[tokio::test]
    async fn a_new_database_gets_every_step_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        SqliteStore::open(&path).unwrap();
        assert_eq!(version(&path), 5);
        assert!(has_previous_hash(&path));
        // Opening again runs nothing twice.
        SqliteStore::open(&path).unwrap();
        assert_eq!(version(&path), 5);
    }

    #[tokio::test]
    async fn databases_from_before_numbered_steps_still_open() {
        let dir = tempfile::tempdir().unwrap();
        // As the last build without steps made it: today's tables, user_version 0.
        let current = dir.path().join("current.db");
        old_database(&current, SCHEMA_1);
        let store = SqliteStore::open(&current).unwrap();
        assert_eq!(version(&current), 5);
        still_has_the_user(&store).await;

        // Older still: sessions without `previous_hash`, which step 1 adds.
        let older = dir.path().join("older.db");
        let schema = SCHEMA_1.replace("    previous_hash TEXT,\n", "");
        assert_ne!(schema, SCHEMA_1);
        old_database(&older, &schema);
        assert!(!has_previous_hash(&older));
        let store = SqliteStore::open(&older).unwrap();
        assert!(has_previous_hash(&older));
        assert_eq!(version(&older), 5);
        still_has_the_user(&store).await;
    }

    #[tokio::test]
    async fn a_database_at_step_3_gains_shares_that_go_with_their_owner() {
        use crate::store::{Share, ShareKind, ShareStore};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("step3.db");
        let mut conn = Connection::open(&path).unwrap();
        let steps = vec![
            M::up_with_hook(SCHEMA_1, add_previous_hash),
            M::up(SCHEMA_2),
            M::up(SCHEMA_3),
        ];
        Migrations::new(steps).to_latest(&mut conn).unwrap();
        drop(conn);
        old_database_user(&path);
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(version(&path), 5);
        still_has_the_user(&store).await;
        let at = from_ts(1_700_000_000);
        let share = Share {
            id: "sh".into(),
            user_id: "u1".into(),
            path: "a".into(),
            kind: ShareKind::Download,
            is_folder: true,
            password_hash: None,
            password_version: 0,
            max_uses: None,
            uses: 0,
            note: None,
            created_at: at,
            updated_at: at,
            expires_at: at,
        };
        assert!(store.create_share(&share, 1).await.unwrap());
        let owner = store.get_user("u1").await.unwrap().unwrap();
        store.delete_user(&owner).await.unwrap();
        assert!(store.get_share("u1", "sh").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_database_at_step_4_keeps_its_zip_jobs_as_zip_jobs() {
        use crate::store::{JobKind, JobSlotStore, JobStatus, JobWrite};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("step4.db");
        let mut conn = Connection::open(&path).unwrap();
        let steps = vec![
            M::up_with_hook(SCHEMA_1, add_previous_hash),
            M::up(SCHEMA_2),
            M::up(SCHEMA_3),
            M::up(SCHEMA_4),
        ];
        Migrations::new(steps).to_latest(&mut conn).unwrap();
        drop(conn);
        old_database_user(&path);
        let conn = Connection::open(&path).unwrap();
        // A running archive as the last build wrote it: no kind, no run, in the body or beside it.
        let expires = chrono::Utc::now() + chrono::Duration::hours(1);
        let body = serde_json::json!({
            "id": "j1", "user_id": "u1", "status": "running", "name": "a.zip",
            "paths": ["a"], "folder_contents": false, "files_done": 1, "files_total": 2,
            "bytes_done": 3, "bytes_total": 4, "error": null,
            "created_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-01T10:00:00Z",
            "expires_at": expires.to_rfc3339(),
        });
        conn.execute(
            "INSERT INTO zip_jobs (id, user_id, body, expires_at) VALUES ('j1', 'u1', ?1, ?2)",
            params![body.to_string(), ts(expires)],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO job_slots (user_id, slot, job_id, expires_at) VALUES ('u1', 0, 'j1', ?1)",
            [ts(expires)],
        )
        .unwrap();
        drop(conn);

        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(version(&path), 5);
        let job = store.get_job("u1", "j1").await.unwrap().unwrap();
        assert_eq!(
            (job.kind, job.status, job.run),
            (JobKind::Zip, JobStatus::Running, 0)
        );
        assert!(!job.cancel_requested && job.folder.is_none() && job.error_code.is_none());
        // It is among the running jobs a restart resumes, and can be cancelled and taken over.
        let running = store.running_jobs(10).await.unwrap();
        assert_eq!(
            running.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
            ["j1"]
        );
        assert!(store.cancel_job("u1", "j1").await.unwrap());
        let taken = crate::store::Job { run: 1, ..job };
        let written = store.update_job(&taken, 0, None).await.unwrap();
        assert_eq!(
            written,
            JobWrite::Saved {
                cancel_requested: true
            }
        );
        // Its slot reads with no reserved paths.
        let slots = store.job_slots("u1").await.unwrap();
        assert_eq!((slots.len(), slots[0].paths.len()), (1, 0));
    }

    /// The user of an older build's database, into tables that exist.
    fn old_database_user(path: &Path) {
        let conn = Connection::open(path).unwrap();
        conn.execute(
            "INSERT INTO users (id, username, username_lc, email, email_lc, first_name, \
             last_name, role, is_active, password_hash, created_at, updated_at) \
             VALUES ('u1', 'Old', 'old', 'old@example.com', 'old@example.com', '', '', \
             'superuser', 1, 'hash', 0, 0)",
            [],
        )
        .unwrap();
    }
}

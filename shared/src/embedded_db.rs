//! The embedded backend's database connection, shared by its two adapters (the SQLite metadata
//! store and the local object store's index), each on its own file with its own migrations.
//!
//! One connection behind a mutex, used from `spawn_blocking`: SQLite serialises writers anyway.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use rusqlite::Connection;
use rusqlite_migration::Migrations;

use crate::store::StoreError;

/// One SQLite connection behind a mutex, used from the blocking pool.
#[derive(Clone)]
pub(crate) struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    /// Opens (creating if needed) the database file and brings its schema up to date: the
    /// numbered `migrations` not yet applied run in order, each once (SQLite's `user_version`
    /// counts those done).
    pub(crate) fn open(path: &Path, migrations: &Migrations<'_>) -> anyhow::Result<Self> {
        let mut conn = Connection::open(path)
            .with_context(|| format!("opening SQLite database {}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
        )?;
        migrations
            .to_latest(&mut conn)
            .with_context(|| format!("migrating SQLite database {}", path.display()))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub(crate) async fn with<T, F>(&self, f: F) -> Result<T, rusqlite::Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave SQLite half-written (transactions roll
            // back), so a poisoned lock is still safe to use.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .unwrap_or_else(|join| Err(rusqlite::Error::ToSqlConversionFailure(Box::new(join))))
    }
}

/// A database error the caller cannot act on: HTTP 500.
pub(crate) fn db_error(err: rusqlite::Error) -> StoreError {
    StoreError::other(err)
}

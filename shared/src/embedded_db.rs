//! The embedded backend's database connections, shared by its two adapters (the SQLite metadata
//! store and the local object store's index), each on its own file with its own migrations.
//!
//! Writes go through one connection behind a mutex: SQLite serialises writers anyway. Reads
//! that stand alone (the per-request credential check, listings, heads) use a small pool of
//! read-only connections instead: in WAL mode they read the last committed state without waiting
//! for the writer or for each other, so a listing is not queued behind a login's transaction.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::Migrations;

use crate::store::StoreError;

/// Idle read connections kept open; more are opened while more reads run at once (the runtime's
/// threads bound that), and closed again when they are done.
const IDLE_READERS: usize = 4;

/// The writer connection behind a mutex (used from the blocking pool), and the pool of readers.
#[derive(Clone)]
pub(crate) struct Db {
    conn: Arc<Mutex<Connection>>,
    readers: Arc<Readers>,
}

/// Read-only connections to one file, opened on first use (not at start: see `open`).
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    fn take(&self) -> rusqlite::Result<Connection> {
        if let Some(conn) = lock(&self.idle).pop() {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // The writer may hold the lock briefly (a checkpoint); wait as it does.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = lock(&self.idle);
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
    }
}

/// A panic while holding a lock cannot leave SQLite half-written (transactions roll back), so a
/// poisoned lock is still safe to use.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
            readers: Arc::new(Readers {
                path: path.to_owned(),
                idle: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Runs `f` with the writer connection on the blocking pool: for writes, and for reads that
    /// must see the database as a write in the same call leaves it.
    pub(crate) async fn with<T, F>(&self, f: F) -> Result<T, rusqlite::Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || f(&mut lock(&conn)))
            .await
            .unwrap_or_else(|join| Err(rusqlite::Error::ToSqlConversionFailure(Box::new(join))))
    }

    /// Runs `f` with a read-only connection, on the calling thread. It sees every write
    /// committed before it started (WAL), and cannot write: use `prepare_cached` for its
    /// statements.
    ///
    /// Not on the blocking pool: these reads take microseconds (a few pages, cached), far less
    /// than the hop there and back, which was most of a listing's time under load (thread
    /// wake-ups and context switches, issue 14). In WAL mode a reader never waits for the
    /// writer.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, rusqlite::Error>
    where
        F: FnOnce(&Connection) -> Result<T, rusqlite::Error>,
    {
        let conn = self.readers.take()?;
        let result = f(&conn);
        self.readers.give_back(conn);
        result
    }
}

impl Db {
    /// [`read`](Self::read) on the blocking pool, for reads that may walk many rows (a listing
    /// page that rolls up subfolders queries again after each): on the calling thread they
    /// would hold a runtime worker, and with it every other connection that worker serves.
    pub(crate) async fn read_apart<T, F>(&self, f: F) -> Result<T, rusqlite::Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = readers.take()?;
            let result = f(&conn);
            readers.give_back(conn);
            result
        })
        .await
        .unwrap_or_else(|join| Err(rusqlite::Error::ToSqlConversionFailure(Box::new(join))))
    }
}

/// A database error the caller cannot act on: HTTP 500.
pub(crate) fn db_error(err: rusqlite::Error) -> StoreError {
    StoreError::other(err)
}

#[cfg(test)]
mod tests {
    use rusqlite_migration::M;

    use super::*;

    #[tokio::test]
    async fn readers_see_every_committed_write_and_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let migrations = Migrations::new(vec![M::up("CREATE TABLE t (v INTEGER);")]);
        let db = Db::open(&dir.path().join("t.db"), &migrations).unwrap();
        async fn count(db: &Db) -> rusqlite::Result<i64> {
            db.read(|c| {
                c.prepare_cached("SELECT COUNT(*) FROM t")?
                    .query_row([], |r| r.get(0))
            })
            .await
        }
        assert_eq!(count(&db).await.unwrap(), 0);
        for n in 1..=3 {
            db.with(|c| c.execute("INSERT INTO t VALUES (1)", []))
                .await
                .unwrap();
            assert_eq!(count(&db).await.unwrap(), n);
        }
        let write = db.read(|c| c.execute("INSERT INTO t VALUES (2)", [])).await;
        assert!(write.is_err(), "{write:?}");
        assert_eq!(count(&db).await.unwrap(), 3);
    }
}

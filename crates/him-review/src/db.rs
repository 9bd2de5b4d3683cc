//! The review database: accounts, sessions, the queue index and the audit index, in one SQLite file.
//!
//! Everything here except accounts and sessions can be rebuilt from the record store ([`crate::reindex`]).

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;

use crate::error::Result;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    author TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    csrf TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS login_failures (
    name TEXT NOT NULL,
    ip TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_key ON login_failures(name, ip, at);
CREATE TABLE IF NOT EXISTS documents (
    document_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    location TEXT NOT NULL,
    received_at TEXT NOT NULL,
    document_type TEXT,
    station TEXT,
    stat INTEGER NOT NULL DEFAULT 0,
    risk INTEGER NOT NULL DEFAULT 0,
    mrn TEXT,
    review_status TEXT NOT NULL DEFAULT 'pending',
    claimed_by TEXT,
    claim_expires_at INTEGER,
    author TEXT,
    awaiting_signature INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS audit (
    key TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    document_id TEXT,
    ip TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
";

/// A handle on the review database. Cheap to clone; calls are serialised on one connection.
#[derive(Debug, Clone)]
pub struct Db {
    connection: Arc<Mutex<Connection>>,
}

impl Db {
    /// Opens (creating when missing) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        Self::with_connection(connection)
    }

    /// A fresh database in memory, for tests.
    pub fn in_memory() -> Result<Self> {
        Self::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(connection: Connection) -> Result<Self> {
        connection.pragma_update(None, "foreign_keys", "ON")?;
        drop_stale_queue_index(&connection)?;
        connection.execute_batch(SCHEMA)?;
        Ok(Db {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// The connection, for one short synchronous step.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite itself consistent (each statement is atomic).
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The queue index is rebuilt from the store at every start: an index of an older layout is dropped
/// rather than migrated.
fn drop_stale_queue_index(connection: &Connection) -> Result<()> {
    let current: bool = connection.query_row(
        "SELECT COUNT(*) = 0 OR SUM(name = 'awaiting_signature') = 1 FROM pragma_table_info('documents')",
        [],
        |row| row.get(0),
    )?;
    if !current {
        connection.execute_batch("DROP TABLE documents")?;
    }
    Ok(())
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The current time as RFC 3339 with milliseconds, UTC.
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_created_twice_without_error() {
        let dir = std::env::temp_dir().join(format!("him-review-db-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("review.sqlite");
        Db::open(&path).unwrap();
        Db::open(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! The review database: accounts, sessions, the queue index and the audit index, in one SQLite file.
//!
//! Everything here except accounts and sessions can be rebuilt from the record store ([`crate::reindex`]).

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;

use crate::error::{Error, Result};

/// Columns added after the first release, created on databases that lack them: (table, column, definition).
const ADDED_COLUMNS: [(&str, &str, &str); 3] = [
    ("users", "author", "TEXT"),
    ("users", "disabled", "INTEGER NOT NULL DEFAULT 0"),
    ("sessions", "last_seen", "INTEGER"),
];

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    author TEXT,
    disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    csrf TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    last_seen INTEGER
);
CREATE TABLE IF NOT EXISTS login_failures (
    name TEXT NOT NULL,
    ip TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_key ON login_failures(name, ip, at);
CREATE INDEX IF NOT EXISTS login_failures_ip ON login_failures(ip, at);
CREATE INDEX IF NOT EXISTS login_failures_at ON login_failures(at);
CREATE TABLE IF NOT EXISTS login_alerts (
    kind TEXT NOT NULL,
    name TEXT,
    ip TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS login_alerts_key ON login_alerts(ip, kind, at);
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
    /// Opens (creating when missing) the database file and brings its schema up to date. The file and its
    /// `-wal` and `-shm` companions are readable by the service's user only (mode 0600): they hold password
    /// hashes and session tokens.
    pub fn open(path: &Path) -> Result<Self> {
        let file_error = |source| Error::DatabaseFile {
            path: path.display().to_string(),
            source,
        };
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(file_error)?;
        restrict(path).map_err(file_error)?;
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        let db = Self::with_connection(connection)?;
        for suffix in ["-wal", "-shm"] {
            let mut companion = path.as_os_str().to_owned();
            companion.push(suffix);
            restrict(Path::new(&companion)).map_err(file_error)?;
        }
        Ok(db)
    }

    /// A fresh database in memory, for tests.
    pub fn in_memory() -> Result<Self> {
        Self::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(connection: Connection) -> Result<Self> {
        connection.pragma_update(None, "foreign_keys", "ON")?;
        drop_stale_queue_index(&connection)?;
        connection.execute_batch(SCHEMA)?;
        add_missing_columns(&connection)?;
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

/// Sets mode 0600 on a file that exists and is readable or writable by others.
fn restrict(path: &Path) -> std::io::Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        }
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

/// Brings a database created by an older release up to the current columns.
fn add_missing_columns(connection: &Connection) -> Result<()> {
    for (table, column, definition) in ADDED_COLUMNS {
        let present: bool = connection.query_row(
            &format!("SELECT COUNT(*) > 0 FROM pragma_table_info('{table}') WHERE name = ?1"),
            [column],
            |row| row.get(0),
        )?;
        if !present {
            connection.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN {column} {definition}"
            ))?;
        }
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

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn database_files_are_private() {
        let dir = std::env::temp_dir().join(format!("him-review-db-mode-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("review.sqlite");
        let db = Db::open(&path).unwrap();
        db.lock()
            .execute(
                "INSERT INTO login_failures (name, ip, at) VALUES ('a', 'b', 1)",
                [],
            )
            .unwrap();
        assert_eq!(mode(&path), 0o600);
        let wal = dir.join("review.sqlite-wal");
        assert!(wal.exists());
        assert_eq!(mode(&wal), 0o600);
        drop(db);
        // A database left readable by an older release is restricted when opened.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        Db::open(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn databases_of_the_first_release_gain_the_new_columns() {
        let dir = std::env::temp_dir().join(format!("him-review-db-old-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("review.sqlite");
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(
                "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
                     password_hash TEXT NOT NULL, created_at TEXT NOT NULL);
                 CREATE TABLE sessions (token_hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),
                     csrf TEXT NOT NULL, expires_at INTEGER NOT NULL);
                 INSERT INTO users (name, role, password_hash, created_at) VALUES ('ana', 'reviewer', 'x', 'now');",
            )
            .unwrap();
        }
        let db = Db::open(&path).unwrap();
        let (disabled, author, last_seen): (i64, Option<String>, i64) = db
            .lock()
            .query_row(
                "SELECT disabled, author, (SELECT COUNT(*) FROM pragma_table_info('sessions')
                                           WHERE name = 'last_seen') FROM users",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .unwrap();
        assert_eq!((disabled, author, last_seen), (0, None, 1));
        drop(db);
        Db::open(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

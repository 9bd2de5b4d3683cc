//! A look at the review database that changes nothing, for `him doctor`.
//!
//! [`crate::Db::connect`] creates a missing SQLite file and brings any schema up to date, and a PostgreSQL
//! server that does not answer can hold it for minutes: right for `him review`, wrong for a check. Here an
//! SQLite file is opened read-only (a missing one is reported, not created) and a PostgreSQL server gets a
//! time limit to connect; each answers one query, the number of review accounts.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::db::{is_postgres_url, Dialect};
use crate::error::{Error, Result};

/// What [`probe_database`] found at a `[review] database` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseProbe {
    /// No SQLite file there yet, in a folder that exists: `him review` creates it on its first start.
    NotCreated,
    /// The database answered.
    Answered {
        dialect: Dialect,
        /// Review accounts; `None` when the schema is not created yet (`him review` creates it).
        accounts: Option<i64>,
    },
}

/// Opens the database a `[review] database` setting names without writing to it, within `timeout`, and
/// counts its accounts.
pub fn probe_database(database: &str, timeout: Duration) -> Result<DatabaseProbe> {
    if is_postgres_url(database) {
        probe_postgres(database, timeout)
    } else {
        probe_sqlite(Path::new(database), timeout)
    }
}

fn probe_sqlite(path: &Path, timeout: Duration) -> Result<DatabaseProbe> {
    if !path.exists() {
        let folder = match path.parent() {
            Some(folder) if !folder.as_os_str().is_empty() => folder,
            _ => Path::new("."),
        };
        if !folder.is_dir() {
            return Err(Error::DatabaseUnavailable {
                detail: format!("the folder {} does not exist", folder.display()),
            });
        }
        return Ok(DatabaseProbe::NotCreated);
    }
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(timeout)?;
    let tables: i64 = connection.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'users'",
        [],
        |row| row.get(0),
    )?;
    let accounts = if tables > 0 {
        Some(connection.query_row("SELECT COUNT(*) FROM users", [], |row| row.get(0))?)
    } else {
        None
    };
    Ok(DatabaseProbe::Answered {
        dialect: Dialect::Sqlite,
        accounts,
    })
}

fn probe_postgres(url: &str, timeout: Duration) -> Result<DatabaseProbe> {
    let mut config: postgres::Config = url.parse()?;
    config.connect_timeout(timeout);
    // The synchronous client runs a runtime of its own: keep it off any async caller's thread.
    std::thread::spawn(move || -> Result<DatabaseProbe> {
        let mut client = config.connect(postgres::NoTls)?;
        let tables: i64 = client
            .query_one(
                "SELECT COUNT(*) FROM information_schema.tables
                  WHERE table_schema = current_schema() AND table_name = 'users'",
                &[],
            )?
            .get(0);
        let accounts = if tables > 0 {
            Some(client.query_one("SELECT COUNT(*) FROM users", &[])?.get(0))
        } else {
            None
        };
        Ok(DatabaseProbe::Answered {
            dialect: Dialect::Postgres,
            accounts,
        })
    })
    .join()
    .map_err(|_| Error::DatabaseUnavailable {
        detail: "the probe's connection thread failed".to_string(),
    })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{add_user, create_test_database, Db, Role};

    const LIMIT: Duration = Duration::from_secs(5);

    /// An empty folder of this test's own under the system's temporary folder.
    fn scratch(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("him-review-probe-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A missing SQLite file is reported and not created; a missing folder is an error.
    #[test]
    fn a_missing_sqlite_file_is_reported_not_created() {
        let dir = scratch("missing");
        let path = dir.join("review.sqlite");
        let probe = probe_database(path.to_str().unwrap(), LIMIT).unwrap();
        assert_eq!(probe, DatabaseProbe::NotCreated);
        assert!(!path.exists());
        let nowhere = dir.join("no-such-folder/review.sqlite");
        let error = probe_database(nowhere.to_str().unwrap(), LIMIT).unwrap_err();
        assert!(error.to_string().contains("does not exist"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An SQLite review database answers with its accounts and is left byte for byte as it was; a file
    /// that is not a database is an error.
    #[test]
    fn an_sqlite_database_answers_with_its_accounts_unchanged() {
        let dir = scratch("sqlite");
        let path = dir.join("review.sqlite");
        let db = Db::open(&path).unwrap();
        add_user(&db, "ana", Role::Supervisor, "a long passphrase", None).unwrap();
        drop(db);
        let before = std::fs::read(&path).unwrap();
        let probe = probe_database(path.to_str().unwrap(), LIMIT).unwrap();
        assert_eq!(
            probe,
            DatabaseProbe::Answered {
                dialect: Dialect::Sqlite,
                accounts: Some(1)
            }
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let garbage = dir.join("garbage.sqlite");
        std::fs::write(&garbage, vec![7u8; 4096]).unwrap();
        assert!(probe_database(garbage.to_str().unwrap(), LIMIT).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A PostgreSQL review database answers with its accounts; a server that is not there fails within
    /// the time limit. Needs the machine's PostgreSQL (`HIM_TEST_POSTGRES`).
    #[test]
    fn a_postgres_database_answers_and_an_absent_server_fails_in_time() {
        let admin = std::env::var("HIM_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
        let url = create_test_database(&admin)
            .unwrap_or_else(|error| panic!("PostgreSQL at {admin} is required: {error:?}"));
        assert_eq!(
            probe_database(&url, LIMIT).unwrap(),
            DatabaseProbe::Answered {
                dialect: Dialect::Postgres,
                accounts: None
            }
        );
        drop(Db::postgres(&url, 1).unwrap());
        assert_eq!(
            probe_database(&url, LIMIT).unwrap(),
            DatabaseProbe::Answered {
                dialect: Dialect::Postgres,
                accounts: Some(0)
            }
        );
        crate::drop_test_database(&admin, &url).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = std::time::Instant::now();
        let absent = format!("postgres://him@127.0.0.1:{port}/him_review");
        assert!(probe_database(&absent, LIMIT).is_err());
        assert!(started.elapsed() < LIMIT * 2);
    }
}

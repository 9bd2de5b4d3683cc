//! The review database: accounts, sessions, login throttling, the queue index and the audit index, behind one
//! interface with two implementations: an SQLite file (the embedded default) and a PostgreSQL server
//! (`[review] database = "postgres://…"`), which several review servers can share.
//!
//! Everything here except accounts and sessions can be rebuilt from the record store ([`crate::reindex`]).
//!
//! Statements are written once, in the SQL both understand, with `?N` parameters (turned into `$N` for
//! PostgreSQL); integer columns are 64-bit on both; values cross as [`Value`]s and come back as [`Row`]s.
//! A PostgreSQL connection is synchronous like SQLite's: each lives on a thread of its own and callers wait
//! on a channel. Every call leaves the async runtime first (`Db::run`): a route waiting on the database holds
//! no worker of the runtime, so twenty slow searches never delay a queue page.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use rusqlite::Connection;

use crate::error::{Error, Result};

/// Columns added after the first release, created on SQLite databases that lack them: (table, column,
/// definition).
const ADDED_COLUMNS: [(&str, &str, &str); 3] = [
    ("users", "author", "TEXT"),
    ("users", "disabled", "INTEGER NOT NULL DEFAULT 0"),
    ("sessions", "last_seen", "INTEGER"),
];

/// The newest column of the queue index: an index without it is of an older layout and is dropped (it is
/// rebuilt from the store at every start).
const QUEUE_INDEX_SENTINEL: &str = "dictated_by";

/// The schema, in SQLite's spelling; [`postgres_schema`] turns it into PostgreSQL's.
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
    id INTEGER PRIMARY KEY,
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
    awaiting_signature INTEGER NOT NULL DEFAULT 0,
    patient_name TEXT,
    birth_date TEXT,
    unmatched_reason TEXT,
    date_of_service TEXT,
    discharge_date TEXT,
    filed_at TEXT,
    claimed_at TEXT,
    approved_at TEXT,
    approved_by TEXT,
    signed_at TEXT,
    dictated_by TEXT
);
CREATE INDEX IF NOT EXISTS documents_list ON documents(status, review_status, stat, received_at);
CREATE INDEX IF NOT EXISTS documents_decided ON documents(review_status, received_at);
CREATE INDEX IF NOT EXISTS documents_received ON documents(received_at);
CREATE INDEX IF NOT EXISTS documents_unsigned ON documents(awaiting_signature, review_status);
CREATE TABLE IF NOT EXISTS audit (
    key TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    \"user\" TEXT NOT NULL,
    action TEXT NOT NULL,
    document_id TEXT,
    ip TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
CREATE TABLE IF NOT EXISTS search_words (
    word TEXT NOT NULL,
    document_id TEXT NOT NULL,
    PRIMARY KEY (word, document_id)
);
CREATE INDEX IF NOT EXISTS search_words_document ON search_words(document_id);
CREATE TABLE IF NOT EXISTS cursors (
    name TEXT PRIMARY KEY,
    position TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tat_days (
    day TEXT NOT NULL,
    stage TEXT NOT NULL,
    dimension TEXT NOT NULL,
    value TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, stage, dimension, value, bucket)
);
CREATE TABLE IF NOT EXISTS tat_window (
    stage TEXT NOT NULL,
    dimension TEXT NOT NULL,
    value TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (stage, dimension, value, bucket)
);
";

/// The schema in PostgreSQL's spelling: 64-bit integers, generated keys, and text compared byte by byte as
/// SQLite does (timestamps, names and ids sort the same on both).
fn postgres_schema() -> String {
    SCHEMA
        .replace(
            "INTEGER PRIMARY KEY",
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        )
        .replace("INTEGER", "BIGINT")
        .replace(" TEXT", " TEXT COLLATE \"C\"")
}

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A value bound to a statement or read from a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Value::Text(value.to_string())
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Value::Text(value)
    }
}

impl From<&String> for Value {
    fn from(value: &String) -> Self {
        Value::Text(value.clone())
    }
}

impl From<&Option<String>> for Value {
    fn from(value: &Option<String>) -> Self {
        value.as_deref().into()
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Value::Int(value)
    }
}

impl From<u32> for Value {
    fn from(value: u32) -> Self {
        Value::Int(i64::from(value))
    }
}

impl From<usize> for Value {
    fn from(value: usize) -> Self {
        Value::Int(i64::try_from(value).unwrap_or(i64::MAX))
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value::Int(i64::from(value))
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

/// The arguments of a statement: `args![a, b]` is `vec![Value::from(a), Value::from(b)]`.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        vec![$($crate::db::Value::from($value)),*]
    };
}
pub(crate) use args;

/// A type a column value converts into.
pub trait FromValue: Sized {
    fn from_value(value: &Value) -> Option<Self>;
}

impl FromValue for String {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Text(text) => Some(text.clone()),
            _ => None,
        }
    }
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Int(number) => Some(*number),
            _ => None,
        }
    }
}

impl FromValue for u32 {
    fn from_value(value: &Value) -> Option<Self> {
        i64::from_value(value).and_then(|number| u32::try_from(number).ok())
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Option<Self> {
        i64::from_value(value).map(|number| number != 0)
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// One result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row(Vec<Value>);

impl Row {
    /// Column `index` as a `T`; a missing column or a value of another type is an error.
    pub fn get<T: FromValue>(&self, index: usize) -> Result<T> {
        self.0
            .get(index)
            .and_then(T::from_value)
            .ok_or_else(|| Error::DatabaseValue {
                detail: format!(
                    "column {index} is {:?}, not {}",
                    self.0.get(index).map(std::mem::discriminant),
                    std::any::type_name::<T>()
                ),
            })
    }
}

/// A connection or a transaction of either database.
pub trait Sql {
    fn dialect(&self) -> Dialect;
    /// Runs a statement; the number of rows it changed.
    fn execute(&mut self, sql: &str, args: Vec<Value>) -> Result<u64>;
    /// Runs a query; its rows.
    fn query(&mut self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>>;
    /// The first row of a query, if any.
    fn query_opt(&mut self, sql: &str, args: Vec<Value>) -> Result<Option<Row>> {
        Ok(self.query(sql, args)?.into_iter().next())
    }
    /// The first row of a query that always returns one (an aggregate).
    fn query_one(&mut self, sql: &str, args: Vec<Value>) -> Result<Row> {
        self.query_opt(sql, args)?
            .ok_or_else(|| Error::DatabaseValue {
                detail: "query returned no row".to_string(),
            })
    }
}

/// `?N` parameters as PostgreSQL's `$N` (the statements here hold no `?` elsewhere).
fn postgres_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

struct SqliteSql<'a>(&'a Connection);

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(number) => ToSqlOutput::Borrowed(ValueRef::Integer(*number)),
            Value::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
        })
    }
}

impl Sql for SqliteSql<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, args: Vec<Value>) -> Result<u64> {
        let changed = self
            .0
            .prepare_cached(sql)?
            .execute(rusqlite::params_from_iter(args.iter()))?;
        Ok(changed as u64)
    }

    fn query(&mut self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>> {
        use rusqlite::types::ValueRef;
        let mut statement = self.0.prepare_cached(sql)?;
        let width = statement.column_count();
        let mut rows = statement.query(rusqlite::params_from_iter(args.iter()))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(width);
            for index in 0..width {
                values.push(match row.get_ref(index)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(number) => Value::Int(number),
                    // Real numbers are not stored here; an average or a ratio is read as its integer part.
                    ValueRef::Real(number) => Value::Int(number as i64),
                    ValueRef::Text(text) | ValueRef::Blob(text) => {
                        Value::Text(String::from_utf8_lossy(text).into_owned())
                    }
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }
}

impl postgres::types::ToSql for Value {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
    {
        use postgres::types::{IsNull, Type};
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(number) => match *ty {
                Type::INT8 => number.to_sql(ty, out),
                Type::INT4 => i32::try_from(*number)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*number)?.to_sql(ty, out),
                Type::BOOL => (*number != 0).to_sql(ty, out),
                _ => {
                    out.extend_from_slice(number.to_string().as_bytes());
                    Ok(IsNull::No)
                }
            },
            Value::Text(text) => match *ty {
                Type::INT8 => text.parse::<i64>()?.to_sql(ty, out),
                Type::INT4 => text.parse::<i32>()?.to_sql(ty, out),
                _ => {
                    out.extend_from_slice(text.as_bytes());
                    Ok(IsNull::No)
                }
            },
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

fn postgres_row(row: &postgres::Row) -> Result<Row> {
    use postgres::types::Type;
    let mut values = Vec::with_capacity(row.len());
    for (index, column) in row.columns().iter().enumerate() {
        let value = match *column.type_() {
            Type::INT8 => row.try_get::<_, Option<i64>>(index)?.map(Value::Int),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(index)?
                .map(|n| Value::Int(n.into())),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(index)?
                .map(|n| Value::Int(n.into())),
            Type::BOOL => row
                .try_get::<_, Option<bool>>(index)?
                .map(|b| Value::Int(b.into())),
            _ => row.try_get::<_, Option<String>>(index)?.map(Value::Text),
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

struct PostgresSql<'a, C: postgres::GenericClient>(&'a mut C);

impl<C: postgres::GenericClient> Sql for PostgresSql<'_, C> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, args: Vec<Value>) -> Result<u64> {
        let params: Vec<&(dyn postgres::types::ToSql + Sync)> = args
            .iter()
            .map(|v| v as &(dyn postgres::types::ToSql + Sync))
            .collect();
        Ok(self.0.execute(postgres_sql(sql).as_str(), &params)?)
    }

    fn query(&mut self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>> {
        let params: Vec<&(dyn postgres::types::ToSql + Sync)> = args
            .iter()
            .map(|v| v as &(dyn postgres::types::ToSql + Sync))
            .collect();
        self.0
            .query(postgres_sql(sql).as_str(), &params)?
            .iter()
            .map(postgres_row)
            .collect()
    }
}

/// Work for a PostgreSQL connection thread: given the thread's connection, or why it has none.
type Job = Box<dyn FnOnce(std::result::Result<&mut postgres::Client, &postgres::Error>) + Send>;

/// A handle on the review database. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    backend: Arc<Backend>,
    searches: Arc<Lane>,
}

/// A counting semaphore for searches: at most `permits` at once, so that the other connections stay free.
struct Lane {
    running: Mutex<usize>,
    freed: std::sync::Condvar,
    permits: usize,
}

impl Lane {
    fn new(permits: usize) -> Self {
        Lane {
            running: Mutex::new(0),
            freed: std::sync::Condvar::new(),
            permits: permits.max(1),
        }
    }
}

/// A search's turn in the lane, given back when dropped (also by a panic).
struct Turn<'a>(&'a Lane);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut running = self.0.running.lock().unwrap_or_else(|p| p.into_inner());
        *running = running.saturating_sub(1);
        self.0.freed.notify_one();
    }
}

enum Backend {
    /// One connection; calls are serialised on it.
    Sqlite(Mutex<Connection>),
    /// Connection threads taking jobs from one channel.
    Postgres { jobs: Mutex<mpsc::Sender<Job>> },
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("dialect", &self.dialect())
            .finish_non_exhaustive()
    }
}

/// Whether a `[review] database` setting names a PostgreSQL server rather than an SQLite file.
pub fn is_postgres_url(database: &str) -> bool {
    database.starts_with("postgres://") || database.starts_with("postgresql://")
}

impl Db {
    /// Opens the database a `[review] database` setting names: a `postgres://` URL (with `connections`
    /// connections) or the path of an SQLite file.
    pub fn connect(database: &str, connections: usize) -> Result<Self> {
        if is_postgres_url(database) {
            Self::postgres(database, connections)
        } else {
            Self::open(Path::new(database))
        }
    }

    /// Opens (creating when missing) the SQLite file and brings its schema up to date. The file and its
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
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        let db = Self::with_connection(connection)?;
        for suffix in ["-wal", "-shm"] {
            let mut companion = path.as_os_str().to_owned();
            companion.push(suffix);
            restrict(Path::new(&companion)).map_err(file_error)?;
        }
        Ok(db)
    }

    /// A fresh SQLite database in memory, for tests.
    pub fn in_memory() -> Result<Self> {
        Self::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(connection: Connection) -> Result<Self> {
        connection.pragma_update(None, "foreign_keys", "ON")?;
        let db = Db {
            backend: Arc::new(Backend::Sqlite(Mutex::new(connection))),
            // One connection: one search at a time, and the queue pages take turns with it.
            searches: Arc::new(Lane::new(1)),
        };
        db.transaction(|sql| {
            migrate(sql)?;
            add_missing_columns(sql)
        })?;
        Ok(db)
    }

    /// Connects to a PostgreSQL server (`postgres://user@host:port/database`) with `connections`
    /// connections and brings the schema up to date; several review servers may share the database.
    pub fn postgres(url: &str, connections: usize) -> Result<Self> {
        let config: postgres::Config = url.parse()?;
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for number in 0..connections.max(1) {
            let (config, receiver) = (config.clone(), receiver.clone());
            std::thread::Builder::new()
                .name(format!("him-review-db-{number}"))
                .spawn(move || connection_thread(&config, &receiver))
                .map_err(|source| Error::DatabaseFile {
                    path: "postgres connection thread".to_string(),
                    source,
                })?;
        }
        let db = Db {
            backend: Arc::new(Backend::Postgres {
                jobs: Mutex::new(sender),
            }),
            // Searches may use all connections but one: a queue page or a claim always finds one free.
            searches: Arc::new(Lane::new(connections.max(2) - 1)),
        };
        db.transaction(|sql| {
            // Servers starting together create the schema one after the other.
            sql.execute("SELECT pg_advisory_xact_lock(4857210387)", Vec::new())?;
            migrate(sql)
        })?;
        Ok(db)
    }

    /// Which database this is.
    pub fn dialect(&self) -> Dialect {
        match &*self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres { .. } => Dialect::Postgres,
        }
    }

    /// Runs `work` on a connection (outside any transaction).
    pub fn with<R, F>(&self, work: F) -> Result<R>
    where
        F: FnOnce(&mut dyn Sql) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        self.run(false, work)
    }

    /// Runs `work` in one transaction, committed when it returns `Ok` and rolled back otherwise. On SQLite
    /// the transaction takes the write lock at once (`BEGIN IMMEDIATE`); on PostgreSQL it runs at READ
    /// COMMITTED, so `work` takes whatever lock its check-then-write needs.
    pub fn transaction<R, F>(&self, work: F) -> Result<R>
    where
        F: FnOnce(&mut dyn Sql) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        self.run(true, work)
    }

    /// Runs `work` (queries of a search when `search`) in the search lane: at most one search per
    /// connection but one at a time, the others waiting (off the runtime) for their turn.
    pub fn searching<R>(&self, search: bool, work: impl FnOnce() -> R) -> R {
        if !search {
            return work();
        }
        let wait = || {
            let lane = &*self.searches;
            let mut running = lane.running.lock().unwrap_or_else(|p| p.into_inner());
            while *running >= lane.permits {
                running = lane.freed.wait(running).unwrap_or_else(|p| p.into_inner());
            }
            *running += 1;
            Turn(lane)
        };
        let turn = if on_runtime_worker() {
            tokio::task::block_in_place(wait)
        } else {
            wait()
        };
        let out = work();
        drop(turn);
        out
    }

    /// Runs `work` off the async runtime: called from a task of a multi-threaded runtime (every route of
    /// `him review`), the worker thread hands its other tasks to a fresh worker for as long as the statement
    /// takes ([`tokio::task::block_in_place`]), so a slow search stalls no other request. Elsewhere (the CLI,
    /// single-threaded tests) it simply runs.
    fn run<R, F>(&self, transaction: bool, work: F) -> Result<R>
    where
        F: FnOnce(&mut dyn Sql) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        if on_runtime_worker() {
            tokio::task::block_in_place(|| self.run_here(transaction, work))
        } else {
            self.run_here(transaction, work)
        }
    }

    fn run_here<R, F>(&self, transaction: bool, work: F) -> Result<R>
    where
        F: FnOnce(&mut dyn Sql) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        match &*self.backend {
            Backend::Sqlite(connection) => {
                // A panic while holding the lock leaves SQLite itself consistent (each statement is atomic,
                // an unfinished transaction rolls back).
                let mut connection = connection
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if !transaction {
                    return work(&mut SqliteSql(&connection));
                }
                let tx = connection
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let out = work(&mut SqliteSql(&tx))?;
                tx.commit()?;
                Ok(out)
            }
            Backend::Postgres { jobs } => {
                let (reply, answer) = mpsc::sync_channel::<Result<R>>(1);
                let job: Job = Box::new(move |client| {
                    let out = match client {
                        Err(error) => Err(Error::DatabaseUnavailable {
                            detail: error.to_string(),
                        }),
                        Ok(client) if transaction => (|| {
                            let mut tx = client.transaction()?;
                            let out = work(&mut PostgresSql(&mut tx))?;
                            tx.commit()?;
                            Ok(out)
                        })(),
                        Ok(client) => work(&mut PostgresSql(client)),
                    };
                    let _ = reply.send(out);
                });
                jobs.lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .send(job)
                    .map_err(|_| Error::DatabaseUnavailable {
                        detail: "no database connection thread is running".to_string(),
                    })?;
                answer.recv().map_err(|_| Error::DatabaseUnavailable {
                    detail: "the database connection thread ended".to_string(),
                })?
            }
        }
    }

    /// Runs one statement; the number of rows it changed.
    pub fn execute(&self, sql: &str, args: Vec<Value>) -> Result<u64> {
        let sql = sql.to_string();
        self.with(move |c| c.execute(&sql, args))
    }

    /// Runs one query; its rows.
    pub fn query(&self, sql: &str, args: Vec<Value>) -> Result<Vec<Row>> {
        let sql = sql.to_string();
        self.with(move |c| c.query(&sql, args))
    }

    /// The first row of a query, if any.
    pub fn query_opt(&self, sql: &str, args: Vec<Value>) -> Result<Option<Row>> {
        let sql = sql.to_string();
        self.with(move |c| c.query_opt(&sql, args))
    }

    /// The first row of a query that always returns one.
    pub fn query_one(&self, sql: &str, args: Vec<Value>) -> Result<Row> {
        let sql = sql.to_string();
        self.with(move |c| c.query_one(&sql, args))
    }
}

/// Whether the caller runs on a multi-threaded tokio runtime, where blocking must leave the worker.
fn on_runtime_worker() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|runtime| runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

/// One PostgreSQL connection's thread: takes jobs until the [`Db`] is dropped, (re)connecting whenever its
/// connection is closed. A panicking job fails its caller, not the thread.
fn connection_thread(config: &postgres::Config, jobs: &Mutex<mpsc::Receiver<Job>>) {
    let mut client: Option<postgres::Client> = None;
    loop {
        let job = {
            let receiver = jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match receiver.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        if client.as_ref().is_none_or(postgres::Client::is_closed) {
            client = None;
            match config.connect(postgres::NoTls) {
                Ok(connected) => client = Some(connected),
                Err(error) => {
                    let _ =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Err(&error))));
                    continue;
                }
            }
        }
        if let Some(connected) = client.as_mut() {
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Ok(connected))));
            if outcome.is_err() {
                // The connection may be mid-transaction: start again with a new one.
                client = None;
            }
        }
    }
}

/// Creates the schema where missing and drops what an older release left that is rebuilt at start: a queue
/// index of an older layout, and throttling rows without ids (they only count recent failed logins).
fn migrate(sql: &mut dyn Sql) -> Result<()> {
    let columns = |sql: &mut dyn Sql, table: &str| -> Result<Vec<String>> {
        let rows = match sql.dialect() {
            Dialect::Sqlite => sql.query("SELECT name FROM pragma_table_info(?1)", args![table])?,
            Dialect::Postgres => sql.query(
                "SELECT column_name::text FROM information_schema.columns
                  WHERE table_schema = current_schema() AND table_name = ?1",
                args![table],
            )?,
        };
        rows.iter().map(|row| row.get(0)).collect()
    };
    let documents = columns(sql, "documents")?;
    if !documents.is_empty() && !documents.iter().any(|c| c == QUEUE_INDEX_SENTINEL) {
        sql.execute("DROP TABLE documents", Vec::new())?;
        sql.execute("DROP TABLE IF EXISTS search_words", Vec::new())?;
        sql.execute("DROP TABLE IF EXISTS tat_days", Vec::new())?;
        sql.execute("DROP TABLE IF EXISTS tat_window", Vec::new())?;
        // The queue index is rebuilt from the store: where it stood in the journal no longer holds.
        sql.execute("DROP TABLE IF EXISTS cursors", Vec::new())?;
    }
    let failures = columns(sql, "login_failures")?;
    if !failures.is_empty() && !failures.iter().any(|c| c == "id") {
        sql.execute("DROP TABLE login_failures", Vec::new())?;
    }
    let schema = match sql.dialect() {
        Dialect::Sqlite => SCHEMA.to_string(),
        Dialect::Postgres => postgres_schema(),
    };
    // A queue index kept by a release without the search words gets them once, here.
    let words_missing = columns(sql, "search_words")?.is_empty();
    // And the turnaround counters, once.
    let counters_missing = columns(sql, "tat_days")?.is_empty();
    for statement in schema.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        sql.execute(statement, Vec::new())?;
    }
    if words_missing {
        crate::queue::index_all_search_words(sql)?;
    }
    if counters_missing {
        crate::summary::rebuild(sql)?;
    }
    Ok(())
}

/// [`migrate`], for tests of what it brings an older database to.
#[cfg(test)]
pub(crate) fn migrate_for_test(sql: &mut dyn Sql) -> Result<()> {
    migrate(sql)
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

/// Brings an SQLite database created by an older release up to the current columns.
fn add_missing_columns(sql: &mut dyn Sql) -> Result<()> {
    for (table, column, definition) in ADDED_COLUMNS {
        let present: bool = sql
            .query_one(
                "SELECT COUNT(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
                args![table, column],
            )?
            .get(0)?;
        if !present {
            sql.execute(
                &format!("ALTER TABLE {table} ADD COLUMN {column} {definition}"),
                Vec::new(),
            )?;
        }
    }
    Ok(())
}

/// Creates an empty database of its own on the PostgreSQL server that `admin_url` reaches, for one test:
/// `him_test_<process>_<n>`. Databases of earlier test processes that are no longer running are dropped
/// first. Returns the new database's URL.
#[doc(hidden)]
pub fn create_test_database(admin_url: &str) -> Result<String> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let config: postgres::Config = admin_url.parse()?;
    let pid = std::process::id();
    let name = format!("him_test_{pid}_{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let created = name.clone();
    // The synchronous client runs its own runtime: keep it off any async caller's thread.
    std::thread::spawn(move || -> Result<()> {
        let mut client = config.connect(postgres::NoTls)?;
        for row in client.query(
            "SELECT datname::text FROM pg_database WHERE datname LIKE 'him\\_test\\_%'",
            &[],
        )? {
            let existing: String = row.get(0);
            let owner = existing
                .split('_')
                .nth(2)
                .and_then(|p| p.parse::<u32>().ok());
            if owner.is_some_and(|p| p != pid && !Path::new(&format!("/proc/{p}")).exists()) {
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {existing} WITH (FORCE)"))?;
            }
        }
        client.batch_execute(&format!("CREATE DATABASE {created}"))?;
        Ok(())
    })
    .join()
    .map_err(|_| Error::DatabaseUnavailable {
        detail: "creating the test database panicked".to_string(),
    })??;
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    Ok(format!("{server}/{name}{query}"))
}

/// Drops a database [`create_test_database`] made (its connections are closed by force).
#[doc(hidden)]
pub fn drop_test_database(admin_url: &str, url: &str) -> Result<()> {
    let config: postgres::Config = admin_url.parse()?;
    let name = url
        .split('?')
        .next()
        .and_then(|base| base.rsplit('/').next())
        .unwrap_or_default()
        .to_string();
    if !name.starts_with("him_test_")
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(Error::InvalidInput {
            detail: "not a test database".to_string(),
        });
    }
    std::thread::spawn(move || -> Result<()> {
        let mut client = config.connect(postgres::NoTls)?;
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
        Ok(())
    })
    .join()
    .map_err(|_| Error::DatabaseUnavailable {
        detail: "dropping the test database panicked".to_string(),
    })?
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
        db.execute(
            "INSERT INTO login_failures (name, ip, at) VALUES ('a', 'b', 1)",
            Vec::new(),
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
        let row = db
            .query_one(
                "SELECT disabled, author, (SELECT COUNT(*) FROM pragma_table_info('sessions')
                                           WHERE name = 'last_seen') FROM users",
                Vec::new(),
            )
            .unwrap();
        let (disabled, author, last_seen): (i64, Option<String>, i64) = (
            row.get(0).unwrap(),
            row.get(1).unwrap(),
            row.get(2).unwrap(),
        );
        assert_eq!((disabled, author, last_seen), (0, None, 1));
        drop(db);
        Db::open(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(test)]
mod postgres_tests {
    use super::*;
    use crate::config::ReviewConfig;

    /// A database of its own on the machine's PostgreSQL (`HIM_TEST_POSTGRES`); fails without one.
    pub(crate) fn postgres() -> Db {
        let admin = std::env::var("HIM_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
        let url = create_test_database(&admin)
            .unwrap_or_else(|error| panic!("PostgreSQL at {admin} is required: {error:?}"));
        Db::postgres(&url, 2).unwrap()
    }

    #[test]
    fn the_login_path_works_on_postgres() {
        let db = postgres();
        let user =
            crate::accounts::add_user(&db, "ana", crate::Role::Reviewer, "correct horse", None);
        let user = user.unwrap();
        let config = ReviewConfig::default();
        let attempt = crate::throttle::reserve(&db, &config, "ana", "10.0.0.1");
        let attempt = attempt.unwrap();
        if let crate::throttle::Attempt::Reserved(reservation) = attempt {
            crate::throttle::succeeded(&db, reservation).unwrap();
        }
        let (token, _) = crate::sessions::create_session(&db, user.id, 10).unwrap();
        assert!(crate::sessions::find_session(&db, &token, 15)
            .unwrap()
            .is_some());
    }

    #[test]
    fn review_state_updates_work_on_postgres() {
        let db = postgres();
        db.execute(
            "INSERT INTO documents (document_id, kind, status, location, received_at)
             VALUES ('d', 'chart', 'filed', 'x', '2024-01-01T00:00:00Z')",
            Vec::new(),
        )
        .unwrap();
        let state = crate::review::ReviewState::default();
        crate::queue::set_review(&db, "d", &state, true).unwrap();
    }
}

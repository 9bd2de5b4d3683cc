//! Errors of the review UI.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in the review UI.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The review database could not be opened or queried.
    #[error("review database failed")]
    Database {
        #[from]
        source: rusqlite::Error,
    },
    /// The PostgreSQL review database refused a statement or the connection failed.
    #[error("review database server failed")]
    DatabaseServer {
        #[from]
        source: postgres::Error,
    },
    /// No connection to the review database could be had (server down, wrong address or credentials).
    #[error("review database unavailable: {detail}")]
    DatabaseUnavailable { detail: String },
    /// A value read from the review database is not of the expected type.
    #[error("review database value unexpected: {detail}")]
    DatabaseValue { detail: String },
    /// The review database file could not be created or made private (mode 0600).
    #[error("review database file {path} could not be created or restricted")]
    DatabaseFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The record store failed.
    #[error("record store failed")]
    Store {
        #[from]
        source: him_store::Error,
    },
    /// A stored object could not be parsed.
    #[error("object {key} is unreadable")]
    Unreadable { key: String },
    /// A stored object is JSON but not what its name says (a DocumentReference without a status): the
    /// reason says what and where, never what it holds.
    #[error("object {key} is unreadable: {reason}")]
    Malformed { key: String, reason: String },
    /// No such document in the queue index.
    #[error("document {document_id} not found")]
    DocumentNotFound { document_id: String },
    /// No such user.
    #[error("user {name} not found")]
    UserNotFound { name: String },
    /// A user of that name exists already.
    #[error("user {name} exists already")]
    UserExists { name: String },
    /// A value given by a caller is not acceptable (empty password, unknown role, bad MRN).
    #[error("invalid input: {detail}")]
    InvalidInput { detail: String },
    /// The action does not fit the document's state (approving an unmatched chart, unacknowledged flags).
    #[error("conflict: {detail}")]
    Conflict { detail: String },
    /// The user may not do this (a reviewer correcting an approved document, a clinician signing another's note).
    #[error("forbidden: {detail}")]
    Forbidden { detail: String },
    /// The store holds records written before their journal existed: `him migrate` must run first.
    #[error("the store's {what} are not journaled yet; run `him migrate` (once, with every him service stopped)")]
    NeedsMigration { what: &'static str },
    /// Hashing a password failed.
    #[error("password hashing failed")]
    PasswordHash,
    /// The server could not bind or serve.
    #[error("server failed on {listen}")]
    Serve {
        listen: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<him_interfaces::Error> for Error {
    fn from(error: him_interfaces::Error) -> Self {
        match error {
            him_interfaces::Error::Store { source } => Error::Store { source },
            him_interfaces::Error::Unreadable { key } => Error::Unreadable { key },
            him_interfaces::Error::NeedsMigration { what } => Error::NeedsMigration { what },
            other => Error::InvalidInput {
                detail: other.to_string(),
            },
        }
    }
}

impl From<him_patients::Error> for Error {
    fn from(error: him_patients::Error) -> Self {
        match error {
            him_patients::Error::Store { source } => Error::Store { source },
            him_patients::Error::InvalidInput { detail } => Error::InvalidInput { detail },
            him_patients::Error::NeedsMigration { what } => Error::NeedsMigration { what },
            other => Error::InvalidInput {
                detail: other.to_string(),
            },
        }
    }
}

impl Error {
    /// Whether retrying the same request later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Store { source } => source.is_transient(),
            Error::Database { source } => matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            Error::DatabaseServer { source } => {
                source.is_closed()
                    || source.code().is_some_and(|code| {
                        let code = code.code();
                        // connection exception, serialization failure, deadlock, operator intervention
                        code.starts_with("08") || code.starts_with("40") || code.starts_with("57P")
                    })
            }
            Error::DatabaseUnavailable { .. } => true,
            Error::Serve { .. } => true,
            _ => false,
        }
    }
}

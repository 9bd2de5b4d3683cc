//! Errors of the record store.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong talking to the store. Every `key` is the redacted form of a [`Key`](crate::Key):
/// an error can be logged without the MRN of a patient folder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No object under this key.
    #[error("object {key} not found")]
    NotFound { key: String },
    /// The key is not a valid object path (empty segment, `..`, control characters).
    #[error("invalid object key {key:?}")]
    InvalidKey { key: String },
    /// The store URL or its settings cannot be used.
    #[error("invalid store configuration: {detail}")]
    Config { detail: String },
    /// The store could not be reached or failed this request; retrying later may succeed.
    #[error("store unavailable for {key}")]
    Unavailable {
        key: String,
        #[source]
        source: object_store::Error,
    },
    /// The store refused the request (permissions, precondition) in a way retrying will not fix.
    #[error("store refused request for {key}")]
    Refused {
        key: String,
        #[source]
        source: object_store::Error,
    },
    /// The local file to be stored under `key` (a spooled upload) could not be read.
    #[error("cannot read the file to store under {key}")]
    Source {
        key: String,
        #[source]
        source: std::io::Error,
    },
    /// Records of this kind were written before their journal existed and are not migrated yet: `him
    /// migrate` must run before new ones are written.
    #[error("{records} were written before their journal; run `him migrate` first")]
    NotMigrated { records: String },
    /// A local object was written but its file or folder could not be made private (mode 0600 / 0700).
    #[error("cannot restrict the permissions of {key}")]
    Permissions {
        key: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether retrying the same request later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unavailable { .. })
    }

    pub(crate) fn from_object_store(key: &str, source: object_store::Error) -> Self {
        use object_store::Error as E;
        let key = key.to_string();
        match source {
            E::NotFound { .. } => Error::NotFound { key },
            E::InvalidPath { .. } => Error::InvalidKey { key },
            E::PermissionDenied { .. }
            | E::Unauthenticated { .. }
            | E::NotSupported { .. }
            | E::NotImplemented => Error::Refused { key, source },
            _ => Error::Unavailable { key, source },
        }
    }
}

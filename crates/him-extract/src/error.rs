//! The crate's one error type.
//!
//! Messages name the row or line, never a field value: a value from the patient index is PHI.

/// What can go wrong while loading a patient index.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The reader failed while the index was being loaded.
    #[error("failed to read patient index")]
    Read {
        /// The underlying IO error.
        #[source]
        source: std::io::Error,
    },
    /// The CSV header lacks a required column.
    #[error("patient index csv lacks column {column}")]
    MissingColumn {
        /// The column the loader needs.
        column: &'static str,
    },
    /// A CSV row or NDJSON line could not be parsed.
    #[error("malformed patient index entry on line {line}: {reason}")]
    MalformedEntry {
        /// 1-based line number in the input.
        line: usize,
        /// What is wrong, without the value itself.
        reason: &'static str,
    },
    /// A medical record number has characters outside `[A-Za-z0-9-]` or is too long.
    #[error("invalid medical record number on line {line}")]
    InvalidMrn {
        /// 1-based line number in the input.
        line: usize,
    },
    /// A medical record number fails the configured check-digit scheme.
    #[error("medical record number on line {line} fails its check digit")]
    CheckDigit {
        /// 1-based line number in the input.
        line: usize,
    },
}

impl Error {
    /// Tells whether retrying the same operation may succeed.
    ///
    /// Only IO failures can be transient; a malformed index stays malformed.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Read { source } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::WouldBlock
            ),
            Error::MissingColumn { .. }
            | Error::MalformedEntry { .. }
            | Error::InvalidMrn { .. }
            | Error::CheckDigit { .. } => false,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_line_not_the_value() {
        let err = Error::InvalidMrn { line: 7 };
        assert_eq!(err.to_string(), "invalid medical record number on line 7");
        assert!(!err.is_transient());
    }

    #[test]
    fn interrupted_read_is_transient() {
        let err = Error::Read {
            source: std::io::Error::from(std::io::ErrorKind::Interrupted),
        };
        assert!(err.is_transient());
    }
}

//! Errors of the work queue.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong talking to the queue.
///
/// Messages name queues and document ids only, never message content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The queue settings cannot be used (bad URL, zero window).
    #[error("invalid queue configuration: {detail}")]
    Config { detail: String },
    /// The broker could not be reached, or the connection or channel was lost during `operation`.
    #[error("queue broker unavailable during {operation}")]
    Unavailable {
        operation: &'static str,
        #[source]
        source: Option<lapin::Error>,
    },
    /// The broker refused `operation` (access, mismatching queue arguments) in a way retrying will not fix.
    #[error("queue broker refused {operation}")]
    Refused {
        operation: &'static str,
        #[source]
        source: lapin::Error,
    },
    /// A mandatory publish found no queue to route to: the topology is missing.
    #[error("message for document {document_id} could not be routed to {queue}")]
    Unroutable { document_id: String, queue: String },
    /// The broker negatively confirmed a publish (it could not store the message).
    #[error("broker did not confirm message for document {document_id}")]
    Nacked { document_id: String },
    /// A message does not satisfy its schema.
    #[error("invalid message: {detail}")]
    InvalidMessage { detail: String },
    /// The delivery was already settled or belongs to a connection that is gone; the broker will redeliver it.
    #[error("delivery of document {document_id} can no longer be settled")]
    DeliveryGone { document_id: String },
}

impl Error {
    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Unavailable { .. } | Error::Nacked { .. } | Error::DeliveryGone { .. }
        )
    }

    /// Sorts a lapin error: protocol refusals are permanent, everything else (IO, closed channel) transient.
    pub(crate) fn from_lapin(operation: &'static str, source: lapin::Error) -> Self {
        use lapin::protocol::AMQPErrorKind;
        if let lapin::ErrorKind::ProtocolError(amqp) = source.kind() {
            if matches!(
                amqp.kind(),
                AMQPErrorKind::Soft(
                    lapin::protocol::AMQPSoftError::ACCESSREFUSED
                        | lapin::protocol::AMQPSoftError::PRECONDITIONFAILED
                        | lapin::protocol::AMQPSoftError::NOTFOUND
                ) | AMQPErrorKind::Hard(lapin::protocol::AMQPHardError::NOTALLOWED)
            ) {
                return Error::Refused { operation, source };
            }
        }
        Error::Unavailable {
            operation,
            source: Some(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_errors_are_transient() {
        let lost = Error::Unavailable {
            operation: "publish",
            source: None,
        };
        assert!(lost.is_transient());
        assert!(Error::Nacked {
            document_id: "a".into()
        }
        .is_transient());
        assert!(!Error::InvalidMessage {
            detail: "schema".into()
        }
        .is_transient());
        assert!(!Error::Unroutable {
            document_id: "a".into(),
            queue: "q".into()
        }
        .is_transient());
    }
}

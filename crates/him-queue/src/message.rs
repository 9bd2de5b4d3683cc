//! The versioned message schema: jobs for workers and events for listeners.
//!
//! Messages carry ids and object keys only, never names, MRNs or document text: a queue is not a place for
//! protected health information, and anything in it can end up in a dead-letter listing.

use std::fmt;

use serde::{Deserialize, Serialize};

use him_store::{Folder, Key};

use crate::{Error, Result};

/// The schema version this crate writes and accepts.
pub const SCHEMA_VERSION: u32 = 1;

/// The kind of work a job asks for; each kind has its own queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkKind {
    /// Scanned charts, for OCR.
    Charts,
    /// Dictations, for transcription.
    Dictations,
}

impl WorkKind {
    /// Every kind, in a fixed order.
    pub const ALL: [WorkKind; 2] = [WorkKind::Charts, WorkKind::Dictations];

    /// The name used in queue names and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkKind::Charts => "charts",
            WorkKind::Dictations => "dictations",
        }
    }
}

impl fmt::Display for WorkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A document waiting to be processed: what a scanning station or dictation drop submits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    /// Always [`SCHEMA_VERSION`].
    pub schema: u32,
    /// 32 lower-case hex characters: the first half of `sha256`.
    pub document_id: String,
    /// Lower-case hex SHA-256 of the original bytes.
    pub sha256: String,
    /// Which queue and engine the job belongs to.
    pub kind: WorkKind,
    /// Object key of the original: `intake/<document_id>/original.<ext>`.
    pub original_key: String,
    /// Media type of the original, e.g. `application/pdf`.
    pub media_type: String,
    /// Size of the original in bytes.
    pub bytes: u64,
    /// Urgent (STAT) work, consumed before normal work.
    pub stat: bool,
    /// Id of the submitting station or drop (a device id, never a person).
    pub station: Option<String>,
    /// When the document was submitted, RFC 3339.
    pub submitted_at: String,
    /// Job demographics were stored beside the original (`intake/<document_id>/demographics.json`). A flag,
    /// never the values: they are PHI.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub demographics: bool,
}

impl JobMessage {
    /// Checks the schema version and the shape of every id and key.
    pub fn validate(&self) -> Result<()> {
        let invalid = |detail: &str| {
            Err(Error::InvalidMessage {
                detail: detail.to_string(),
            })
        };
        if self.schema != SCHEMA_VERSION {
            return invalid("unsupported schema version");
        }
        if !is_lower_hex(&self.document_id, 32) {
            return invalid("document_id is not 32 lower-case hex characters");
        }
        if !is_lower_hex(&self.sha256, 64) || !self.sha256.starts_with(&self.document_id) {
            return invalid("sha256 is not the 64-character hash the document_id derives from");
        }
        let original_ok = match Key::parse(&self.original_key) {
            Some(key) => {
                matches!(key.folder(), Some(Folder::Intake(id)) if id.as_str() == self.document_id)
                    && key.original_extension().is_some()
            }
            None => false,
        };
        if !original_ok {
            return invalid("original_key is not intake/<document_id>/original.<ext>");
        }
        let media_ok = self.media_type.contains('/')
            && self.media_type.len() <= 127
            && self.media_type.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'+' | b'-' | b'_')
            });
        if !media_ok {
            return invalid("media_type is not a media type");
        }
        if let Some(station) = &self.station {
            if !is_identifier(station) {
                return invalid("station is not an id");
            }
        }
        if !him_core::is_rfc3339_shaped(&self.submitted_at) {
            return invalid("submitted_at is not an RFC 3339 timestamp");
        }
        Ok(())
    }

    /// The JSON body of the message.
    pub(crate) fn to_body(&self) -> Result<Vec<u8>> {
        self.validate()?;
        serde_json::to_vec(self).map_err(|error| Error::InvalidMessage {
            detail: error.to_string(),
        })
    }

    /// Reads and validates a body. The error names the problem, never the content.
    pub(crate) fn from_body(body: &[u8]) -> Result<Self> {
        let job: JobMessage =
            serde_json::from_slice(body).map_err(|error| Error::InvalidMessage {
                detail: format!(
                    "not a job message ({:?} at column {})",
                    error.classify(),
                    error.column()
                ),
            })?;
        job.validate()?;
        Ok(job)
    }
}

/// What happened to a document, published on the events exchange with the event as routing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// The document was filed in a patient folder.
    #[serde(rename = "document.filed")]
    Filed,
    /// The document was stored but no patient matched; it waits for review.
    #[serde(rename = "document.unmatched")]
    Unmatched,
    /// The document could not be processed.
    #[serde(rename = "document.rejected")]
    Rejected,
}

impl EventKind {
    /// The routing key: `document.filed`, `document.unmatched` or `document.rejected`.
    pub fn routing_key(self) -> &'static str {
        match self {
            EventKind::Filed => "document.filed",
            EventKind::Unmatched => "document.unmatched",
            EventKind::Rejected => "document.rejected",
        }
    }
}

/// An outcome event for listeners (review UI, interfaces).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMessage {
    /// Always [`SCHEMA_VERSION`].
    pub schema: u32,
    /// What happened.
    pub event: EventKind,
    /// The document it happened to.
    pub document_id: String,
    /// The document's status after the event, e.g. `filed`.
    pub status: String,
    /// Object key of the document's index entry (`index/<id>.json`, [`him_store::Key::Index`]); never
    /// its folder, whose key can hold an MRN.
    pub location: String,
    /// A reason code such as `too_large`, for rejections; never free text about the patient.
    pub reason: Option<String>,
}

impl EventMessage {
    /// Checks the schema version and the document id.
    pub fn validate(&self) -> Result<()> {
        if self.schema != SCHEMA_VERSION {
            return Err(Error::InvalidMessage {
                detail: "unsupported schema version".to_string(),
            });
        }
        if !is_lower_hex(&self.document_id, 32) {
            return Err(Error::InvalidMessage {
                detail: "document_id is not 32 lower-case hex characters".to_string(),
            });
        }
        let index_ok = matches!(Key::parse(&self.location), Some(Key::Index(id)) if id.as_str() == self.document_id);
        if !index_ok {
            return Err(Error::InvalidMessage {
                detail: "location is not the document's index entry".to_string(),
            });
        }
        if let Some(reason) = &self.reason {
            if !is_identifier(reason) {
                return Err(Error::InvalidMessage {
                    detail: "reason is not a reason code".to_string(),
                });
            }
        }
        Ok(())
    }

    pub(crate) fn to_body(&self) -> Result<Vec<u8>> {
        self.validate()?;
        serde_json::to_vec(self).map_err(|error| Error::InvalidMessage {
            detail: error.to_string(),
        })
    }
}

/// A job that failed for good and waits in the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The document, from the message id; empty when a malformed message had none.
    pub document_id: String,
    /// The work kind, from the queue it died in.
    pub kind: Option<WorkKind>,
    /// Why it was dead-lettered: a code given to `dead_letter`, `malformed_message`, or the broker's
    /// `delivery_limit` / `rejected`.
    pub reason: String,
    /// Deliveries of the job before it was dead-lettered (best effort: the broker's count where known).
    pub count: u32,
    /// The work queue it was dead-lettered from, where [`replay`](crate::Queue::replay) puts it back.
    pub first_death_queue: String,
}

/// Whether `text` is a short machine identifier (`[A-Za-z0-9._:-]`, 1 to 64 characters).
pub(crate) fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
}

fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The intake original's key of a document.
    pub(crate) fn intake_original(id: &str) -> String {
        Folder::Intake(him_core::DocumentId::parse(id).unwrap())
            .original("pdf")
            .path()
    }

    /// A valid job for document number `n`.
    pub(crate) fn job(n: u8, kind: WorkKind, stat: bool) -> JobMessage {
        let sha256 = format!("{n:02x}").repeat(32);
        JobMessage {
            schema: SCHEMA_VERSION,
            document_id: sha256[..32].to_string(),
            sha256,
            kind,
            original_key: intake_original(&format!("{n:02x}").repeat(16)),
            media_type: "application/pdf".to_string(),
            bytes: 1024,
            stat,
            station: Some("scan-03".to_string()),
            submitted_at: "2025-03-01T08:30:00Z".to_string(),
            demographics: false,
        }
    }

    #[test]
    fn job_round_trips_through_json() {
        let job = job(7, WorkKind::Charts, true);
        let body = job.to_body().unwrap();
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(text.contains(r#""kind":"charts""#), "{text}");
        assert!(text.contains(r#""schema":1"#), "{text}");
        assert_eq!(JobMessage::from_body(&body).unwrap(), job);
    }

    #[test]
    fn invalid_jobs_are_refused() {
        let mut bad = job(1, WorkKind::Dictations, false);
        bad.schema = 2;
        assert!(bad.validate().is_err());
        let mut bad = job(1, WorkKind::Dictations, false);
        bad.original_key = intake_original(&"ff".repeat(16));
        assert!(bad.validate().is_err());
        let mut bad = job(1, WorkKind::Dictations, false);
        bad.station = Some("Dr Jane Doe".to_string());
        assert!(bad.validate().is_err());
        let mut bad = job(1, WorkKind::Dictations, false);
        bad.submitted_at = "yesterday".to_string();
        assert!(bad.validate().is_err());
        let mut bad = job(1, WorkKind::Dictations, false);
        bad.sha256 = "ff".repeat(32);
        assert!(bad.validate().is_err());
    }

    #[test]
    fn decode_errors_do_not_echo_content() {
        let error = JobMessage::from_body(br#"{"patient":"Jane Doe"}"#).unwrap_err();
        assert!(!error.to_string().contains("Jane"), "{error}");
        assert!(!him_core::is_rfc3339_shaped("2025-03-01T08:30:00"));
        assert!(him_core::is_rfc3339_shaped("2025-03-01T08:30:00.123+01:00"));
    }

    #[test]
    fn events_serialize_with_dotted_names() {
        let event = EventMessage {
            schema: SCHEMA_VERSION,
            event: EventKind::Unmatched,
            document_id: "ab".repeat(16),
            status: "unmatched".to_string(),
            location: Key::Index(him_core::DocumentId::parse(&"ab".repeat(16)).unwrap()).path(),
            reason: None,
        };
        let text = String::from_utf8(event.to_body().unwrap()).unwrap();
        assert!(text.contains(r#""event":"document.unmatched""#), "{text}");
        assert_eq!(EventKind::Rejected.routing_key(), "document.rejected");
    }
}

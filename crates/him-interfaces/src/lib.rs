//! The EHR interfaces of `him`: what leaves the record store for the hospital's EHR, and what the EHR
//! tells `him` about its patients.
//!
//! - [`outbox`]: one create-only event per review decision the EHR must hear about, journaled in order.
//! - [`fhir`]: the FHIR R4 `DocumentReference` written beside each approved version.
//! - [`hl7`]: HL7 v2 messages and MLLP framing (the wire primitives; no I/O).
//! - [`deliver`]: `him deliver`, which sends the outbox's events to every configured destination (MDM over
//!   MLLP, FHIR R4), exactly once in effect.
//! - [`adt`]: `him adt`, the ADT listener that records patient index changes ([`him_patients`]).
//! - [`config`]: the `[hl7]`, `[fhir]` and `[deliver]` sections of `pipeline.toml`.

pub mod adt;
pub mod config;
pub mod deliver;
pub mod fhir;
pub mod hl7;
pub mod outbox;

pub use config::{DeliverConfig, FhirConfig, Hl7Config};

/// Result alias of the outbox.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong reading or writing the outbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The record store failed.
    #[error("record store failed")]
    Store {
        #[from]
        source: him_store::Error,
    },
    /// A stored object could not be parsed.
    #[error("object {key} is unreadable")]
    Unreadable { key: String },
    /// The store holds events written before their journal existed: `him migrate` must run first.
    #[error("the store's {what} are not journaled yet; run `him migrate` (once, with every him service stopped)")]
    NeedsMigration { what: &'static str },
}

impl Error {
    /// Whether retrying the same request later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Store { source } => source.is_transient(),
            _ => false,
        }
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// Now, as an RFC 3339 instant with milliseconds (UTC).
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

//! The EHR interfaces' outbox: every review state change the EHR must hear about (approved, signed,
//! addendum, corrected, reassigned) is written as one create-only record, `outbox/events/<event>.json`,
//! right after the decision's own review record. `him deliver` reads them and sends each to every
//! configured destination (HL7 v2 MDM, FHIR R4); what it did is recorded beside, create-only.
//!
//! An event names ids, folders and version numbers, never document text: the deliverer reads the
//! content from the store when it prepares the messages. The event id is derived from the decision
//! (document, folder, review sequence number), so writing the same event twice is a no-op.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use him_store::{Folder, Key, Store, Written};

use crate::db::now_rfc3339;
use crate::error::Result;
use crate::review::to_json_bytes;

/// What happened to the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxAction {
    /// A version was approved (MDM T02).
    Approved,
    /// The author signed the versions named (MDM T04).
    Signed,
    /// An addendum version appends to `parent` (MDM T06).
    Addendum,
    /// A correction version replaces `parent` (MDM T10).
    Corrected,
    /// The document moved from `from` to `location`: the versions `cancelled` there are entered in error
    /// (MDM T11) and the current versions of `location` announced again (MDM T02).
    Reassigned,
}

impl OutboxAction {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxAction::Approved => "approved",
            OutboxAction::Signed => "signed",
            OutboxAction::Addendum => "addendum",
            OutboxAction::Corrected => "corrected",
            OutboxAction::Reassigned => "reassigned",
        }
    }
}

/// `outbox/events/<event_id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEvent {
    pub event_id: String,
    pub document_id: String,
    pub action: OutboxAction,
    /// The folder holding the versions now.
    pub location: Folder,
    /// The review sequence number of the decision in `location` (in `from` for a reassignment).
    pub seq: u32,
    /// The versions the event is about (the new one for approved, addendum and corrected; the signed
    /// ones; the current ones of the new folder after a reassignment).
    pub versions: Vec<u32>,
    /// The version an addendum appends to or a correction replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<u32>,
    /// A reassignment's old folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Folder>,
    /// A reassignment: the versions that were current in `from` and are now entered in error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cancelled: Vec<u32>,
    pub at: String,
}

impl OutboxEvent {
    /// A new event of the decision `seq` in `folder` (the old folder, for a reassignment).
    pub fn new(document_id: &str, action: OutboxAction, folder: &Folder, seq: u32) -> Self {
        OutboxEvent {
            event_id: event_id(document_id, folder, seq),
            document_id: document_id.to_string(),
            action,
            location: folder.clone(),
            seq,
            versions: Vec::new(),
            parent: None,
            from: None,
            cancelled: Vec::new(),
            at: now_rfc3339(),
        }
    }

    /// `outbox/events/<event_id>.json`.
    pub fn key(&self) -> Key {
        event_key(&self.event_id)
    }
}

/// `<document id>-<first 8 hex digits of SHA-256 of the folder>-<seq>`: unique per decision, no MRN.
pub fn event_id(document_id: &str, folder: &Folder, seq: u32) -> String {
    let digest = Sha256::digest(folder.location().as_bytes());
    let short: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{document_id}-{short}-{seq:04}")
}

/// The key of an event.
pub fn event_key(event_id: &str) -> Key {
    Key::outbox(&format!("events/{event_id}.json"))
        .unwrap_or_else(|| Key::Outbox("events/invalid".into()))
}

/// Writes the event create-only; an event written before (a retried decision) is kept as it is.
pub async fn enqueue(store: &Store, event: &OutboxEvent) -> Result<()> {
    let value = serde_json::to_value(event).unwrap_or_default();
    match store.put_new(&event.key(), to_json_bytes(&value)).await? {
        Written::Created | Written::AlreadyExisted => {}
    }
    tracing::debug!(event = %event.event_id, action = event.action.as_str(), "outbox event written");
    Ok(())
}

/// Every event of the outbox, oldest first (by time, then id).
pub async fn events(store: &Store) -> Result<Vec<OutboxEvent>> {
    let mut events = Vec::new();
    for key in store
        .list(&him_store::Prefix::Outbox("events".into()))
        .await?
    {
        let bytes = store.get(&key).await?;
        match serde_json::from_slice::<OutboxEvent>(&bytes) {
            Ok(event) => events.push(event),
            Err(_) => tracing::warn!(key = %key, "unreadable outbox event skipped"),
        }
    }
    events.sort_by(|a, b| (&a.at, &a.event_id).cmp(&(&b.at, &b.event_id)));
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use him_core::{DocumentId, Mrn};

    #[test]
    fn event_ids_are_per_decision_and_hold_no_mrn() {
        let id = DocumentId::parse(&"ab".repeat(16)).unwrap();
        let a = Folder::Patient(Mrn::parse("40079196").unwrap(), id.clone());
        let b = Folder::Patient(Mrn::parse("40079197").unwrap(), id.clone());
        let one = event_id(id.as_str(), &a, 3);
        assert_eq!(one, event_id(id.as_str(), &a, 3));
        assert_ne!(one, event_id(id.as_str(), &b, 3));
        assert_ne!(one, event_id(id.as_str(), &a, 4));
        assert!(!one.contains("40079196"));
        assert_eq!(Key::parse(&event_key(&one).path()), Some(event_key(&one)));
    }
}

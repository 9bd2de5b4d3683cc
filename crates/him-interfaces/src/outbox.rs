//! The EHR interfaces' outbox: every review state change the EHR must hear about (approved, signed,
//! addendum, corrected, reassigned) is written as one create-only record, `outbox/events/<event>.json`,
//! right after the decision's own review record. `him deliver` reads them and sends each to every
//! configured destination (HL7 v2 MDM, FHIR R4); what it did is recorded beside, create-only.
//!
//! An event names ids, folders and version numbers, never document text: the deliverer reads the
//! content from the store when it prepares the messages. The event id is derived from the decision
//! (document, folder, review sequence number), so writing the same event twice is a no-op; the folder
//! enters it only through an HMAC under the site's own secret (`outbox/event-id-key`), so an id in a log
//! gives away no MRN.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use him_store::{Entry, Folder, Follower, Journaled, Key, Stamp, Store, Stream};

use crate::{now_rfc3339, Result};

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
    pub fn new(
        key: &EventIdKey,
        document_id: &str,
        action: OutboxAction,
        folder: &Folder,
        seq: u32,
    ) -> Self {
        OutboxEvent {
            event_id: event_id(key, document_id, folder, seq),
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

/// `n` random bytes from the operating system, in hex.
fn random_hex(n: usize) -> String {
    use rand::TryRngCore as _;
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system random number generator failed");
    crate::hex(&bytes)
}

/// The site's secret for event ids: 32 random bytes, made once per store and kept at `outbox/event-id-key`.
/// A plain hash of the folder would not do: an 8-digit MRN is found from it by trying them all in seconds.
#[derive(Clone)]
pub struct EventIdKey([u8; 32]);

impl std::fmt::Debug for EventIdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventIdKey(..)")
    }
}

impl EventIdKey {
    /// The store's key, made and written create-only the first time; every server of a store reads the
    /// same one (two making it at once: the first write wins and both read it back).
    pub async fn load(store: &Store) -> Result<Self> {
        let key = Key::Outbox(him_store::OutboxKey::EventIdKey);
        if let Some(found) = Self::read(store, &key).await? {
            return Ok(found);
        }
        let fresh = random_hex(32);
        store.put_new(&key, fresh.into_bytes().into()).await?;
        Self::read(store, &key)
            .await?
            .ok_or_else(|| crate::Error::Unreadable { key: key.path() })
    }

    async fn read(store: &Store, key: &Key) -> Result<Option<Self>> {
        let bytes = match store.get(key).await {
            Ok(bytes) => bytes,
            Err(him_store::Error::NotFound { .. }) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        let text = std::str::from_utf8(&bytes).unwrap_or_default().trim();
        let mut secret = [0u8; 32];
        let valid = text.len() == 64
            && secret.iter_mut().enumerate().all(|(i, byte)| {
                u8::from_str_radix(text.get(2 * i..2 * i + 2).unwrap_or("x"), 16)
                    .map(|value| *byte = value)
                    .is_ok()
            });
        if !valid {
            return Err(crate::Error::Unreadable { key: key.path() });
        }
        Ok(Some(EventIdKey(secret)))
    }

    /// A key for tests.
    pub fn fixed(secret: [u8; 32]) -> Self {
        EventIdKey(secret)
    }

    /// HMAC-SHA256 (RFC 2104) of `message` under this key.
    fn mac(&self, message: &[u8]) -> [u8; 32] {
        let pad = |byte: u8| -> [u8; 64] {
            let mut block = [byte; 64];
            for (slot, k) in block.iter_mut().zip(self.0) {
                *slot ^= k;
            }
            block
        };
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(message)
            .finalize();
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize()
            .into()
    }
}

/// `<document id>-<8 hex digits of an HMAC of the folder under the site's key>-<seq>`: unique per decision,
/// the same when a decision is retried, and no MRN to be recovered without the key.
pub fn event_id(key: &EventIdKey, document_id: &str, folder: &Folder, seq: u32) -> String {
    let mac = key.mac(folder.location().as_bytes());
    let short: String = mac[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{document_id}-{short}-{seq:04}")
}

/// The key of an event.
pub fn event_key(event_id: &str) -> Key {
    Key::outbox_event(event_id).unwrap_or_else(|| {
        let invalid = him_store::Name::new("invalid").expect("a plain name");
        Key::Outbox(him_store::OutboxKey::Event(invalid))
    })
}

/// The events: `outbox/events/<event>.json` (one per decision) and `outbox/journal/` (in the order
/// written). `outbox/journal-migrated.json` marks a store whose every event has its entry.
fn journaled() -> Journaled {
    Journaled {
        stream: Stream::Outbox,
        records: him_store::Prefix::OutboxEvents,
    }
}

/// How long after its time an event may still become visible in the journal (a slow write, review
/// servers' clocks apart): the deliverer re-lists that window.
pub const JOURNAL_LAG: std::time::Duration = std::time::Duration::from_secs(120);

/// The journal entry of an event as stored, named by its time.
fn entry_of(bytes: &[u8]) -> Option<Entry> {
    let event = serde_json::from_slice::<OutboxEvent>(bytes).ok()?;
    let stamp = Stamp::parse(&event.at).or_else(|| Stamp::parse("1970-01-01T00:00:00Z"))?;
    Entry::new(Stream::Outbox, stamp, &event.event_id)
}

/// Writes the event create-only, with its journal entry; an event written before (a retried decision) is
/// kept as it is.
pub async fn enqueue(store: &Store, event: &OutboxEvent) -> Result<()> {
    // Through a `Value`: keys sorted, the bytes as every earlier release wrote them.
    let value = serde_json::to_value(event).unwrap_or_default();
    let bytes = bytes::Bytes::from(serde_json::to_vec_pretty(&value).unwrap_or_default());
    journaled()
        .record(store, &event.key(), bytes, entry_of)
        .await?;
    tracing::debug!(event = %event.event_id, action = event.action.as_str(), "outbox event written");
    Ok(())
}

/// Refuses a store whose events were written before the journal existed and not yet migrated: the
/// deliverer, following the journal, would never send them.
pub async fn ensure_journaled(store: &Store) -> Result<()> {
    if journaled().ready(store).await? {
        Ok(())
    } else {
        Err(crate::Error::NeedsMigration {
            what: "outbox events",
        })
    }
}

/// Gives every event of `outbox/events/` its journal entry; the number written (`him migrate`).
pub async fn migrate(store: &Store) -> Result<usize> {
    Ok(journaled().migrate(store, entry_of).await?)
}

/// One event, by id (`None` when there is no such event).
pub async fn event(store: &Store, event_id: &str) -> Result<Option<OutboxEvent>> {
    let key = event_key(event_id);
    match store.get_opt(&key).await? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|_| crate::Error::Unreadable { key: key.path() }),
        None => Ok(None),
    }
}

/// The events journaled since `follower`'s last poll, oldest first (every event the first time). When a
/// read fails the follower stays where it was, so the next call reads the same events.
pub async fn follow(store: &Store, follower: &mut Follower) -> Result<Vec<OutboxEvent>> {
    let mut next = follower.clone();
    let entries = next.poll(store).await?;
    let mut events = Vec::with_capacity(entries.len());
    for entry in entries {
        let key = Key::Journal(entry);
        let bytes = store.get(&key).await?;
        match serde_json::from_slice::<OutboxEvent>(&bytes) {
            Ok(event) => events.push(event),
            Err(_) => tracing::warn!(key = %key, "unreadable outbox event skipped"),
        }
    }
    *follower = next;
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use him_core::{DocumentId, Mrn};

    #[test]
    fn event_ids_are_per_decision_and_hold_no_mrn() {
        let key = EventIdKey::fixed([7; 32]);
        let id = DocumentId::parse(&"ab".repeat(16)).unwrap();
        let a = Folder::Patient(Mrn::parse("40079196").unwrap(), id.clone());
        let b = Folder::Patient(Mrn::parse("40079197").unwrap(), id.clone());
        let one = event_id(&key, id.as_str(), &a, 3);
        assert_eq!(one, event_id(&key, id.as_str(), &a, 3));
        assert_ne!(one, event_id(&key, id.as_str(), &b, 3));
        assert_ne!(one, event_id(&key, id.as_str(), &a, 4));
        assert!(!one.contains("40079196"));
        assert_eq!(Key::parse(&event_key(&one).path()), Some(event_key(&one)));
        // Regression: the middle part was a bare SHA-256 of the folder, so the MRN came back by trying
        // every 8-digit number. Without the site's key the same search finds nothing.
        let middle = one.split('-').nth(1).unwrap();
        let bare = Sha256::digest(a.location().as_bytes());
        let bare: String = bare[..4].iter().map(|b| format!("{b:02x}")).collect();
        assert_ne!(middle, bare);
        let other_site = EventIdKey::fixed([8; 32]);
        assert_ne!(one, event_id(&other_site, id.as_str(), &a, 3));
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231 test case 2 pads its 4-byte key "Jefe" with zeros to the block size, as a 32-byte key
        // padded with zeros is.
        let mut secret = [0u8; 32];
        secret[..4].copy_from_slice(b"Jefe");
        let mac = EventIdKey::fixed(secret).mac(b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[tokio::test]
    async fn the_site_key_is_made_once_and_read_back() {
        let store = Store::in_memory();
        let first = EventIdKey::load(&store).await.unwrap();
        let second = EventIdKey::load(&store).await.unwrap();
        assert_eq!(first.0, second.0);
        assert_ne!(first.0, [0; 32]);
        assert_eq!(format!("{first:?}"), "EventIdKey(..)");
    }
}

//! The store layout: every object key of `him`, typed. Nothing else formats a key.
//!
//! ```text
//! intake/<id>/original.<ext>             exact bytes as submitted, waiting for a worker
//!            /queued.json                written once the broker confirmed the job
//! unmatched/<id>/original.<ext>          exact input bytes, waiting for a human to assign a patient
//!               /document.json           manifest (him_core::DocumentManifest)
//!               /text.txt                plain text, pages separated by form feeds
//!               /ocr.json | transcript.json
//!               /pages/0001.png          normalised page images for the review UI
//!               /reviews/0001-edit.json  review records (append-only)
//!               /versions/<n>/...        reviewed versions (append-only)
//!               /moved.json              tombstone: the document was assigned to a patient folder
//! patients/<mrn>/<id>/...                the same files, once matched
//! rejected/<id>/original.<ext>           exact input bytes of bad input
//!              /rejection.json           reason code and detail
//! batches/<id>/original.<ext>            a scanned batch, byte for byte, split into documents
//!             /batch.json                its documents (scan page numbers), sheets, blank pages, barcodes
//! index/<id>.json                        written last: where the document went; its presence means "done"
//! audit/<yyyy>/<mm>/<dd>/<stamp>-<nonce>.json   review audit records
//! outbox/events/<event>.json             a review state change to announce to the EHR (create-only)
//! outbox/<destination>/<state>/<name>    what the deliverer did with it: prepared messages, acknowledgements,
//!                                        done, dead letters, replays (create-only, see `him deliver`)
//! outbox/event-id-key                    the store's secret for event ids
//! mpi/changes/<id>.json                  a patient index change received over ADT (or an unmerge)
//! outbox/journal/<yyyy>/<mm>/<dd>/<HHMMSSmmm>-<event>.json   the outbox events in the order written,
//! mpi/journal/<yyyy>/<mm>/<dd>/<HHMMSSmmm>-<change>.json     the ADT changes in the order received,
//! filed/journal/<yyyy>/<mm>/<dd>/<HHMMSSmmm>-<id>.json       the documents filed, in order: read from a
//!                                        cursor ([`crate::Follower`]), one folder per UTC day
//! <area>/journal-migrated.json           every record of the area has its journal entry (`him migrate`)
//! doctor/<name>                          a probe `him doctor` wrote to check create-only writes (left in place)
//! ```
//!
//! A patient folder's key holds the MRN, so the [`Display`](fmt::Display) of [`Folder`], [`Key`] and
//! [`Prefix`] writes `patients/[mrn]/…`: a key can be put in an error or a log line without leaking it.
//! [`Key::path`] is the real key, for the store and nothing else.

use std::fmt;

use him_core::{DocumentId, JobContext, Mrn, Sha256, Status};

use crate::journal::{Entry, Stream};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Placeholder written instead of an MRN when a key is displayed.
const REDACTED_MRN: &str = "[mrn]";

/// The folder of one document.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Folder {
    /// Submitted, waiting for a worker: `intake/<id>`.
    Intake(DocumentId),
    /// Waiting for a human to assign a patient: `unmatched/<id>`.
    Unmatched(DocumentId),
    /// Filed into a patient's folder: `patients/<mrn>/<id>`.
    Patient(Mrn, DocumentId),
    /// Bad input, original kept: `rejected/<id>`.
    Rejected(DocumentId),
    /// A scanned batch split into documents: `batches/<id>` (the scan byte for byte and `batch.json`).
    Batch(DocumentId),
}

impl Folder {
    /// The document the folder belongs to.
    pub fn document_id(&self) -> &DocumentId {
        match self {
            Folder::Intake(id)
            | Folder::Unmatched(id)
            | Folder::Rejected(id)
            | Folder::Batch(id) => id,
            Folder::Patient(_, id) => id,
        }
    }

    /// The patient of a patient folder.
    pub fn mrn(&self) -> Option<&Mrn> {
        match self {
            Folder::Patient(mrn, _) => Some(mrn),
            _ => None,
        }
    }

    /// The real key prefix (holds the MRN of a patient folder): for the store, the review index and
    /// `index/<id>.json`, never for logs.
    pub fn location(&self) -> String {
        self.write(false)
    }

    fn write(&self, redact: bool) -> String {
        match self {
            Folder::Intake(id) => format!("intake/{id}"),
            Folder::Unmatched(id) => format!("unmatched/{id}"),
            Folder::Rejected(id) => format!("rejected/{id}"),
            Folder::Batch(id) => format!("batches/{id}"),
            Folder::Patient(mrn, id) => {
                let mrn = if redact { REDACTED_MRN } else { mrn.as_str() };
                format!("patients/{mrn}/{id}")
            }
        }
    }

    /// Reads a location written by [`Folder::location`].
    pub fn parse(location: &str) -> Option<Folder> {
        let location = location.trim_end_matches('/');
        let (folder, rest) = Self::parse_prefix(location)?;
        rest.is_empty().then_some(folder)
    }

    /// Splits `<folder>/<rest>`; `rest` is empty when `text` is the folder itself.
    fn parse_prefix(text: &str) -> Option<(Folder, &str)> {
        let mut parts = text.splitn(3, '/');
        let area = parts.next()?;
        let second = parts.next()?;
        let after = parts.next();
        let (folder, rest) = match area {
            "intake" => (Folder::Intake(DocumentId::parse(second)?), after),
            "unmatched" => (Folder::Unmatched(DocumentId::parse(second)?), after),
            "rejected" => (Folder::Rejected(DocumentId::parse(second)?), after),
            "batches" => (Folder::Batch(DocumentId::parse(second)?), after),
            "patients" => {
                let mrn = Mrn::parse(second)?;
                let after = after?;
                let (id, rest) = match after.split_once('/') {
                    Some((id, rest)) => (id, Some(rest)),
                    None => (after, None),
                };
                (Folder::Patient(mrn, DocumentId::parse(id)?), rest)
            }
            _ => return None,
        };
        Some((folder, rest.unwrap_or("")))
    }

    /// An object of this folder, named relative to it (`ocr.json`, `pages/0001.png`).
    ///
    /// Returns `None` for a name that is not a safe relative path: segments of `[A-Za-z0-9._-]`, no `.` or
    /// `..` segment.
    pub fn object(&self, name: &str) -> Option<Key> {
        Some(Key::Object {
            folder: self.clone(),
            name: ObjectName::new(name)?,
        })
    }

    /// A pipeline object of this folder.
    pub fn key(&self, object: Object) -> Key {
        self.known(object.name())
    }

    fn known(&self, name: String) -> Key {
        Key::Object {
            folder: self.clone(),
            name: ObjectName::known(name),
        }
    }

    /// `original.<ext>`: the legal original, byte for byte. An extension that is not 1 to 8 ASCII letters
    /// or digits becomes `bin`.
    pub fn original(&self, extension: &str) -> Key {
        let safe = (1..=8).contains(&extension.len())
            && extension.bytes().all(|b| b.is_ascii_alphanumeric());
        self.known(format!(
            "{ORIGINAL_STEM}{}",
            if safe { extension } else { "bin" }
        ))
    }

    /// `document.json`: the manifest.
    pub fn manifest(&self) -> Key {
        self.known("document.json".to_string())
    }

    /// `text.txt`: the document's text, pages separated by form feeds.
    pub fn text(&self) -> Key {
        self.key(Object::Text)
    }

    /// `ocr.json`: per-page words with confidence and box (`him_core::OcrDocument`).
    pub fn ocr(&self) -> Key {
        self.key(Object::Ocr)
    }

    /// `transcript.json`: a dictation's segments and words.
    pub fn transcript(&self) -> Key {
        self.key(Object::Transcript)
    }

    /// `rejection.json`: why a document was rejected.
    pub fn rejection(&self) -> Key {
        self.known("rejection.json".to_string())
    }

    /// `moved.json`: the tombstone left when a document moved to another folder.
    pub fn moved(&self) -> Key {
        self.known("moved.json".to_string())
    }

    /// `queued.json`: an intake marker, written once the broker confirmed the job.
    pub fn queued(&self) -> Key {
        self.known("queued.json".to_string())
    }

    /// `pages/<file>`: a normalised page image; `None` when `file` is not a plain file name.
    pub fn page(&self, file: &str) -> Option<Key> {
        (!file.contains('/'))
            .then(|| self.object(&format!("pages/{file}")))
            .flatten()
    }

    /// `versions/<number>/<name>`: an object of a reviewed version.
    pub fn version_object(&self, number: u32, name: &str) -> Option<Key> {
        self.object(&format!("{VERSIONS}/{number}/{name}"))
    }

    /// `reviews/<seq>-<action>.json`: one review record; `None` when `action` is not a plain word.
    pub fn review(&self, seq: u32, action: &str) -> Option<Key> {
        let plain = !action.is_empty()
            && action
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        plain
            .then(|| self.object(&format!("{REVIEWS}/{seq:04}-{action}.json")))
            .flatten()
    }

    /// Everything in the folder.
    pub fn all(&self) -> Prefix {
        Prefix::Folder(self.clone(), None)
    }

    /// The reviewed versions.
    pub fn versions(&self) -> Prefix {
        Prefix::Folder(self.clone(), Some(VERSIONS))
    }

    /// The review records.
    pub fn reviews(&self) -> Prefix {
        Prefix::Folder(self.clone(), Some(REVIEWS))
    }
}

const ORIGINAL_STEM: &str = "original.";
/// The folder of [`Key::Probe`].
const PROBES: &str = "doctor/";
const VERSIONS: &str = "versions";
const REVIEWS: &str = "reviews";

impl fmt::Display for Folder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.write(true))
    }
}

impl Serialize for Folder {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.location())
    }
}

impl<'de> Deserialize<'de> for Folder {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Folder::parse(&text).ok_or_else(|| serde::de::Error::custom("not a document folder"))
    }
}

/// An object the pipeline writes into a document's folder, besides the original and the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Object {
    /// `text.txt`.
    Text,
    /// `ocr.json`.
    Ocr,
    /// `transcript.json`.
    Transcript,
    /// `pages/<number>.png`, numbered from 1 with four digits.
    PageImage(u32),
    /// `demographics.json`: the job demographics a dictation device sent with the audio.
    Demographics,
    /// `source.json`: the scanned batch a document was split out of and its pages there.
    Source,
}

impl Object {
    /// The name relative to the document folder, as the manifest records it.
    pub fn name(self) -> String {
        match self {
            Object::Text => "text.txt".to_string(),
            Object::Ocr => "ocr.json".to_string(),
            Object::Transcript => "transcript.json".to_string(),
            Object::PageImage(number) => format!("pages/{number:04}.png"),
            Object::Demographics => "demographics.json".to_string(),
            Object::Source => "source.json".to_string(),
        }
    }
}

/// The key of one object in the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// `index/<id>.json`: where a document was filed.
    Index(DocumentId),
    /// An object in a document's folder, named relative to it.
    Object { folder: Folder, name: ObjectName },
    /// `audit/<yyyy>/<mm>/<dd>/<name>`: one audit record.
    Audit { day: chrono::NaiveDate, name: Name },
    /// An object of the EHR interfaces' outbox: an event, the event-id secret, a delivery record.
    Outbox(OutboxKey),
    /// `mpi/changes/<id>.json`: a patient index change received from the hospital (ADT), or an unmerge.
    MpiChange(Name),
    /// `<area>/journal/<yyyy>/<mm>/<dd>/<HHMMSSmmm>-<id>.json`: an entry of a journal, listed from a cursor.
    Journal(Entry),
    /// `<area>/journal-migrated.json`: every record of the stream's kind has its journal entry.
    Migrated(Stream),
    /// `mpi/snapshots/<yyyy>/<mm>/<dd>.json`: the patient index changes folded up to a journal position, so
    /// that a live index starts from the day's snapshot instead of every change ever received.
    MpiSnapshot(chrono::NaiveDate),
    /// `doctor/<name>`: a probe `him doctor` writes twice and reads back to check that the store takes
    /// create-only writes. Nothing else reads it. The store has no delete, so each run leaves its probe (a
    /// few bytes, a new name each time) and never touches any other object.
    Probe(Name),
}

impl Key {
    /// The audit record `name` of a day given as `YYYY-MM-DD`; `None` when either does not fit a key.
    pub fn audit(day: &str, name: &str) -> Option<Key> {
        Some(Key::Audit {
            day: parse_day(day, "%Y-%m-%d")?,
            name: Name::new(name)?,
        })
    }

    /// `outbox/events/<event>.json`; `None` when `event` is not a plain name.
    pub fn outbox_event(event: &str) -> Option<Key> {
        Some(Key::Outbox(OutboxKey::Event(Name::new(event)?)))
    }

    /// `outbox/<destination>/<state>/<file>`; `None` when `destination` or `file` is not a plain name.
    pub fn outbox_record(destination: &str, state: RecordState, file: &str) -> Option<Key> {
        if destination == "events" {
            return None;
        }
        Some(Key::Outbox(OutboxKey::Record {
            destination: Name::new(destination)?,
            state,
            file: Name::new(file)?,
        }))
    }

    /// `mpi/changes/<id>.json`; `None` when `id` is not a plain name.
    pub fn mpi_change(id: &str) -> Option<Key> {
        Some(Key::MpiChange(Name::new(id)?))
    }

    /// `doctor/<name>`; `None` when `name` is not a plain name.
    pub fn probe(name: &str) -> Option<Key> {
        Some(Key::Probe(Name::new(name)?))
    }

    /// The key as the store names the object (holds the MRN of a patient folder).
    pub fn path(&self) -> String {
        self.write(false)
    }

    fn write(&self, redact: bool) -> String {
        match self {
            Key::Index(id) => format!("index/{id}.json"),
            Key::Object { folder, name } => format!("{}/{name}", folder.write(redact)),
            Key::Audit { day, name } => format!("audit/{}/{name}", day.format(DAY_PATH)),
            Key::Outbox(OutboxKey::Event(event)) => format!("outbox/events/{event}.json"),
            Key::Outbox(OutboxKey::EventIdKey) => "outbox/event-id-key".to_string(),
            Key::Outbox(OutboxKey::Record {
                destination,
                state,
                file,
            }) => format!("outbox/{destination}/{}/{file}", state.name()),
            Key::MpiChange(id) => format!("mpi/changes/{id}.json"),
            Key::Journal(entry) => entry.path(),
            Key::Migrated(stream) => stream.migrated_path(),
            Key::MpiSnapshot(day) => format!("mpi/snapshots/{}.json", day.format(DAY_PATH)),
            Key::Probe(name) => format!("{PROBES}{name}"),
        }
    }

    /// The folder of a document object.
    pub fn folder(&self) -> Option<&Folder> {
        match self {
            Key::Object { folder, .. } => Some(folder),
            _ => None,
        }
    }

    /// The name of a document object relative to its folder (`pages/0001.png`).
    pub fn name(&self) -> Option<&str> {
        match self {
            Key::Object { name, .. } => Some(name.as_str()),
            _ => None,
        }
    }

    /// The extension of an `original.<ext>` object.
    pub fn original_extension(&self) -> Option<&str> {
        self.name()?.strip_prefix(ORIGINAL_STEM)
    }

    /// The same object in another folder (a document moving to a patient folder).
    pub fn in_folder(&self, to: &Folder) -> Option<Key> {
        match self {
            Key::Object { name, .. } => Some(Key::Object {
                folder: to.clone(),
                name: name.clone(),
            }),
            _ => None,
        }
    }

    /// The version number of a `versions/<n>/…` object.
    pub fn version_number(&self) -> Option<u32> {
        let rest = self.name()?.strip_prefix(VERSIONS)?.strip_prefix('/')?;
        rest.split('/').next()?.parse().ok()
    }

    /// Sequence number and action of a `reviews/<seq>-<action>.json` record.
    pub fn review_record(&self) -> Option<(u32, &str)> {
        let rest = self.name()?.strip_prefix(REVIEWS)?.strip_prefix('/')?;
        let stem = rest.strip_suffix(".json")?;
        let (seq, action) = stem.split_once('-')?;
        Some((seq.parse().ok()?, action))
    }

    /// Reads a key as the store lists it; `None` for a key outside this layout.
    pub fn parse(path: &str) -> Option<Key> {
        if let Some(rest) = path.strip_prefix("index/") {
            let id = rest.strip_suffix(".json")?;
            return DocumentId::parse(id).map(Key::Index);
        }
        if let Some(rest) = path.strip_prefix("audit/") {
            let (day, name) = rest.rsplit_once('/')?;
            return Some(Key::Audit {
                day: parse_day(day, DAY_PATH)?,
                name: Name::new(name)?,
            });
        }
        if let Some(entry) = Entry::parse(path) {
            return Some(Key::Journal(entry));
        }
        if let Some(stream) = Stream::parse_migrated(path) {
            return Some(Key::Migrated(stream));
        }
        if let Some(rest) = path.strip_prefix("outbox/") {
            if rest == "event-id-key" {
                return Some(Key::Outbox(OutboxKey::EventIdKey));
            }
            if let Some(event) = rest.strip_prefix("events/") {
                return Key::outbox_event(event.strip_suffix(".json")?);
            }
            let mut parts = rest.splitn(3, '/');
            let (destination, state, file) = (parts.next()?, parts.next()?, parts.next()?);
            return Key::outbox_record(destination, RecordState::parse(state)?, file);
        }
        if let Some(rest) = path.strip_prefix("mpi/changes/") {
            return Key::mpi_change(rest.strip_suffix(".json")?);
        }
        if let Some(rest) = path.strip_prefix("mpi/snapshots/") {
            return parse_day(rest.strip_suffix(".json")?, DAY_PATH).map(Key::MpiSnapshot);
        }
        if let Some(name) = path.strip_prefix(PROBES) {
            return Key::probe(name);
        }
        let (folder, name) = Folder::parse_prefix(path)?;
        folder.object(name)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.write(true))
    }
}

/// An object of the EHR interfaces' outbox.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutboxKey {
    /// `outbox/events/<event>.json`: one event (its create-only identity; its order is the journal's).
    Event(Name),
    /// `outbox/event-id-key`: the store's secret for event ids.
    EventIdKey,
    /// `outbox/<destination>/<state>/<file>`: what the deliverer did with an event at a destination.
    Record {
        destination: Name,
        state: RecordState,
        file: Name,
    },
}

impl OutboxKey {
    /// The last segment of a delivery record (`<event>.json`, `<event>.<n>.json`).
    pub fn record_file(&self) -> Option<&str> {
        match self {
            OutboxKey::Record { file, .. } => Some(file.as_str()),
            _ => None,
        }
    }
}

/// The name of a document object relative to its folder (`ocr.json`, `pages/0001.png`): `/`-separated
/// segments of `[A-Za-z0-9._-]`, none empty, `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectName(String);

impl ObjectName {
    /// `None` when `name` is not a safe relative path.
    pub fn new(name: &str) -> Option<ObjectName> {
        is_safe_name(name).then(|| ObjectName(name.to_string()))
    }

    /// A name this module makes itself (`document.json`, `original.<checked extension>`, [`Object::name`]):
    /// safe by construction, which `layout_names_are_safe` checks.
    fn known(name: String) -> ObjectName {
        debug_assert!(is_safe_name(&name), "unsafe object name {name:?}");
        ObjectName(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One path segment of a key: `[A-Za-z0-9._-]`, not `.` or `..`, no `/` (an id, an event, a file name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(String);

impl Name {
    /// `None` when `name` is not one plain path segment.
    pub fn new(name: &str) -> Option<Name> {
        (is_safe_name(name) && !name.contains('/')).then(|| Name(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a delivery record says: the folder under `outbox/<destination>/` (see `him deliver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordState {
    /// `prepared/<event>.json`: the messages of an event, rendered once.
    Prepared,
    /// `acks/<event>.<k>.json`: message k acknowledged.
    Acks,
    /// `done/<event>.json`: every message of the event acknowledged.
    Done,
    /// `dead/<event>.<n>.json`: dead letter n.
    Dead,
    /// `replays/<event>.<n>.json`: a replay of dead letter n.
    Replays,
    /// `checkpoints/<day>.json`: every event of that day and before settled at the destination.
    Checkpoints,
}

impl RecordState {
    const ALL: [RecordState; 6] = [
        RecordState::Prepared,
        RecordState::Acks,
        RecordState::Done,
        RecordState::Dead,
        RecordState::Replays,
        RecordState::Checkpoints,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RecordState::Prepared => "prepared",
            RecordState::Acks => "acks",
            RecordState::Done => "done",
            RecordState::Dead => "dead",
            RecordState::Replays => "replays",
            RecordState::Checkpoints => "checkpoints",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        RecordState::ALL
            .into_iter()
            .find(|state| state.name() == name)
    }
}

/// `index/<document_id>.json`: where a document was filed, and the job it came with. Written last by the
/// pipeline; its presence means the document is done. Read by the review to find documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub document_id: DocumentId,
    pub sha256: Sha256,
    pub status: Status,
    /// The document's first folder (a later assignment leaves a `moved.json` there).
    pub location: Folder,
    pub filed_at: String,
    /// STAT, station and submission time, as submitted.
    #[serde(flatten)]
    pub job: JobContext,
}

/// A place whose objects can be listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prefix {
    /// Every object of the store.
    All,
    /// Every index entry.
    Index,
    /// Every audit record.
    Audit,
    /// Every submitted original.
    Intake,
    /// Every patient folder.
    Patients,
    /// `outbox/events/`: every outbox event.
    OutboxEvents,
    /// `outbox/<destination>/<state>/`: a destination's delivery records in one state.
    OutboxRecords {
        destination: String,
        state: RecordState,
    },
    /// `mpi/changes/`: every patient index change.
    MpiChanges,
    /// A journal, whole or one UTC day of it.
    Journal(Stream, Option<chrono::NaiveDate>),
    /// A document's folder, or one of its sub-folders (`versions`, `reviews`).
    Folder(Folder, Option<&'static str>),
}

impl Prefix {
    /// The prefix as the store names it.
    pub fn path(&self) -> String {
        self.write(false)
    }

    fn write(&self, redact: bool) -> String {
        match self {
            Prefix::All => String::new(),
            Prefix::Index => "index/".to_string(),
            Prefix::Audit => "audit/".to_string(),
            Prefix::Intake => "intake/".to_string(),
            Prefix::Patients => "patients/".to_string(),
            Prefix::OutboxEvents => "outbox/events/".to_string(),
            Prefix::OutboxRecords { destination, state } => {
                format!("outbox/{destination}/{}/", state.name())
            }
            Prefix::MpiChanges => "mpi/changes/".to_string(),
            Prefix::Journal(stream, None) => format!("{}/", stream.root()),
            Prefix::Journal(stream, Some(day)) => format!("{}/", Entry::day_folder(*stream, *day)),
            Prefix::Folder(folder, None) => format!("{}/", folder.write(redact)),
            Prefix::Folder(folder, Some(sub)) => format!("{}/{sub}/", folder.write(redact)),
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.write(true))
    }
}

/// How a day is spelt in a key path: `2026/01/07`.
const DAY_PATH: &str = "%Y/%m/%d";

/// A day spelt exactly as `format` writes it: one spelling per day, so `2026/1/7` is not the key of
/// 2026-01-07 and a listed key reads back as the same path.
fn parse_day(text: &str, format: &str) -> Option<chrono::NaiveDate> {
    let day = chrono::NaiveDate::parse_from_str(text, format).ok()?;
    (day.format(format).to_string() == text).then_some(day)
}

/// A relative object name: `/`-separated segments of `[A-Za-z0-9._-]`, none empty, `.` or `..`.
pub(crate) fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> DocumentId {
        DocumentId::parse(&"ab".repeat(16)).unwrap()
    }

    #[test]
    fn patient_keys_hold_the_mrn_but_display_without_it() {
        let folder = Folder::Patient(Mrn::parse("40079196").unwrap(), id());
        let key = folder.manifest();
        assert_eq!(
            key.path(),
            format!("patients/40079196/{}/document.json", id())
        );
        assert_eq!(
            key.to_string(),
            format!("patients/[mrn]/{}/document.json", id())
        );
        assert!(!format!("{key:?}").contains("40079196"));
        assert!(!folder.reviews().to_string().contains("40079196"));
    }

    #[test]
    fn every_key_reads_back_as_itself() {
        let folders = [
            Folder::Intake(id()),
            Folder::Unmatched(id()),
            Folder::Rejected(id()),
            Folder::Patient(Mrn::parse("A-1").unwrap(), id()),
        ];
        for folder in &folders {
            assert_eq!(Folder::parse(&folder.location()).as_ref(), Some(folder));
            for key in [
                folder.original("pdf"),
                folder.manifest(),
                folder.page("0001.png").unwrap(),
                folder.version_object(3, "text.txt").unwrap(),
                folder.review(7, "approve").unwrap(),
            ] {
                assert_eq!(Key::parse(&key.path()), Some(key.clone()), "{key}");
            }
        }
        let index = Key::Index(id());
        assert_eq!(Key::parse(&index.path()), Some(index));
        for key in [
            Key::outbox_event("ab-0001").unwrap(),
            Key::Outbox(OutboxKey::EventIdKey),
            Key::outbox_record("hl7", RecordState::Dead, "ab-0001.2.json").unwrap(),
            Key::outbox_record("fhir", RecordState::Checkpoints, "2026-12-07.json").unwrap(),
            Key::mpi_change("x").unwrap(),
            Key::probe("probe-20261208T013300Z-4242.txt").unwrap(),
        ] {
            assert_eq!(Key::parse(&key.path()), Some(key.clone()), "{key}");
        }
        assert_eq!(
            Key::outbox_event("ab-0001").unwrap().path(),
            "outbox/events/ab-0001.json"
        );
        assert!(Key::outbox_event("../x").is_none());
        assert!(Key::outbox_record("hl7", RecordState::Done, "a/b").is_none());
        assert!(Key::parse("outbox/hl7/unknown/x.json").is_none());
        assert!(Key::parse("mpi/other/x.json").is_none());
        assert_eq!(Key::probe("p.txt").unwrap().path(), "doctor/p.txt");
        assert!(Key::probe("a/b").is_none());
        assert!(Key::parse("doctor/a/b").is_none());
        let audit = Key::audit("2026-11-30", "20261130-ab.json").unwrap();
        assert_eq!(audit.path(), "audit/2026/11/30/20261130-ab.json");
        assert_eq!(Key::parse(&audit.path()), Some(audit));
    }

    #[test]
    fn names_and_locations_outside_the_layout_are_refused() {
        let folder = Folder::Unmatched(id());
        for bad in ["", "../x", "a//b", "a/./b", "a b", "a\\b", "/a"] {
            assert!(folder.object(bad).is_none(), "{bad:?}");
        }
        assert!(folder.page("a/b.png").is_none());
        assert!(folder.review(1, "a/b").is_none());
        assert_eq!(folder.original("p df").name(), Some("original.bin"));
        for bad in [
            "patients/../x",
            "patients/a.b/abababababababababababababababab",
            "unmatched/xyz",
            "other/abababababababababababababababab",
            "index/abc.json",
        ] {
            assert!(Key::parse(bad).is_none(), "{bad:?}");
            assert!(Folder::parse(bad).is_none(), "{bad:?}");
        }
        assert!(Key::audit("2026-1-30", "x.json").is_none());
    }

    /// An audit key and a document object key read back from their paths as the same key, and write the same
    /// path byte for byte; a day spelt any other way, or not a day, is not an audit key.
    #[test]
    fn audit_and_object_keys_round_trip_through_their_paths() {
        for path in [
            "audit/2026/01/07/20260107T101500Z-ab12.json".to_string(),
            format!("patients/40079196/{}/versions/2/pages/0003.png", id()),
            format!("unmatched/{}/reviews/0001-edit.json", id()),
        ] {
            let key = Key::parse(&path).unwrap();
            assert_eq!(key.path(), path);
            assert_eq!(Key::parse(&key.path()), Some(key));
        }
        let audit = Key::parse("audit/2026/01/07/x.json").unwrap();
        assert_eq!(audit, Key::audit("2026-01-07", "x.json").unwrap());
        assert_eq!(audit.to_string(), "audit/2026/01/07/x.json");
        assert_eq!(audit.name(), None);
        for bad in [
            "audit/2026/1/07/x.json",
            "audit/2026/01/7/x.json",
            "audit/2026/01/07/sub/x.json",
            "audit/2026/01/07/",
            "audit/2026/01/x.json",
            "audit/2026-01/07/x.json",
            "audit/2026/02/30/x.json",
            "audit/2026/01/07/..",
        ] {
            assert!(Key::parse(bad).is_none(), "{bad:?}");
        }
        for (day, name) in [
            ("2026-1-07", "x.json"),
            ("2026/01/07", "x.json"),
            ("2026-01-07", "a/b"),
        ] {
            assert!(Key::audit(day, name).is_none(), "{day:?} {name:?}");
        }
    }

    /// The names the layout makes itself, unchecked, are names [`ObjectName::new`] accepts.
    #[test]
    fn layout_names_are_safe() {
        let folder = Folder::Unmatched(id());
        let objects = [
            Object::Text,
            Object::Ocr,
            Object::Transcript,
            Object::PageImage(1),
            Object::PageImage(123_456),
            Object::Demographics,
            Object::Source,
        ];
        let mut keys: Vec<Key> = objects
            .into_iter()
            .map(|object| folder.key(object))
            .collect();
        keys.extend([
            folder.manifest(),
            folder.rejection(),
            folder.moved(),
            folder.queued(),
            folder.original("pdf"),
            folder.original("../x"),
            folder.original(""),
        ]);
        for key in keys {
            let name = key.name().unwrap();
            assert_eq!(
                ObjectName::new(name).as_ref().map(ObjectName::as_str),
                Some(name)
            );
        }
    }

    #[test]
    fn version_and_review_numbers_are_read_from_keys() {
        let folder = Folder::Unmatched(id());
        let key = folder.version_object(12, "version.json").unwrap();
        assert_eq!(key.version_number(), Some(12));
        let review = folder.review(3, "edit").unwrap();
        assert_eq!(review.review_record(), Some((3, "edit")));
        assert_eq!(folder.original("wav").original_extension(), Some("wav"));
        let moved = folder
            .text()
            .in_folder(&Folder::Patient(Mrn::parse("9").unwrap(), id()))
            .unwrap();
        assert_eq!(moved.path(), format!("patients/9/{}/text.txt", id()));
    }
}

//! Review outcomes written to the store, create-only, under the document's folder. Nothing is overwritten:
//!
//! ```text
//! <location>/reviews/<seq>-<action>.json            every decision and draft (edited, approved, returned,
//!                                                   rejected, addendum, corrected, signed, assigned, reassigned)
//!           /versions/<n>/text.txt                  the text of version n (approval, correction or addendum)
//!                        /version.json              its fields, kind and link ([`VersionMeta`])
//!                        /DocumentReference.json    its FHIR DocumentReference as first written
//!                        /DocumentReference-<seq>.json  a later state of it (signed, superseded,
//!                                                   entered-in-error), written by the decision <seq>
//! ```
//!
//! Every operation is a [`crate::decide`] command: it takes the process-wide write lock, reads the
//! document's state from the store, asks [`crate::workflow::authorize`] and then writes. Version numbers and sequence numbers are taken create-only
//! without retry, so a second writer that raced past the lock (another process) gets a conflict instead of
//! a second version.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use him_core::{RiskFlag, Transcript};
use him_extract::Manifest;
use him_store::{Folder, Key, Store, Written};

use crate::context::ReviewContext;
use crate::db::now_rfc3339;
use crate::decide::{decide, unexpected, Announce, Command, Doing, Outcome, Step};
use crate::error::{Error, Result};
use crate::patients::mrn_key;
use crate::queue::{self, QueueItem};
use crate::web::AppState;
use crate::workflow::{Actor, ReviewStatus, Situation};
use him_interfaces::fhir::{
    self, Attachment, Content, DocStatus, DocumentReference, RefStatus, Relation, Subject,
};
use him_interfaces::outbox::OutboxAction;

/// What a reviewer submits: corrected field values, corrected text and the transcript flags acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewInput {
    pub fields: BTreeMap<String, String>,
    pub text: String,
    /// Indexes of the flagged transcript segments the reviewer checked.
    pub flags_acknowledged: Vec<usize>,
}

/// The objects a decision wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approval {
    pub seq: u32,
    pub version: u32,
    /// Keys of the objects written.
    pub keys: Vec<String>,
}

/// How a document leaves the queue without approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnKind {
    /// Sent back for rework (rescan, re-dictation).
    Return,
    /// Not a valid document for the record.
    Reject,
}

/// `versions/<n>/version.json`: what a version is. Fields in the order of their names: the JSON is byte
/// for byte what the earlier `serde_json::Value` form wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct VersionMeta {
    pub at: String,
    pub by: String,
    /// The field values of the document as of this version (an addendum keeps its base's).
    pub fields: BTreeMap<String, String>,
    /// `approval`, `correction` or `addendum`.
    pub kind: String,
    /// `appends` or `replaces`, and the version it relates to.
    pub relates_to: Option<(String, u32)>,
    pub version: u32,
}

/// One version with the newest state of its DocumentReference.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VersionState {
    pub meta: VersionMeta,
    /// `None` when the version has none (a write interrupted between `version.json` and it): such a
    /// version is neither current nor preliminary.
    pub reference: Option<DocumentReference>,
    /// Sequence number of the newest reference snapshot (0: the first one).
    pub reference_seq: u32,
}

impl VersionState {
    pub fn is_current(&self) -> bool {
        self.reference
            .as_ref()
            .is_some_and(DocumentReference::is_current)
    }

    pub fn is_preliminary(&self) -> bool {
        self.reference
            .as_ref()
            .is_some_and(DocumentReference::is_preliminary)
    }

    /// The newest state of its DocumentReference; a conflict when it has none.
    pub fn reference(&self) -> Result<&DocumentReference> {
        self.reference.as_ref().ok_or_else(|| Error::Conflict {
            detail: format!(
                "version {} has no DocumentReference; ask IT to check the store",
                self.meta.version
            ),
        })
    }
}

/// `reviews/<seq>-<action>.json`: one decision or draft, tagged by its `action` (which is also in its
/// name). Every variant's fields are in the order of their names, after `action`: the JSON is byte for
/// byte what the earlier `serde_json::Value` form wrote. Fields only read back (a draft's text and
/// fields) default when absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum ReviewRecord {
    /// A draft of corrected fields and text.
    Edited {
        at: String,
        document_id: String,
        #[serde(default)]
        fields: BTreeMap<String, String>,
        #[serde(default)]
        fields_changed: Vec<String>,
        reviewer: String,
        seq: u32,
        #[serde(default)]
        text: Option<String>,
    },
    /// An approval (a new version), or — in the folder a document moved to — the carried approval of the
    /// versions that moved with it.
    Approved(Approved),
    /// A correction: a new version replacing the current one.
    Corrected {
        at: String,
        document_id: String,
        fields: BTreeMap<String, String>,
        fields_changed: Vec<String>,
        reason: String,
        replaces: u32,
        reviewer: String,
        seq: u32,
        version: u32,
    },
    /// Sent back for rework.
    Returned(Returned),
    /// Not a valid document for the record.
    Rejected(Returned),
    /// An addendum version appending to `appends`.
    Addendum {
        appends: u32,
        at: String,
        document_id: String,
        reviewer: String,
        seq: u32,
        version: u32,
    },
    /// The author signed `versions`.
    Signed {
        at: String,
        clinician: String,
        document_id: String,
        seq: u32,
        #[serde(default)]
        versions: Vec<u32>,
    },
    /// An unmatched document assigned to a patient.
    Assigned(Moved),
    /// A filed document moved to another patient.
    Reassigned(Moved),
}

/// The record of an approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Approved {
    /// A reviewer approved a version.
    Version {
        at: String,
        document_id: String,
        fields: BTreeMap<String, String>,
        fields_changed: Vec<String>,
        flags_acknowledged: Vec<usize>,
        reviewer: String,
        seq: u32,
        version: u32,
    },
    /// Written in the folder a document moved to, so that it reads as approved: `versions` moved.
    CarriedFromMove {
        at: String,
        carried_from_move: bool,
        document_id: String,
        reviewer: String,
        seq: u32,
        versions: usize,
    },
}

/// The record of a return or a rejection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Returned {
    pub at: String,
    pub document_id: String,
    pub reason: String,
    pub reviewer: String,
    pub seq: u32,
}

/// The record of a move (assignment or reassignment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Moved {
    /// In the folder the document left: the tombstone's fields.
    From {
        at: String,
        by: String,
        document_id: String,
        from_mrn: Option<String>,
        location: Folder,
        mrn: String,
        reason: String,
        seq: u32,
    },
    /// In the folder it went to: who and when only (the old folder's key holds another patient's MRN).
    To { at: String, by: String, seq: u32 },
}

impl ReviewRecord {
    /// The `action` of the record (its tag, and the end of its name).
    pub fn action(&self) -> &'static str {
        match self {
            ReviewRecord::Edited { .. } => "edited",
            ReviewRecord::Approved(_) => "approved",
            ReviewRecord::Corrected { .. } => "corrected",
            ReviewRecord::Returned(_) => "returned",
            ReviewRecord::Rejected(_) => "rejected",
            ReviewRecord::Addendum { .. } => "addendum",
            ReviewRecord::Signed { .. } => "signed",
            ReviewRecord::Assigned(_) => "assigned",
            ReviewRecord::Reassigned(_) => "reassigned",
        }
    }

    /// Its sequence number in the folder.
    pub fn seq(&self) -> u32 {
        match self {
            ReviewRecord::Edited { seq, .. }
            | ReviewRecord::Corrected { seq, .. }
            | ReviewRecord::Addendum { seq, .. }
            | ReviewRecord::Signed { seq, .. }
            | ReviewRecord::Approved(Approved::Version { seq, .. })
            | ReviewRecord::Approved(Approved::CarriedFromMove { seq, .. })
            | ReviewRecord::Returned(Returned { seq, .. })
            | ReviewRecord::Rejected(Returned { seq, .. })
            | ReviewRecord::Assigned(Moved::From { seq, .. } | Moved::To { seq, .. })
            | ReviewRecord::Reassigned(Moved::From { seq, .. } | Moved::To { seq, .. }) => *seq,
        }
    }
}

/// A document's review history as read from the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ReviewState {
    pub status: ReviewStatus,
    pub last_seq: u32,
    pub last_version: u32,
    /// Key of the newest `edited` record after the last decision.
    pub last_edit: Option<Key>,
    /// Key of the newest `signed` record.
    pub last_signed: Option<Key>,
    /// Every version, oldest first.
    pub versions: Vec<VersionState>,
}

impl ReviewState {
    /// The current approved or corrected version (not an addendum).
    pub fn main_version(&self) -> Option<&VersionState> {
        self.versions
            .iter()
            .rev()
            .find(|v| v.meta.kind != "addendum" && v.is_current())
    }

    /// Whether a current version waits for its author's signature.
    pub fn awaiting_signature(&self) -> bool {
        self.versions
            .iter()
            .any(|v| v.meta.kind != "addendum" && v.is_current() && v.is_preliminary())
    }

    /// The author of the main version, as approved.
    pub fn author(&self) -> Option<&str> {
        self.main_version()
            .and_then(|v| v.meta.fields.get("author"))
            .map(String::as_str)
            .filter(|a| !a.is_empty())
    }
}

/// When the author last signed, read from the newest `signed` record; `None` while nothing is signed or
/// when a version still waits for a signature.
pub(crate) async fn signed_at(store: &Store, state: &ReviewState) -> Result<Option<String>> {
    let Some(key) = state
        .last_signed
        .as_ref()
        .filter(|_| !state.awaiting_signature())
    else {
        return Ok(None);
    };
    Ok(match read_typed_opt::<ReviewRecord>(store, key).await? {
        Some(ReviewRecord::Signed { at, .. }) => Some(at),
        _ => None,
    })
}

pub(crate) async fn review_state(store: &Store, location: &Folder) -> Result<ReviewState> {
    let mut state = ReviewState::default();
    let mut records: Vec<(u32, String, Key)> = Vec::new();
    for key in store.list(&location.reviews()).await? {
        if let Some((seq, action)) = key.review_record() {
            records.push((seq, action.to_string(), key.clone()));
        }
    }
    records.sort_by_key(|(seq, action, _)| (*seq, action.clone()));
    for (seq, action, key) in records {
        state.last_seq = state.last_seq.max(seq);
        match action.as_str() {
            "edited" => state.last_edit = Some(key),
            "approved" | "addendum" | "corrected" => {
                (state.status, state.last_edit) = (ReviewStatus::Approved, None)
            }
            "signed" => {
                (state.status, state.last_edit) = (ReviewStatus::Approved, None);
                state.last_signed = Some(key);
            }
            "returned" => (state.status, state.last_edit) = (ReviewStatus::Returned, None),
            "rejected" => (state.status, state.last_edit) = (ReviewStatus::Rejected, None),
            _ => {}
        }
    }
    let mut by_version: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for key in store.list(&location.versions()).await? {
        let (Some(number), Some(name)) = (key.version_number(), key.name()) else {
            continue;
        };
        let file = name.rsplit('/').next().unwrap_or_default();
        by_version.entry(number).or_default().push(file.to_string());
    }
    for (number, names) in by_version {
        state.last_version = state.last_version.max(number);
        let meta_key = version_key(location, number, "version.json")?;
        let Some(meta) = read_typed_opt::<VersionMeta>(store, &meta_key).await? else {
            continue;
        };
        let snapshot = names
            .iter()
            .filter_map(|name| {
                name.strip_prefix("DocumentReference-")?
                    .strip_suffix(".json")?
                    .parse::<u32>()
                    .ok()
            })
            .max();
        let (reference_key, reference_seq) = match snapshot {
            Some(seq) => (
                version_key(
                    location,
                    number,
                    &format!("DocumentReference-{seq:04}.json"),
                )?,
                seq,
            ),
            None => (version_key(location, number, "DocumentReference.json")?, 0),
        };
        let reference = read_reference(store, &reference_key).await?;
        state.versions.push(VersionState {
            meta,
            reference,
            reference_seq,
        });
    }
    Ok(state)
}

/// Indexes and flags of the risk-flagged segments of a transcript.
pub(crate) fn transcript_flags(transcript: &Transcript) -> Vec<(usize, Vec<RiskFlag>)> {
    transcript
        .segments
        .iter()
        .enumerate()
        .filter(|(_, segment)| !segment.flags.is_empty())
        .map(|(index, segment)| (index, segment.flags.clone()))
        .collect()
}

/// A dictation's `transcript.json`, as the pipeline wrote it; `None` for a chart.
pub(crate) async fn transcript(store: &Store, location: &Folder) -> Result<Option<Transcript>> {
    read_typed_opt(store, &location.transcript()).await
}

/// `versions/<number>/<name>` of a document folder.
pub(crate) fn version_key(location: &Folder, number: u32, name: &str) -> Result<Key> {
    location
        .version_object(number, name)
        .ok_or_else(|| Error::InvalidInput {
            detail: "not a version object name".to_string(),
        })
}

/// Reads and deserialises an object of the layout, `None` when there is none. The error names the key
/// redacted.
pub(crate) async fn read_typed_opt<T: serde::de::DeserializeOwned>(
    store: &Store,
    key: &Key,
) -> Result<Option<T>> {
    match store.get_opt(key).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|_| Error::Unreadable {
                key: key.to_string(),
            }),
    }
}

/// Reads a stored DocumentReference, `None` when there is none. One that does not read is an error that
/// says what and where, naming the key redacted and quoting nothing.
pub(crate) async fn read_reference(store: &Store, key: &Key) -> Result<Option<DocumentReference>> {
    match store.get_opt(key).await? {
        None => Ok(None),
        Some(bytes) => DocumentReference::from_json(&bytes)
            .map(Some)
            .map_err(|unparsed| Error::Malformed {
                key: key.to_string(),
                reason: unparsed.to_string(),
            }),
    }
}

/// The manifest of a document, as the pipeline wrote it.
pub(crate) async fn manifest(store: &Store, location: &Folder) -> Result<Option<Manifest>> {
    read_typed_opt(store, &location.manifest()).await
}

pub(crate) async fn read_text(store: &Store, key: &Key) -> Result<Option<String>> {
    Ok(store
        .get_opt(key)
        .await?
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
}

/// Pretty-printed JSON, as the store keeps it.
pub(crate) fn to_json_bytes(value: &impl Serialize) -> Bytes {
    Bytes::from(serde_json::to_vec_pretty(value).unwrap_or_default())
}

/// Refuses an empty reason or text with `detail`.
pub(crate) fn required(text: &str, detail: &str) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::InvalidInput {
            detail: detail.to_string(),
        });
    }
    Ok(())
}

fn changed_meanwhile() -> Error {
    Error::Conflict {
        detail: "the document changed meanwhile; reload it".to_string(),
    }
}

/// Writes an object that must not exist yet; an existing one means another writer got there first.
pub(crate) async fn create(store: &Store, key: &Key, bytes: Bytes) -> Result<()> {
    match store.put_new(key, bytes).await? {
        Written::Created => Ok(()),
        Written::AlreadyExisted => Err(changed_meanwhile()),
    }
}

/// Writes `reviews/<seq>-<action>.json` from the record's sequence number and action.
pub(crate) async fn write_record(
    store: &Store,
    location: &Folder,
    record: &ReviewRecord,
) -> Result<String> {
    let key = location
        .review(record.seq(), record.action())
        .ok_or_else(|| Error::InvalidInput {
            detail: "not a review action".to_string(),
        })?;
    create(store, &key, to_json_bytes(record)).await?;
    Ok(key.path())
}

/// The field values extracted by the pipeline, by name.
pub(crate) async fn original_fields(
    store: &Store,
    location: &Folder,
) -> Result<BTreeMap<String, String>> {
    let Some(manifest) = manifest(store, location).await? else {
        return Ok(BTreeMap::new());
    };
    let mut fields: BTreeMap<String, String> = manifest
        .fields
        .summary()
        .into_iter()
        .map(|(name, field)| (name.to_string(), field.value.to_string()))
        .collect();
    // The dictation device's author, work type and encounter were picked from lists: they win over what
    // the recogniser heard. Its MRN never does (a keyed MRN files only when the audio corroborates it).
    if let Some(job) = &manifest.demographics {
        for (name, value) in [
            ("author", &job.author),
            ("document_type", &job.work_type),
            ("encounter", &job.encounter),
        ] {
            if let Some(value) = value.as_deref().filter(|v| !v.trim().is_empty()) {
                fields.insert(name.to_string(), value.to_string());
            }
        }
    }
    Ok(fields)
}

/// The text a reviewer should see: the newest draft, else the current version, else the OCR or transcript
/// text.
pub(crate) async fn current_text(
    store: &Store,
    location: &Folder,
    state: &ReviewState,
) -> Result<String> {
    if let Some(edit) = &state.last_edit {
        if let Some(ReviewRecord::Edited {
            text: Some(text), ..
        }) = read_typed_opt(store, edit).await?
        {
            return Ok(text);
        }
    }
    if let Some(version) = state.main_version() {
        let key = version_key(location, version.meta.version, "text.txt")?;
        if let Some(text) = read_text(store, &key).await? {
            return Ok(text);
        }
    }
    Ok(read_text(store, &location.text())
        .await?
        .unwrap_or_default())
}

/// The field values a reviewer should see: the newest draft's, else the current version's, else the
/// extracted ones.
pub(crate) async fn current_fields(
    store: &Store,
    location: &Folder,
    state: &ReviewState,
) -> Result<BTreeMap<String, String>> {
    if let Some(edit) = &state.last_edit {
        if let Some(ReviewRecord::Edited { fields, .. }) = read_typed_opt(store, edit).await? {
            return Ok(fields);
        }
    }
    if let Some(version) = state.main_version() {
        return Ok(version.meta.fields.clone());
    }
    original_fields(store, location).await
}

fn changed(original: &BTreeMap<String, String>, input: &BTreeMap<String, String>) -> Vec<String> {
    input
        .iter()
        .filter(|(name, value)| {
            original.get(*name).map(String::as_str).unwrap_or("") != value.as_str()
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// A document's row, its review state and the situation [`crate::workflow::authorize`] judges.
pub(crate) struct Loaded {
    pub item: QueueItem,
    pub state: ReviewState,
}

impl Loaded {
    pub fn situation(&self) -> Situation<'_> {
        Situation {
            kind: &self.item.kind,
            filing: &self.item.status,
            review: self.state.status,
            awaiting_signature: self.state.awaiting_signature(),
            author: self.state.author(),
            claim_holder: queue::claim_holder(&self.item),
        }
    }
}

pub(crate) async fn load(app: &ReviewContext, document_id: &str) -> Result<Loaded> {
    let item = queue::find_document(&app.db, document_id)?;
    let state = review_state(&app.store, &item.location).await?;
    Ok(Loaded { item, state })
}

/// Refuses a changed MRN field: a document's patient changes only through reassignment.
fn check_identity(
    item: &QueueItem,
    original: &BTreeMap<String, String>,
    input: &ReviewInput,
) -> Result<()> {
    let Some(given) = input.fields.get("mrn").map(|m| mrn_key(m)) else {
        return Ok(());
    };
    let filed = item.mrn.as_deref().map(mrn_key);
    let extracted = original.get("mrn").map(|m| mrn_key(m));
    if given.is_empty() || Some(&given) == filed.as_ref() || Some(&given) == extracted.as_ref() {
        return Ok(());
    }
    Err(Error::Conflict {
        detail:
            "the MRN field names another patient: the patient of a filed document changes only by \
                 reassignment (supervisor)"
                .to_string(),
    })
}

/// The input with the MRN of the patient the document is filed to: the approved fields never contradict the
/// DocumentReference's subject (a stale or OCR-read MRN of an assigned document is replaced).
fn with_filed_mrn(input: &ReviewInput, mrn: &str) -> ReviewInput {
    let mut input = input.clone();
    input.fields.insert("mrn".to_string(), mrn.to_string());
    input
}

/// Refuses a document type that is not a LOINC document type code of the bundled table, and dates that
/// are not `YYYY-MM-DD`.
fn check_fields(fields: &BTreeMap<String, String>) -> Result<()> {
    match fields.get("document_type").map(|t| t.trim()) {
        None | Some("") => {}
        Some(code) if fhir::loinc_type(code).is_some() => {}
        Some(_) => {
            return Err(Error::InvalidInput {
                detail: "document type must be a LOINC document type code from the list"
                    .to_string(),
            })
        }
    }
    for name in [
        "date_of_birth",
        "date_of_service",
        "admission_date",
        "discharge_date",
    ] {
        let value = fields.get(name).map(|v| v.trim()).unwrap_or("");
        if !value.is_empty() && him_extract::Date::parse_iso(value).is_none() {
            return Err(Error::InvalidInput {
                detail: format!(
                    "{} must be a date written YYYY-MM-DD",
                    name.replace('_', " ")
                ),
            });
        }
    }
    Ok(())
}

/// What a new DocumentReference needs besides the version itself.
pub(crate) struct NewVersion<'a> {
    pub kind: &'a str,
    pub fields: &'a BTreeMap<String, String>,
    pub text: &'a str,
    pub relates_to: Option<(Relation, u32)>,
    pub status: RefStatus,
    pub doc_status: DocStatus,
    pub author: Option<&'a str>,
    pub authenticator: Option<&'a str>,
    pub by: &'a str,
}

fn relation_name(relation: Relation) -> &'static str {
    match relation {
        Relation::Appends => "appends",
        Relation::Replaces => "replaces",
    }
}

pub(crate) fn relation_of(name: &str) -> Option<Relation> {
    match name {
        "appends" => Some(Relation::Appends),
        "replaces" => Some(Relation::Replaces),
        _ => None,
    }
}

/// Key and media type (from `document.json`) of a document's legal original, if it is there; for a document
/// split out of a scanned batch (whose legal original is the scan under `batches/`), its `document.pdf`.
pub(crate) async fn original_key(
    store: &Store,
    location: &Folder,
) -> Result<Option<(Key, String)>> {
    Ok(locate_original(store, location)
        .await?
        .map(|(key, manifest)| (key, media_type(manifest.as_ref()))))
}

/// The original's key, with the manifest that describes it (when there is one).
async fn locate_original(
    store: &Store,
    location: &Folder,
) -> Result<Option<(Key, Option<Manifest>)>> {
    let keys = store.list(&location.all()).await?;
    let Some(key) = keys
        .iter()
        .find(|key| key.original_extension().is_some())
        .or_else(|| keys.iter().find(|key| key.name() == Some("document.pdf")))
        .cloned()
    else {
        return Ok(None);
    };
    Ok(Some((key, manifest(store, location).await?)))
}

fn media_type(manifest: Option<&Manifest>) -> String {
    manifest.map_or_else(
        || "application/octet-stream".to_string(),
        |manifest| manifest.media_type.clone(),
    )
}

/// A document's legal original as it is attached to a DocumentReference: its media type and its size and
/// SHA-1 — from the manifest, which recorded them when the document was filed, so an approval
/// costs the same for a 1-page fax and a 300-page chart. Only a document filed before the manifest recorded
/// the SHA-1 has its original read (once per approval) to hash it.
#[derive(Debug, Clone)]
pub(crate) struct Original {
    pub media_type: String,
    pub content: Content,
}

pub(crate) async fn original(store: &Store, location: &Folder) -> Result<Option<Original>> {
    let Some((key, manifest)) = locate_original(store, location).await? else {
        return Ok(None);
    };
    let recorded = manifest
        .as_ref()
        .and_then(|manifest| Content::recorded(manifest.bytes, manifest.sha1.as_deref()?));
    let content = match recorded {
        Some(content) => content,
        None => Content::of(&store.get(&key).await?),
    };
    Ok(Some(Original {
        media_type: media_type(manifest.as_ref()),
        content,
    }))
}

/// Writes `versions/<number>/` (text, meta, DocumentReference) create-only at `location` for the patient
/// `mrn`; `original` is the document's legal original ([`original`]), attached by size and hash. A version
/// number taken meanwhile is a conflict, never a second version.
pub(crate) async fn write_version(
    app: &ReviewContext,
    document_id: &str,
    location: &Folder,
    mrn: &str,
    number: u32,
    original: Option<&Original>,
    version: &NewVersion<'_>,
) -> Result<Vec<String>> {
    let store = &app.store;
    let text_key = version_key(location, number, "text.txt")?;
    create(store, &text_key, Bytes::from(version.text.to_string())).await?;
    let at = now_rfc3339();
    let meta = VersionMeta {
        version: number,
        kind: version.kind.to_string(),
        fields: version.fields.clone(),
        relates_to: version
            .relates_to
            .map(|(relation, target)| (relation_name(relation).to_string(), target)),
        by: version.by.to_string(),
        at: at.clone(),
    };
    let meta_key = version_key(location, number, "version.json")?;
    create(store, &meta_key, to_json_bytes(&meta)).await?;
    let patient = app.patients.find(mrn);
    let patient = patient.as_ref();
    let display = app.patients.view(mrn).map(|p| p.display());
    let base = app.config.public_base_url.trim_end_matches('/');
    let field = |name: &str| {
        version
            .fields
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    };
    let reference = fhir::document_reference(&fhir::Reference {
        document_id,
        version: number,
        identifier_system: &app.config.document_system,
        status: version.status,
        doc_status: version.doc_status,
        doc_type: field("document_type"),
        subject: Subject {
            patient_id: patient.and_then(|p| p.fhir_id.as_deref()),
            mrn,
            mrn_system: &app.patients.mrn_system,
            display: display.as_deref(),
        },
        date: &at,
        author: version.author,
        authenticator: version.authenticator,
        date_of_service: field("date_of_service"),
        admission_date: field("admission_date"),
        discharge_date: field("discharge_date"),
        encounter: field("encounter"),
        encounter_system: &app.config.encounter_system,
        original: original.map(|original| Attachment {
            content_type: &original.media_type,
            content: original.content,
            url: format!("{base}/documents/{document_id}/original"),
            title: "original",
            creation: None,
        }),
        text: Attachment {
            content_type: "text/plain; charset=utf-8",
            content: Content::of(version.text.as_bytes()),
            url: format!("{base}/documents/{document_id}/versions/{number}/text"),
            title: "approved text",
            creation: Some(&at),
        },
        relates_to: version.relates_to,
    });
    let reference_key = version_key(location, number, "DocumentReference.json")?;
    create(store, &reference_key, Bytes::from(reference.to_json())).await?;
    Ok(vec![text_key.path(), meta_key.path(), reference_key.path()])
}

/// Writes a later state of a version's DocumentReference as `DocumentReference-<seq>.json`.
pub(crate) async fn restate(
    store: &Store,
    location: &Folder,
    version: &VersionState,
    seq: u32,
    status: Option<RefStatus>,
    doc_status: Option<DocStatus>,
    authenticator: Option<&str>,
) -> Result<String> {
    let resource = version
        .reference()?
        .restate(status, doc_status, authenticator, &now_rfc3339());
    let key = version_key(
        location,
        version.meta.version,
        &format!("DocumentReference-{seq:04}.json"),
    )?;
    create(store, &key, Bytes::from(resource.to_json())).await?;
    Ok(key.path())
}

/// Writes the index row of a document after a decision from its state in the store.
pub(crate) async fn reindex_one(app: &ReviewContext, item: &QueueItem) -> Result<()> {
    let state = review_state(&app.store, &item.location).await?;
    queue::set_review(&app.db, &item.document_id, &state, true)
}

/// Saves a draft of corrected fields and text (`reviews/<seq>-edited.json`). Returns the sequence number
/// and the names of the fields changed. [`decide`] with [`Command::SaveEdit`].
pub async fn save_edit(
    app: &AppState,
    document_id: &str,
    actor: &Actor,
    input: &ReviewInput,
) -> Result<(u32, Vec<String>)> {
    let command = Command::SaveEdit {
        input: input.clone(),
    };
    match decide(app.context(), document_id, actor, command).await? {
        Outcome::Edited {
            seq,
            fields_changed,
        } => Ok((seq, fields_changed)),
        other => Err(unexpected(&other)),
    }
}

pub(crate) async fn save_edit_step(doing: &Doing<'_>, input: &ReviewInput) -> Result<Step> {
    let Doing {
        context,
        document_id,
        actor,
        item,
        seq,
        ..
    } = *doing;
    let original = original_fields(&context.store, &item.location).await?;
    check_identity(item, &original, input)?;
    let fields_changed = changed(&original, &input.fields);
    let record = ReviewRecord::Edited {
        at: now_rfc3339(),
        document_id: document_id.to_string(),
        fields: input.fields.clone(),
        fields_changed: fields_changed.clone(),
        reviewer: actor.name.clone(),
        seq,
        text: Some(input.text.clone()),
    };
    Ok(Step {
        record: Some(record),
        event: None,
        reindex: false,
        outcome: Outcome::Edited {
            seq,
            fields_changed,
        },
    })
}

fn approved_doc_status(kind: &str) -> DocStatus {
    // A transcription is preliminary until its author signs; the paper of a scan was signed already.
    if kind == "dictation" {
        DocStatus::Preliminary
    } else {
        DocStatus::Final
    }
}

/// The approval, correction, addendum or signature [`decide`] returned for a wrapper.
async fn version_of(
    app: &AppState,
    document_id: &str,
    actor: &Actor,
    command: Command,
) -> Result<Approval> {
    match decide(app.context(), document_id, actor, command).await? {
        Outcome::Version(approval) => Ok(approval),
        other => Err(unexpected(&other)),
    }
}

/// Approves a document filed to a patient: writes the approved text as a new version with its FHIR
/// `DocumentReference`, then `reviews/<seq>-approved.json`. A transcript's flagged segments must all be
/// acknowledged; the MRN field cannot name another patient; the document type must be a known code.
/// [`decide`] with [`Command::Approve`].
pub async fn approve(
    app: &AppState,
    document_id: &str,
    actor: &Actor,
    input: &ReviewInput,
) -> Result<Approval> {
    let command = Command::Approve {
        input: input.clone(),
    };
    version_of(app, document_id, actor, command).await
}

pub(crate) async fn approve_step(doing: &Doing<'_>, input: &ReviewInput) -> Result<Step> {
    let Doing {
        context,
        document_id,
        actor,
        item,
        state,
        seq,
        ..
    } = *doing;
    let transcript = transcript(&context.store, &item.location).await?;
    let missing = transcript
        .as_ref()
        .map(transcript_flags)
        .unwrap_or_default()
        .into_iter()
        .filter(|(index, _)| !input.flags_acknowledged.contains(index))
        .count();
    if missing > 0 {
        return Err(Error::Conflict {
            detail: format!("{missing} flagged segments are not acknowledged"),
        });
    }
    let original = original_fields(&context.store, &item.location).await?;
    check_identity(item, &original, input)?;
    check_fields(&input.fields)?;
    let mrn = item.mrn.clone().ok_or_else(|| Error::Conflict {
        detail: "document has no patient".to_string(),
    })?;
    let input = &with_filed_mrn(input, &mrn);
    let number = state.last_version + 1;
    let author = input
        .fields
        .get("author")
        .map(String::as_str)
        .filter(|a| !a.trim().is_empty());
    let new = NewVersion {
        kind: "approval",
        fields: &input.fields,
        text: &input.text,
        relates_to: None,
        status: RefStatus::Current,
        doc_status: approved_doc_status(&item.kind),
        author,
        authenticator: None,
        by: &actor.name,
    };
    let keys = write_version(
        context,
        document_id,
        &item.location,
        &mrn,
        number,
        self::original(&context.store, &item.location)
            .await?
            .as_ref(),
        &new,
    )
    .await?;
    let record = ReviewRecord::Approved(Approved::Version {
        at: now_rfc3339(),
        document_id: document_id.to_string(),
        fields: input.fields.clone(),
        fields_changed: changed(&original, &input.fields),
        flags_acknowledged: input.flags_acknowledged.clone(),
        reviewer: actor.name.clone(),
        seq,
        version: number,
    });
    Ok(Step {
        record: Some(record),
        event: Some(Announce {
            action: OutboxAction::Approved,
            versions: vec![number],
            parent: None,
        }),
        reindex: true,
        outcome: Outcome::Version(Approval {
            seq,
            version: number,
            keys,
        }),
    })
}

/// Corrects an approved document (supervisor): a new version that replaces the current one, which becomes
/// `superseded`. A correction of a transcription waits for its author's signature again. [`decide`] with
/// [`Command::Correct`].
pub async fn correct(
    app: &AppState,
    document_id: &str,
    actor: &Actor,
    input: &ReviewInput,
    reason: &str,
) -> Result<Approval> {
    let command = Command::Correct {
        input: input.clone(),
        reason: reason.to_string(),
    };
    version_of(app, document_id, actor, command).await
}

pub(crate) async fn correct_step(
    doing: &Doing<'_>,
    input: &ReviewInput,
    reason: &str,
) -> Result<Step> {
    let Doing {
        context,
        document_id,
        actor,
        item,
        state,
        seq,
        ..
    } = *doing;
    let Some(previous) = state.main_version().cloned() else {
        return Err(Error::Conflict {
            detail: "nothing approved to correct".to_string(),
        });
    };
    let original = original_fields(&context.store, &item.location).await?;
    check_identity(item, &original, input)?;
    check_fields(&input.fields)?;
    let mrn = item.mrn.clone().unwrap_or_default();
    let input = &with_filed_mrn(input, &mrn);
    let number = state.last_version + 1;
    let doc_status = match item.kind.as_str() {
        "dictation" => DocStatus::Preliminary,
        _ => DocStatus::Amended,
    };
    let author = input
        .fields
        .get("author")
        .map(String::as_str)
        .filter(|a| !a.trim().is_empty());
    let new = NewVersion {
        kind: "correction",
        fields: &input.fields,
        text: &input.text,
        relates_to: Some((Relation::Replaces, previous.meta.version)),
        status: RefStatus::Current,
        doc_status,
        author,
        authenticator: None,
        by: &actor.name,
    };
    let mut keys = write_version(
        context,
        document_id,
        &item.location,
        &mrn,
        number,
        self::original(&context.store, &item.location)
            .await?
            .as_ref(),
        &new,
    )
    .await?;
    keys.push(
        restate(
            &context.store,
            &item.location,
            &previous,
            seq,
            Some(RefStatus::Superseded),
            None,
            None,
        )
        .await?,
    );
    let record = ReviewRecord::Corrected {
        at: now_rfc3339(),
        document_id: document_id.to_string(),
        fields: input.fields.clone(),
        fields_changed: changed(&previous.meta.fields, &input.fields),
        reason: reason.trim().to_string(),
        replaces: previous.meta.version,
        reviewer: actor.name.clone(),
        seq,
        version: number,
    };
    Ok(Step {
        record: Some(record),
        event: Some(Announce {
            action: OutboxAction::Corrected,
            versions: vec![number],
            parent: Some(previous.meta.version),
        }),
        reindex: true,
        outcome: Outcome::Version(Approval {
            seq,
            version: number,
            keys,
        }),
    })
}

/// Returns a document for rework or rejects it, with a reason (`reviews/<seq>-returned.json` or
/// `-rejected.json`). [`decide`] with [`Command::Return`].
pub async fn return_document(
    app: &AppState,
    document_id: &str,
    actor: &Actor,
    kind: ReturnKind,
    reason: &str,
) -> Result<u32> {
    let command = Command::Return {
        kind,
        reason: reason.to_string(),
    };
    match decide(app.context(), document_id, actor, command).await? {
        Outcome::Returned { seq } => Ok(seq),
        other => Err(unexpected(&other)),
    }
}

pub(crate) fn return_step(doing: &Doing<'_>, kind: ReturnKind, reason: &str) -> Result<Step> {
    let Doing {
        document_id,
        actor,
        seq,
        ..
    } = *doing;
    let returned = Returned {
        at: now_rfc3339(),
        document_id: document_id.to_string(),
        reason: reason.trim().to_string(),
        reviewer: actor.name.clone(),
        seq,
    };
    let record = match kind {
        ReturnKind::Return => ReviewRecord::Returned(returned),
        ReturnKind::Reject => ReviewRecord::Rejected(returned),
    };
    Ok(Step {
        record: Some(record),
        event: None,
        reindex: true,
        outcome: Outcome::Returned { seq },
    })
}

/// Adds an addendum to an approved document: a new version holding only the addendum text, linked to the
/// current version it appends; the fields (with every earlier correction) carry over. [`decide`] with
/// [`Command::Addendum`].
pub async fn add_addendum(
    app: &AppState,
    document_id: &str,
    actor: &Actor,
    addendum: &str,
) -> Result<Approval> {
    let command = Command::Addendum {
        text: addendum.to_string(),
    };
    version_of(app, document_id, actor, command).await
}

pub(crate) async fn addendum_step(doing: &Doing<'_>, addendum: &str) -> Result<Step> {
    let Doing {
        context,
        document_id,
        actor,
        item,
        state,
        seq,
        ..
    } = *doing;
    let Some(base) = state.main_version().cloned() else {
        return Err(Error::Conflict {
            detail: "only approved documents take addenda".to_string(),
        });
    };
    let mrn = item.mrn.clone().unwrap_or_default();
    let number = state.last_version + 1;
    let text = format!("{}\n", addendum.trim());
    let new = NewVersion {
        kind: "addendum",
        fields: &base.meta.fields,
        text: &text,
        relates_to: Some((Relation::Appends, base.meta.version)),
        status: RefStatus::Current,
        doc_status: DocStatus::Final,
        author: Some(&actor.name),
        authenticator: None,
        by: &actor.name,
    };
    let mut keys = write_version(
        context,
        document_id,
        &item.location,
        &mrn,
        number,
        self::original(&context.store, &item.location)
            .await?
            .as_ref(),
        &new,
    )
    .await?;
    // A final document added to after its release is `amended` (FHIR composition-status); a preliminary
    // one stays preliminary until its author signs.
    if base.reference()?.doc_status == DocStatus::Final {
        keys.push(
            restate(
                &context.store,
                &item.location,
                &base,
                seq,
                None,
                Some(DocStatus::Amended),
                None,
            )
            .await?,
        );
    }
    let record = ReviewRecord::Addendum {
        appends: base.meta.version,
        at: now_rfc3339(),
        document_id: document_id.to_string(),
        reviewer: actor.name.clone(),
        seq,
        version: number,
    };
    Ok(Step {
        record: Some(record),
        event: Some(Announce {
            action: OutboxAction::Addendum,
            versions: vec![number],
            parent: Some(base.meta.version),
        }),
        reindex: true,
        outcome: Outcome::Version(Approval {
            seq,
            version: number,
            keys,
        }),
    })
}

/// The authoring clinician signs an approved transcription: each current version waiting for a signature
/// gets a new DocumentReference state with docStatus `final` (`amended` for a correction) and the
/// clinician as authenticator. [`decide`] with [`Command::Sign`].
pub async fn sign(app: &AppState, document_id: &str, actor: &Actor) -> Result<Approval> {
    version_of(app, document_id, actor, Command::Sign).await
}

pub(crate) async fn sign_step(doing: &Doing<'_>) -> Result<Step> {
    let Doing {
        context,
        document_id,
        actor,
        item,
        state,
        seq,
        ..
    } = *doing;
    let signer = actor.author.clone().unwrap_or_else(|| actor.name.clone());
    let mut keys = Vec::new();
    let mut signed = Vec::new();
    for version in state
        .versions
        .iter()
        .filter(|v| v.meta.kind != "addendum" && v.is_current() && v.is_preliminary())
    {
        let doc_status = match version.meta.kind.as_str() {
            "correction" => DocStatus::Amended,
            _ => DocStatus::Final,
        };
        keys.push(
            restate(
                &context.store,
                &item.location,
                version,
                seq,
                None,
                Some(doc_status),
                Some(&signer),
            )
            .await?,
        );
        signed.push(version.meta.version);
    }
    let record = ReviewRecord::Signed {
        at: now_rfc3339(),
        clinician: actor.name.clone(),
        document_id: document_id.to_string(),
        seq,
        versions: signed.clone(),
    };
    Ok(Step {
        record: Some(record),
        event: Some(Announce {
            action: OutboxAction::Signed,
            versions: signed.clone(),
            parent: None,
        }),
        reindex: true,
        outcome: Outcome::Version(Approval {
            seq,
            version: signed.last().copied().unwrap_or(0),
            keys,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A filed chart's manifest, recording (or not) the SHA-1 of `recorded`.
    fn chart_manifest(recorded: Option<&[u8]>) -> Manifest {
        let id = him_core::DocumentId::for_bytes(b"scan");
        him_core::DocumentManifest {
            schema: Manifest::SCHEMA,
            document_id: id,
            sha256: him_core::Sha256::of(b"scan"),
            sha1: recorded.map(him_core::sha1_hex),
            kind: him_core::Kind::Chart,
            media_type: "image/png".to_string(),
            bytes: recorded.map_or(0, |bytes| bytes.len() as u64),
            received_at: "2026-11-30T10:00:00.000Z".to_string(),
            job: him_core::JobContext::default(),
            status: him_core::Status::Unmatched,
            reason: None,
            page_count: 0,
            pages: Vec::new(),
            engines: him_core::EngineVersions::default(),
            fields: him_extract::Fields::default(),
            patient: None,
            matching: None,
            demographics: None,
            batch: None,
            duration_ms: None,
            risk_flags: Vec::new(),
            needs_review: false,
        }
    }

    /// A store holding a chart's original (`object bytes`) and its manifest; the chart's folder.
    async fn filed_chart(manifest: &Manifest) -> (Store, Folder) {
        let store = Store::in_memory();
        let folder = Folder::Unmatched(him_core::DocumentId::for_bytes(b"scan"));
        store
            .put_new(&folder.original("png"), Bytes::from_static(b"object bytes"))
            .await
            .unwrap();
        store
            .put_new(
                &folder.manifest(),
                serde_json::to_vec(manifest).unwrap().into(),
            )
            .await
            .unwrap();
        (store, folder)
    }

    #[tokio::test]
    async fn an_original_is_attached_from_its_manifest_without_reading_it() {
        // The object differs from what the manifest recorded: the attachment shows which one was used.
        let (store, folder) = filed_chart(&chart_manifest(Some(b"recorded at filing"))).await;
        let original = original(&store, &folder).await.unwrap().unwrap();
        assert_eq!(original.media_type, "image/png");
        assert_eq!(original.content, Content::of(b"recorded at filing"));
    }

    #[tokio::test]
    async fn an_original_filed_before_its_hash_was_recorded_is_hashed_when_attached() {
        let (store, folder) = filed_chart(&chart_manifest(None)).await;
        let original = original(&store, &folder).await.unwrap().unwrap();
        assert_eq!(original.content, Content::of(b"object bytes"));
    }

    #[test]
    fn flagged_segments_are_listed_by_index() {
        let segment = |text: &str, flags: Vec<RiskFlag>| him_core::TranscriptSegment {
            text: text.to_string(),
            start_ms: 0,
            end_ms: 100,
            avg_logprob: -0.1,
            no_speech_prob: 0.0,
            temperature: 0.0,
            words: Vec::new(),
            flags,
        };
        let transcript = Transcript {
            language: "en".to_string(),
            segments: vec![
                segment("a", Vec::new()),
                segment("b", vec![RiskFlag::TextInSilence]),
                segment("c", Vec::new()),
            ],
        };
        assert_eq!(
            transcript_flags(&transcript),
            vec![(1, vec![RiskFlag::TextInSilence])]
        );
    }

    #[test]
    fn a_changed_mrn_is_refused_but_formatting_is_not() {
        let item = crate::queue::pending_chart("a", "40158388", "", false);
        let original = BTreeMap::from([("mrn".to_string(), "40158388".to_string())]);
        let input = |mrn: &str| ReviewInput {
            fields: BTreeMap::from([("mrn".to_string(), mrn.to_string())]),
            ..ReviewInput::default()
        };
        assert!(check_identity(&item, &original, &input("401-583-88")).is_ok());
        assert!(check_identity(&item, &original, &input("")).is_ok());
        assert!(matches!(
            check_identity(&item, &original, &input("40079196")),
            Err(Error::Conflict { .. })
        ));
    }

    /// Every kind of review record reads back as itself, tagged by `action`, with its keys in the order the
    /// earlier `serde_json::Value` form wrote them (sorted).
    #[test]
    fn review_records_read_back_and_keep_their_bytes() {
        let fields = BTreeMap::from([("mrn".to_string(), "40158388".to_string())]);
        let folder = Folder::Unmatched(him_core::DocumentId::for_bytes(b"scan"));
        let at = "2026-11-30T10:00:00.000Z".to_string();
        let returned = Returned {
            at: at.clone(),
            document_id: "d".to_string(),
            reason: "rescan".to_string(),
            reviewer: "ana".to_string(),
            seq: 3,
        };
        let records = [
            ReviewRecord::Edited {
                at: at.clone(),
                document_id: "d".to_string(),
                fields: fields.clone(),
                fields_changed: vec!["mrn".to_string()],
                reviewer: "ana".to_string(),
                seq: 1,
                text: Some("text".to_string()),
            },
            ReviewRecord::Approved(Approved::Version {
                at: at.clone(),
                document_id: "d".to_string(),
                fields: fields.clone(),
                fields_changed: Vec::new(),
                flags_acknowledged: vec![1],
                reviewer: "ana".to_string(),
                seq: 2,
                version: 1,
            }),
            ReviewRecord::Approved(Approved::CarriedFromMove {
                at: at.clone(),
                carried_from_move: true,
                document_id: "d".to_string(),
                reviewer: "sup".to_string(),
                seq: 1,
                versions: 2,
            }),
            ReviewRecord::Corrected {
                at: at.clone(),
                document_id: "d".to_string(),
                fields,
                fields_changed: Vec::new(),
                reason: "typo".to_string(),
                replaces: 1,
                reviewer: "sup".to_string(),
                seq: 4,
                version: 2,
            },
            ReviewRecord::Returned(returned.clone()),
            ReviewRecord::Rejected(returned),
            ReviewRecord::Addendum {
                appends: 2,
                at: at.clone(),
                document_id: "d".to_string(),
                reviewer: "ana".to_string(),
                seq: 5,
                version: 3,
            },
            ReviewRecord::Signed {
                at: at.clone(),
                clinician: "drjane".to_string(),
                document_id: "d".to_string(),
                seq: 6,
                versions: vec![2],
            },
            ReviewRecord::Reassigned(Moved::From {
                at: at.clone(),
                by: "sup".to_string(),
                document_id: "d".to_string(),
                from_mrn: None,
                location: folder,
                mrn: "40079196".to_string(),
                reason: "misfiled".to_string(),
                seq: 7,
            }),
            ReviewRecord::Assigned(Moved::To {
                at,
                by: "sup".to_string(),
                seq: 2,
            }),
        ];
        for record in records {
            let bytes = to_json_bytes(&record);
            let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(value["action"], record.action());
            assert_eq!(value["seq"], record.seq());
            assert_eq!(
                std::str::from_utf8(&bytes).unwrap(),
                serde_json::to_string_pretty(&value).unwrap()
            );
            let read: ReviewRecord = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(read, record);
        }
        // A reassignment in its old folder writes `from_mrn` null, as the tombstone does.
        let from: serde_json::Value =
            serde_json::from_slice(&to_json_bytes(&ReviewRecord::Reassigned(Moved::From {
                at: String::new(),
                by: String::new(),
                document_id: String::new(),
                from_mrn: None,
                location: Folder::Unmatched(him_core::DocumentId::for_bytes(b"scan")),
                mrn: String::new(),
                reason: String::new(),
                seq: 1,
            })))
            .unwrap();
        assert!(from["from_mrn"].is_null() && from.get("from_mrn").is_some());
    }

    #[test]
    fn document_types_outside_the_loinc_table_are_refused() {
        let fields = |t: &str| BTreeMap::from([("document_type".to_string(), t.to_string())]);
        assert!(check_fields(&fields("11506-3")).is_ok());
        assert!(check_fields(&fields("")).is_ok());
        assert!(check_fields(&fields("History & Physical")).is_err());
        let date = BTreeMap::from([("date_of_service".to_string(), "03/20/2019".to_string())]);
        assert!(check_fields(&date).is_err());
    }
}

//! Review outcomes written to the store, create-only, under the document's folder:
//! `reviews/<seq>-<action>.json` for every decision and `versions/<n>/text.txt` with its FHIR
//! `DocumentReference.json` for every approved version. Nothing is ever overwritten.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use him_store::{Store, Written};

use crate::db::{now_rfc3339, Db};
use crate::error::{Error, Result};
use crate::fhir::{document_reference, Reference};
use crate::queue::{self, QueueItem};

/// Serialises review writes of this process so that sequence numbers are taken in order.
static WRITE_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What a reviewer submits: corrected field values, corrected text and the transcript flags acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewInput {
    pub fields: BTreeMap<String, String>,
    pub text: String,
    /// Indexes of the flagged transcript segments the reviewer checked.
    pub flags_acknowledged: Vec<usize>,
}

/// The objects an approval or addendum wrote.
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

/// A document's review history as read from the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ReviewState {
    /// `pending`, `approved`, `returned` or `rejected`.
    pub status: String,
    pub last_seq: u32,
    pub last_version: u32,
    /// The newest record, when any.
    pub last_record: Option<String>,
    /// Key of the newest `edited` record after the last decision.
    pub last_edit: Option<String>,
}

pub(crate) async fn review_state(store: &Store, location: &str) -> Result<ReviewState> {
    let mut state = ReviewState {
        status: "pending".to_string(),
        ..ReviewState::default()
    };
    for key in store.list(&format!("{location}/reviews/")).await? {
        let Some(name) = key.rsplit('/').next() else {
            continue;
        };
        let Some((seq, action)) = name.trim_end_matches(".json").split_once('-') else {
            continue;
        };
        let Ok(seq) = seq.parse::<u32>() else {
            continue;
        };
        if seq < state.last_seq {
            continue;
        }
        state.last_seq = seq;
        state.last_record = Some(key.clone());
        match action {
            "edited" => state.last_edit = Some(key.clone()),
            "approved" | "addendum" => (state.status, state.last_edit) = ("approved".into(), None),
            "returned" => (state.status, state.last_edit) = ("returned".into(), None),
            "rejected" => (state.status, state.last_edit) = ("rejected".into(), None),
            _ => {}
        }
    }
    for key in store.list(&format!("{location}/versions/")).await? {
        let number = key
            .strip_prefix(&format!("{location}/versions/"))
            .and_then(|rest| rest.split('/').next())
            .and_then(|n| n.parse::<u32>().ok());
        state.last_version = state.last_version.max(number.unwrap_or(0));
    }
    Ok(state)
}

/// Indexes and flags of the risk-flagged segments of a `transcript.json`.
pub(crate) fn transcript_flags(transcript: &Value) -> Vec<(usize, Vec<String>)> {
    let Some(segments) = transcript["segments"].as_array() else {
        return Vec::new();
    };
    segments
        .iter()
        .enumerate()
        .filter_map(|(index, segment)| {
            let flags: Vec<String> = segment["flags"]
                .as_array()?
                .iter()
                .filter_map(|flag| flag.as_str().map(str::to_string))
                .collect();
            (!flags.is_empty()).then_some((index, flags))
        })
        .collect()
}

async fn read_json(store: &Store, key: &str) -> Result<Value> {
    match store.get_opt(key).await? {
        None => Ok(Value::Null),
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|_| Error::Unreadable {
            key: key.to_string(),
        }),
    }
}

async fn read_text(store: &Store, key: &str) -> Result<Option<String>> {
    Ok(store
        .get_opt(key)
        .await?
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
}

fn to_json_bytes(value: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec_pretty(value).unwrap_or_default())
}

/// Writes `reviews/<seq>-<action>.json` under the next free sequence number.
async fn write_record(
    store: &Store,
    location: &str,
    action: &str,
    mut record: Value,
) -> Result<u32> {
    let mut seq = review_state(store, location).await?.last_seq + 1;
    loop {
        record["seq"] = json!(seq);
        let key = format!("{location}/reviews/{seq:04}-{action}.json");
        if store.put_new(&key, to_json_bytes(&record)).await? == Written::Created {
            return Ok(seq);
        }
        seq += 1;
    }
}

/// Writes `versions/<n>/text.txt` and its `DocumentReference.json` under the next free version number.
async fn write_version(
    store: &Store,
    item: &QueueItem,
    reviewer: &str,
    fields: &BTreeMap<String, String>,
    text: &str,
    appends: Option<u32>,
) -> Result<(u32, Vec<String>)> {
    let location = &item.location;
    let mrn = item.mrn.as_deref().ok_or_else(|| Error::Conflict {
        detail: "document has no patient".to_string(),
    })?;
    let mut version = review_state(store, location).await?.last_version + 1;
    loop {
        let text_key = format!("{location}/versions/{version}/text.txt");
        if store
            .put_new(&text_key, Bytes::from(text.to_string()))
            .await?
            == Written::Created
        {
            let date = now_rfc3339();
            let resource = document_reference(&Reference {
                document_id: &item.document_id,
                version,
                mrn,
                loinc: fields
                    .get("document_type")
                    .map(String::as_str)
                    .filter(|v| !v.is_empty()),
                author: fields.get("author").map(String::as_str),
                reviewer,
                date: &date,
                text,
                appends,
            });
            let reference_key = format!("{location}/versions/{version}/DocumentReference.json");
            store
                .put_new(&reference_key, to_json_bytes(&resource))
                .await?;
            return Ok((version, vec![text_key, reference_key]));
        }
        version += 1;
    }
}

/// The field values extracted by the pipeline, by name.
pub(crate) async fn original_fields(
    store: &Store,
    location: &str,
) -> Result<BTreeMap<String, String>> {
    let manifest = read_json(store, &format!("{location}/document.json")).await?;
    let mut fields = BTreeMap::new();
    if let Some(map) = manifest["fields"].as_object() {
        for (name, field) in map {
            if let Some(value) = field["value"].as_str() {
                fields.insert(name.clone(), value.to_string());
            }
        }
    }
    Ok(fields)
}

/// The text a reviewer should see: the newest approved version, else the newest draft, else the OCR or
/// transcript text.
pub(crate) async fn current_text(store: &Store, location: &str) -> Result<String> {
    let state = review_state(store, location).await?;
    if let Some(edit) = &state.last_edit {
        if let Some(text) = read_json(store, edit).await?["text"].as_str() {
            return Ok(text.to_string());
        }
    }
    if state.last_version > 0 {
        let key = format!("{location}/versions/{}/text.txt", state.last_version);
        if let Some(text) = read_text(store, &key).await? {
            return Ok(text);
        }
    }
    Ok(read_text(store, &format!("{location}/text.txt"))
        .await?
        .unwrap_or_default())
}

/// The field values a reviewer should see: the newest draft's, else the extracted ones.
pub(crate) async fn current_fields(
    store: &Store,
    location: &str,
) -> Result<BTreeMap<String, String>> {
    let state = review_state(store, location).await?;
    if let Some(edit) = &state.last_edit {
        if let Ok(fields) = serde_json::from_value(read_json(store, edit).await?["fields"].clone())
        {
            return Ok(fields);
        }
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

/// Saves a draft of corrected fields and text (`reviews/<seq>-edited.json`). Returns the sequence number
/// and the names of the fields changed.
pub async fn save_edit(
    store: &Store,
    db: &Db,
    document_id: &str,
    reviewer: &str,
    input: &ReviewInput,
) -> Result<(u32, Vec<String>)> {
    let _guard = WRITE_LOCK.lock().await;
    let item = queue::find_document(db, document_id)?;
    let original = original_fields(store, &item.location).await?;
    let fields_changed = changed(&original, &input.fields);
    let record = json!({
        "action": "edited", "document_id": document_id, "reviewer": reviewer, "at": now_rfc3339(),
        "fields": input.fields, "fields_changed": fields_changed, "text": input.text,
    });
    let seq = write_record(store, &item.location, "edited", record).await?;
    Ok((seq, fields_changed))
}

/// Approves a document filed to a patient: writes the approved text as a new version with its FHIR
/// `DocumentReference`, then `reviews/<seq>-approved.json`. A transcript's flagged segments must all be
/// acknowledged.
pub async fn approve(
    store: &Store,
    db: &Db,
    document_id: &str,
    reviewer: &str,
    input: &ReviewInput,
) -> Result<Approval> {
    let _guard = WRITE_LOCK.lock().await;
    let item = queue::find_document(db, document_id)?;
    if item.status != "filed" {
        return Err(Error::Conflict {
            detail: "only documents filed to a patient can be approved".to_string(),
        });
    }
    let transcript = read_json(store, &format!("{}/transcript.json", item.location)).await?;
    let missing: Vec<usize> = transcript_flags(&transcript)
        .into_iter()
        .map(|(index, _)| index)
        .filter(|index| !input.flags_acknowledged.contains(index))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Conflict {
            detail: format!("{} flagged segments are not acknowledged", missing.len()),
        });
    }
    let original = original_fields(store, &item.location).await?;
    let (version, mut keys) =
        write_version(store, &item, reviewer, &input.fields, &input.text, None).await?;
    let record = json!({
        "action": "approved", "document_id": document_id, "reviewer": reviewer, "at": now_rfc3339(),
        "fields": input.fields, "fields_changed": changed(&original, &input.fields),
        "flags_acknowledged": input.flags_acknowledged, "version": version,
    });
    let seq = write_record(store, &item.location, "approved", record).await?;
    keys.push(format!("{}/reviews/{seq:04}-approved.json", item.location));
    queue::set_review_status(db, document_id, "approved")?;
    Ok(Approval { seq, version, keys })
}

/// Returns a document for rework or rejects it, with a reason (`reviews/<seq>-returned.json` or
/// `-rejected.json`).
pub async fn return_document(
    store: &Store,
    db: &Db,
    document_id: &str,
    reviewer: &str,
    kind: ReturnKind,
    reason: &str,
) -> Result<u32> {
    if reason.trim().is_empty() {
        return Err(Error::InvalidInput {
            detail: "a reason is required".to_string(),
        });
    }
    let _guard = WRITE_LOCK.lock().await;
    let item = queue::find_document(db, document_id)?;
    let action = match kind {
        ReturnKind::Return => "returned",
        ReturnKind::Reject => "rejected",
    };
    let record = json!({
        "action": action, "document_id": document_id, "reviewer": reviewer, "at": now_rfc3339(),
        "reason": reason.trim(),
    });
    let seq = write_record(store, &item.location, action, record).await?;
    queue::set_review_status(db, document_id, action)?;
    Ok(seq)
}

/// Adds an addendum to an approved document: a new version holding the approved text followed by the
/// addendum, linked to the version it appends.
pub async fn add_addendum(
    store: &Store,
    db: &Db,
    document_id: &str,
    reviewer: &str,
    addendum: &str,
) -> Result<Approval> {
    if addendum.trim().is_empty() {
        return Err(Error::InvalidInput {
            detail: "an addendum needs text".to_string(),
        });
    }
    let _guard = WRITE_LOCK.lock().await;
    let item = queue::find_document(db, document_id)?;
    let state = review_state(store, &item.location).await?;
    if state.status != "approved" || state.last_version == 0 {
        return Err(Error::Conflict {
            detail: "only approved documents take addenda".to_string(),
        });
    }
    let previous = state.last_version;
    let base = read_text(
        store,
        &format!("{}/versions/{previous}/text.txt", item.location),
    )
    .await?
    .unwrap_or_default();
    let at = now_rfc3339();
    let text = format!(
        "{base}\n\nADDENDUM ({reviewer}, {at}):\n{}\n",
        addendum.trim()
    );
    let fields = current_fields(store, &item.location).await?;
    let (version, mut keys) =
        write_version(store, &item, reviewer, &fields, &text, Some(previous)).await?;
    let record = json!({
        "action": "addendum", "document_id": document_id, "reviewer": reviewer, "at": at,
        "version": version, "supersedes": previous,
    });
    let seq = write_record(store, &item.location, "addendum", record).await?;
    keys.push(format!("{}/reviews/{seq:04}-addendum.json", item.location));
    Ok(Approval { seq, version, keys })
}

/// Whether an MRN can be used as an object-key segment.
fn safe_mrn(mrn: &str) -> bool {
    !mrn.is_empty() && mrn.len() <= 32 && mrn.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Assigns an unmatched document to a patient: copies every object create-only into
/// `patients/<mrn>/<id>/`, then writes the tombstone `unmatched/<id>/moved.json`. Nothing is deleted.
/// Returns the new location.
pub async fn assign_patient(
    store: &Store,
    db: &Db,
    document_id: &str,
    reviewer: &str,
    mrn: &str,
) -> Result<String> {
    let mrn = mrn.trim();
    if !safe_mrn(mrn) {
        return Err(Error::InvalidInput {
            detail: "an MRN is 1 to 32 letters, digits or dashes".to_string(),
        });
    }
    let _guard = WRITE_LOCK.lock().await;
    let item = queue::find_document(db, document_id)?;
    let from = format!("unmatched/{document_id}");
    if item.status != "unmatched" || item.location != from {
        return Err(Error::Conflict {
            detail: "document is not waiting for a patient".to_string(),
        });
    }
    let to = format!("patients/{mrn}/{document_id}");
    let tombstone = format!("{from}/moved.json");
    for key in store.list(&format!("{from}/")).await? {
        if key == tombstone {
            continue;
        }
        let Some(rest) = key.strip_prefix(&format!("{from}/")) else {
            continue;
        };
        let bytes = store.get(&key).await?;
        store.put_new(&format!("{to}/{rest}"), bytes).await?;
    }
    let record = json!({
        "location": to, "mrn": mrn, "document_id": document_id, "by": reviewer, "at": now_rfc3339(),
    });
    if store.put_new(&tombstone, to_json_bytes(&record)).await? == Written::AlreadyExisted {
        let existing = read_json(store, &tombstone).await?;
        if existing["location"].as_str() != Some(to.as_str()) {
            return Err(Error::Conflict {
                detail: "document was assigned to another patient meanwhile".to_string(),
            });
        }
    }
    queue::set_assigned(db, document_id, &to, mrn)?;
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flagged_segments_are_listed_by_index() {
        let transcript = json!({"segments": [
            {"text": "a", "flags": []},
            {"text": "b", "flags": ["text_in_silence"]},
            {"text": "c"},
        ]});
        assert_eq!(
            transcript_flags(&transcript),
            vec![(1, vec!["text_in_silence".to_string()])]
        );
    }

    #[test]
    fn only_key_safe_mrns_are_accepted() {
        assert!(safe_mrn("40079196"));
        assert!(!safe_mrn("../x"));
        assert!(!safe_mrn(""));
    }
}

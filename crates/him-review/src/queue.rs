//! The queue index: one row per document, rebuilt from the store ([`reindex`]) and kept current by pipeline
//! events ([`apply_event`]); reviewers claim rows so that two never work the same document.

use him_extract::Manifest;
use him_queue::EventMessage;
use him_store::{Folder, IndexEntry, Key, Prefix, Store};
use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use crate::db::{now_secs, Db};
use crate::error::{Error, Result};
use crate::review;

/// One document as the queue sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueItem {
    pub document_id: String,
    /// `chart` or `dictation`.
    pub kind: String,
    /// Pipeline status: `filed`, `unmatched`, `rejected`.
    pub status: String,
    pub location: Folder,
    /// When the document's wait started: its submission, else its arrival in the pipeline.
    pub received_at: String,
    /// LOINC code of the document type, when extracted.
    pub document_type: Option<String>,
    pub station: Option<String>,
    pub stat: bool,
    /// Whether something in the document needs a reviewer's special attention (transcript flags, warnings).
    pub risk: bool,
    pub mrn: Option<String>,
    /// `pending`, `approved`, `returned` or `rejected`.
    pub review_status: String,
    pub claimed_by: Option<String>,
    pub claim_expires_at: Option<i64>,
    /// Author of the approved note, as approved.
    pub author: Option<String>,
    /// Whether an approved transcription waits for its author's signature.
    pub awaiting_signature: bool,
}

/// Which documents a queue list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct QueueFilter {
    pub kind: Option<String>,
    pub document_type: Option<String>,
    pub station: Option<String>,
    /// Only risk-flagged documents.
    pub risk: Option<String>,
}

/// The two lists of the queue page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueList {
    /// Filed to a patient, waiting for review.
    PendingReview,
    /// Waiting for a human to assign a patient.
    Unmatched,
    /// Approved, newest first (for addenda, corrections and reassignment).
    Approved,
}

const COLUMNS: &str =
    "document_id, kind, status, location, received_at, document_type, station, stat, risk, mrn,
    review_status, claimed_by, claim_expires_at, author, awaiting_signature";

fn item(row: &Row<'_>) -> rusqlite::Result<QueueItem> {
    let location: String = row.get(3)?;
    let location = Folder::parse(&location).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            rusqlite::types::Type::Text,
            "not a document folder".into(),
        )
    })?;
    Ok(QueueItem {
        document_id: row.get(0)?,
        kind: row.get(1)?,
        status: row.get(2)?,
        location,
        received_at: row.get(4)?,
        document_type: row.get(5)?,
        station: row.get(6)?,
        stat: row.get(7)?,
        risk: row.get(8)?,
        mrn: row.get(9)?,
        review_status: row.get(10)?,
        claimed_by: row.get(11)?,
        claim_expires_at: row.get(12)?,
        author: row.get(13)?,
        awaiting_signature: row.get(14)?,
    })
}

/// The queue row of a document from its index entry, its manifest (absent for a rejected document) and
/// its transcript.
fn describe(
    entry: &IndexEntry,
    location: &Folder,
    manifest: Option<&Manifest>,
    transcript: Option<&him_core::Transcript>,
) -> QueueItem {
    let status = match location {
        Folder::Patient(..) => "filed",
        Folder::Rejected(_) => "rejected",
        _ => "unmatched",
    };
    let job = manifest.map_or(&entry.job, |m| &m.job);
    let received_at = match manifest {
        Some(manifest) => manifest.waiting_since().to_string(),
        None => entry
            .job
            .submitted_at
            .clone()
            .unwrap_or_else(|| entry.filed_at.clone()),
    };
    let fields = manifest.map(|m| &m.fields);
    let risk = manifest.is_some_and(|m| m.needs_review || !m.fields.warnings.is_empty())
        || transcript.is_some_and(|t| !review::transcript_flags(t).is_empty());
    QueueItem {
        document_id: entry.document_id.to_string(),
        kind: manifest.map_or_else(|| "chart".to_string(), |m| m.kind.to_string()),
        status: status.to_string(),
        location: location.clone(),
        received_at,
        document_type: fields
            .and_then(|f| f.document_type.as_ref())
            .map(|f| f.value.clone()),
        station: job.station.clone(),
        stat: job.stat,
        risk,
        mrn: location.mrn().map(|mrn| mrn.as_str().to_string()),
        review_status: "pending".to_string(),
        claimed_by: None,
        claim_expires_at: None,
        author: None,
        awaiting_signature: false,
    }
}

/// Reads one document's state from the store and writes it into the index, keeping live claims.
async fn refresh(store: &Store, db: &Db, entry: &IndexEntry) -> Result<()> {
    // A scanned batch is no document to review: its split-out documents have index entries of their own.
    if matches!(entry.location, Folder::Batch(_)) {
        return Ok(());
    }
    let location = current_location(store, &entry.location).await?;
    let manifest = review::manifest(store, &location).await?;
    let transcript = review::transcript(store, &location).await?;
    let mut row = describe(entry, &location, manifest.as_ref(), transcript.as_ref());
    if row.received_at.is_empty() {
        row.received_at = crate::db::now_rfc3339();
    }
    let state = review::review_state(store, &location).await?;
    row.review_status = state.status.as_str().to_string();
    row.author = state.author().map(str::to_string);
    row.awaiting_signature = state.awaiting_signature();
    upsert(db, &row)
}

/// Most moves one document can have been through before the chain is taken for a loop.
const MAX_MOVES: usize = 32;

/// The tombstone `moved.json` left in a folder a document moved out of (written by `reassign.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tombstone {
    /// Where the document is now.
    pub location: Folder,
    /// The patient it moved to.
    pub mrn: String,
    /// The patient it was filed to before, if any.
    pub from_mrn: Option<String>,
    pub document_id: String,
    /// Who moved it, when and why.
    pub by: String,
    pub at: String,
    pub reason: String,
}

/// Where a document is now: its first folder, or where the tombstones (`moved.json`) lead from there.
pub(crate) async fn current_location(store: &Store, location: &Folder) -> Result<Folder> {
    let mut location = location.clone();
    for _ in 0..MAX_MOVES {
        let Some(moved) = review::read_typed_opt::<Tombstone>(store, &location.moved()).await?
        else {
            return Ok(location);
        };
        if moved.location == location {
            return Ok(location);
        }
        location = moved.location;
    }
    Err(Error::Unreadable {
        key: location.moved().to_string(),
    })
}

fn upsert(db: &Db, row: &QueueItem) -> Result<()> {
    db.lock().execute(
        "INSERT INTO documents (document_id, kind, status, location, received_at, document_type, station, stat,
             risk, mrn, review_status, author, awaiting_signature)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT(document_id) DO UPDATE SET kind = ?2, status = ?3, location = ?4, received_at = ?5,
             document_type = ?6, station = ?7, stat = ?8, risk = ?9, mrn = ?10, review_status = ?11,
             author = ?12, awaiting_signature = ?13",
        params![
            row.document_id,
            row.kind,
            row.status,
            row.location.location(),
            row.received_at,
            row.document_type,
            row.station,
            row.stat,
            row.risk,
            row.mrn,
            row.review_status,
            row.author,
            row.awaiting_signature
        ],
    )?;
    Ok(())
}

/// Rebuilds the queue index from the store: every `index/*.json`, each document's `document.json`, the
/// tombstones of assigned documents and the review records. Returns the number of documents indexed.
pub async fn reindex(store: &Store, db: &Db) -> Result<usize> {
    let mut count = 0;
    for key in store.list(&Prefix::Index).await? {
        let Some(entry) = review::read_typed_opt::<IndexEntry>(store, &key).await? else {
            continue;
        };
        refresh(store, db, &entry).await?;
        count += 1;
    }
    crate::audit::reindex_audit(store, db).await?;
    Ok(count)
}

/// Applies a pipeline event (`document.filed`, `document.unmatched`, `document.rejected`): reads the
/// document's index entry and files from the store and updates its row.
pub async fn apply_event(store: &Store, db: &Db, event: &EventMessage) -> Result<()> {
    let Some(id) = him_core::DocumentId::parse(&event.document_id) else {
        return Err(Error::InvalidInput {
            detail: "event document id is not 32 hex characters".to_string(),
        });
    };
    let key = Key::Index(id);
    let Some(entry) = review::read_typed_opt::<IndexEntry>(store, &key).await? else {
        return Err(Error::Unreadable {
            key: key.to_string(),
        });
    };
    refresh(store, db, &entry).await
}

/// One document's row.
pub fn find_document(db: &Db, document_id: &str) -> Result<QueueItem> {
    db.lock()
        .query_row(
            &format!("SELECT {COLUMNS} FROM documents WHERE document_id = ?1"),
            params![document_id],
            item,
        )
        .optional()?
        .ok_or_else(|| Error::DocumentNotFound {
            document_id: document_id.to_string(),
        })
}

/// A queue list, STAT first, then oldest first.
/// The documents filed under an MRN (as the folder names it; letters, digits and case compared as the
/// index does), oldest first.
pub fn documents_of(db: &Db, mrn: &str) -> Result<Vec<QueueItem>> {
    let key = crate::patients::mrn_key(mrn);
    if key.is_empty() {
        return Ok(Vec::new());
    }
    let connection = db.lock();
    let mut statement = connection.prepare(&format!(
        "SELECT {COLUMNS} FROM documents
          WHERE status = 'filed' AND upper(replace(replace(mrn, '-', ''), ' ', '')) = ?1
          ORDER BY received_at ASC, document_id ASC"
    ))?;
    let rows = statement.query_map(params![key], item)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

pub fn list_queue(db: &Db, list: QueueList, filter: &QueueFilter) -> Result<Vec<QueueItem>> {
    let (base, order) = match list {
        QueueList::PendingReview => (
            "status = 'filed' AND review_status = 'pending'",
            "stat DESC, received_at ASC, document_id ASC",
        ),
        QueueList::Unmatched => (
            "status = 'unmatched' AND review_status = 'pending'",
            "stat DESC, received_at ASC, document_id ASC",
        ),
        QueueList::Approved => (
            "status = 'filed' AND review_status = 'approved'",
            "received_at DESC, document_id ASC LIMIT 50",
        ),
    };
    let some = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
    let risk_only = some(&filter.risk).is_some();
    let connection = db.lock();
    let mut statement = connection.prepare(&format!(
        "SELECT {COLUMNS} FROM documents WHERE {base}
           AND (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR document_type = ?2)
           AND (?3 IS NULL OR station = ?3) AND (?4 = 0 OR risk = 1)
         ORDER BY {order}"
    ))?;
    let rows = statement.query_map(
        params![
            some(&filter.kind),
            some(&filter.document_type),
            some(&filter.station),
            risk_only
        ],
        item,
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Distinct values of a column among documents waiting, for the filter menus.
pub(crate) fn distinct(db: &Db, column: &str) -> Result<Vec<String>> {
    let column = match column {
        "document_type" => "document_type",
        "station" => "station",
        _ => "kind",
    };
    let connection = db.lock();
    let mut statement = connection.prepare(&format!(
        "SELECT DISTINCT {column} FROM documents WHERE {column} IS NOT NULL ORDER BY 1"
    ))?;
    let rows = statement.query_map([], |row| row.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Claims a document for a reviewer, atomically: succeeds when nobody holds it, the same reviewer holds
/// it, or the previous claim expired. Returns whether this reviewer now holds it.
pub fn claim(db: &Db, document_id: &str, reviewer: &str, ttl_minutes: u64) -> Result<bool> {
    let now = now_secs();
    let changed = db.lock().execute(
        "UPDATE documents SET claimed_by = ?2, claim_expires_at = ?3
         WHERE document_id = ?1
           AND (claimed_by IS NULL OR claimed_by = ?2 OR claim_expires_at < ?4)",
        params![document_id, reviewer, now + (ttl_minutes as i64) * 60, now],
    )?;
    Ok(changed == 1)
}

/// Releases a reviewer's claim; a claim held by someone else is left alone.
pub fn release(db: &Db, document_id: &str, reviewer: &str) -> Result<()> {
    db.lock().execute(
        "UPDATE documents SET claimed_by = NULL, claim_expires_at = NULL
         WHERE document_id = ?1 AND claimed_by = ?2",
        params![document_id, reviewer],
    )?;
    Ok(())
}

/// Who holds a live claim on the document, if anyone.
pub(crate) fn claim_holder(item: &QueueItem) -> Option<&str> {
    match (&item.claimed_by, item.claim_expires_at) {
        (Some(who), Some(until)) if until >= now_secs() => Some(who),
        _ => None,
    }
}

/// Records a document's review state in the index and, after a decision, releases the claim.
pub(crate) fn set_review(
    db: &Db,
    document_id: &str,
    state: &review::ReviewState,
    release_claim: bool,
) -> Result<()> {
    let connection = db.lock();
    connection.execute(
        "UPDATE documents SET review_status = ?2, author = ?3, awaiting_signature = ?4 WHERE document_id = ?1",
        params![
            document_id,
            state.status.as_str(),
            state.author(),
            state.awaiting_signature()
        ],
    )?;
    if release_claim {
        connection.execute(
            "UPDATE documents SET claimed_by = NULL, claim_expires_at = NULL WHERE document_id = ?1",
            params![document_id],
        )?;
    }
    Ok(())
}

/// Approved transcriptions waiting for the signature of `author` (compared without titles or punctuation).
pub fn awaiting_signature(db: &Db, author: &str) -> Result<Vec<QueueItem>> {
    let wanted = crate::workflow::normalize_author(author);
    let connection = db.lock();
    let mut statement = connection.prepare(&format!(
        "SELECT {COLUMNS} FROM documents WHERE awaiting_signature = 1 AND review_status = 'approved'
         ORDER BY stat DESC, received_at ASC"
    ))?;
    let rows = statement.query_map([], item)?;
    let mut items = Vec::new();
    for row in rows {
        let row = row?;
        let theirs = row.author.as_deref().map(crate::workflow::normalize_author);
        if !wanted.is_empty() && theirs.as_deref() == Some(wanted.as_str()) {
            items.push(row);
        }
    }
    Ok(items)
}

/// Breaks whatever claim is on a document and gives it to `reviewer` (supervisors). Returns the previous
/// holder, if any.
pub fn break_claim(
    db: &Db,
    document_id: &str,
    reviewer: &str,
    ttl_minutes: u64,
) -> Result<Option<String>> {
    let previous = claim_holder(&find_document(db, document_id)?).map(str::to_string);
    db.lock().execute(
        "UPDATE documents SET claimed_by = ?2, claim_expires_at = ?3 WHERE document_id = ?1",
        params![
            document_id,
            reviewer,
            now_secs() + (ttl_minutes as i64) * 60
        ],
    )?;
    Ok(previous)
}

/// Records that an unmatched document was assigned to a patient.
pub(crate) fn set_assigned(db: &Db, document_id: &str, location: &Folder, mrn: &str) -> Result<()> {
    db.lock().execute(
        "UPDATE documents SET status = 'filed', location = ?2, mrn = ?3, review_status = 'pending'
         WHERE document_id = ?1",
        params![document_id, location.location(), mrn],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, received_at: &str, stat: bool) -> QueueItem {
        QueueItem {
            document_id: id.to_string(),
            kind: "chart".to_string(),
            status: "filed".to_string(),
            location: him_store::Folder::Patient(
                him_core::Mrn::parse("1").unwrap(),
                him_core::DocumentId::for_bytes(id.as_bytes()),
            ),
            received_at: received_at.to_string(),
            document_type: None,
            station: None,
            stat,
            risk: false,
            mrn: Some("1".to_string()),
            review_status: "pending".to_string(),
            claimed_by: None,
            claim_expires_at: None,
            author: None,
            awaiting_signature: false,
        }
    }

    #[test]
    fn stat_comes_first_then_the_oldest() {
        let db = Db::in_memory().unwrap();
        upsert(&db, &row("a", "2024-01-02T00:00:00Z", false)).unwrap();
        upsert(&db, &row("b", "2024-01-01T00:00:00Z", false)).unwrap();
        upsert(&db, &row("c", "2024-01-03T00:00:00Z", true)).unwrap();
        let ids: Vec<_> = list_queue(&db, QueueList::PendingReview, &QueueFilter::default())
            .unwrap()
            .into_iter()
            .map(|item| item.document_id)
            .collect();
        assert_eq!(ids, ["c", "b", "a"]);
    }

    #[test]
    fn a_claim_held_by_another_reviewer_is_refused_until_it_expires() {
        let db = Db::in_memory().unwrap();
        upsert(&db, &row("a", "2024-01-02T00:00:00Z", false)).unwrap();
        assert!(claim(&db, "a", "ana", 30).unwrap());
        assert!(!claim(&db, "a", "bob", 30).unwrap());
        assert!(claim(&db, "a", "ana", 30).unwrap());
        db.lock()
            .execute("UPDATE documents SET claim_expires_at = 0", [])
            .unwrap();
        assert!(claim(&db, "a", "bob", 30).unwrap());
        release(&db, "a", "ana").unwrap();
        assert_eq!(
            find_document(&db, "a").unwrap().claimed_by.as_deref(),
            Some("bob")
        );
    }
}

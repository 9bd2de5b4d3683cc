//! The queue index: one row per document, rebuilt from the store ([`reindex`]) and kept current by pipeline
//! events ([`apply_event`]); reviewers claim rows so that two never work the same document.

use him_extract::Manifest;
use him_queue::EventMessage;
use him_store::{Folder, Follower, IndexEntry, Key, Prefix, Stamp, Store, Stream};
use serde::{Deserialize, Serialize};

use crate::db::{args, now_rfc3339, now_secs, Db, Row, Sql, Value};
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
    /// Patient name as read from the document ("FAMILY, Given"); the patient index's is shown for filed ones.
    pub patient_name: Option<String>,
    /// Date of birth as read from the document (YYYY-MM-DD).
    pub birth_date: Option<String>,
    /// Why an unmatched document did not match (`no_candidate`, `dob_conflict`, …).
    pub unmatched_reason: Option<him_extract::UnmatchedReason>,
    /// Date of service as read from the document (YYYY-MM-DD).
    pub date_of_service: Option<String>,
    /// Discharge date as read from the document (YYYY-MM-DD).
    pub discharge_date: Option<String>,
    /// The turnaround events (RFC 3339): filed by the pipeline, first claimed, first approved (and by whom),
    /// signed by its author.
    pub filed_at: Option<String>,
    pub claimed_at: Option<String>,
    pub approved_at: Option<String>,
    pub approved_by: Option<String>,
    pub signed_at: Option<String>,
    /// The author as read from the document (the dictating physician), before any review.
    pub dictated_by: Option<String>,
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
    /// Search words: MRN, patient name, date of birth (or of service), document id.
    pub q: Option<String>,
    /// `oldest`, `newest`, `patient`, `type` or `station`; the list's own order otherwise.
    pub sort: Option<String>,
    /// Page, from 1.
    pub page: Option<u32>,
    /// Only documents the signed-in user holds a claim on or approved ("my claims").
    pub mine: Option<String>,
    /// The signed-in user, for `mine` (set by the server, never from the query string).
    #[serde(skip)]
    pub me: Option<String>,
    /// MRNs of index patients the search words found; their documents match too (set by the server).
    #[serde(skip)]
    pub mrns: Vec<String>,
}

/// The lists of the queue page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueList {
    /// Filed to a patient, waiting for review.
    PendingReview,
    /// Waiting for a human to assign a patient.
    Unmatched,
    /// Approved, newest first (for addenda, corrections and reassignment).
    Approved,
    /// Returned for rework (rescan, re-dictation), newest first.
    Returned,
    /// Rejected by a reviewer or by the pipeline, newest first.
    Rejected,
}

const COLUMNS: &str =
    "document_id, kind, status, location, received_at, document_type, station, stat, risk, mrn,
    review_status, claimed_by, claim_expires_at, author, awaiting_signature, patient_name, birth_date,
    unmatched_reason, date_of_service, discharge_date, filed_at, claimed_at, approved_at, approved_by,
    signed_at, dictated_by";

fn item(row: &Row) -> Result<QueueItem> {
    let location: String = row.get(3)?;
    let location = Folder::parse(&location).ok_or_else(|| Error::DatabaseValue {
        detail: "location is not a document folder".to_string(),
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
        patient_name: row.get(15)?,
        birth_date: row.get(16)?,
        unmatched_reason: row
            .get::<Option<String>>(17)?
            .as_deref()
            .and_then(him_extract::UnmatchedReason::parse),
        date_of_service: row.get(18)?,
        discharge_date: row.get(19)?,
        filed_at: row.get(20)?,
        claimed_at: row.get(21)?,
        approved_at: row.get(22)?,
        approved_by: row.get(23)?,
        signed_at: row.get(24)?,
        dictated_by: row.get(25)?,
    })
}

fn items(rows: Vec<Row>) -> Result<Vec<QueueItem>> {
    rows.iter().map(item).collect()
}

/// Runs `write` on a document's row and applies the change of its turnaround to the counters
/// ([`crate::summary`]), in the caller's transaction.
fn tracked<T>(
    sql: &mut dyn Sql,
    document_id: &str,
    write: impl FnOnce(&mut dyn Sql) -> Result<T>,
) -> Result<T> {
    let before = crate::summary::timeline_of(sql, document_id)?;
    let out = write(sql)?;
    crate::summary::track(sql, document_id, before.as_ref())?;
    Ok(out)
}

/// Why the pipeline did not match a document (`no_candidate`, `dob_conflict`, …), from its manifest.
pub(crate) fn unmatched_reason(manifest: &Manifest) -> Option<him_extract::UnmatchedReason> {
    match &manifest.matching.as_ref()?.outcome {
        him_extract::MatchOutcome::Unmatched { reason } => Some(*reason),
        him_extract::MatchOutcome::Matched { .. } => None,
    }
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
    let value = |field: Option<&him_extract::Field>| field.map(|f| f.value.clone());
    let patient_name = fields.and_then(|f| {
        match (
            value(f.patient_family.as_ref()),
            value(f.patient_given.as_ref()),
        ) {
            (Some(family), Some(given)) => Some(format!("{family}, {given}")),
            (family, given) => family.or(given),
        }
    });
    let unmatched_reason = manifest.and_then(unmatched_reason);
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
        patient_name,
        birth_date: fields.and_then(|f| value(f.date_of_birth.as_ref())),
        unmatched_reason,
        date_of_service: fields.and_then(|f| value(f.date_of_service.as_ref())),
        discharge_date: fields.and_then(|f| value(f.discharge_date.as_ref())),
        filed_at: Some(entry.filed_at.clone()),
        claimed_at: None,
        approved_at: None,
        approved_by: None,
        signed_at: None,
        // As heard in the speech, else as the dictation device sent it with the job.
        dictated_by: fields
            .and_then(|f| value(f.author.as_ref()))
            .or_else(|| device_author(manifest)),
    }
}

/// The dictating physician the device's job demographics name, when it sent one.
fn device_author(manifest: Option<&Manifest>) -> Option<String> {
    let author = manifest?.demographics.as_ref()?.author.as_deref()?.trim();
    (!author.is_empty()).then(|| author.to_string())
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
    if let Some(first) = state.versions.first() {
        row.approved_at = Some(first.meta.at.clone());
        row.approved_by = Some(first.meta.by.clone());
    }
    row.signed_at = review::signed_at(store, &state).await?;
    upsert(db, &row)
}

/// Most moves one document can have been through before the chain is taken for a loop.
const MAX_MOVES: usize = 32;

/// The tombstone `moved.json` left in a folder a document moved out of (written by `reassign.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// Fields in the order of their names: the JSON is byte for byte what the earlier `serde_json::Value`
/// form wrote.
pub(crate) struct Tombstone {
    /// When it was moved.
    pub at: String,
    /// Who moved it.
    pub by: String,
    pub document_id: String,
    /// The patient it was filed to before, if any.
    pub from_mrn: Option<String>,
    /// Where the document is now.
    pub location: Folder,
    /// The patient it moved to.
    pub mrn: String,
    /// Why.
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
    let row = row.clone();
    db.transaction(move |sql| {
        tracked(sql, &row.document_id, |sql| upsert_row(sql, &row))?;
        write_search_words(sql, &row.document_id)
    })
}

fn upsert_row(sql: &mut dyn Sql, row: &QueueItem) -> Result<()> {
    sql.execute(
        "INSERT INTO documents (document_id, kind, status, location, received_at, document_type, station, stat,
             risk, mrn, review_status, author, awaiting_signature, patient_name, birth_date, unmatched_reason,
             date_of_service, discharge_date, filed_at, approved_at, approved_by, signed_at, dictated_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
             ?21, ?22, ?23)
         ON CONFLICT(document_id) DO UPDATE SET kind = ?2, status = ?3, location = ?4, received_at = ?5,
             document_type = ?6, station = ?7, stat = ?8, risk = ?9, mrn = ?10, review_status = ?11,
             author = ?12, awaiting_signature = ?13, patient_name = ?14, birth_date = ?15,
             unmatched_reason = ?16, date_of_service = ?17, discharge_date = ?18, filed_at = ?19,
             approved_at = ?20, approved_by = ?21, signed_at = ?22, dictated_by = ?23",
        args![
            &row.document_id,
            &row.kind,
            &row.status,
            row.location.location(),
            &row.received_at,
            &row.document_type,
            &row.station,
            row.stat,
            row.risk,
            &row.mrn,
            &row.review_status,
            &row.author,
            row.awaiting_signature,
            &row.patient_name,
            &row.birth_date,
            row.unmatched_reason.map(him_extract::UnmatchedReason::as_str),
            &row.date_of_service,
            &row.discharge_date,
            &row.filed_at,
            &row.approved_at,
            &row.approved_by,
            &row.signed_at,
            &row.dictated_by
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

/// The cursor of the queue index in the journal of filings (`filed/journal/`), kept in the review database.
const FILED_CURSOR: &str = "filed";

/// How long after its filing time a document may still appear in the journal (a slow write, workers'
/// clocks apart): the follower re-lists that window.
pub const FILED_LAG: std::time::Duration = std::time::Duration::from_secs(120);

/// Where the queue index stands in the journal of filings: everything filed before it is indexed. `None`
/// for a database never indexed from the store (or whose index was dropped by a schema change).
pub fn filed_cursor(db: &Db) -> Result<Option<Stamp>> {
    let row = db.query_opt(
        "SELECT position FROM cursors WHERE name = ?1",
        args![FILED_CURSOR],
    )?;
    Ok(match row {
        Some(row) => Stamp::parse(&row.get::<String>(0)?),
        None => None,
    })
}

fn save_filed_cursor(db: &Db, position: Stamp) -> Result<()> {
    db.execute(
        "INSERT INTO cursors (name, position) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET position = excluded.position",
        args![FILED_CURSOR, position.to_string()],
    )?;
    Ok(())
}

/// Rebuilds the queue index from the store when the database has never been indexed, then follows the
/// journal of filings: the returned follower answers only documents filed since. The number of documents
/// indexed by the rebuild (0 when the database had its cursor: a restart costs what was filed meanwhile).
pub async fn catch_up(store: &Store, db: &Db) -> Result<(Follower, usize)> {
    let (mut follower, rebuilt) = match filed_cursor(db)? {
        Some(position) => (Follower::resume(Stream::Filed, FILED_LAG, position), 0),
        None => {
            let (position, count) = rebuild(store, db).await?;
            (Follower::resume(Stream::Filed, FILED_LAG, position), count)
        }
    };
    follow_filed(store, db, &mut follower).await?;
    Ok((follower, rebuilt))
}

/// Rebuilds the queue and audit index from the store ([`reindex`]) and sets the cursor: the journal of
/// filings is read from a window before the rebuild started (what is filed meanwhile may be missed by the
/// listing). The cursor and the number of documents indexed.
pub async fn rebuild(store: &Store, db: &Db) -> Result<(Stamp, usize)> {
    let position = Stamp::now().before(FILED_LAG);
    let count = reindex(store, db).await?;
    save_filed_cursor(db, position)?;
    Ok((position, count))
}

/// Indexes the documents journaled since `follower`'s last poll and saves its position; the number indexed.
/// When one fails the follower stays where it was, and the next call reads them again.
pub async fn follow_filed(store: &Store, db: &Db, follower: &mut Follower) -> Result<usize> {
    let mut next = follower.clone();
    let entries = next.poll(store).await?;
    for entry in &entries {
        let key = Key::Journal(entry.clone());
        let Some(index_entry) = review::read_typed_opt::<IndexEntry>(store, &key).await? else {
            continue;
        };
        refresh(store, db, &index_entry).await?;
    }
    *follower = next;
    if let Some(position) = follower.position() {
        save_filed_cursor(db, position)?;
    }
    Ok(entries.len())
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
    let row = db.query_opt(
        &format!("SELECT {COLUMNS} FROM documents WHERE document_id = ?1"),
        args![document_id],
    )?;
    match row {
        Some(row) => item(&row),
        None => Err(Error::DocumentNotFound {
            document_id: document_id.to_string(),
        }),
    }
}

/// The documents filed under an MRN (as the folder names it; letters, digits and case compared as the
/// index does), oldest first.
pub fn documents_of(db: &Db, mrn: &str) -> Result<Vec<QueueItem>> {
    let key = crate::patients::mrn_key(mrn);
    if key.is_empty() {
        return Ok(Vec::new());
    }
    items(db.query(
        &format!(
            "SELECT {COLUMNS} FROM documents
              WHERE status = 'filed' AND upper(replace(replace(mrn, '-', ''), ' ', '')) = ?1
              ORDER BY received_at ASC, document_id ASC"
        ),
        args![key],
    )?)
}

/// Rows per page of a queue list.
pub const PAGE_SIZE: u32 = 50;

/// One page of a queue list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueuePage {
    pub items: Vec<QueueItem>,
    /// Rows of the whole list.
    pub total: u64,
    /// This page, from 1.
    pub page: u32,
    /// Pages of the whole list (at least 1).
    pub pages: u32,
}

/// A list as SQL: `SELECT … FROM {from} WHERE {condition} ORDER BY {order}`.
struct ListQuery {
    from: String,
    condition: String,
    order: String,
    args: Vec<Value>,
}

/// The `FROM`, `WHERE` and `ORDER BY` of a list, with their arguments.
fn list_query(list: QueueList, filter: &QueueFilter) -> ListQuery {
    let (base, default_order) = match list {
        QueueList::PendingReview => (
            "status = 'filed' AND review_status = 'pending'",
            "stat DESC, received_at ASC, document_id ASC",
        ),
        QueueList::Unmatched => (
            "status = 'unmatched' AND review_status = 'pending'",
            "stat DESC, received_at ASC, document_id ASC",
        ),
        QueueList::Approved => (
            "review_status = 'approved'",
            "received_at DESC, document_id ASC",
        ),
        QueueList::Returned => (
            "review_status = 'returned'",
            "received_at DESC, document_id ASC",
        ),
        QueueList::Rejected => (
            "(review_status = 'rejected' OR status = 'rejected')",
            "received_at DESC, document_id ASC",
        ),
    };
    let mut sql = base.to_string();
    let mut args: Vec<Value> = Vec::new();
    let mut from = "documents".to_string();
    for (column, value) in [
        ("kind", some(&filter.kind)),
        ("document_type", some(&filter.document_type)),
        ("station", some(&filter.station)),
    ] {
        if let Some(value) = value {
            let p = bind(&mut args, value.into());
            sql.push_str(&format!(" AND {column} = {p}"));
        }
    }
    if some(&filter.risk).is_some() {
        sql.push_str(" AND risk = 1");
    }
    if some(&filter.mine).is_some() {
        let me = filter.me.clone().unwrap_or_default();
        let p = bind(&mut args, me.into());
        sql.push_str(&format!(" AND (claimed_by = {p} OR approved_by = {p})"));
    }
    if let Some(q) = some(&filter.q) {
        let mut sets = Vec::new();
        for token in search_terms(&q) {
            sets.push(match token {
                SearchTerm::Date(date) => {
                    let p = bind(&mut args, format!("@{date}").into());
                    format!("SELECT document_id FROM search_words WHERE word = {p}")
                }
                SearchTerm::Id(id) => format!(
                    "SELECT document_id FROM documents WHERE {}",
                    prefix(&mut args, "document_id", &id)
                ),
                SearchTerm::Number(digits) => format!(
                    "SELECT document_id FROM search_words WHERE {}
                     UNION SELECT document_id FROM documents WHERE {}",
                    prefix(&mut args, "word", &format!("#{digits}")),
                    prefix(&mut args, "document_id", &digits.to_ascii_lowercase())
                ),
                SearchTerm::Word(word) => format!(
                    "SELECT document_id FROM search_words WHERE {}",
                    prefix(&mut args, "word", &word)
                ),
            });
        }
        // Every term must match (one set per term, intersected) …
        let mut hits = (!sets.is_empty()).then(|| {
            sets.iter()
                .enumerate()
                .map(|(n, set)| format!("SELECT document_id FROM ({set}) AS term{n}"))
                .collect::<Vec<_>>()
                .join(" INTERSECT ")
        });
        // … or the patients the index finds for the same words (by name and birth date) bring their
        // documents.
        if let Some(terms) = hits.as_mut().filter(|_| !filter.mrns.is_empty()) {
            let keys: Vec<String> = filter
                .mrns
                .iter()
                .map(|mrn| {
                    bind(
                        &mut args,
                        format!("#{}", crate::patients::mrn_key(mrn)).into(),
                    )
                })
                .collect();
            *terms = format!(
                "SELECT document_id FROM ({terms}) AS terms
                 UNION SELECT document_id FROM search_words WHERE word IN ({})",
                keys.join(", ")
            );
        }
        // The documents found drive the query (mostly few; the list may hold every document): read first,
        // then each looked up by its key. Measured on 100,000 documents, PostgreSQL, side by side with
        // `document_id IN (hits)` left to its planner: a name and birth date 20 ms against 10, but a common
        // first-letters prefix (8,300 documents) 93 against 241 and 20 parallel searches' delay of a queue
        // page 19 against 33 ms — the join is kept on both databases.
        if let Some(hits) = hits {
            from = format!(
                "(SELECT DISTINCT document_id AS hit FROM ({hits}) AS found) AS hits CROSS JOIN documents"
            );
            sql.push_str(" AND document_id = hit");
        }
    }
    let order = match filter.sort.as_deref() {
        Some("oldest") => "received_at ASC, document_id ASC",
        Some("newest") => "received_at DESC, document_id ASC",
        Some("patient") => "patient_name ASC, received_at ASC, document_id ASC",
        Some("type") => "document_type ASC, received_at ASC, document_id ASC",
        Some("station") => "station ASC, received_at ASC, document_id ASC",
        _ => default_order,
    };
    ListQuery {
        from,
        condition: sql,
        order: order.to_string(),
        args,
    }
}

/// A filter's value, unless empty.
fn some(value: &Option<String>) -> Option<String> {
    value.clone().filter(|v| !v.trim().is_empty())
}

/// Adds a parameter; its placeholder.
fn bind(args: &mut Vec<Value>, value: Value) -> String {
    args.push(value);
    format!("?{}", args.len())
}

/// `column` begins with `start` (a range of the column's index, not a scan).
fn prefix(args: &mut Vec<Value>, column: &str, start: &str) -> String {
    let low = bind(args, start.into());
    let high = bind(args, format!("{start}{}", char::MAX).into());
    format!("({column} >= {low} AND {column} < {high})")
}

/// One word of a search: a date, a document id, a number (MRN) or a word of a name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SearchTerm {
    Date(String),
    Id(String),
    Number(String),
    Word(String),
}

/// The terms of a search box: dates as YYYY-MM-DD (also read from MM/DD/YYYY), 6 to 32 hex characters with
/// a letter as a document id prefix, digits as an MRN, anything else as a word of a name (lower case).
fn search_terms(q: &str) -> Vec<SearchTerm> {
    q.split(|c: char| c.is_whitespace() || c == ',')
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .take(8)
        .map(|token| {
            if let Some(date) = crate::patients::normalize_date(token) {
                SearchTerm::Date(date)
            } else if (6..=32).contains(&token.len())
                && token.chars().all(|c| c.is_ascii_hexdigit())
                && token.chars().any(|c| c.is_ascii_alphabetic())
            {
                SearchTerm::Id(token.to_ascii_lowercase())
            } else if token.chars().any(|c| c.is_ascii_digit()) {
                SearchTerm::Number(
                    token
                        .chars()
                        .filter(char::is_ascii_alphanumeric)
                        .collect::<String>()
                        .to_ascii_uppercase(),
                )
            } else {
                SearchTerm::Word(name_word(token))
            }
        })
        .collect()
}

/// A whole queue list (every page), in its order.
pub fn list_queue(db: &Db, list: QueueList, filter: &QueueFilter) -> Result<Vec<QueueItem>> {
    let ListQuery {
        from,
        condition,
        order,
        args,
    } = list_query(list, filter);
    db.searching(some(&filter.q).is_some(), || {
        items(db.query(
            &format!("SELECT {COLUMNS} FROM {from} WHERE {condition} ORDER BY {order}"),
            args,
        )?)
    })
}

/// One page ([`PAGE_SIZE`] rows) of a queue list; `filter.page` counts from 1.
pub fn list_page(db: &Db, list: QueueList, filter: &QueueFilter) -> Result<QueuePage> {
    // A search waits for its turn in the search lane, so that clerks' searches leave the database free
    // for the queue pages and claims of everyone else.
    db.searching(some(&filter.q).is_some(), || {
        let query = list_query(list, filter);
        let total = count_rows(db, &query)?;
        let ListQuery {
            from,
            condition,
            order,
            args,
        } = query;
        let pages = u32::try_from(total.div_ceil(u64::from(PAGE_SIZE)))
            .unwrap_or(u32::MAX)
            .max(1);
        let page = filter.page.unwrap_or(1).clamp(1, pages);
        let offset = i64::from(page - 1) * i64::from(PAGE_SIZE);
        let items = items(db.query(
            &format!(
                "SELECT {COLUMNS} FROM {from} WHERE {condition} ORDER BY {order}
                 LIMIT {PAGE_SIZE} OFFSET {offset}"
            ),
            args,
        )?)?;
        Ok(QueuePage {
            items,
            total,
            page,
            pages,
        })
    })
}

/// The first `limit` documents waiting for review, in queue order, on which nobody but `reviewer` holds a
/// live claim: the candidates of approve-and-next.
pub(crate) fn claimable(db: &Db, reviewer: &str, limit: u32) -> Result<Vec<QueueItem>> {
    let ListQuery {
        from,
        condition,
        order,
        mut args,
    } = list_query(QueueList::PendingReview, &QueueFilter::default());
    args.push(reviewer.into());
    let me = args.len();
    args.push(now_secs().into());
    let now = args.len();
    items(db.query(
        &format!(
            "SELECT {COLUMNS} FROM {from} WHERE {condition}
               AND (claimed_by IS NULL OR claimed_by = ?{me} OR claim_expires_at < ?{now})
             ORDER BY {order} LIMIT {limit}"
        ),
        args,
    )?)
}

/// The number of rows of a list.
pub fn count(db: &Db, list: QueueList, filter: &QueueFilter) -> Result<u64> {
    db.searching(some(&filter.q).is_some(), || {
        count_rows(db, &list_query(list, filter))
    })
}

fn count_rows(db: &Db, query: &ListQuery) -> Result<u64> {
    let ListQuery {
        from,
        condition,
        args,
        ..
    } = query;
    let total: i64 = db
        .query_one(
            &format!("SELECT COUNT(*) FROM {from} WHERE {condition}"),
            args.clone(),
        )?
        .get(0)?;
    Ok(u64::try_from(total).unwrap_or(0))
}

/// When the document waiting longest (for review or for a patient) started waiting.
pub(crate) fn oldest_waiting(db: &Db) -> Result<Option<String>> {
    db.query_one(
        "SELECT MIN(received_at) FROM documents
          WHERE status IN ('filed', 'unmatched') AND review_status = 'pending'",
        Vec::new(),
    )?
    .get(0)
}

/// The documents still open — waiting for review, returned, or approved and waiting for a signature —
/// whatever their age: what the backlog and the deficiencies count. Read through indexes, so a request
/// costs the open work, not the history (turnaround is read from counters, [`crate::summary`]).
pub(crate) fn open_documents(db: &Db) -> Result<Vec<QueueItem>> {
    items(db.query(
        &format!(
            "SELECT {COLUMNS} FROM documents WHERE review_status IN ('pending', 'returned')
             UNION
             SELECT {COLUMNS} FROM documents
              WHERE awaiting_signature = 1 AND review_status = 'approved' AND signed_at IS NULL
             ORDER BY 5, 1"
        ),
        Vec::new(),
    )?)
}

/// Distinct values of a column among documents waiting, for the filter menus.
pub(crate) fn distinct(db: &Db, column: &str) -> Result<Vec<String>> {
    let column = match column {
        "document_type" => "document_type",
        "station" => "station",
        _ => "kind",
    };
    db.query(
        &format!("SELECT DISTINCT {column} FROM documents WHERE {column} IS NOT NULL ORDER BY 1"),
        Vec::new(),
    )?
    .iter()
    .map(|row| row.get(0))
    .collect()
}

/// Claims a document for a reviewer, atomically: succeeds when nobody holds it, the same reviewer holds
/// it, or the previous claim expired. Returns whether this reviewer now holds it.
pub fn claim(db: &Db, document_id: &str, reviewer: &str, ttl_minutes: u64) -> Result<bool> {
    let now = now_secs();
    // One statement, atomic on either database: on PostgreSQL a second server's update of the same row
    // waits for this one and then re-checks the condition against the committed claim.
    let changed = db.execute(
        "UPDATE documents SET claimed_by = ?2, claim_expires_at = ?3, claimed_at = COALESCE(claimed_at, ?5)
         WHERE document_id = ?1
           AND (claimed_by IS NULL OR claimed_by = ?2 OR claim_expires_at < ?4)",
        args![
            document_id,
            reviewer,
            now.saturating_add(crate::accounts::minutes_to_secs(ttl_minutes)),
            now,
            now_rfc3339()
        ],
    )?;
    Ok(changed == 1)
}

/// Releases a reviewer's claim; a claim held by someone else is left alone.
pub fn release(db: &Db, document_id: &str, reviewer: &str) -> Result<()> {
    db.execute(
        "UPDATE documents SET claimed_by = NULL, claim_expires_at = NULL
         WHERE document_id = ?1 AND claimed_by = ?2",
        args![document_id, reviewer],
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
    let first = state.versions.first().map(|v| &v.meta);
    let args = args![
        document_id,
        state.status.as_str(),
        state.author(),
        state.awaiting_signature(),
        first.map(|m| m.at.as_str()),
        first.map(|m| m.by.as_str())
    ];
    let id = document_id.to_string();
    db.transaction(move |sql| {
        tracked(sql, &id, |sql| {
            sql.execute(
                "UPDATE documents SET review_status = ?2, author = ?3, awaiting_signature = ?4,
                     approved_at = COALESCE(approved_at, ?5), approved_by = COALESCE(approved_by, ?6),
                     signed_at = CASE WHEN ?4 = CAST(0 AS BIGINT) AND ?2 = 'approved'
                                           AND awaiting_signature = 1
                                      THEN ?7 ELSE signed_at END
                 WHERE document_id = ?1",
                args.into_iter().chain([Value::from(now_rfc3339())]).collect(),
            )
        })?;
        if release_claim {
            sql.execute(
                "UPDATE documents SET claimed_by = NULL, claim_expires_at = NULL WHERE document_id = ?1",
                args![id],
            )?;
        }
        Ok(())
    })
}

/// Approved transcriptions waiting for the signature of `author` (compared without titles or punctuation).
pub fn awaiting_signature(db: &Db, author: &str) -> Result<Vec<QueueItem>> {
    let wanted = crate::workflow::normalize_author(author);
    let rows = items(db.query(
        &format!(
            "SELECT {COLUMNS} FROM documents WHERE awaiting_signature = 1 AND review_status = 'approved'
             ORDER BY stat DESC, received_at ASC"
        ),
        Vec::new(),
    )?)?;
    let mut items = Vec::new();
    for row in rows {
        let theirs = row.author.as_deref().map(crate::workflow::normalize_author);
        if !wanted.is_empty() && theirs.as_deref() == Some(wanted.as_str()) {
            items.push(row);
        }
    }
    Ok(items)
}

/// Dictations of `author` (as dictated, compared without titles or punctuation) that HIM returned to them,
/// newest first: "returned to me".
pub fn returned_to(db: &Db, author: &str) -> Result<Vec<QueueItem>> {
    let wanted = crate::workflow::normalize_author(author);
    let rows = items(db.query(
        &format!(
            "SELECT {COLUMNS} FROM documents WHERE review_status = 'returned' AND kind = 'dictation'
             ORDER BY received_at DESC, document_id ASC"
        ),
        Vec::new(),
    )?)?;
    Ok(rows
        .into_iter()
        .filter(|row| {
            let theirs = row
                .dictated_by
                .as_deref()
                .map(crate::workflow::normalize_author);
            !wanted.is_empty() && theirs.as_deref() == Some(wanted.as_str())
        })
        .collect())
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
    db.execute(
        "UPDATE documents SET claimed_by = ?2, claim_expires_at = ?3, claimed_at = COALESCE(claimed_at, ?4)
         WHERE document_id = ?1",
        args![
            document_id,
            reviewer,
            now_secs().saturating_add(crate::accounts::minutes_to_secs(ttl_minutes)),
            now_rfc3339()
        ],
    )?;
    Ok(previous)
}

/// Records that an unmatched document was assigned to a patient.
pub(crate) fn set_assigned(db: &Db, document_id: &str, location: &Folder, mrn: &str) -> Result<()> {
    let (document_id, location, mrn) = (
        document_id.to_string(),
        location.location().to_string(),
        mrn.to_string(),
    );
    db.transaction(move |sql| {
        tracked(sql, &document_id, |sql| {
            sql.execute(
                "UPDATE documents SET status = 'filed', location = ?2, mrn = ?3, review_status = 'pending',
                     unmatched_reason = NULL
                 WHERE document_id = ?1",
                args![&document_id, &location, &mrn],
            )
        })?;
        write_search_words(sql, &document_id)
    })
}

/// The words a search box finds a document by, so that a search reads an index instead of every row: each
/// word of the patient's name in lower case (a hyphenated or apostrophised name also by its parts), the
/// MRN's letters and digits as `#<KEY>`, the birth date and date of service as `@YYYY-MM-DD`. A word typed
/// in the box finds the words it begins.
pub(crate) fn search_words(
    patient_name: Option<&str>,
    mrn: Option<&str>,
    dates: [Option<&str>; 2],
) -> std::collections::BTreeSet<String> {
    let mut words = std::collections::BTreeSet::new();
    for token in patient_name
        .unwrap_or_default()
        .split(|c: char| c.is_whitespace() || c == ',')
    {
        let word = name_word(token);
        if word.is_empty() {
            continue;
        }
        for part in word.split(['-', '\'']).filter(|part| !part.is_empty()) {
            words.insert(part.to_string());
        }
        words.insert(word);
    }
    if let Some(key) = mrn.map(crate::patients::mrn_key).filter(|k| !k.is_empty()) {
        words.insert(format!("#{key}"));
    }
    for date in dates.into_iter().flatten().map(str::trim) {
        if !date.is_empty() {
            words.insert(format!("@{date}"));
        }
    }
    words
}

/// A word of a name as searched: letters, digits, `'` and `-`, in lower case.
fn name_word(token: &str) -> String {
    token
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '\'' | '-'))
        .collect::<String>()
        .to_lowercase()
        .replace(['%', '_'], "")
}

/// Rewrites one document's search words from its row.
fn write_search_words(sql: &mut dyn Sql, document_id: &str) -> Result<()> {
    sql.execute(
        "DELETE FROM search_words WHERE document_id = ?1",
        args![document_id],
    )?;
    let Some(row) = sql.query_opt(
        "SELECT patient_name, mrn, birth_date, date_of_service FROM documents WHERE document_id = ?1",
        args![document_id],
    )?
    else {
        return Ok(());
    };
    insert_search_words(sql, document_id, &row)
}

/// Inserts the words of `row` (`patient_name, mrn, birth_date, date_of_service`).
fn insert_search_words(sql: &mut dyn Sql, document_id: &str, row: &Row) -> Result<()> {
    let pairs = row_words(row)?
        .into_iter()
        .map(|word| (word, document_id.to_string()))
        .collect::<Vec<_>>();
    insert_word_pairs(sql, &pairs)
}

/// The search words of a row (`patient_name, mrn, birth_date, date_of_service`, …).
fn row_words(row: &Row) -> Result<std::collections::BTreeSet<String>> {
    let (name, mrn, birth, service): (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    ) = (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
    Ok(search_words(
        name.as_deref(),
        mrn.as_deref(),
        [birth.as_deref(), service.as_deref()],
    ))
}

/// Inserts `(word, document_id)` pairs, a few hundred per statement.
fn insert_word_pairs(sql: &mut dyn Sql, pairs: &[(String, String)]) -> Result<()> {
    for chunk in pairs.chunks(400) {
        let mut args = Vec::with_capacity(chunk.len() * 2);
        let mut values = Vec::with_capacity(chunk.len());
        for (word, document_id) in chunk {
            let w = bind(&mut args, word.as_str().into());
            let d = bind(&mut args, document_id.as_str().into());
            values.push(format!("({w}, {d})"));
        }
        sql.execute(
            &format!(
                "INSERT INTO search_words (word, document_id) VALUES {} ON CONFLICT DO NOTHING",
                values.join(", ")
            ),
            args,
        )?;
    }
    Ok(())
}

/// Gives every document of the queue index its search words (a database kept by an earlier release, or a
/// tool that wrote rows directly); the number of documents.
pub(crate) fn index_all_search_words(sql: &mut dyn Sql) -> Result<usize> {
    sql.execute("DELETE FROM search_words", Vec::new())?;
    let rows = sql.query(
        "SELECT patient_name, mrn, birth_date, date_of_service, document_id FROM documents",
        Vec::new(),
    )?;
    let mut pairs = Vec::new();
    for row in &rows {
        let document_id: String = row.get(4)?;
        for word in row_words(row)? {
            pairs.push((word, document_id.clone()));
        }
        if pairs.len() >= 4_000 {
            insert_word_pairs(sql, &pairs)?;
            pairs.clear();
        }
    }
    insert_word_pairs(sql, &pairs)?;
    Ok(rows.len())
}

/// Rebuilds the search words of every document; for tools that write the queue index directly (the
/// history bench). The number of documents.
#[doc(hidden)]
pub fn reindex_search_words(db: &Db) -> Result<usize> {
    db.transaction(index_all_search_words)
}

/// [`upsert`], for tests of what is derived from the rows.
#[cfg(test)]
pub(crate) fn upsert_for_test(db: &Db, row: &QueueItem) -> Result<()> {
    upsert(db, row)
}

/// A filed chart waiting for review, for tests.
#[cfg(test)]
pub(crate) fn pending_chart(id: &str, mrn: &str, received_at: &str, stat: bool) -> QueueItem {
    QueueItem {
        document_id: id.to_string(),
        kind: "chart".to_string(),
        status: "filed".to_string(),
        location: him_store::Folder::Patient(
            him_core::Mrn::parse(mrn).unwrap(),
            him_core::DocumentId::for_bytes(id.as_bytes()),
        ),
        received_at: received_at.to_string(),
        document_type: None,
        station: None,
        stat,
        risk: false,
        mrn: Some(mrn.to_string()),
        review_status: "pending".to_string(),
        claimed_by: None,
        claim_expires_at: None,
        author: None,
        awaiting_signature: false,
        patient_name: None,
        birth_date: None,
        unmatched_reason: None,
        date_of_service: None,
        discharge_date: None,
        filed_at: None,
        claimed_at: None,
        approved_at: None,
        approved_by: None,
        signed_at: None,
        dictated_by: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, received_at: &str, stat: bool) -> QueueItem {
        pending_chart(id, "1", received_at, stat)
    }

    #[test]
    fn a_dictation_whose_author_came_with_the_job_is_charged_to_that_author() {
        // Regression: the deficiency report said "(unknown)" when the speech named no author but the
        // device's job demographics did.
        use him_core::{
            DocumentManifest, EngineVersions, JobContext, JobDemographics, Kind, Status,
        };
        let id = him_core::DocumentId::for_bytes(b"dictation");
        let folder = Folder::Patient(him_core::Mrn::parse("4081121").unwrap(), id.clone());
        let job = JobContext::default();
        let manifest: Manifest = DocumentManifest {
            schema: Manifest::SCHEMA,
            document_id: id.clone(),
            sha256: him_core::Sha256::of(b"dictation"),
            sha1: None,
            kind: Kind::Dictation,
            media_type: "audio/wav".to_string(),
            bytes: 9,
            received_at: "2026-11-30T10:00:00.000Z".to_string(),
            job: job.clone(),
            status: Status::Filed,
            reason: None,
            page_count: 0,
            pages: Vec::new(),
            engines: EngineVersions::default(),
            fields: him_extract::Fields::default(),
            patient: None,
            matching: None,
            demographics: Some(JobDemographics {
                author: Some(" Dr. Rosa Diaz ".to_string()),
                ..JobDemographics::default()
            }),
            batch: None,
            duration_ms: Some(30_000),
            risk_flags: Vec::new(),
            needs_review: false,
        };
        let entry = IndexEntry {
            document_id: id.clone(),
            sha256: him_core::Sha256::of(b"dictation"),
            status: Status::Filed,
            location: folder.clone(),
            filed_at: "2026-11-30T10:00:01.000Z".to_string(),
            job,
        };
        let item = describe(&entry, &folder, Some(&manifest), None);
        assert_eq!(item.dictated_by.as_deref(), Some("Dr. Rosa Diaz"));
        let timeline = crate::clocks::Timeline::of(&item);
        let open = crate::clocks::deficiencies(
            &[timeline],
            &crate::clocks::DeficiencyRules::default(),
            chrono::NaiveDate::from_ymd_opt(2026, 12, 7).unwrap(),
        );
        assert_eq!(open.len(), 1, "a pending dictation is unreviewed");
        assert_eq!(open[0].physician, "Dr. Rosa Diaz");
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

    /// A search finds documents by the first letters of any word of the patient's name (a double surname
    /// by either part), by the MRN's first digits, by birth date or date of service, and by document id;
    /// a chart assigned to a patient is found by its new MRN; a database kept by an earlier release gets
    /// its words when opened.
    #[test]
    fn searches_read_the_words_of_names_mrns_and_dates() {
        let db = Db::in_memory().unwrap();
        let mut chart = pending_chart("f00d01", "40158388", "2024-01-02T00:00:00Z", false);
        chart.patient_name = Some("García-López, María José".to_string());
        chart.birth_date = Some("1980-03-12".to_string());
        chart.date_of_service = Some("2024-01-01".to_string());
        upsert(&db, &chart).unwrap();
        let mut other = pending_chart("beef02", "40150000", "2024-01-03T00:00:00Z", false);
        other.patient_name = Some("Lopez, Ann".to_string());
        upsert(&db, &other).unwrap();
        let found = |q: &str| -> Vec<String> {
            let filter = QueueFilter {
                q: Some(q.to_string()),
                ..QueueFilter::default()
            };
            let page = list_page(&db, QueueList::PendingReview, &filter).unwrap();
            assert_eq!(page.total as usize, page.items.len());
            page.items
                .into_iter()
                .map(|item| item.document_id)
                .collect()
        };
        assert_eq!(found("lópez"), ["f00d01"]);
        assert_eq!(found("lopez"), ["beef02"]);
        assert_eq!(found("GARC maría"), ["f00d01"]);
        assert_eq!(found("garcía-lópez 03/12/1980"), ["f00d01"]);
        assert_eq!(found("2024-01-01"), ["f00d01"]);
        assert_eq!(found("4015"), ["f00d01", "beef02"]);
        assert_eq!(found("40158"), ["f00d01"]);
        assert_eq!(found("beef02"), ["beef02"]);
        assert!(found("maría 1999-01-01").is_empty());
        assert!(
            found("arcia").is_empty(),
            "a word is found by its beginning"
        );

        let folder = him_store::Folder::Patient(
            him_core::Mrn::parse("47000001").unwrap(),
            him_core::DocumentId::for_bytes(b"beef02"),
        );
        set_assigned(&db, "beef02", &folder, "47000001").unwrap();
        assert_eq!(found("47000001"), ["beef02"]);
        assert!(found("40150000").is_empty());

        // An older release's database: the documents but no words.
        db.execute("DELETE FROM search_words", Vec::new()).unwrap();
        assert!(found("lopez").is_empty());
        db.transaction(|sql| {
            sql.execute("DROP TABLE search_words", Vec::new())?;
            crate::db::migrate_for_test(sql)
        })
        .unwrap();
        assert_eq!(found("lopez"), ["beef02"]);
    }

    #[test]
    fn search_words_are_dates_ids_numbers_or_names() {
        assert_eq!(
            search_terms("Smith, 03/12/1980 40158388 f1379b7e O'Neil"),
            vec![
                SearchTerm::Word("smith".to_string()),
                SearchTerm::Date("1980-03-12".to_string()),
                SearchTerm::Number("40158388".to_string()),
                SearchTerm::Id("f1379b7e".to_string()),
                SearchTerm::Word("o'neil".to_string()),
            ]
        );
        // LIKE wildcards typed into the box match themselves away, not everything.
        assert_eq!(search_terms("%_%"), vec![SearchTerm::Word(String::new())]);
        assert_eq!(
            search_terms("2024-02-30"),
            vec![SearchTerm::Number("20240230".to_string())]
        );
    }

    #[test]
    fn lists_page_by_fifty_and_narrow_to_my_claims() {
        let db = Db::in_memory().unwrap();
        for n in 0..55 {
            upsert(
                &db,
                &row(
                    &format!("d{n:02}"),
                    &format!("2024-01-01T00:{n:02}:00Z"),
                    false,
                ),
            )
            .unwrap();
        }
        let mut filter = QueueFilter::default();
        let first = list_page(&db, QueueList::PendingReview, &filter).unwrap();
        assert_eq!((first.total, first.pages, first.items.len()), (55, 2, 50));
        assert_eq!(first.items[0].document_id, "d00");
        filter.page = Some(2);
        let second = list_page(&db, QueueList::PendingReview, &filter).unwrap();
        assert_eq!(second.items.len(), 5);
        assert_eq!(second.items[0].document_id, "d50");
        // A page past the end shows the last one.
        filter.page = Some(9);
        assert_eq!(
            list_page(&db, QueueList::PendingReview, &filter)
                .unwrap()
                .page,
            2
        );
        assert!(claim(&db, "d07", "ana", 30).unwrap());
        let mine = QueueFilter {
            mine: Some("1".to_string()),
            me: Some("ana".to_string()),
            ..QueueFilter::default()
        };
        let ids: Vec<_> = list_queue(&db, QueueList::PendingReview, &mine)
            .unwrap()
            .into_iter()
            .map(|item| item.document_id)
            .collect();
        assert_eq!(ids, ["d07"]);
        let newest = QueueFilter {
            sort: Some("newest".to_string()),
            ..QueueFilter::default()
        };
        assert_eq!(
            list_queue(&db, QueueList::PendingReview, &newest).unwrap()[0].document_id,
            "d54"
        );
    }

    #[test]
    fn a_claim_held_by_another_reviewer_is_refused_until_it_expires() {
        let db = Db::in_memory().unwrap();
        upsert(&db, &row("a", "2024-01-02T00:00:00Z", false)).unwrap();
        assert!(claim(&db, "a", "ana", 30).unwrap());
        assert!(!claim(&db, "a", "bob", 30).unwrap());
        assert!(claim(&db, "a", "ana", 30).unwrap());
        db.execute("UPDATE documents SET claim_expires_at = 0", Vec::new())
            .unwrap();
        assert!(claim(&db, "a", "bob", 30).unwrap());
        release(&db, "a", "ana").unwrap();
        assert_eq!(
            find_document(&db, "a").unwrap().claimed_by.as_deref(),
            Some("bob")
        );
    }
}

//! The patient index as it changes: the hospital's export (`[patients] index`) plus the changes received
//! over ADT (`him adt`), each one create-only record `mpi/changes/<id>.json` in the store (one per message:
//! a duplicate is a no-op) and an entry of the journal `mpi/journal/` in the order received. Workers, the
//! review server and the deliverer hold a [`LiveIndex`] that follows the journal every few seconds — no
//! restart — reading only what is new and folding it into the index it has.
//!
//! A merge (A40) leaves both patients' documents where they are: it is a record. From then on the merged
//! MRN finds the survivor (new documents naming it file to the survivor), and the survivor's documents
//! include the merged patient's. An unmerge record reverses it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use him_extract::{Date, PatientIndex, PatientRecord};
use him_store::{Entry, Follower, Journaled, Key, Prefix, Stamp, Store, Stream, Written};

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong with the patient index.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The record store failed.
    #[error("record store failed")]
    Store {
        #[from]
        source: him_store::Error,
    },
    /// A change a caller gave is not acceptable (an id that cannot name a key).
    #[error("invalid input: {detail}")]
    InvalidInput { detail: String },
    /// The store holds changes written before their journal existed: `him migrate` must run first.
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

/// The MRN as the index compares it: letters and digits only, upper case.
pub fn mrn_key(mrn: &str) -> String {
    mrn.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// A patient as an ADT message describes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientRow {
    pub mrn: String,
    pub family: String,
    pub given: Vec<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
}

impl PatientRow {
    fn record(&self) -> PatientRecord {
        PatientRecord {
            mrn: self.mrn.clone(),
            family: self.family.clone(),
            given: self.given.clone(),
            birth_date: self.birth_date.as_deref().and_then(Date::parse_iso),
            sex: self.sex.clone(),
            fhir_id: None,
        }
    }
}

/// One change of the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum MpiChange {
    /// A patient added or updated (A01, A04, A08, A28, A31), with the encounter (visit) number of the
    /// message (PV1-19) when it names one: from then on that encounter is this patient's
    /// ([`PatientIndex::encounter_mrn`]).
    Upsert {
        patient: PatientRow,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encounter: Option<String>,
    },
    /// `merged` is the same person as `survivor` (A40): its MRN finds the survivor from now on.
    Merge { survivor: String, merged: String },
    /// A merge undone.
    Unmerge { survivor: String, merged: String },
    /// The patient's MRN changed from `from` to `to` (A47); `from` finds them still.
    ChangeId { from: String, to: String },
}

/// `mpi/changes/<id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// SHA-256 (32 hex digits) of the sender and the message control id: one record per message.
    pub id: String,
    pub received_at: String,
    /// MSH-3^MSH-4 of the sender.
    pub sender: String,
    pub control_id: String,
    /// `ADT^A40` …
    pub message_type: String,
    #[serde(flatten)]
    pub change: MpiChange,
}

impl ChangeRecord {
    pub fn key(&self) -> Option<Key> {
        Key::mpi_change(&self.id)
    }
}

/// How long after its receipt time a change may still become visible in the journal (a slow write, two
/// `him adt` instances' clocks apart): followers re-list that window.
pub const JOURNAL_LAG: Duration = Duration::from_secs(120);

/// The changes: `mpi/changes/<id>.json` (one per message) and `mpi/journal/` (in the order received).
/// `mpi/journal-migrated.json` marks a store whose every change has its entry.
fn journaled() -> Journaled {
    Journaled {
        stream: Stream::Mpi,
        records: Prefix::MpiChanges,
    }
}

/// The journal entry of a change as stored: named by its receipt time (the Unix epoch for a record whose
/// time does not read, so that its name is the same on every retry).
fn entry_of(bytes: &[u8]) -> Option<Entry> {
    let change = serde_json::from_slice::<ChangeRecord>(bytes).ok()?;
    let stamp =
        Stamp::parse(&change.received_at).or_else(|| Stamp::parse("1970-01-01T00:00:00Z"))?;
    Entry::new(Stream::Mpi, stamp, &change.id)
}

/// Writes a change create-only, with its journal entry. `AlreadyExisted`: the same message was received
/// before (a duplicate).
pub async fn record_change(store: &Store, change: &ChangeRecord) -> Result<Written> {
    let key = change.key().ok_or_else(|| crate::Error::InvalidInput {
        detail: "change id".to_string(),
    })?;
    let bytes = Bytes::from(serde_json::to_vec_pretty(change).unwrap_or_default());
    Ok(journaled().record(store, &key, bytes, entry_of).await?)
}

/// Refuses a store whose changes were recorded before the journal existed and not yet migrated: a reader
/// following the journal would miss them, merges among them.
pub async fn ensure_journaled(store: &Store) -> Result<()> {
    if journaled().ready(store).await? {
        Ok(())
    } else {
        Err(crate::Error::NeedsMigration {
            what: "patient index changes",
        })
    }
}

/// Gives every change of `mpi/changes/` its journal entry; the number written (`him migrate`).
pub async fn migrate(store: &Store) -> Result<usize> {
    Ok(journaled().migrate(store, entry_of).await?)
}

/// Every change in the store, in the order received.
pub async fn changes(store: &Store) -> Result<Vec<ChangeRecord>> {
    let mut changes = Vec::new();
    for key in store.list(&Prefix::MpiChanges).await? {
        let bytes = store.get(&key).await?;
        match serde_json::from_slice::<ChangeRecord>(&bytes) {
            Ok(change) => changes.push(change),
            Err(_) => tracing::warn!(key = %key, "unreadable patient index change skipped"),
        }
    }
    changes.sort_by(|a, b| (&a.received_at, &a.id).cmp(&(&b.received_at, &b.id)));
    Ok(changes)
}

/// The index after `changes`: records keyed by MRN, upserts replace, a merge removes the merged record and
/// points its MRN at the survivor, an unmerge restores it, an identifier change renames. An upsert's
/// encounter links that visit number to its MRN (the last link of a number wins); the link is kept by MRN,
/// so it follows the patient through the merges and renames, like any other lookup of that MRN.
pub fn apply(base: &PatientIndex, changes: &[ChangeRecord]) -> (PatientIndex, Merges) {
    let mut fold = Fold::new(base);
    for change in changes {
        fold.apply(change);
    }
    fold.index(base)
}

/// The changes so far, folded: what [`apply`] builds the index from. A new change is folded in without
/// replaying the ones before it.
#[derive(Debug, Clone, Default)]
struct Fold {
    records: BTreeMap<String, PatientRecord>,
    /// Merged MRN key → (survivor MRN, the merged patient's record as it was).
    merged: HashMap<String, (String, Option<PatientRecord>)>,
    renamed: HashMap<String, String>,
    /// Visit number → MRN.
    encounters: HashMap<String, String>,
    /// MRN keys whose record the changes added, replaced or removed: what a snapshot saves.
    touched: BTreeSet<String>,
}

impl Fold {
    fn new(base: &PatientIndex) -> Self {
        let mut fold = Fold::default();
        for record in base.records() {
            fold.records.insert(mrn_key(&record.mrn), record.clone());
        }
        fold
    }

    fn apply(&mut self, change: &ChangeRecord) {
        match &change.change {
            MpiChange::Upsert { patient, encounter } => {
                if let Some(encounter) = encounter {
                    self.encounters
                        .insert(encounter.clone(), patient.mrn.clone());
                }
                let key = mrn_key(&patient.mrn);
                let mut record = patient.record();
                // An update without a FHIR id keeps the export's.
                if let Some(old) = self.records.get(&key) {
                    record.fhir_id = old.fhir_id.clone();
                }
                if !self.merged.contains_key(&key) {
                    self.touched.insert(key.clone());
                    self.records.insert(key, record);
                }
            }
            MpiChange::Merge {
                survivor,
                merged: old,
            } => {
                let key = mrn_key(old);
                // The same merge again (an ADT message announced twice) changes nothing.
                let again = self
                    .merged
                    .get(&key)
                    .is_some_and(|(to, _)| mrn_key(to) == mrn_key(survivor));
                if key == mrn_key(survivor) || again {
                    return;
                }
                let removed = self.records.remove(&key);
                self.touched.insert(key.clone());
                self.merged.insert(key, (survivor.clone(), removed));
            }
            MpiChange::Unmerge { merged: old, .. } => {
                let key = mrn_key(old);
                if let Some((_, Some(record))) = self.merged.remove(&key) {
                    self.touched.insert(key.clone());
                    self.records.insert(key, record);
                }
            }
            MpiChange::ChangeId { from, to } => {
                let key = mrn_key(from);
                if let Some(mut record) = self.records.remove(&key) {
                    record.mrn = to.clone();
                    self.touched.insert(key.clone());
                    self.touched.insert(mrn_key(to));
                    self.records.insert(mrn_key(to), record);
                    self.renamed.insert(key, to.clone());
                }
            }
        }
    }

    fn index(&self, base: &PatientIndex) -> (PatientIndex, Merges) {
        let mut index =
            PatientIndex::new(base.check_digit()).with_leading_zeros(base.leading_zeros());
        for record in self.records.values() {
            if index.insert(record.clone(), 0).is_err() {
                tracing::warn!("a patient index change names an MRN the index refuses; skipped");
            }
        }
        let mut merges = Merges::default();
        for (key, (survivor, _)) in &self.merged {
            // A chain of merges ends at the last survivor.
            let mut target = survivor.clone();
            for _ in 0..16 {
                match self.merged.get(&mrn_key(&target)) {
                    Some((next, _)) => target = next.clone(),
                    None => break,
                }
            }
            index.alias(key, &target);
            merges
                .into
                .entry(mrn_key(&target))
                .or_default()
                .push(key.clone());
        }
        for (key, to) in &self.renamed {
            index.alias(key, to);
            merges
                .into
                .entry(mrn_key(to))
                .or_default()
                .push(key.clone());
        }
        for list in merges.into.values_mut() {
            list.sort();
        }
        for (encounter, mrn) in &self.encounters {
            index.link_encounter(encounter, mrn);
        }
        (index, merges)
    }
}

/// A record as a snapshot saves it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedRecord {
    mrn: String,
    family: String,
    given: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    birth_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fhir_id: Option<String>,
}

impl SavedRecord {
    fn of(record: &PatientRecord) -> Self {
        SavedRecord {
            mrn: record.mrn.clone(),
            family: record.family.clone(),
            given: record.given.clone(),
            birth_date: record.birth_date.map(|date| date.to_string()),
            sex: record.sex.clone(),
            fhir_id: record.fhir_id.clone(),
        }
    }

    fn record(self) -> PatientRecord {
        PatientRecord {
            mrn: self.mrn,
            family: self.family,
            given: self.given,
            birth_date: self.birth_date.as_deref().and_then(Date::parse_iso),
            sex: self.sex,
            fhir_id: self.fhir_id,
        }
    }
}

/// The changes folded up to a journal position, saved once a day (`mpi/snapshots/<yyyy>/<mm>/<dd>.json`) as
/// what they changed in the export: a live index starts from the latest one and reads only the changes
/// journaled since, so its start-up costs what changed recently, not every change ever received. A snapshot
/// holds the patients that ADT messages added or changed (PHI, like the changes themselves).
#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    /// The export the changes were folded over ([`base_fingerprint`]): another export starts from scratch.
    base: String,
    /// The journal position: every change stamped before it is folded in (some after it may be too: they
    /// are folded again, which changes nothing).
    position: String,
    /// How many changes were folded in.
    changes: usize,
    /// Records the changes added or replaced.
    records: Vec<SavedRecord>,
    /// MRN keys of the export's records that the changes removed (merged away, renamed).
    removed: Vec<String>,
    /// Merged MRN key, survivor MRN, the merged record as it was.
    merged: Vec<(String, String, Option<SavedRecord>)>,
    /// Old MRN key → new MRN.
    renamed: Vec<(String, String)>,
    /// Visit number → MRN.
    encounters: Vec<(String, String)>,
}

/// How many days back a live index looks for a snapshot before reading every change.
const SNAPSHOT_DAYS: u64 = 7;

/// A digest of the export (its records and MRN rules), so that a snapshot is used only over the same one.
fn base_fingerprint(base: &PatientIndex) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(format!(
        "{:?}|{:?}\n",
        base.check_digit(),
        base.leading_zeros()
    ));
    for record in base.records() {
        let line = serde_json::to_string(&SavedRecord::of(record)).unwrap_or_default();
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl Fold {
    fn snapshot(&self, base: &str, position: Stamp, changes: usize) -> Snapshot {
        let mut records = Vec::new();
        let mut removed = Vec::new();
        for key in &self.touched {
            match self.records.get(key) {
                Some(record) => records.push(SavedRecord::of(record)),
                None => removed.push(key.clone()),
            }
        }
        let mut merged: Vec<_> = self
            .merged
            .iter()
            .map(|(key, (survivor, record))| {
                (
                    key.clone(),
                    survivor.clone(),
                    record.as_ref().map(SavedRecord::of),
                )
            })
            .collect();
        merged.sort_by(|a, b| a.0.cmp(&b.0));
        let mut renamed: Vec<_> = self.renamed.clone().into_iter().collect();
        renamed.sort();
        let mut encounters: Vec<_> = self.encounters.clone().into_iter().collect();
        encounters.sort();
        Snapshot {
            base: base.to_string(),
            position: position.to_string(),
            changes,
            records,
            removed,
            merged,
            renamed,
            encounters,
        }
    }

    /// The export with a snapshot's changes.
    fn restore(base: &PatientIndex, snapshot: Snapshot) -> Self {
        let mut fold = Fold::new(base);
        for key in snapshot.removed {
            fold.records.remove(&key);
            fold.touched.insert(key);
        }
        for saved in snapshot.records {
            let record = saved.record();
            let key = mrn_key(&record.mrn);
            fold.touched.insert(key.clone());
            fold.records.insert(key, record);
        }
        for (key, survivor, record) in snapshot.merged {
            fold.merged
                .insert(key, (survivor, record.map(SavedRecord::record)));
        }
        fold.renamed = snapshot.renamed.into_iter().collect();
        fold.encounters = snapshot.encounters.into_iter().collect();
        fold
    }
}

/// Which MRNs were merged into (or renamed to) which.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Merges {
    /// Survivor MRN key → merged MRN keys.
    into: HashMap<String, Vec<String>>,
}

impl Merges {
    /// The MRNs (as keys: letters and digits, upper-case) whose documents belong to `mrn`'s patient.
    pub fn merged_into(&self, mrn: &str) -> Vec<String> {
        self.into.get(&mrn_key(mrn)).cloned().unwrap_or_default()
    }

    /// Whether `merged` was merged into (or renamed to) `survivor`'s MRN.
    pub fn is_merged(&self, survivor: &str, merged: &str) -> bool {
        self.into
            .get(&mrn_key(survivor))
            .is_some_and(|keys| keys.contains(&mrn_key(merged)))
    }
}

struct Current {
    changes: usize,
    index: Arc<PatientIndex>,
    merges: Arc<Merges>,
}

/// Where a live index stands in the journal, and the changes folded so far.
struct Follow {
    follower: Follower,
    fold: Fold,
    /// The day whose snapshot this index last wrote (or found written).
    snapshot_day: Option<chrono::NaiveDate>,
}

/// The patient index with the store's changes applied, refreshed in the background.
pub struct LiveIndex {
    store: Option<Store>,
    base: Arc<PatientIndex>,
    /// [`base_fingerprint`] of `base`, computed the first time a snapshot is read or written.
    fingerprint: std::sync::OnceLock<String>,
    current: RwLock<Current>,
    follow: tokio::sync::Mutex<Follow>,
}

impl std::fmt::Debug for LiveIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveIndex").finish_non_exhaustive()
    }
}

impl LiveIndex {
    /// An index that never changes (tests, `him process` without a store's changes).
    pub fn fixed(index: Arc<PatientIndex>) -> Self {
        LiveIndex {
            store: None,
            follow: tokio::sync::Mutex::new(Follow {
                follower: Follower::new(Stream::Mpi, JOURNAL_LAG),
                fold: Fold::new(&index),
                snapshot_day: None,
            }),
            base: index.clone(),
            fingerprint: std::sync::OnceLock::new(),
            current: RwLock::new(Current {
                changes: 0,
                index,
                merges: Arc::default(),
            }),
        }
    }

    /// The export `base` with the changes of `store`; call [`LiveIndex::refresh`] before use.
    pub fn new(store: Store, base: Arc<PatientIndex>) -> Self {
        LiveIndex {
            store: Some(store),
            ..LiveIndex::fixed(base)
        }
    }

    /// The index as of the last refresh.
    pub fn current(&self) -> Arc<PatientIndex> {
        match self.current.read() {
            Ok(current) => current.index.clone(),
            Err(poisoned) => poisoned.into_inner().index.clone(),
        }
    }

    /// The merges as of the last refresh.
    pub fn merges(&self) -> Arc<Merges> {
        match self.current.read() {
            Ok(current) => current.merges.clone(),
            Err(poisoned) => poisoned.into_inner().merges.clone(),
        }
    }

    /// Reads the changes journaled since the last refresh (all of them the first time) and folds them in;
    /// `true` when the index changed. A refresh that fails reads the same changes again next time.
    pub async fn refresh(&self) -> Result<bool> {
        let Some(store) = &self.store else {
            return Ok(false);
        };
        let mut follow = self.follow.lock().await;
        let mut restored = false;
        if follow.follower.position().is_none() {
            ensure_journaled(store).await?;
            if let Some(snapshot) = self.latest_snapshot(store).await? {
                self.start_from(&mut follow, snapshot);
                restored = true;
            }
        }
        let mut follower = follow.follower.clone();
        let entries = follower.poll(store).await?;
        if entries.is_empty() {
            follow.follower = follower;
            if restored {
                self.publish(&follow.fold, 0);
            }
            return Ok(restored);
        }
        let mut changes = Vec::with_capacity(entries.len());
        for entry in entries {
            let key = Key::Journal(entry);
            let bytes = store.get(&key).await?;
            match serde_json::from_slice::<ChangeRecord>(&bytes) {
                Ok(change) => changes.push(change),
                Err(_) => tracing::warn!(key = %key, "unreadable patient index change skipped"),
            }
        }
        // Every new change was read: only now does the follower move on.
        follow.follower = follower;
        for change in &changes {
            follow.fold.apply(change);
        }
        let total = self.publish(&follow.fold, changes.len());
        tracing::info!(
            new = changes.len(),
            changes = total,
            "patient index changes applied"
        );
        self.save_snapshot(store, &mut follow, total).await;
        Ok(true)
    }

    /// Makes `fold` the current index, `new` changes later than the last; the changes folded in all.
    fn publish(&self, fold: &Fold, new: usize) -> usize {
        let (index, merges) = fold.index(&self.base);
        let total = match self.current.read() {
            Ok(current) => current.changes,
            Err(poisoned) => poisoned.into_inner().changes,
        } + new;
        let next = Current {
            changes: total,
            index: Arc::new(index),
            merges: Arc::new(merges),
        };
        match self.current.write() {
            Ok(mut current) => *current = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        total
    }

    /// The digest of the export this index folds changes over.
    fn fingerprint(&self) -> &str {
        self.fingerprint
            .get_or_init(|| base_fingerprint(&self.base))
    }

    /// The newest snapshot of the last [`SNAPSHOT_DAYS`] days that was folded over this export.
    async fn latest_snapshot(&self, store: &Store) -> Result<Option<Snapshot>> {
        let fingerprint = self.fingerprint();
        let today = Stamp::now().day();
        for back in 0..SNAPSHOT_DAYS {
            let Some(day) = today.checked_sub_days(chrono::Days::new(back)) else {
                break;
            };
            let key = Key::MpiSnapshot(day);
            let Some(bytes) = store.get_opt(&key).await? else {
                continue;
            };
            match serde_json::from_slice::<Snapshot>(&bytes) {
                Ok(snapshot) if snapshot.base == fingerprint => return Ok(Some(snapshot)),
                Ok(_) => {
                    tracing::info!(key = %key, "patient index snapshot of another export; not used");
                    return Ok(None);
                }
                Err(_) => tracing::warn!(key = %key, "unreadable patient index snapshot skipped"),
            }
        }
        Ok(None)
    }

    /// Starts `follow` from a snapshot: its fold, its position in the journal.
    fn start_from(&self, follow: &mut Follow, snapshot: Snapshot) {
        let Some(position) = Stamp::parse(&snapshot.position) else {
            return;
        };
        let changes = snapshot.changes;
        follow.fold = Fold::restore(&self.base, snapshot);
        follow.follower = Follower::resume(Stream::Mpi, JOURNAL_LAG, position);
        follow.snapshot_day = Some(position.day());
        match self.current.write() {
            Ok(mut current) => current.changes = changes,
            Err(poisoned) => poisoned.into_inner().changes = changes,
        }
        tracing::info!(changes, "patient index started from its snapshot");
    }

    /// Writes today's snapshot, create-only, once a day per store (the first index to fold a change that
    /// day writes it; the others find it written). A failure costs only a slower next start.
    async fn save_snapshot(&self, store: &Store, follow: &mut Follow, changes: usize) {
        let Some(position) = follow.follower.position() else {
            return;
        };
        let day = Stamp::now().day();
        if follow.snapshot_day == Some(day) {
            return;
        }
        let snapshot = follow.fold.snapshot(self.fingerprint(), position, changes);
        let bytes = Bytes::from(serde_json::to_vec(&snapshot).unwrap_or_default());
        match store.put_new(&Key::MpiSnapshot(day), bytes).await {
            Ok(_) => follow.snapshot_day = Some(day),
            Err(error) => tracing::warn!(error = %error, "patient index snapshot not written"),
        }
    }

    /// Refreshes every `every` until the process ends.
    pub fn spawn_refresh(self: &Arc<Self>, every: Duration) {
        if self.store.is_none() {
            return;
        }
        let live = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(error) = live.refresh().await {
                    tracing::warn!(error = %error, "patient index refresh failed");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use him_extract::CheckDigit;

    fn row(mrn: &str, family: &str, birth: &str) -> PatientRow {
        PatientRow {
            mrn: mrn.to_string(),
            family: family.to_string(),
            given: vec!["Ann".to_string()],
            birth_date: Some(birth.to_string()),
            sex: Some("F".to_string()),
        }
    }

    fn change(n: u32, change: MpiChange) -> ChangeRecord {
        ChangeRecord {
            id: format!("{n:032}"),
            // Received a moment ago, in order: a live index follows the journal from the present.
            received_at: (chrono::Utc::now() - chrono::Duration::seconds(30)
                + chrono::Duration::milliseconds(i64::from(n)))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            sender: "ADT^HOSP".to_string(),
            control_id: n.to_string(),
            message_type: "ADT^A01".to_string(),
            change,
        }
    }

    /// Who the index holds, as `mrn family` lines, and who was merged into whom.
    fn contents(live: &LiveIndex) -> (Vec<String>, Merges) {
        let mut records: Vec<String> = live
            .current()
            .records()
            .iter()
            .map(|r| format!("{} {} {:?}", r.mrn, r.family, r.fhir_id))
            .collect();
        records.sort();
        (records, (*live.merges()).clone())
    }

    /// A live index starting where a snapshot of the day stands reads the snapshot and the changes since,
    /// not every change ever received, and holds what a replay of every change gives; over another export
    /// it replays everything.
    #[tokio::test]
    async fn a_live_index_starts_from_the_days_snapshot() {
        let store = Store::in_memory();
        let mut base = PatientIndex::new(CheckDigit::None);
        for (mrn, family) in [("1001", "Adams"), ("1002", "Baker"), ("1003", "Cole")] {
            let mut record = row(mrn, family, "1970-01-01").record();
            record.fhir_id = Some(format!("p{mrn}"));
            base.insert(record, 0).unwrap();
        }
        let base = Arc::new(base);
        // A week of history, three days old.
        let old = |n: u32, change: MpiChange| {
            let mut record = self::change(n, change);
            record.received_at = (chrono::Utc::now() - chrono::Duration::days(3)
                + chrono::Duration::milliseconds(i64::from(n)))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            record
        };
        let history = [
            old(
                1,
                MpiChange::Upsert {
                    patient: row("2001", "Diaz", "1990-02-02"),
                    encounter: Some("V1".into()),
                },
            ),
            old(
                2,
                MpiChange::Merge {
                    survivor: "1001".into(),
                    merged: "1002".into(),
                },
            ),
            old(
                3,
                MpiChange::ChangeId {
                    from: "1003".into(),
                    to: "1033".into(),
                },
            ),
            old(
                4,
                MpiChange::Upsert {
                    patient: row("1001", "Adams-Lee", "1970-01-01"),
                    encounter: None,
                },
            ),
        ];
        for change in &history {
            record_change(&store, change).await.unwrap();
        }
        let first = LiveIndex::new(store.clone(), base.clone());
        assert!(first.refresh().await.unwrap());
        let today = Stamp::now().day();
        assert!(store.exists(&Key::MpiSnapshot(today)).await.unwrap());

        let recent = change(
            5,
            MpiChange::Upsert {
                patient: row("2002", "Ortiz", "1985-03-03"),
                encounter: None,
            },
        );
        record_change(&store, &recent).await.unwrap();
        assert!(first.refresh().await.unwrap());

        let before = store.requests();
        let restarted = LiveIndex::new(store.clone(), base.clone());
        assert!(restarted.refresh().await.unwrap());
        let cost = store.requests().since(before);
        // The snapshot and the one change journaled since (the four older ones are not read).
        assert!(cost.gets <= 2, "{cost:?}");
        assert_eq!(contents(&restarted), contents(&first));
        let mut all = history.to_vec();
        all.push(recent);
        let (replayed, merges) = apply(&base, &all);
        let replayed = LiveIndex::fixed(Arc::new(replayed));
        assert_eq!(contents(&restarted).0, contents(&replayed).0);
        assert_eq!(contents(&restarted).1, merges);
        assert_eq!(restarted.current().encounter_mrn("V1"), Some("2001"));
        assert!(restarted.merges().is_merged("1001", "1002"));

        // Another export: the snapshot does not apply, every change is read.
        let mut other = PatientIndex::new(CheckDigit::None);
        other
            .insert(row("1001", "Adams", "1970-01-01").record(), 0)
            .unwrap();
        let before = store.requests();
        let elsewhere = LiveIndex::new(store.clone(), Arc::new(other.clone()));
        assert!(elsewhere.refresh().await.unwrap());
        assert!(store.requests().since(before).gets >= 5);
        let (expected, _) = apply(&other, &all);
        assert_eq!(
            contents(&elsewhere).0,
            contents(&LiveIndex::fixed(Arc::new(expected))).0
        );
    }

    /// A change written to the store after start is picked up by the next refresh, without a restart.
    #[tokio::test]
    async fn a_live_index_picks_up_new_changes() {
        let store = Store::in_memory();
        let live = LiveIndex::new(store.clone(), Arc::new(PatientIndex::new(CheckDigit::None)));
        assert!(!live.refresh().await.unwrap());
        assert!(live.current().by_mrn("1003").is_empty());
        let record = change(
            1,
            MpiChange::Upsert {
                patient: row("1003", "New", "1980-02-02"),
                encounter: None,
            },
        );
        assert_eq!(
            record_change(&store, &record).await.unwrap(),
            Written::Created
        );
        assert_eq!(
            record_change(&store, &record).await.unwrap(),
            Written::AlreadyExisted
        );
        assert!(live.refresh().await.unwrap());
        assert_eq!(live.current().by_mrn("1003")[0].family, "New");
        assert!(!live.refresh().await.unwrap());
    }

    /// A store whose changes were recorded before the journal is refused until `him migrate` journals
    /// them; a receipt that stopped between its record and its journal entry is completed by the retry.
    #[tokio::test]
    async fn changes_from_before_the_journal_are_migrated_not_missed() {
        let store = Store::in_memory();
        let merge = change(
            1,
            MpiChange::Merge {
                survivor: "1001".into(),
                merged: "1002".into(),
            },
        );
        // As an earlier release wrote it: the record only.
        store
            .put_new(
                &merge.key().unwrap(),
                serde_json::to_vec(&merge).unwrap().into(),
            )
            .await
            .unwrap();
        let mut base = PatientIndex::new(CheckDigit::None);
        base.insert(row("1001", "Doe", "1970-01-01").record(), 0)
            .unwrap();
        base.insert(row("1002", "Doe", "1970-01-01").record(), 0)
            .unwrap();
        let live = LiveIndex::new(store.clone(), Arc::new(base));
        assert!(matches!(
            live.refresh().await,
            Err(crate::Error::NeedsMigration { .. })
        ));
        assert_eq!(migrate(&store).await.unwrap(), 1);
        assert_eq!(
            migrate(&store).await.unwrap(),
            0,
            "a second run writes nothing"
        );
        assert!(live.refresh().await.unwrap());
        assert_eq!(live.current().by_mrn("1002")[0].mrn, "1001");

        // The record written, the journal entry not (a crash between): the redelivered message completes it.
        let upsert = change(
            2,
            MpiChange::Upsert {
                patient: row("1003", "New", "1980-02-02"),
                encounter: None,
            },
        );
        store
            .put_new(
                &upsert.key().unwrap(),
                serde_json::to_vec(&upsert).unwrap().into(),
            )
            .await
            .unwrap();
        assert_eq!(
            record_change(&store, &upsert).await.unwrap(),
            Written::AlreadyExisted
        );
        assert!(live.refresh().await.unwrap());
        assert_eq!(live.current().by_mrn("1003")[0].family, "New");
    }

    /// A registration's visit number finds its patient by a lookup, after a restart (the records are re-read)
    /// and through a merge; a later registration of the same visit number moves it.
    #[tokio::test]
    async fn encounters_of_registrations_are_kept_and_follow_merges() {
        let store = Store::in_memory();
        let upsert = |n, mrn, encounter: &str| {
            change(
                n,
                MpiChange::Upsert {
                    patient: row(mrn, "Doe", "1970-01-01"),
                    encounter: Some(encounter.to_string()),
                },
            )
        };
        for record in [
            upsert(1, "1001", "V-10"),
            upsert(2, "1002", "V-20"),
            upsert(3, "1003", "V-30"),
            upsert(4, "1001", "V-30"),
            change(
                5,
                MpiChange::Merge {
                    survivor: "1001".into(),
                    merged: "1002".into(),
                },
            ),
        ] {
            record_change(&store, &record).await.unwrap();
        }
        // Another process (or this one after a restart) rebuilds the links from the store.
        let live = LiveIndex::new(store.clone(), Arc::new(PatientIndex::new(CheckDigit::None)));
        assert!(live.refresh().await.unwrap());
        let index = live.current();
        assert_eq!(index.encounter_mrn("V-10"), Some("1001"));
        assert_eq!(index.encounter_mrn("v10"), Some("1001"));
        assert_eq!(index.encounter_mrn("V-30"), Some("1001"));
        // The merged patient's visit finds the survivor.
        assert_eq!(
            index.by_mrn(index.encounter_mrn("V-20").unwrap())[0].mrn,
            "1001"
        );
        assert_eq!(index.encounter_mrn("V-99"), None);
        // A record written before encounters were kept reads as an upsert without one.
        let old = r#"{"id":"x","received_at":"t","sender":"s","control_id":"1","message_type":"ADT^A01","change":"upsert","patient":{"mrn":"1","family":"Doe","given":[]}}"#;
        let parsed: ChangeRecord = serde_json::from_str(old).unwrap();
        assert!(matches!(
            parsed.change,
            MpiChange::Upsert {
                encounter: None,
                ..
            }
        ));
    }

    #[test]
    fn upserts_merges_unmerges_and_identifier_changes_apply_in_order() {
        let mut base = PatientIndex::new(CheckDigit::None);
        base.insert(row("1001", "Old", "1970-01-01").record(), 0)
            .unwrap();
        base.insert(row("1002", "Dup", "1970-01-01").record(), 0)
            .unwrap();
        let changes = vec![
            change(
                1,
                MpiChange::Upsert {
                    patient: row("1003", "New", "1980-02-02"),
                    encounter: None,
                },
            ),
            change(
                2,
                MpiChange::Upsert {
                    patient: row("1001", "Renamed", "1970-01-01"),
                    encounter: None,
                },
            ),
            change(
                3,
                MpiChange::Merge {
                    survivor: "1001".into(),
                    merged: "1002".into(),
                },
            ),
        ];
        let (index, merges) = apply(&base, &changes);
        assert_eq!(index.by_mrn("1003")[0].family, "New");
        assert_eq!(index.by_mrn("1001")[0].family, "Renamed");
        // The merged MRN finds the survivor.
        let found = index.by_mrn("1002");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].mrn, "1001");
        assert_eq!(merges.merged_into("1001"), vec!["1002".to_string()]);
        assert_eq!(index.len(), 2);

        let mut undone = changes.clone();
        undone.push(change(
            4,
            MpiChange::Unmerge {
                survivor: "1001".into(),
                merged: "1002".into(),
            },
        ));
        let (index, merges) = apply(&base, &undone);
        assert_eq!(index.by_mrn("1002")[0].family, "Dup");
        assert!(merges.merged_into("1001").is_empty());

        let renamed = vec![change(
            5,
            MpiChange::ChangeId {
                from: "1001".into(),
                to: "2001".into(),
            },
        )];
        let (index, _) = apply(&base, &renamed);
        assert_eq!(index.by_mrn("2001")[0].family, "Old");
        assert_eq!(index.by_mrn("1001")[0].mrn, "2001");
    }
}

//! The patient index as it changes: the hospital's export (`[patients] index`) plus the changes received
//! over ADT (`him adt`), each one create-only record `mpi/changes/<id>.json` in the store. Workers, the
//! review server and the deliverer hold a [`LiveIndex`] that re-reads the changes every few seconds — no
//! restart.
//!
//! A merge (A40) leaves both patients' documents where they are: it is a record. From then on the merged
//! MRN finds the survivor (new documents naming it file to the survivor), and the survivor's documents
//! include the merged patient's. An unmerge record reverses it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use him_extract::{Date, PatientIndex, PatientRecord};
use him_store::{Key, Prefix, Store, Written};

use crate::error::Result;
use crate::patients::mrn_key;

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
        Key::mpi(&format!("changes/{}.json", self.id))
    }
}

/// Writes a change create-only. `AlreadyExisted`: the same message was received before (a duplicate).
pub async fn record_change(store: &Store, change: &ChangeRecord) -> Result<Written> {
    let key = change.key().ok_or_else(|| crate::Error::InvalidInput {
        detail: "change id".to_string(),
    })?;
    let bytes = Bytes::from(serde_json::to_vec_pretty(change).unwrap_or_default());
    Ok(store.put_new(&key, bytes).await?)
}

/// Every change in the store, in the order received.
pub async fn changes(store: &Store) -> Result<Vec<ChangeRecord>> {
    let mut changes = Vec::new();
    for key in store.list(&Prefix::Mpi("changes".to_string())).await? {
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
    let mut records: BTreeMap<String, PatientRecord> = BTreeMap::new();
    for record in base.records() {
        records.insert(mrn_key(&record.mrn), record.clone());
    }
    // Merged MRN key → (survivor MRN, the merged patient's record as it was).
    let mut merged: HashMap<String, (String, Option<PatientRecord>)> = HashMap::new();
    let mut renamed: HashMap<String, String> = HashMap::new();
    let mut encounters: HashMap<&str, &str> = HashMap::new();
    for change in changes {
        match &change.change {
            MpiChange::Upsert { patient, encounter } => {
                if let Some(encounter) = encounter {
                    encounters.insert(encounter, &patient.mrn);
                }
                let key = mrn_key(&patient.mrn);
                let mut record = patient.record();
                // An update without a FHIR id keeps the export's.
                if let Some(old) = records.get(&key) {
                    record.fhir_id = old.fhir_id.clone();
                }
                if !merged.contains_key(&key) {
                    records.insert(key, record);
                }
            }
            MpiChange::Merge {
                survivor,
                merged: old,
            } => {
                let key = mrn_key(old);
                if key == mrn_key(survivor) {
                    continue;
                }
                let removed = records.remove(&key);
                merged.insert(key, (survivor.clone(), removed));
            }
            MpiChange::Unmerge { merged: old, .. } => {
                let key = mrn_key(old);
                if let Some((_, Some(record))) = merged.remove(&key) {
                    records.insert(key, record);
                }
            }
            MpiChange::ChangeId { from, to } => {
                let key = mrn_key(from);
                if let Some(mut record) = records.remove(&key) {
                    record.mrn = to.clone();
                    records.insert(mrn_key(to), record);
                    renamed.insert(key, to.clone());
                }
            }
        }
    }
    let mut index = PatientIndex::new(base.check_digit()).with_leading_zeros(base.leading_zeros());
    for record in records.into_values() {
        if index.insert(record, 0).is_err() {
            tracing::warn!("a patient index change names an MRN the index refuses; skipped");
        }
    }
    let mut merges = Merges::default();
    for (key, (survivor, _)) in &merged {
        // A chain of merges ends at the last survivor.
        let mut target = survivor.clone();
        for _ in 0..16 {
            match merged.get(&mrn_key(&target)) {
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
    for (key, to) in &renamed {
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
    for (encounter, mrn) in encounters {
        index.link_encounter(encounter, mrn);
    }
    (index, merges)
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

/// The patient index with the store's changes applied, refreshed in the background.
pub struct LiveIndex {
    store: Option<Store>,
    base: Arc<PatientIndex>,
    current: RwLock<Current>,
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
            base: index.clone(),
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

    /// Re-reads the changes; rebuilds when there are new ones. `true` when the index changed.
    pub async fn refresh(&self) -> Result<bool> {
        let Some(store) = &self.store else {
            return Ok(false);
        };
        let changes = changes(store).await?;
        let known = match self.current.read() {
            Ok(current) => current.changes,
            Err(poisoned) => poisoned.into_inner().changes,
        };
        if changes.len() == known {
            return Ok(false);
        }
        let (index, merges) = apply(&self.base, &changes);
        let next = Current {
            changes: changes.len(),
            index: Arc::new(index),
            merges: Arc::new(merges),
        };
        match self.current.write() {
            Ok(mut current) => *current = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        tracing::info!(changes = changes.len(), "patient index changes applied");
        Ok(true)
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
            received_at: format!("2026-12-01T00:00:{n:02}.000Z"),
            sender: "ADT^HOSP".to_string(),
            control_id: n.to_string(),
            message_type: "ADT^A01".to_string(),
            change,
        }
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

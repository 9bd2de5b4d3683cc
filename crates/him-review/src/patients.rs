//! The hospital's patient index as the review sees it: the one the pipeline matches against. Patients are
//! assigned and reassigned only to entries of this index, found by MRN, name or date of birth.

use std::sync::Arc;

use serde::Serialize;

use him_extract::{normalize_name, Date, PatientIndex, PatientRecord};

pub(crate) use him_patients::mrn_key;
use him_patients::LiveIndex;

/// The patient index (with the ADT changes of the store, [`LiveIndex`]) and how FHIR resources name its
/// patients.
#[derive(Debug, Clone)]
pub struct Patients {
    pub live: Arc<LiveIndex>,
    /// `Identifier.system` of the hospital's MRNs (`[patients] mrn_system`).
    pub mrn_system: String,
}

impl Default for Patients {
    fn default() -> Self {
        Patients::new(Arc::new(PatientIndex::default()), "urn:him:mrn")
    }
}

/// One patient as the assign form shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatientView {
    pub mrn: String,
    pub family: String,
    pub given: String,
    pub birth_date: Option<String>,
    pub sex: Option<String>,
    /// How this patient compared with the document when the pipeline matched it (candidates only):
    /// `MRN 1.00 · DOB 0.00 · family 0.92 · given 1.00`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

impl PatientView {
    fn of(record: &PatientRecord) -> Self {
        PatientView {
            mrn: record.mrn.clone(),
            family: record.family.clone(),
            given: record.given.join(" "),
            birth_date: record.birth_date.map(|date| date.to_string()),
            sex: record.sex.clone(),
            evidence: None,
        }
    }

    /// `Family, Given`.
    pub fn display(&self) -> String {
        if self.given.is_empty() {
            self.family.clone()
        } else {
            format!("{}, {}", self.family, self.given)
        }
    }
}

/// A date as typed into a search box, as `YYYY-MM-DD`: `YYYY-MM-DD` or the US `MM/DD/YYYY`; `None` for
/// anything else (or an impossible date).
pub(crate) fn normalize_date(word: &str) -> Option<String> {
    let word = word.trim_matches(|c: char| c == ',' || c.is_whitespace());
    if let Some(date) = Date::parse_iso(word) {
        return Some(date.to_string());
    }
    let mut parts = word.split('/');
    let (month, day, year) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || year.len() != 4 || month.len() > 2 || day.len() > 2 {
        return None;
    }
    let iso = format!("{year}-{month:0>2}-{day:0>2}");
    Date::parse_iso(&iso).map(|date| date.to_string())
}

impl Patients {
    /// A fixed index (no store changes).
    pub fn new(index: Arc<PatientIndex>, mrn_system: &str) -> Self {
        Patients {
            live: Arc::new(LiveIndex::fixed(index)),
            mrn_system: mrn_system.to_string(),
        }
    }

    /// The index as it is now.
    pub fn index(&self) -> Arc<PatientIndex> {
        self.live.current()
    }

    /// The one patient holding this MRN (or an MRN merged into theirs); `None` when absent or (an index
    /// error) held twice.
    pub fn find(&self, mrn: &str) -> Option<PatientRecord> {
        match self.index().by_mrn(mrn).as_slice() {
            [one] => Some((*one).clone()),
            _ => None,
        }
    }

    /// The MRN keys whose documents belong to the patient holding `mrn` (merged or retired numbers).
    pub fn merged_into(&self, mrn: &str) -> Vec<String> {
        self.live.merges().merged_into(mrn)
    }

    /// The patient holding this MRN, for display.
    pub fn view(&self, mrn: &str) -> Option<PatientView> {
        self.find(mrn).as_ref().map(PatientView::of)
    }

    /// Patients matching every word of a query, at most `limit`: a word matches an MRN prefix, a family or
    /// given name prefix (accents, case and punctuation ignored) or a date of birth (`YYYY-MM-DD`).
    pub fn search(&self, query: &str, limit: usize) -> Vec<PatientView> {
        let words: Vec<&str> = query.split_whitespace().collect();
        if words.is_empty() {
            return Vec::new();
        }
        self.index()
            .records()
            .iter()
            .filter(|record| words.iter().all(|word| matches(record, word)))
            .take(limit)
            .map(PatientView::of)
            .collect()
    }
}

fn matches(record: &PatientRecord, word: &str) -> bool {
    if let Some(date) = normalize_date(word).and_then(|iso| Date::parse_iso(&iso)) {
        return record.birth_date == Some(date);
    }
    let key = mrn_key(word);
    if !key.is_empty() && mrn_key(&record.mrn).starts_with(&key) {
        return true;
    }
    let name = normalize_name(word.trim_matches(','));
    !name.is_empty()
        && std::iter::once(&record.family)
            .chain(&record.given)
            .flat_map(|part| {
                normalize_name(part)
                    .split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .any(|part| part.starts_with(&name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use him_extract::CheckDigit;

    fn patients() -> Patients {
        let csv = "mrn,family,given,birth_date,sex\n\
                   40079196,Gutmann,Kiana,1977-02-01,F\n\
                   40158388,O'Keefe,Karena Lou,1957-03-14,F\n\
                   40158390,Okeefe,Carl,1960-01-01,M\n";
        Patients::new(
            Arc::new(PatientIndex::from_csv(csv.as_bytes(), CheckDigit::None).unwrap()),
            "urn:him:mrn",
        )
    }

    #[test]
    fn patients_are_found_by_mrn_name_and_date_of_birth() {
        let patients = patients();
        let mrns = |query: &str| -> Vec<String> {
            patients
                .search(query, 10)
                .into_iter()
                .map(|p| p.mrn)
                .collect()
        };
        assert_eq!(mrns("4015"), ["40158388", "40158390"]);
        assert_eq!(mrns("okeefe 1957-03-14"), ["40158388"]);
        assert_eq!(mrns("kar"), ["40158388"]);
        assert_eq!(mrns("gutmann, kiana"), ["40079196"]);
        assert!(mrns("nobody").is_empty());
        assert!(mrns("  ").is_empty());
        assert_eq!(patients.find("40-079-196").unwrap().family, "Gutmann");
        assert!(patients.find("NOT-A-PATIENT-1").is_none());
    }
}

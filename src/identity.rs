//! `extract → match`: the identifying fields of a document and the patient it belongs to.
//!
//! Misfiling into the wrong patient's chart is the critical error of HIM, so a document is filed into a patient
//! folder only when [`him_extract::identify_pages`] says so (the label reader's fields matched by
//! [`him_extract::match_patient`] — an MRN corroborated by the date of birth or the name, never an MRN alone —
//! then the evidence search for the index's patients, with the role each identifier is printed in) **and** the
//! MRN is safe to use in an object key. Everything else goes to the unmatched (indexing) queue with the reason
//! recorded.

use std::io::Read;
use std::path::Path;

use crate::config::PatientsConfig;
use anyhow::Context;
use him_core::{FiledPatient, Mrn};
use him_extract::{
    extract_pages, extract_transcript, identify_pages, match_dictation, CheckDigit, Date,
    ExtractOptions, Fields, LeadingZeros, MatchConfig, MatchDecision, MatchOutcome, PageContent,
    PatientIndex, TranscriptSegment,
};

/// Loads a patient index, telling FHIR NDJSON (lines of JSON objects) from CSV by content.
pub fn load_index(
    path: &Path,
    check_digit: CheckDigit,
    leading_zeros: LeadingZeros,
) -> anyhow::Result<PatientIndex> {
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|mut file| file.read_to_string(&mut text))
        .with_context(|| format!("cannot read patient index {}", path.display()))?;
    let index = if text.trim_start().starts_with('{') {
        PatientIndex::from_fhir_ndjson(text.as_bytes(), check_digit)
    } else {
        PatientIndex::from_csv(text.as_bytes(), check_digit)
    };
    index
        .map(|index| index.with_leading_zeros(leading_zeros))
        .with_context(|| format!("invalid patient index {}", path.display()))
}

/// Fields read from a document and the matching decision.
#[derive(Debug)]
pub struct Identity {
    pub fields: Fields,
    /// `None` when no patient index is configured.
    pub decision: Option<MatchDecision>,
}

/// Today's date, for date plausibility checks.
pub fn today() -> Date {
    use chrono::Datelike;
    let now = chrono::Utc::now().date_naive();
    Date::new(now.year(), now.month() as u8, now.day() as u8)
        .unwrap_or_else(|| Date::new(2000, 1, 1).unwrap())
}

/// Extraction options for this hospital, dated today.
fn options(patients: &PatientsConfig) -> ExtractOptions {
    ExtractOptions {
        check_digit: patients.check_digit,
        ..ExtractOptions::new(today())
    }
}

/// Extracts the fields of a chart's pages (by their layout where they were OCR'd).
pub fn extract_chart(pages: &[PageContent<'_>], patients: &PatientsConfig) -> Fields {
    extract_pages(pages, &options(patients))
}

/// Extracts the fields of a chart's pages (by their layout where they were OCR'd) and matches them against
/// the index.
pub fn identify(
    pages: &[PageContent<'_>],
    index: Option<&PatientIndex>,
    patients: &PatientsConfig,
    matching: &MatchConfig,
) -> Identity {
    match index {
        Some(index) => {
            let (fields, decision) = identify_pages(pages, index, &options(patients), matching);
            Identity {
                fields,
                decision: Some(decision),
            }
        }
        None => Identity {
            fields: extract_pages(pages, &options(patients)),
            decision: None,
        },
    }
}

/// Extracts the fields of a dictation's spoken header and matches them against the index: a keyed MRN (job
/// demographics) is filed only when the spoken header, or a keyed encounter that the ADT feed registered for
/// the same patient, corroborates it ([`match_dictation`]).
pub fn identify_transcript(
    segments: &[him_core::TranscriptSegment],
    keyed_mrn: Option<&str>,
    encounter: Option<&str>,
    index: Option<&PatientIndex>,
    patients: &PatientsConfig,
    matching: &MatchConfig,
) -> Identity {
    let spoken: Vec<TranscriptSegment<'_>> = segments
        .iter()
        .map(|segment| TranscriptSegment {
            text: &segment.text,
            start_ms: segment.start_ms,
            end_ms: segment.end_ms,
        })
        .collect();
    let fields = extract_transcript(&spoken, &options(patients));
    let decision =
        index.map(|index| match_dictation(&fields, keyed_mrn, encounter, index, matching));
    Identity { fields, decision }
}

impl Identity {
    /// The MRN to file under: present only for a match whose MRN is safe as an object-key segment.
    pub fn filing_mrn(&self) -> Option<Mrn> {
        match &self.decision.as_ref()?.outcome {
            MatchOutcome::Matched { mrn, .. } => Mrn::parse(mrn),
            _ => None,
        }
    }

    /// Why the document is not filed into a patient folder.
    pub fn unmatched_reason(&self) -> String {
        match self.decision.as_ref().map(|d| &d.outcome) {
            None => "no_patient_index".to_string(),
            Some(MatchOutcome::Matched { .. }) => "mrn_not_usable_as_key".to_string(),
            Some(MatchOutcome::Unmatched { reason }) => serde_json::to_value(reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| "unmatched".to_string()),
        }
    }

    /// `{name: {value, confidence}}` for the JSON line.
    pub fn fields_summary(&self) -> serde_json::Value {
        serde_json::to_value(self.fields.summary()).unwrap_or_else(|_| serde_json::json!({}))
    }

    /// `{mrn, score, rule}` of the matched patient, for the JSON line and the manifest.
    pub fn patient(&self) -> Option<FiledPatient> {
        let mrn = self.filing_mrn()?;
        match &self.decision.as_ref()?.outcome {
            MatchOutcome::Matched { score, rule, .. } => Some(FiledPatient {
                mrn,
                score: *score,
                rule: serde_json::to_value(rule)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
            }),
            MatchOutcome::Unmatched { .. } => None,
        }
    }

    /// The rule that fired and the score, safe to log (no identifiers).
    pub fn log_summary(&self) -> (String, f32) {
        match self.decision.as_ref().map(|d| &d.outcome) {
            Some(MatchOutcome::Matched { score, rule, .. }) => (
                serde_json::to_value(rule)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                *score,
            ),
            _ => (self.unmatched_reason(), 0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_page(text: &str) -> PageContent<'_> {
        PageContent { text, words: &[] }
    }

    fn index() -> PatientIndex {
        let csv = "mrn,family,given,birth_date,sex\n4081121,O'Keefe,Karena,1957-03-14,F\n4081139,Miller,Jane,1962-07-01,F\n";
        PatientIndex::from_csv(csv.as_bytes(), CheckDigit::Luhn).unwrap()
    }

    fn config() -> PatientsConfig {
        PatientsConfig {
            check_digit: CheckDigit::Luhn,
            ..PatientsConfig::default()
        }
    }

    #[test]
    fn corroborated_mrn_files_into_the_patient_folder() {
        let page =
            "DISCHARGE SUMMARY\nPATIENT: O'KEEFE, KARENA   MRN: 408-112-1\nDOB: 03/14/1957\n";
        let identity = identify(
            &[text_page(page)],
            Some(&index()),
            &config(),
            &MatchConfig::default(),
        );
        assert_eq!(
            identity.filing_mrn().as_ref().map(him_core::Mrn::as_str),
            Some("4081121")
        );
        assert_eq!(identity.patient().unwrap().mrn.as_str(), "4081121");
    }

    #[test]
    fn another_patients_mrn_with_this_patients_name_is_not_filed() {
        let page = "PATIENT: O'KEEFE, KARENA   MRN: 4081139\nDOB: 03/14/1957\n";
        let identity = identify(
            &[text_page(page)],
            Some(&index()),
            &config(),
            &MatchConfig::default(),
        );
        assert_eq!(identity.filing_mrn(), None);
        assert_ne!(identity.unmatched_reason(), "");
    }

    #[test]
    fn without_an_index_nothing_is_filed() {
        let page = "PATIENT: O'KEEFE, KARENA   MRN: 4081121\nDOB: 03/14/1957\n";
        let identity = identify(&[text_page(page)], None, &config(), &MatchConfig::default());
        assert_eq!(identity.filing_mrn(), None);
        assert_eq!(identity.unmatched_reason(), "no_patient_index");
        assert_eq!(identity.fields_summary()["mrn"]["value"], "4081121");
    }
}

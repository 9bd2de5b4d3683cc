//! Identity extraction and patient matching for `him`: the `extract → match` steps of the pipeline.
//!
//! - [`extract`] reads the OCR text of a chart (one `&str` per page) and returns [`Fields`]:
//!   patient family and given name, MRN (with OCR-corrected candidates), date of birth, date of
//!   service (and admission/discharge dates), LOINC document type, author and encounter number.
//!   Each [`Field`] carries a normalised value, a confidence and a [`Source`] (page and byte span;
//!   an audio span for dictations). Dates are checked against each other and against
//!   [`ExtractOptions::today`]; section headings are never taken for names.
//! - [`extract_transcript`] does the same for a dictation's spoken header ("medical record number
//!   four zero eight…", "March fourteenth nineteen fifty seven").
//! - [`PatientIndex`] is the hospital's patient index in memory, loaded from a FHIR R4 Patient
//!   NDJSON export or a CSV, with a configurable MRN [`CheckDigit`] scheme.
//! - [`match_patient`] returns an explainable [`MatchDecision`]: an MRN must be corroborated by the
//!   date of birth or the name, any contradiction leaves the document unmatched with a reason, and
//!   name + date of birth may match alone only when exactly one patient fits. An MRN alone never
//!   matches.
//!
//! The crate does no IO beyond the readers it is given and logs nothing: every value here is PHI.
//!
//! ```
//! use him_extract::{extract, match_patient, CheckDigit, Date, ExtractOptions, MatchConfig, MatchOutcome, PatientIndex};
//!
//! let csv = "mrn,family,given,birth_date,sex\n4081121,O'Keefe,Karena,1957-03-14,F\n";
//! let index = PatientIndex::from_csv(csv.as_bytes(), CheckDigit::Luhn)?;
//!
//! let page = "DISCHARGE SUMMARY\nPATIENT: O'KEEFE, KARENA   MRN: 408-112-1\nD.O.B.: March 14, 1957\n";
//! let opts = ExtractOptions { check_digit: CheckDigit::Luhn, ..ExtractOptions::new(Date::new(2024, 6, 1).unwrap()) };
//! let fields = extract(&[page], &opts);
//! assert_eq!(fields.date_of_birth.as_ref().unwrap().value, "1957-03-14");
//! assert_eq!(fields.document_type.as_ref().unwrap().value, "18842-5");
//!
//! let decision = match_patient(&fields, &index, &MatchConfig::default());
//! assert!(matches!(decision.outcome, MatchOutcome::Matched { ref mrn, .. } if mrn == "4081121"));
//! # Ok::<(), him_extract::Error>(())
//! ```

mod corroborate;
mod date;
mod decision;
mod doctype;
mod error;
mod evidence;
mod extract;
mod field;
mod index;
mod labels;
mod layout;
mod matching;
mod mrn;
mod names;
mod phonetic;
mod spoken;
mod spoken_cues;
mod spoken_roles;
mod values;

pub use corroborate::{match_cover_sheet, match_dictation, match_spoken};
pub use date::Date;
pub use decision::{
    Candidate, EvidenceRole, EvidenceSpan, IdentifierScores, MatchConfig, MatchDecision,
    MatchOutcome, MatchRule, UnmatchedReason,
};
pub use doctype::{document_types, loinc_display};
pub use error::{Error, Result};
pub use extract::{extract, extract_pages, identify_pages};
pub use field::{ExtractOptions, ExtractWarning, Field, FieldName, FieldSummary, Fields, Source};
pub use index::{PatientIndex, PatientRecord};
pub use layout::{layout_text, PageContent};
pub use matching::match_patient;
pub use mrn::{is_safe_mrn_for_key, luhn_valid, CheckDigit, LeadingZeros};
pub use names::normalize_name;
pub use phonetic::sounds_like;
pub use spoken::{extract_transcript, TranscriptSegment};

/// `document.json` as the pipeline writes it and the review reads it: the manifest with this crate's
/// typed fields and match decision.
pub type Manifest = him_core::DocumentManifest<Fields, MatchDecision>;

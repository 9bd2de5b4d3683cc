//! The match configuration and the serialisable decision it produces.

use serde::{Deserialize, Serialize};

/// Thresholds and switches of [`match_patient`]. Deserialises from the `[match]` section of
/// `pipeline.toml`; a missing key takes its default.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchConfig {
    /// Jaro-Winkler similarity (0 to 1) of normalised family names needed to call them equal. Default 0.90.
    pub family_threshold: f32,
    /// Jaro-Winkler similarity of the given name needed to call it equal. Default 0.85.
    pub given_threshold: f32,
    /// A family or given name this dissimilar to the MRN owner's is a conflict (the MRN belongs to
    /// someone else). Default 0.75.
    pub name_conflict_below: f32,
    /// Accept an OCR-corrected MRN (O→0, l→1…) when exactly one correction is in the index
    /// and passes the check digit. Default true.
    pub accept_ocr_corrected_mrn: bool,
    /// Match on family + given name + date of birth when the page has no readable MRN
    /// (none, or one that fails the check digit), if exactly one patient fits. Default true.
    pub name_dob_without_mrn: bool,
    /// Also match on name + date of birth when the page's MRN is well-formed but not in the
    /// index. Off by default: the page then names a number that belongs to nobody we know.
    pub name_dob_when_mrn_unknown: bool,
}

impl Default for MatchConfig {
    fn default() -> Self {
        MatchConfig {
            family_threshold: 0.90,
            given_threshold: 0.85,
            name_conflict_below: 0.75,
            accept_ocr_corrected_mrn: true,
            name_dob_without_mrn: true,
            name_dob_when_mrn_unknown: false,
        }
    }
}

/// Which identifiers agreed when a document was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchRule {
    /// MRN, date of birth and name all agree.
    #[serde(rename = "mrn+dob+name")]
    MrnDobName,
    /// MRN and date of birth agree; the name is absent.
    #[serde(rename = "mrn+dob")]
    MrnDob,
    /// MRN and name agree; the date of birth is absent.
    #[serde(rename = "mrn+name")]
    MrnName,
    /// Like the MRN rules, with the MRN read only after an OCR correction, corroborated by
    /// the date of birth and/or the name.
    #[serde(rename = "corrected_mrn+dob_or_name")]
    CorrectedMrn,
    /// No usable MRN; name and date of birth fit exactly one patient.
    #[serde(rename = "name+dob")]
    NameDob,
    /// Dictation without a usable MRN: the spoken date of birth and the spoken name (by sound or by spelled
    /// letters) fit exactly one patient, and no near-twin.
    #[serde(rename = "dob+spoken_name")]
    DobSpokenName,
    /// The MRN keyed on the dictation device, corroborated by the spoken date of birth and name.
    #[serde(rename = "keyed_mrn+dob+name")]
    KeyedMrnDobName,
    /// The keyed MRN, corroborated by the spoken date of birth (no name heard clearly).
    #[serde(rename = "keyed_mrn+dob")]
    KeyedMrnDob,
    /// The keyed MRN, corroborated by the spoken name (no date of birth heard).
    #[serde(rename = "keyed_mrn+name")]
    KeyedMrnName,
    /// The keyed MRN, with the keyed encounter (visit) number that the ADT feed registered for the same
    /// patient; nothing spoken contradicts it (docs/MATCHING.md, row D5).
    #[serde(rename = "keyed_mrn+encounter")]
    KeyedMrnEncounter,
    /// A `him` cover sheet named the patient by MRN and date of birth (both the index's), and nothing read on
    /// the document's pages names another patient.
    #[serde(rename = "cover_sheet")]
    CoverSheet,
    /// The label reader could not decide; the evidence search found exactly one index patient whose
    /// identifiers (MRN and/or date of birth with the name) are printed together on the patient's side of the
    /// page, and nothing read there names anyone else (docs/MATCHING.md, row E3).
    #[serde(rename = "index_evidence")]
    IndexEvidence,
}

/// Why a document was not matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnmatchedReason {
    /// No patient in the index fits.
    NoCandidate,
    /// The MRN belongs to a patient with a different name, or the name and date of birth
    /// belong to a patient with a different MRN.
    MrnConflict,
    /// The MRN belongs to a patient with a different date of birth.
    DobConflict,
    /// Several patients fit equally (or the index holds the MRN twice).
    Ambiguous,
    /// Only an MRN was read: nothing corroborates it.
    MrnOnly,
    /// Too few fields were read to decide (e.g. a family name alone).
    InsufficientFields,
    /// The document itself carries two different values of an identity field.
    ConflictingFields,
    /// The job demographics (keyed MRN) and the spoken header disagree: filed to neither patient.
    /// [`MatchDecision::disagreements`] names the fields.
    DemographicsMismatch,
    /// A keyed MRN that nothing spoken confirms (no date of birth or name heard clearly): the keyed patient
    /// is the first candidate offered to the reviewer.
    Uncorroborated,
    /// A cover sheet named one patient and the document's own header another (by MRN, date of birth or
    /// name): filed to neither. [`MatchDecision::disagreements`] names the fields.
    CoverSheetConflict,
    /// A cover sheet whose MRN and date of birth are not one patient of the index.
    CoverSheetUnknownPatient,
    /// The pages follow a page printed as a cover sheet whose barcode could not be read: they are a document
    /// of their own, never appended to the previous patient's.
    SeparatorUnreadable,
    /// The identifiers read belong to an index patient printed only in another person's role (guarantor,
    /// insured, parent, guardian, next of kin…): the document is about someone else (docs/MATCHING.md, E1).
    OtherRole,
}

impl UnmatchedReason {
    /// Every reason, in declaration order.
    pub const ALL: [UnmatchedReason; 13] = [
        UnmatchedReason::NoCandidate,
        UnmatchedReason::MrnConflict,
        UnmatchedReason::DobConflict,
        UnmatchedReason::Ambiguous,
        UnmatchedReason::MrnOnly,
        UnmatchedReason::InsufficientFields,
        UnmatchedReason::ConflictingFields,
        UnmatchedReason::DemographicsMismatch,
        UnmatchedReason::Uncorroborated,
        UnmatchedReason::CoverSheetConflict,
        UnmatchedReason::CoverSheetUnknownPatient,
        UnmatchedReason::SeparatorUnreadable,
        UnmatchedReason::OtherRole,
    ];

    /// The reason code as manifests, events and the review database spell it (`no_candidate`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            UnmatchedReason::NoCandidate => "no_candidate",
            UnmatchedReason::MrnConflict => "mrn_conflict",
            UnmatchedReason::DobConflict => "dob_conflict",
            UnmatchedReason::Ambiguous => "ambiguous",
            UnmatchedReason::MrnOnly => "mrn_only",
            UnmatchedReason::InsufficientFields => "insufficient_fields",
            UnmatchedReason::ConflictingFields => "conflicting_fields",
            UnmatchedReason::DemographicsMismatch => "demographics_mismatch",
            UnmatchedReason::Uncorroborated => "uncorroborated",
            UnmatchedReason::CoverSheetConflict => "cover_sheet_conflict",
            UnmatchedReason::CoverSheetUnknownPatient => "cover_sheet_unknown_patient",
            UnmatchedReason::SeparatorUnreadable => "separator_unreadable",
            UnmatchedReason::OtherRole => "other_role",
        }
    }

    /// The reason a code names; `None` for a code this release does not know.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == code)
    }
}

/// The outcome of [`match_patient`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum MatchOutcome {
    /// File the document under this patient.
    Matched {
        /// The MRN as the index holds it.
        mrn: String,
        /// Mean of the identifier scores, 0 to 1.
        score: f32,
        /// The rule that fired.
        rule: MatchRule,
    },
    /// Send the document to review.
    Unmatched {
        /// Why.
        reason: UnmatchedReason,
    },
}

/// Per-identifier agreement of a candidate with the page, 0 to 1; `None` when the page lacks it.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct IdentifierScores {
    /// 1 when the MRN read equals the candidate's, 0.9 when only a correction does, 0 otherwise.
    pub mrn: Option<f32>,
    /// 1 when the dates of birth are equal, 0 otherwise.
    pub date_of_birth: Option<f32>,
    /// Jaro-Winkler similarity of the family names.
    pub family: Option<f32>,
    /// Jaro-Winkler similarity of the given name (best over the candidate's given names).
    pub given: Option<f32>,
}

/// A patient the matcher considered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The candidate's MRN.
    pub mrn: String,
    /// How each identifier compares.
    pub scores: IdentifierScores,
    /// Mean of the present scores.
    pub score: f32,
    /// Where the candidate's identifiers are printed and in which role, for the clerk (empty for a
    /// dictation, or when the evidence search found none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<EvidenceSpan>,
}

/// In whose role an identifier is printed, from the words around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceRole {
    /// Labelled as the patient's (`Patient:`, `Re:`, `Baby`…).
    Patient,
    /// No role word around it.
    Unlabelled,
    /// Another person's: guarantor, insured, parent, guardian, next of kin, a clinician, the sender…
    Other,
}

/// One place where a candidate's identifier is printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceSpan {
    /// Which identifier: `mrn`, `date_of_birth`, `patient_family` or `patient_given`.
    pub identifier: crate::field::FieldName,
    /// In whose role it is printed.
    pub role: EvidenceRole,
    /// Where: a box on the page when it was OCR'd, else a byte span of the page text.
    pub source: crate::field::Source,
}

/// The explainable match decision, stored in `document.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchDecision {
    /// Matched or not, and why.
    pub outcome: MatchOutcome,
    /// Every patient considered, best first.
    pub candidates: Vec<Candidate>,
    /// The OCR-corrected MRN used, when the MRN as read was not in the index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corrected_mrn: Option<String>,
    /// Which identity fields of the spoken header contradict the job demographics
    /// ([`UnmatchedReason::DemographicsMismatch`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disagreements: Vec<crate::field::FieldName>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes are serde's: what manifests hold reads back, and every reason is in `ALL` once.
    #[test]
    fn reason_codes_are_the_serialized_names() {
        for reason in UnmatchedReason::ALL {
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
            assert_eq!(UnmatchedReason::parse(reason.as_str()), Some(reason));
        }
        let mut codes: Vec<_> = UnmatchedReason::ALL.iter().map(|r| r.as_str()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), UnmatchedReason::ALL.len());
        assert_eq!(UnmatchedReason::parse("nobody"), None);
    }
}

//! The extracted fields and where each one came from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::mrn::CheckDigit;

/// Where a field's value was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// A byte span `start..end` in the text of page `page` (0-based), as given to [`extract`](crate::extract).
    Text {
        /// 0-based page index.
        page: u32,
        /// Byte offset of the first byte.
        start: usize,
        /// Byte offset one past the last byte.
        end: usize,
    },
    /// A box on page `page` (0-based) of the OCR'd raster: left, top, width, height in pixels. Values read
    /// by their layout ([`extract_pages`](crate::extract_pages)) point at the words they came from.
    Box {
        /// 0-based page index.
        page: u32,
        /// Left, top, width, height.
        bbox: [u32; 4],
    },
    /// A time span of a dictation, in milliseconds from the start of the recording.
    Audio {
        /// Start of the span.
        start_ms: u64,
        /// End of the span.
        end_ms: u64,
    },
}

/// One extracted value with its confidence (0 to 1) and its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// The normalised value: ISO dates, LOINC codes, an MRN without spaces.
    pub value: String,
    /// How sure the extractor is, from 0 to 1.
    pub confidence: f32,
    /// Where the value was read.
    pub source: Source,
    /// The text as read, when it differs from `value` (e.g. `March 14, 1957`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

/// The fields of [`Fields`], for warnings and summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldName {
    /// [`Fields::patient_family`].
    PatientFamily,
    /// [`Fields::patient_given`].
    PatientGiven,
    /// [`Fields::mrn`].
    Mrn,
    /// [`Fields::date_of_birth`].
    DateOfBirth,
    /// [`Fields::date_of_service`].
    DateOfService,
    /// [`Fields::admission_date`].
    AdmissionDate,
    /// [`Fields::discharge_date`].
    DischargeDate,
    /// [`Fields::document_type`].
    DocumentType,
    /// [`Fields::author`].
    Author,
    /// [`Fields::encounter`].
    Encounter,
}

impl FieldName {
    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldName::PatientFamily => "patient_family",
            FieldName::PatientGiven => "patient_given",
            FieldName::Mrn => "mrn",
            FieldName::DateOfBirth => "date_of_birth",
            FieldName::DateOfService => "date_of_service",
            FieldName::AdmissionDate => "admission_date",
            FieldName::DischargeDate => "discharge_date",
            FieldName::DocumentType => "document_type",
            FieldName::Author => "author",
            FieldName::Encounter => "encounter",
        }
    }
}

/// Something the extractor noticed that a reviewer or the matcher should know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExtractWarning {
    /// The document carries two different values for this field (e.g. pages of two patients).
    ConflictingValues {
        /// The field.
        field: FieldName,
    },
    /// A date was read but dropped because it is impossible (future, before birth).
    ImplausibleDate {
        /// The field the date was labelled as.
        field: FieldName,
    },
}

/// Everything extracted from one document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fields {
    /// Patient family name, as printed (Synthea-style trailing digits kept).
    pub patient_family: Option<Field>,
    /// Patient first given name, as printed.
    pub patient_given: Option<Field>,
    /// Medical record number as read, spaces (and dashes between digit groups) removed.
    pub mrn: Option<Field>,
    /// OCR corrections of [`Fields::mrn`] (O→0, l/I→1, S→5, B→8); with [`CheckDigit::Luhn`]
    /// only those that pass. The matcher accepts one only where the index confirms it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mrn_candidates: Vec<String>,
    /// Date of birth, ISO.
    pub date_of_birth: Option<Field>,
    /// Date of service, ISO: the labelled service date, else discharge, admission or the note's leading date.
    pub date_of_service: Option<Field>,
    /// Admission date, ISO, when labelled.
    pub admission_date: Option<Field>,
    /// Discharge date, ISO, when labelled.
    pub discharge_date: Option<Field>,
    /// LOINC document type code; [`Fields::document_type_display`] names it.
    pub document_type: Option<Field>,
    /// Dictating or signing clinician, `Given Family`, titles and credentials dropped.
    pub author: Option<Field>,
    /// Encounter, visit or account number.
    pub encounter: Option<Field>,
    /// Names spelled out letter by letter in a dictation (`E M M E R I C H` → `EMMERICH`), for matching by
    /// spelled letters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spelled: Vec<String>,
    /// What a reviewer should know about these fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<ExtractWarning>,
}

/// One entry of [`Fields::summary`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FieldSummary<'a> {
    /// The normalised value.
    pub value: &'a str,
    /// The confidence, 0 to 1.
    pub confidence: f32,
}

impl Fields {
    /// The field by name.
    pub fn get(&self, name: FieldName) -> Option<&Field> {
        match name {
            FieldName::PatientFamily => self.patient_family.as_ref(),
            FieldName::PatientGiven => self.patient_given.as_ref(),
            FieldName::Mrn => self.mrn.as_ref(),
            FieldName::DateOfBirth => self.date_of_birth.as_ref(),
            FieldName::DateOfService => self.date_of_service.as_ref(),
            FieldName::AdmissionDate => self.admission_date.as_ref(),
            FieldName::DischargeDate => self.discharge_date.as_ref(),
            FieldName::DocumentType => self.document_type.as_ref(),
            FieldName::Author => self.author.as_ref(),
            FieldName::Encounter => self.encounter.as_ref(),
        }
    }

    pub(crate) fn slot(&mut self, name: FieldName) -> &mut Option<Field> {
        match name {
            FieldName::PatientFamily => &mut self.patient_family,
            FieldName::PatientGiven => &mut self.patient_given,
            FieldName::Mrn => &mut self.mrn,
            FieldName::DateOfBirth => &mut self.date_of_birth,
            FieldName::DateOfService => &mut self.date_of_service,
            FieldName::AdmissionDate => &mut self.admission_date,
            FieldName::DischargeDate => &mut self.discharge_date,
            FieldName::DocumentType => &mut self.document_type,
            FieldName::Author => &mut self.author,
            FieldName::Encounter => &mut self.encounter,
        }
    }

    /// The fields present, in a fixed order.
    pub fn present(&self) -> impl Iterator<Item = (FieldName, &Field)> {
        ALL_FIELDS
            .iter()
            .filter_map(|&name| Some((name, self.get(name)?)))
    }

    /// A flat `{name: {value, confidence}}` map of the fields present, for one JSON line.
    pub fn summary(&self) -> BTreeMap<&'static str, FieldSummary<'_>> {
        ALL_FIELDS
            .iter()
            .filter_map(|&name| {
                let field = self.get(name)?;
                Some((
                    name.as_str(),
                    FieldSummary {
                        value: &field.value,
                        confidence: field.confidence,
                    },
                ))
            })
            .collect()
    }

    /// The display name of the LOINC document type, e.g. `Discharge summary`.
    pub fn document_type_display(&self) -> Option<&'static str> {
        crate::doctype::loinc_display(&self.document_type.as_ref()?.value)
    }

    /// The date of birth as a [`Date`].
    pub fn date_of_birth_date(&self) -> Option<Date> {
        Date::parse_iso(&self.date_of_birth.as_ref()?.value)
    }

    /// Tells whether the extractor saw two different values for `name`.
    pub fn has_conflict(&self, name: FieldName) -> bool {
        self.warnings
            .contains(&ExtractWarning::ConflictingValues { field: name })
    }
}

/// Every field, in summary order.
pub(crate) const ALL_FIELDS: [FieldName; 10] = [
    FieldName::PatientFamily,
    FieldName::PatientGiven,
    FieldName::Mrn,
    FieldName::DateOfBirth,
    FieldName::DateOfService,
    FieldName::AdmissionDate,
    FieldName::DischargeDate,
    FieldName::DocumentType,
    FieldName::Author,
    FieldName::Encounter,
];

/// What the extractor needs besides the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Today's date: dates after it are implausible. Passed in so results don't depend on the clock.
    pub today: Date,
    /// The hospital's MRN check-digit scheme, used to filter OCR corrections.
    pub check_digit: CheckDigit,
}

impl ExtractOptions {
    /// Options for `today` with no MRN check digit.
    pub fn new(today: Date) -> ExtractOptions {
        ExtractOptions {
            today,
            check_digit: CheckDigit::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lists_present_fields_only() {
        let fields = Fields {
            mrn: Some(Field {
                value: "4081123".into(),
                confidence: 0.9,
                source: Source::Text {
                    page: 0,
                    start: 5,
                    end: 12,
                },
                raw: None,
            }),
            ..Fields::default()
        };
        let json = serde_json::to_string(&fields.summary()).unwrap();
        assert_eq!(json, r#"{"mrn":{"value":"4081123","confidence":0.9}}"#);
    }

    #[test]
    fn sources_serialize_with_their_kind() {
        let audio = Source::Audio {
            start_ms: 1200,
            end_ms: 2400,
        };
        assert_eq!(
            serde_json::to_string(&audio).unwrap(),
            r#"{"kind":"audio","start_ms":1200,"end_ms":2400}"#
        );
    }
}

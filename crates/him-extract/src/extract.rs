//! Field extraction from the OCR text of chart pages.

use crate::date::{find_dates, Date};
use crate::doctype;
use crate::field::{ExtractOptions, ExtractWarning, Field, FieldName, Fields, Source};
use crate::labels::label_values;
use crate::mrn::{mrn_key, ocr_candidates};
use crate::names::normalize_name;
use crate::values::read_value;

/// A value read somewhere, before one per field is chosen.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub name: FieldName,
    /// Dates are kept apart until plausibility is checked: labelled service, discharge…
    pub date_role: DateRole,
    pub value: String,
    pub raw: String,
    pub confidence: f32,
    pub source: Source,
}

/// Which label a date came with; decides the date of service when several are present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum DateRole {
    NotADate,
    Service,
    Discharge,
    Admission,
    Generic,
}

/// Dates of birth further back than this many years are misreads.
const MAX_AGE_YEARS: i32 = 130;

/// Extracts the identity fields and the document type from the OCR text of a chart,
/// one `&str` per page. Sources point at byte spans of those strings.
pub fn extract(pages: &[&str], opts: &ExtractOptions) -> Fields {
    let mut candidates = Vec::new();
    for (page_index, page) in pages.iter().enumerate() {
        let page_number = u32::try_from(page_index).unwrap_or(u32::MAX);
        page_candidates(page, page_number, opts.today, &mut candidates);
    }
    let mut fields = assemble(candidates, opts);
    if fields.document_type.is_none() {
        if let Some((doc_type, confidence, title)) = doctype::classify(pages) {
            let source = match title {
                Some((page, start, end)) => Source::Text { page, start, end },
                None => Source::Text {
                    page: 0,
                    start: 0,
                    end: pages.first().map_or(0, |p| p.len()),
                },
            };
            fields.document_type = Some(Field {
                value: doc_type.loinc().to_string(),
                confidence,
                source,
                raw: None,
            });
        }
    }
    fields
}

/// Chooses one value per field from `candidates`, checks dates, flags conflicts.
pub(crate) fn assemble(candidates: Vec<Candidate>, opts: &ExtractOptions) -> Fields {
    let mut fields = Fields::default();
    let (mut dates, others): (Vec<Candidate>, Vec<Candidate>) = candidates
        .into_iter()
        .partition(|c| c.date_role != DateRole::NotADate || c.name == FieldName::DateOfBirth);

    for name in [
        FieldName::PatientFamily,
        FieldName::PatientGiven,
        FieldName::Mrn,
        FieldName::Author,
        FieldName::Encounter,
        FieldName::DocumentType,
    ] {
        let of_field: Vec<&Candidate> = others.iter().filter(|c| c.name == name).collect();
        choose(&mut fields, name, &of_field);
    }

    let oldest = Date::new(opts.today.year() - MAX_AGE_YEARS, 1, 1);
    dates.retain(|c| {
        let plausible = Date::parse_iso(&c.value)
            .is_some_and(|d| d <= opts.today && oldest.is_none_or(|o| d >= o));
        if !plausible {
            warn(
                &mut fields,
                ExtractWarning::ImplausibleDate { field: c.name },
            );
        }
        plausible
    });
    let births: Vec<&Candidate> = dates
        .iter()
        .filter(|c| c.name == FieldName::DateOfBirth)
        .collect();
    choose(&mut fields, FieldName::DateOfBirth, &births);
    let birth = fields.date_of_birth_date();

    let mut service_dates: Vec<Candidate> = Vec::new();
    for candidate in dates
        .into_iter()
        .filter(|c| c.name != FieldName::DateOfBirth)
    {
        let before_birth =
            birth.is_some_and(|b| Date::parse_iso(&candidate.value).is_some_and(|d| d < b));
        if before_birth {
            warn(
                &mut fields,
                ExtractWarning::ImplausibleDate {
                    field: candidate.name,
                },
            );
            continue;
        }
        service_dates.push(candidate);
    }
    for (name, role) in [
        (FieldName::AdmissionDate, DateRole::Admission),
        (FieldName::DischargeDate, DateRole::Discharge),
    ] {
        let of_role: Vec<&Candidate> = service_dates
            .iter()
            .filter(|c| c.date_role == role)
            .collect();
        choose(&mut fields, name, &of_role);
    }
    // The labelled service date wins, then discharge, admission, and an unlabelled or `Date:` date.
    for role in [
        DateRole::Service,
        DateRole::Discharge,
        DateRole::Admission,
        DateRole::Generic,
    ] {
        let of_role: Vec<&Candidate> = service_dates
            .iter()
            .filter(|c| c.date_role == role)
            .collect();
        if !of_role.is_empty() {
            choose(&mut fields, FieldName::DateOfService, &of_role);
            break;
        }
    }

    if let Some(mrn) = &fields.mrn {
        fields.mrn_candidates = ocr_candidates(&mrn.value, opts.check_digit);
    }
    fields
}

fn warn(fields: &mut Fields, warning: ExtractWarning) {
    if !fields.warnings.contains(&warning) {
        fields.warnings.push(warning);
    }
}

fn comparison_key(name: FieldName, value: &str) -> String {
    match name {
        FieldName::PatientFamily | FieldName::PatientGiven | FieldName::Author => {
            normalize_name(value)
        }
        FieldName::Mrn => mrn_key(value),
        _ => value.to_string(),
    }
}

/// Identity fields whose disagreement within one document must stop automatic filing.
fn conflict_matters(name: FieldName) -> bool {
    matches!(
        name,
        FieldName::PatientFamily
            | FieldName::PatientGiven
            | FieldName::Mrn
            | FieldName::DateOfBirth
    )
}

/// Values at or above this confidence count when looking for conflicting values.
const CONFLICT_MIN_CONFIDENCE: f32 = 0.5;

fn choose(fields: &mut Fields, name: FieldName, candidates: &[&Candidate]) {
    let Some(best) = candidates.iter().copied().reduce(|best, c| {
        if c.confidence > best.confidence {
            c
        } else {
            best
        }
    }) else {
        return;
    };
    let best_key = comparison_key(name, &best.value);
    let conflict = conflict_matters(name)
        && candidates.iter().any(|c| {
            c.confidence >= CONFLICT_MIN_CONFIDENCE && comparison_key(name, &c.value) != best_key
        });
    let mut confidence = best.confidence;
    if conflict {
        confidence *= 0.5;
        warn(fields, ExtractWarning::ConflictingValues { field: name });
    }
    *fields.slot(name) = Some(Field {
        value: best.value.clone(),
        confidence,
        source: best.source,
        raw: (best.raw != best.value).then(|| best.raw.clone()),
    });
}

pub(crate) fn text_source(page: u32, line_offset: usize, start: usize, end: usize) -> Source {
    Source::Text {
        page,
        start: line_offset + start,
        end: line_offset + end,
    }
}

/// Lines of a page with the byte offset where each starts.
fn lines_with_offsets(page: &str) -> Vec<(usize, &str)> {
    let mut offset = 0;
    page.split_inclusive('\n')
        .map(|line| {
            let start = offset;
            offset += line.len();
            (start, line.trim_end_matches(['\n', '\r']))
        })
        .collect()
}

/// Reads every labelled value on one page into `out`.
fn page_candidates(page: &str, page_number: u32, today: Date, out: &mut Vec<Candidate>) {
    let lines = lines_with_offsets(page);
    for (index, &(line_offset, line)) in lines.iter().enumerate() {
        for label in label_values(line) {
            let (mut value_offset, mut value) = (
                line_offset + label.value_start,
                &line[label.value_start..label.value_end],
            );
            if value.is_empty() {
                // `PATIENT NAME:` with the value on the next line.
                if let Some(&(next_offset, next_line)) = lines.get(index + 1) {
                    let trimmed = next_line.trim();
                    if !trimmed.is_empty()
                        && trimmed.len() <= 60
                        && label_values(next_line).is_empty()
                    {
                        value_offset =
                            next_offset + (next_line.len() - next_line.trim_start().len());
                        value = trimmed;
                    }
                }
            }
            read_value(
                label.kind,
                label.confidence,
                value,
                value_offset,
                page_number,
                today,
                out,
            );
        }
    }
    // Notes that open with the date of service on a line of its own (Synthea, many dictations).
    // A header may sit above it, so the first line that is nothing but a date counts.
    let date_lines = lines.iter().take(20).filter_map(|&(line_offset, line)| {
        let trimmed = line.trim();
        let found = *find_dates(trimmed, today).first()?;
        (found.start == 0 && found.end == trimmed.len()).then_some((line_offset, line, found))
    });
    if let Some((line_offset, line, found)) = date_lines.into_iter().next() {
        let lead = line.len() - line.trim_start().len();
        out.push(Candidate {
            name: FieldName::DateOfService,
            date_role: DateRole::Generic,
            value: found.date.to_string(),
            raw: line.trim().to_string(),
            confidence: 0.6,
            source: text_source(page_number, line_offset + lead, found.start, found.end),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mrn::CheckDigit;

    fn opts() -> ExtractOptions {
        ExtractOptions::new(Date::new(2024, 6, 1).unwrap())
    }

    fn value(field: &Option<Field>) -> Option<&str> {
        field.as_ref().map(|f| f.value.as_str())
    }

    #[test]
    fn reads_a_system_header() {
        let page = "GENERAL HOSPITAL\nDISCHARGE SUMMARY\nPATIENT: O'KEEFE, KARENA\nMRN: 408 112 1\nDOB: 03/14/1957\nADMISSION DATE: 05/01/2024   DISCHARGE DATE: 05/04/2024\nAttending Physician: Jane Miller, MD\nEncounter #: E998877\n";
        let fields = extract(&[page], &opts());
        assert_eq!(value(&fields.patient_family), Some("O'KEEFE"));
        assert_eq!(value(&fields.patient_given), Some("KARENA"));
        assert_eq!(value(&fields.mrn), Some("4081121"));
        assert_eq!(value(&fields.date_of_birth), Some("1957-03-14"));
        assert_eq!(value(&fields.admission_date), Some("2024-05-01"));
        assert_eq!(value(&fields.discharge_date), Some("2024-05-04"));
        assert_eq!(value(&fields.date_of_service), Some("2024-05-04"));
        assert_eq!(value(&fields.document_type), Some("18842-5"));
        assert_eq!(fields.document_type_display(), Some("Discharge summary"));
        assert_eq!(value(&fields.author), Some("Jane Miller"));
        assert_eq!(value(&fields.encounter), Some("E998877"));
        assert!(fields.warnings.is_empty());
    }

    #[test]
    fn sources_point_at_the_value() {
        let page = "Name: Karena O'Keefe\nMed Rec # 408-112-1\nD.O.B. March 14, 1957\n";
        let fields = extract(&[page], &opts());
        let Some(Field {
            source:
                Source::Text {
                    page: 0,
                    start,
                    end,
                },
            raw,
            ..
        }) = &fields.date_of_birth
        else {
            panic!("date of birth missing");
        };
        assert_eq!(&page[*start..*end], "March 14, 1957");
        assert_eq!(raw.as_deref(), Some("March 14, 1957"));
        let Some(Field {
            source: Source::Text { start, end, .. },
            ..
        }) = &fields.mrn
        else {
            panic!("mrn missing");
        };
        assert_eq!(&page[*start..*end], "408-112-1");
        assert_eq!(value(&fields.patient_given), Some("Karena"));
        assert_eq!(value(&fields.patient_family), Some("O'Keefe"));
    }

    #[test]
    fn header_variants() {
        for (header, family, mrn, dob) in [
            (
                "Pt: KEEFE, KARA  Acct/MRN: 4081121  DOB: 1957-03-14",
                "KEEFE",
                "4081121",
                "1957-03-14",
            ),
            (
                "Patient Name: Kara Keefe\nMedical Record No. 408 1121\nBirth Date: 14-MAR-1957",
                "Keefe",
                "4081121",
                "1957-03-14",
            ),
            (
                "NAME: KEEFE, KARA M.\nMR#: 408-1121\nDate of Birth: 3/14/57",
                "KEEFE",
                "4081121",
                "1957-03-14",
            ),
            (
                "PATIENT NAME:\nKEEFE, KARA\nMRN 4081121\nDOB March 14th, 1957",
                "KEEFE",
                "4081121",
                "1957-03-14",
            ),
        ] {
            let fields = extract(&[header], &opts());
            assert_eq!(value(&fields.patient_family), Some(family), "{header}");
            assert_eq!(value(&fields.mrn), Some(mrn), "{header}");
            assert_eq!(value(&fields.date_of_birth), Some(dob), "{header}");
        }
    }

    #[test]
    fn section_heading_is_not_a_name() {
        let fields = extract(
            &["PATIENT: HISTORY OF PRESENT ILLNESS\nThe patient is a 45-year-old man."],
            &opts(),
        );
        assert!(fields.patient_family.is_none());
        assert!(fields.patient_given.is_none());
    }

    #[test]
    fn ocr_confused_mrn_is_kept_raw_with_candidates() {
        let fields = extract(&["MRN: 4O8l121\nDOB: 03/14/1957"], &opts());
        assert_eq!(value(&fields.mrn), Some("4O8l121"));
        assert_eq!(fields.mrn_candidates.len(), 3);
        let luhn = ExtractOptions {
            check_digit: CheckDigit::Luhn,
            ..opts()
        };
        let fields = extract(&["MRN: 4O8l121\nDOB: 03/14/1957"], &luhn);
        assert_eq!(fields.mrn_candidates, vec!["4081121".to_string()]);
    }

    #[test]
    fn future_and_pre_birth_dates_are_dropped() {
        let page = "DOB: 03/14/1957\nDate of Service: 03/14/1950\n";
        let fields = extract(&[page], &opts());
        assert!(fields.date_of_service.is_none());
        assert_eq!(
            fields.warnings,
            vec![ExtractWarning::ImplausibleDate {
                field: FieldName::DateOfService
            }]
        );
        let fields = extract(&["DOB: 03/14/2030\nDOS: 01/02/2024"], &opts());
        assert!(fields.date_of_birth.is_none());
        assert_eq!(value(&fields.date_of_service), Some("2024-01-02"));
    }

    #[test]
    fn two_mrns_in_one_document_are_a_conflict() {
        let fields = extract(
            &["MRN: 4081121\nDOB: 03/14/1957", "MRN: 5551234\n"],
            &opts(),
        );
        assert!(fields.has_conflict(FieldName::Mrn));
        assert!(fields.mrn.unwrap().confidence < 0.5);
    }

    #[test]
    fn leading_date_line_is_the_date_of_service() {
        let page = "2018-07-19\n\n# Chief Complaint\n- Cough\n\n# History of Present Illness\nKarena692\n is a 15 year-old.";
        let fields = extract(&[page], &opts());
        assert_eq!(value(&fields.date_of_service), Some("2018-07-19"));
        assert_eq!(value(&fields.document_type), Some("34117-2"));
    }

    #[test]
    fn author_stops_before_the_date() {
        let fields = extract(
            &["Electronically signed by: Dr. Jane Miller, MD on 03/16/2024 10:14"],
            &opts(),
        );
        assert_eq!(value(&fields.author), Some("Jane Miller"));
    }

    #[test]
    fn ocr_damaged_date_gets_lower_confidence() {
        let fields = extract(&["DOB: O3/l4/1957"], &opts());
        let dob = fields.date_of_birth.unwrap();
        assert_eq!(dob.value, "1957-03-14");
        assert!(dob.confidence < 0.9);
    }
}

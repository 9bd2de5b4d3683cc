//! Reading one label's value: names, MRNs, dates, encounter numbers, document titles.

use crate::date::{first_date_ocr_tolerant, Date};
use crate::doctype;
use crate::extract::{text_source, Candidate, DateRole};
use crate::field::FieldName;
use crate::labels::LabelKind;
use crate::mrn::normalize_read_mrn;
use crate::names::parse_person_name;

/// The leading tokens of `value` that can belong to a name: stops at digits-first tokens,
/// dates and connecting words (`on`, `at`), so `Jane Miller, MD on 03/16/2024` keeps `Jane Miller, MD`.
fn name_prefix(value: &str) -> &str {
    let mut end = 0;
    for token in value.split_inclusive(char::is_whitespace) {
        let bare = token
            .trim()
            .trim_matches(|c: char| matches!(c, ',' | ';' | '(' | ')'));
        let lower = bare.to_lowercase();
        if bare.starts_with(|c: char| c.is_ascii_digit())
            || matches!(lower.as_str(), "on" | "at" | "-" | "|")
        {
            break;
        }
        end += token.len();
    }
    value[..end].trim_end()
}

fn far_future() -> Date {
    Date::new(9999, 12, 31).expect("valid date")
}

/// The MRN part of a value: digit groups joined by single spaces or dashes (`408 112 1`).
fn mrn_span(value: &str) -> Option<(usize, usize)> {
    let mut end = None;
    let mut start = None;
    let mut offset = 0;
    for token in value.split_inclusive(' ') {
        // OCR speckle glued to a group (`3130°`, `3130.`) is not part of it.
        let bare = token
            .trim_end()
            .trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
        let is_group = !bare.is_empty()
            && bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && bare.chars().any(|c| c.is_ascii_digit());
        // A following group joins only if it is short (split digits, `88 -569868`), not a new word.
        let digits = bare.chars().filter(char::is_ascii_alphanumeric).count();
        // A date after the number (`88 -569868 18 April 1926`) is not part of it.
        let starts_date = start.is_some()
            && crate::date::find_dates(&value[offset..], far_future())
                .first()
                .is_some_and(|found| found.start == 0);
        let joins = start.is_none() || (is_group && digits <= 6 && !starts_date);
        if !is_group || !joins {
            break;
        }
        start.get_or_insert(offset);
        end = Some(offset + bare.len());
        offset += token.len();
    }
    Some((start?, end?))
}

fn encounter_span(value: &str) -> Option<(usize, usize)> {
    let token = value.split_whitespace().next()?;
    let token = token.trim_end_matches([',', ';', '.']);
    let valid = token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && token.chars().any(|c| c.is_ascii_digit());
    let start = value.find(token)?;
    valid.then_some((start, start + token.len()))
}

fn date_role(kind: LabelKind) -> DateRole {
    match kind {
        LabelKind::Service => DateRole::Service,
        LabelKind::Admission => DateRole::Admission,
        LabelKind::Discharge => DateRole::Discharge,
        LabelKind::GenericDate => DateRole::Generic,
        _ => DateRole::NotADate,
    }
}

/// Turns one label's value into candidates.
pub(crate) fn read_value(
    kind: LabelKind,
    confidence: f32,
    value: &str,
    value_offset: usize,
    page: u32,
    today: Date,
    out: &mut Vec<Candidate>,
) {
    let mut push = |name: FieldName,
                    role: DateRole,
                    text: String,
                    raw: &str,
                    conf: f32,
                    start: usize,
                    end: usize| {
        out.push(Candidate {
            name,
            date_role: role,
            value: text,
            raw: raw.to_string(),
            confidence: conf,
            source: text_source(page, value_offset, start, end),
        });
    };
    match kind {
        LabelKind::Name => {
            let prefix = name_prefix(value);
            let Some(spans) = parse_person_name(prefix) else {
                return;
            };
            let (fs, fe) = spans.family;
            let single = spans.given.is_none();
            let conf = if single { confidence * 0.6 } else { confidence };
            push(
                FieldName::PatientFamily,
                DateRole::NotADate,
                prefix[fs..fe].to_string(),
                &prefix[fs..fe],
                conf,
                fs,
                fe,
            );
            if let Some((gs, ge)) = spans.given {
                push(
                    FieldName::PatientGiven,
                    DateRole::NotADate,
                    prefix[gs..ge].to_string(),
                    &prefix[gs..ge],
                    conf,
                    gs,
                    ge,
                );
            }
        }
        LabelKind::Author => {
            let prefix = name_prefix(value);
            let Some(spans) = parse_person_name(prefix) else {
                return;
            };
            let (fs, fe) = spans.family;
            let (display, start, end) = match spans.given {
                Some((gs, ge)) => (
                    format!("{} {}", &prefix[gs..ge], &prefix[fs..fe]),
                    gs.min(fs),
                    ge.max(fe),
                ),
                None => (prefix[fs..fe].to_string(), fs, fe),
            };
            push(
                FieldName::Author,
                DateRole::NotADate,
                display,
                &prefix[start..end],
                confidence,
                start,
                end,
            );
        }
        LabelKind::Mrn => {
            let Some((start, end)) = mrn_span(value) else {
                return;
            };
            let raw = &value[start..end];
            push(
                FieldName::Mrn,
                DateRole::NotADate,
                normalize_read_mrn(raw),
                raw,
                confidence,
                start,
                end,
            );
        }
        LabelKind::Encounter => {
            let Some((start, end)) = encounter_span(value) else {
                return;
            };
            let raw = &value[start..end];
            push(
                FieldName::Encounter,
                DateRole::NotADate,
                raw.to_string(),
                raw,
                confidence,
                start,
                end,
            );
        }
        LabelKind::Dob
        | LabelKind::Service
        | LabelKind::Admission
        | LabelKind::Discharge
        | LabelKind::GenericDate => {
            let window_end = value.len().min(40);
            let window = value.get(..window_end).unwrap_or(value);
            let Some((found, repaired)) = first_date_ocr_tolerant(window, today) else {
                return;
            };
            // A date far into the value belongs to something else on the line; a date of birth may follow
            // the age (`DOB/Age: 34 y / 01/02/1990`).
            let reach = if kind == LabelKind::Dob { 16 } else { 3 };
            if found.start > reach {
                return;
            }
            let conf = if repaired {
                confidence * 0.7
            } else {
                confidence
            };
            let name = if kind == LabelKind::Dob {
                FieldName::DateOfBirth
            } else {
                FieldName::DateOfService
            };
            let role = date_role(kind);
            push(
                name,
                role,
                found.date.to_string(),
                &value[found.start..found.end],
                conf,
                found.start,
                found.end,
            );
        }
        LabelKind::DocType => {
            if let Some((doc_type, start, end)) = doctype::classify_title(value, false) {
                push(
                    FieldName::DocumentType,
                    DateRole::NotADate,
                    doc_type.loinc().to_string(),
                    &value[start..end],
                    confidence,
                    start,
                    end,
                );
            }
        }
        LabelKind::FamilyName | LabelKind::GivenName => {
            // A split name field holds one part: the family name whole, the first given name.
            let prefix = name_prefix(value);
            let family = kind == LabelKind::FamilyName;
            let end = if family {
                prefix.len()
            } else {
                prefix.find(char::is_whitespace).unwrap_or(prefix.len())
            };
            let part = prefix[..end].trim_end_matches([',', '.', ';']);
            let plausible = !part.is_empty()
                && part.split_whitespace().count() <= 4
                && part
                    .chars()
                    .all(|c| c.is_alphabetic() || matches!(c, ' ' | '\'' | '’' | '-' | '.'))
                && parse_person_name(part).is_some();
            if plausible {
                let name = if family {
                    FieldName::PatientFamily
                } else {
                    FieldName::PatientGiven
                };
                push(
                    name,
                    DateRole::NotADate,
                    part.to_string(),
                    part,
                    confidence,
                    0,
                    part.len(),
                );
            }
        }
        LabelKind::Other => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_prefix_stops_at_dates_and_connectives() {
        assert_eq!(
            name_prefix("Jane Miller, MD on 03/16/2024"),
            "Jane Miller, MD"
        );
        assert_eq!(name_prefix("O'KEEFE, KARENA 45 yo"), "O'KEEFE, KARENA");
    }

    #[test]
    fn mrn_span_joins_split_digit_groups_only() {
        let value = "408 112 1 Karena";
        let (start, end) = mrn_span(value).unwrap();
        assert_eq!(&value[start..end], "408 112 1");
        assert_eq!(mrn_span("unknown"), None);
        let value = "8422 3130° x";
        let (start, end) = mrn_span(value).unwrap();
        assert_eq!(&value[start..end], "8422 3130");
        let value = "88 -569868 18 April 1926";
        let (start, end) = mrn_span(value).unwrap();
        assert_eq!(&value[start..end], "88 -569868");
    }

    #[test]
    fn encounter_needs_a_digit() {
        assert_eq!(encounter_span("E12345, bed 4"), Some((0, 6)));
        assert_eq!(encounter_span("pending"), None);
    }
}

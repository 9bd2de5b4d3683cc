//! Field extraction from the OCR text of chart pages.

use crate::date::{find_dates, Date};
use crate::doctype;
use crate::field::{ExtractOptions, ExtractWarning, Field, FieldName, Fields, Source};
use crate::labels::{cell_label_values, label_values, LabelKind, LabelValue};
use crate::layout::{LayoutPage, PageContent, COLUMN_GAP};
use crate::mrn::{mrn_key, ocr_candidates};
use crate::names::normalize_name;
use crate::names::parse_person_name;
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
    let pages: Vec<PageContent<'_>> = pages
        .iter()
        .map(|text| PageContent { text, words: &[] })
        .collect();
    extract_pages(&pages, opts)
}

/// Extracts the identity fields and the document type from a chart's pages, reading each OCR'd page by its
/// layout: labels pair with values to their right or under them, in their column, in two-column headers,
/// tables and patient stickers. Values read from words point at their box ([`Source::Box`]); values of a
/// page without words (a text layer) at byte spans of its text.
pub fn extract_pages(pages: &[PageContent<'_>], opts: &ExtractOptions) -> Fields {
    let layouts = page_layouts(pages);
    let texts = page_texts(pages, &layouts);
    fields_of(&texts, &layouts, opts)
}

/// Extracts the fields of a chart's pages and decides which patient it belongs to: the label reader's fields
/// matched by [`match_patient`](crate::match_patient), then the evidence search over every page
/// (`crate::evidence`): the index's patients looked for in the document, on any layout, with the role each
/// identifier is printed in. A candidate printed only in another person's role is never filed; a document
/// the label reader could not match is filed when exactly one patient has strong patient-side evidence and
/// nothing read contradicts it. Each candidate carries its evidence spans for the clerk.
pub fn identify_pages(
    pages: &[PageContent<'_>],
    index: &crate::index::PatientIndex,
    opts: &ExtractOptions,
    cfg: &crate::decision::MatchConfig,
) -> (Fields, crate::decision::MatchDecision) {
    let layouts = page_layouts(pages);
    let texts = page_texts(pages, &layouts);
    let mut fields = fields_of(&texts, &layouts, opts);
    let base = crate::matching::match_patient(&fields, index, cfg);
    let doc = crate::evidence::Document::read(&texts, &layouts, opts.today);
    let decision = crate::evidence::decide(&doc, &layouts, &mut fields, base, index, cfg);
    (fields, decision)
}

fn page_layouts(pages: &[PageContent<'_>]) -> Vec<Option<LayoutPage>> {
    pages
        .iter()
        .map(|page| (!page.words.is_empty()).then(|| LayoutPage::build(page.words)))
        .collect()
}

fn page_texts<'a>(pages: &[PageContent<'a>], layouts: &'a [Option<LayoutPage>]) -> Vec<&'a str> {
    pages
        .iter()
        .zip(layouts)
        .map(|(page, layout)| layout.as_ref().map_or(page.text, |l| l.text.as_str()))
        .collect()
}

fn fields_of(texts: &[&str], layouts: &[Option<LayoutPage>], opts: &ExtractOptions) -> Fields {
    let mut candidates = Vec::new();
    for (page_index, (text, layout)) in texts.iter().zip(layouts).enumerate() {
        let page_number = u32::try_from(page_index).unwrap_or(u32::MAX);
        page_candidates(
            text,
            page_number,
            opts.today,
            layout.as_ref(),
            &mut candidates,
        );
    }
    for candidate in &mut candidates {
        candidate.source = boxed(layouts, candidate.source);
    }
    let mut fields = assemble(candidates, opts);
    if fields.document_type.is_none() {
        let texts = texts.to_vec();
        let text_height = |page: u32, start: usize, end: usize| {
            layouts
                .get(page as usize)?
                .as_ref()?
                .text_height(start, end)
        };
        if let Some((doc_type, confidence, title)) = doctype::classify_by_size(&texts, &text_height)
        {
            let source = match title {
                Some((page, start, end)) => boxed(layouts, Source::Text { page, start, end }),
                None => Source::Text {
                    page: 0,
                    start: 0,
                    end: texts.first().map_or(0, |p| p.len()),
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

/// A text span of a page read by its layout, as the box of its words.
fn boxed(layouts: &[Option<LayoutPage>], source: Source) -> Source {
    if let Source::Text { page, start, end } = source {
        if let Some(Some(layout)) = layouts.get(page as usize) {
            return layout.source(page, start, end).unwrap_or(source);
        }
    }
    source
}

/// A redaction or template placeholder where a value would be (`XXXX`, `MR#: 0000000`): not a value.
fn is_placeholder(name: FieldName, value: &str) -> bool {
    let letters: Vec<char> = value.chars().filter(|c| c.is_alphanumeric()).collect();
    match name {
        FieldName::Mrn | FieldName::Encounter => {
            !letters.is_empty()
                && letters
                    .iter()
                    .all(|c| *c == '0' || c.eq_ignore_ascii_case(&'x'))
        }
        FieldName::PatientFamily | FieldName::PatientGiven | FieldName::Author => {
            !letters.is_empty() && letters.iter().all(|c| c.eq_ignore_ascii_case(&'x'))
        }
        _ => false,
    }
}

/// Chooses one value per field from `candidates`, checks dates, flags conflicts.
pub(crate) fn assemble(candidates: Vec<Candidate>, opts: &ExtractOptions) -> Fields {
    let mut fields = Fields::default();
    let (mut dates, others): (Vec<Candidate>, Vec<Candidate>) = candidates
        .into_iter()
        .filter(|c| !is_placeholder(c.name, &c.value))
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

/// Identity values outside the header region of a page read by its layout count a little less: the
/// header and the sticker are where a chart names its patient.
const OUTSIDE_HEADER: f32 = 0.95;

/// Reads every labelled value on one page into `out`. With the page's `layout`, labels may fill a cell of
/// their own, a value may sit under its label, and an unlabelled `FAMILY, GIVEN` over the identifiers of a
/// sticker is read as the patient's name.
fn page_candidates(
    page: &str,
    page_number: u32,
    today: Date,
    layout: Option<&LayoutPage>,
    out: &mut Vec<Candidate>,
) {
    let lines = lines_with_offsets(page);
    let find = |line: &str, offset: usize| match layout {
        Some(layout) => cell_label_values(line, layout.in_header(offset)),
        None => label_values(line),
    };
    let first_new = out.len();
    for (index, &(line_offset, line)) in lines.iter().enumerate() {
        let labels = find(line, line_offset);
        for (position, label) in labels.iter().enumerate() {
            let (mut value_offset, mut value) = (
                line_offset + label.value_start,
                &line[label.value_start..label.value_end],
            );
            if value.is_empty() {
                if let Some(layout) = layout {
                    // The value under the label, in its column.
                    if let Some((start, below)) =
                        value_under(page, layout, line_offset, &labels, position)
                    {
                        value_offset = start;
                        value = below;
                    }
                } else if let Some(&(next_offset, next_line)) = lines.get(index + 1) {
                    // `PATIENT NAME:` with the value on the next line.
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
            let before = out.len();
            read_value(
                label.kind,
                label.confidence,
                value,
                value_offset,
                page_number,
                today,
                out,
            );
            // The next cell beside the label was no value of its kind (`NAME:   M/F.`): the value is under it.
            let next_cell = line
                .get(label.label_end..label.value_start)
                .is_some_and(|between| between.contains(COLUMN_GAP));
            if let (Some(layout), true) = (layout, out.len() == before && next_cell) {
                if let Some((start, below)) =
                    value_under(page, layout, line_offset, &labels, position)
                {
                    read_value(
                        label.kind,
                        label.confidence,
                        below,
                        start,
                        page_number,
                        today,
                        out,
                    );
                }
            }
        }
        if let Some(layout) = layout {
            sticker_name(&lines, index, &labels, layout, page_number, today, out);
        }
        if is_closing(line) {
            signature(&lines[index + 1..], page_number, today, out);
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
    if let Some(layout) = layout {
        for candidate in &mut out[first_new..] {
            if let Source::Text { start, .. } = candidate.source {
                if !layout.in_header(start) {
                    candidate.confidence *= OUTSIDE_HEADER;
                }
            }
        }
    }
}

/// The value under the `position`th label of the row at `line_offset`, in the label's column (up to the next
/// label of the row), with its offset in the page; `None` when nothing sits there or it is a row of labels.
fn value_under<'p>(
    page: &'p str,
    layout: &LayoutPage,
    line_offset: usize,
    labels: &[LabelValue],
    position: usize,
) -> Option<(usize, &'p str)> {
    let label = labels.get(position)?;
    let next_label = labels
        .get(position + 1)
        .map(|l| line_offset + l.label_start);
    let label_span = (
        line_offset + label.label_start,
        line_offset + label.label_end,
    );
    let (start, end) = layout.value_below(label_span, next_label)?;
    let below = page.get(start..end)?;
    cell_label_values(below, false)
        .is_empty()
        .then_some((start, below))
}

/// A letter's closing (`Sincerely,`): the signer's name follows.
fn is_closing(line: &str) -> bool {
    let bare = line.trim().trim_end_matches([',', '.', ':']).to_lowercase();
    matches!(
        bare.as_str(),
        "sincerely"
            | "sincerely yours"
            | "yours sincerely"
            | "regards"
            | "best regards"
            | "kind regards"
            | "warm regards"
            | "respectfully"
            | "yours truly"
            | "very truly yours"
            | "with best regards"
            | "best wishes"
    )
}

/// Confidence of a letter's signer as its author.
const SIGNATURE_AUTHOR: f32 = 0.7;

/// The signer under a letter's closing: the first of the next lines that is a clinician's name (a title or a
/// credential with it), skipping a signature scrawl OCR may read as a word.
fn signature(lines: &[(usize, &str)], page_number: u32, today: Date, out: &mut Vec<Candidate>) {
    for &(line_offset, line) in lines.iter().take(4) {
        let trimmed = line.trim();
        let lower = trimmed.to_lowercase();
        let credentialed = lower.starts_with("dr")
            || [
                ", md", " md", ", do", ", np", ", pa", "m.d.", ", dpm", ", phd", "-c",
            ]
            .iter()
            .any(|suffix| lower.ends_with(suffix));
        if credentialed && parse_person_name(trimmed).is_some() {
            let lead = line.len() - line.trim_start().len();
            read_value(
                LabelKind::Author,
                SIGNATURE_AUTHOR,
                trimmed,
                line_offset + lead,
                page_number,
                today,
                out,
            );
            return;
        }
    }
}

/// Confidence of a name read without a label, from its place over a sticker's identifiers.
const STICKER_NAME: f32 = 0.7;

/// A patient sticker or an addressograph block: `FAMILY, GIVEN M` without a label, a cell of a header row
/// whose later cells, or the next row, carry the MRN or the date of birth.
fn sticker_name(
    lines: &[(usize, &str)],
    index: usize,
    labels: &[LabelValue],
    layout: &LayoutPage,
    page_number: u32,
    today: Date,
    out: &mut Vec<Candidate>,
) {
    let (line_offset, line) = lines[index];
    if !layout.in_header(line_offset) {
        return;
    }
    let identifier = |label: &LabelValue| matches!(label.kind, LabelKind::Mrn | LabelKind::Dob);
    // A sticker's identifiers follow within a few rows (a letterhead's lines can sit between, beside it).
    let under = lines
        .iter()
        .skip(index + 1)
        .take(3)
        .any(|&(next_offset, next)| {
            cell_label_values(next, layout.in_header(next_offset))
                .iter()
                .any(identifier)
        });
    let mut cell_start = 0;
    for cell in line.split(COLUMN_GAP) {
        let cell_end = cell_start + cell.len();
        let lead = cell.len() - cell.trim_start().len();
        let text = cell.trim();
        let beside = labels
            .iter()
            .any(|l| l.label_start >= cell_end && identifier(l));
        let unlabelled = labels
            .iter()
            .all(|l| l.label_start >= cell_end || l.value_end <= cell_start);
        let plain_name = text.contains(',')
            && text.split_whitespace().count() <= 5
            && !text.chars().any(|c| c.is_ascii_digit() || c == ':')
            && unlabelled
            && parse_person_name(text).is_some_and(|spans| spans.comma_form);
        if plain_name && (beside || under) {
            read_value(
                LabelKind::Name,
                STICKER_NAME,
                text,
                line_offset + cell_start + lead,
                page_number,
                today,
                out,
            );
            return;
        }
        cell_start = cell_end + COLUMN_GAP.len();
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
    fn template_placeholders_are_not_values() {
        let opts = ExtractOptions::new(Date::new(2024, 6, 1).unwrap());
        let page = "RE: Piotr Zielinski   MRN: 4081121\nDOB: 04/05/1934\n\n\
                    RE: XXXX, XXXX   MR#: 0000000\n";
        let fields = extract(&[page], &opts);
        assert_eq!(fields.mrn.as_ref().unwrap().value, "4081121");
        assert!(!fields.has_conflict(FieldName::Mrn));
        assert!(!fields.has_conflict(FieldName::PatientFamily));
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

    /// Reads a page given as OCR words: `(text, left, top, tesseract line)`.
    fn read_words(spec: &[(&str, u32, u32, u32)]) -> Fields {
        let words = crate::layout::tests::words(spec);
        extract_pages(
            &[PageContent {
                text: "",
                words: &words,
            }],
            &opts(),
        )
    }

    /// Lays a text out as words on a grid: one row per line, 14 px per character; each run of three spaces
    /// starts the next of the `column` px wide columns. Every row is one tesseract line.
    fn grid(text: &str, column: u32) -> Vec<(String, u32, u32, u32)> {
        let mut out = Vec::new();
        for (row, line) in text.lines().enumerate() {
            let top = 100 + 45 * row as u32;
            for (cell_index, cell) in line.split("   ").enumerate() {
                let mut x = 100 + column * cell_index as u32;
                for word in cell.split(' ').filter(|w| !w.is_empty()) {
                    out.push((word.to_string(), x, top, row as u32 + 1));
                    x += 14 * (word.chars().count() as u32 + 1);
                }
            }
        }
        out
    }

    /// Reads a text laid out by [`grid`] in columns `column` px wide.
    fn read_columns(text: &str, column: u32) -> Fields {
        let words = grid(text, column);
        let spec: Vec<(&str, u32, u32, u32)> = words
            .iter()
            .map(|(t, l, top, line)| (t.as_str(), *l, *top, *line))
            .collect();
        read_words(&spec)
    }

    /// Reads a text laid out by [`grid`] in columns wide enough for every value (330 px).
    fn read_grid(text: &str) -> Fields {
        read_columns(text, 330)
    }

    #[test]
    fn two_column_header_read_by_its_layout() {
        // Tesseract read each column as a block of its own.
        let fields = read_words(&[
            ("Patient:", 100, 100, 1),
            ("SMITH,", 230, 100, 1),
            ("JOHN", 330, 100, 1),
            ("DOB:", 100, 150, 2),
            ("30-JUL-2002", 170, 150, 2),
            ("Chart", 900, 102, 3),
            ("#:", 980, 102, 3),
            ("79-345971", 1020, 102, 3),
            ("Visit", 900, 151, 4),
            ("Date:", 980, 151, 4),
            ("Jul", 1060, 151, 4),
            ("11,", 1110, 151, 4),
            ("2007", 1160, 151, 4),
        ]);
        assert_eq!(value(&fields.patient_family), Some("SMITH"));
        assert_eq!(value(&fields.patient_given), Some("JOHN"));
        assert_eq!(value(&fields.mrn), Some("79345971"));
        assert_eq!(value(&fields.date_of_birth), Some("2002-07-30"));
        assert_eq!(value(&fields.date_of_service), Some("2007-07-11"));
        let Some(Field {
            source: Source::Box { page: 0, bbox },
            ..
        }) = fields.mrn
        else {
            panic!("the MRN has no box");
        };
        assert_eq!(bbox, [1020, 102, 14 * 9, 30]);
    }

    #[test]
    fn values_under_their_labels() {
        let fields = read_grid(
            "Patient Name   Med Rec #   Birth Date   Date of Service\n\
             O'KEEFE, KARENA M   6366 0872   November 19, 1986   11-Jul-2007",
        );
        assert_eq!(value(&fields.patient_family), Some("O'KEEFE"));
        assert_eq!(value(&fields.patient_given), Some("KARENA"));
        assert_eq!(value(&fields.mrn), Some("63660872"));
        assert_eq!(value(&fields.date_of_birth), Some("1986-11-19"));
        assert_eq!(value(&fields.date_of_service), Some("2007-07-11"));
    }

    /// A name that runs close to the next column (`MORRIS, SALMA` under `Pat Name`, its last word near `EMR
    /// ID`) stays out of that column's value.
    #[test]
    fn a_long_value_does_not_spill_into_the_next_column() {
        let fields = read_columns(
            "Pat Name   EMR ID   Birth Date\nMORRIS, SALMA   000059533687   1920/10/15",
            200,
        );
        assert_eq!(value(&fields.mrn), Some("000059533687"));
        assert_eq!(value(&fields.patient_family), Some("MORRIS"));
        assert_eq!(value(&fields.date_of_birth), Some("1920-10-15"));
    }

    #[test]
    fn table_cells_without_colons() {
        let fields = read_grid(
            "| Patient Name   | Yvone J. Garcia-Lopez |\n\
             | MR#   | 0021562756 |\n\
             | Date of Birth   | 03/14/1957 |",
        );
        assert_eq!(value(&fields.patient_family), Some("Garcia-Lopez"));
        assert_eq!(value(&fields.patient_given), Some("Yvone"));
        assert_eq!(value(&fields.mrn), Some("0021562756"));
        assert_eq!(value(&fields.date_of_birth), Some("1957-03-14"));
    }

    #[test]
    fn an_unlabelled_name_over_a_stickers_identifiers() {
        let fields = read_grid(
            "MERCY GENERAL HOSPITAL\n\
             PROGRESS NOTE\n\
             DE LA CRUZ, MARIA E\n\
             MRN: 4081121   DOB: 03/14/1957   Sex: F\n\
             FIN: 99812",
        );
        assert_eq!(value(&fields.patient_family), Some("DE LA CRUZ"));
        assert_eq!(value(&fields.patient_given), Some("MARIA"));
        assert_eq!(value(&fields.mrn), Some("4081121"));
        assert_eq!(value(&fields.document_type), Some("11506-3"));
        // A comma-separated line far from any identifier is not a name.
        let fields = read_grid("Seattle, Washington\nThe patient is stable.");
        assert!(fields.patient_family.is_none());
    }

    #[test]
    fn ocr_damaged_date_gets_lower_confidence() {
        let fields = extract(&["DOB: O3/l4/1957"], &opts());
        let dob = fields.date_of_birth.unwrap();
        assert_eq!(dob.value, "1957-03-14");
        assert!(dob.confidence < 0.9);
    }
}

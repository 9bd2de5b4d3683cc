//! Identity as an evidence search: the patient index tells what to look for.
//!
//! The label reader ([`crate::extract`]) must understand a layout to find *the* name, date of birth and MRN.
//! This module works the other way round, on any layout:
//!
//! 1. **Spans**: every identifier-shaped span of every page — dates in any format (two-digit years, day and
//!    month either way, month names, Roman months, ordinals), digit groups (with separators and letter
//!    prefixes) and words — with its page, line and horizontal extent.
//! 2. **Lookup**: the index's hash maps by MRN and by date of birth give the candidate patients; the cost per
//!    document grows with the number of spans on the page, not with the size of the index.
//! 3. **Evidence per candidate**: which of the candidate's identifiers appear (MRN, date of birth, family and
//!    given name), how close together (a *mention*: spans within a few lines of one page), and in which
//!    **role**, from the words around them: the patient (`Patient:`, `Re:`, `Baby`…), another person
//!    (guarantor, subscriber, insured, parent, guardian, next of kin, physician, sender…) or unlabelled.
//! 4. **Decision** ([`decide`]): the rows `E1`–`E6` of docs/MATCHING.md, applied over the label reader's
//!    decision. A candidate whose identifiers appear only in another person's role is never filed; two index
//!    patients with comparable patient-side evidence leave the document unmatched; a document the label reader
//!    could not match is filed when exactly one patient has strong patient-side evidence and nothing read on
//!    the page contradicts it.

use crate::date::Date;
use crate::decision::{
    Candidate, EvidenceRole, EvidenceSpan, MatchConfig, MatchDecision, MatchOutcome, MatchRule,
    UnmatchedReason,
};
use crate::field::{Field, FieldName, Fields, Source};
use crate::index::{PatientIndex, PatientRecord};
use crate::layout::LayoutPage;
use crate::mrn::mrn_key;
use crate::names::name_similarity;
use std::collections::HashMap;

mod dates;
mod page;

#[cfg(test)]
use dates::line_dates;
pub(crate) use page::Document;
use page::{fold_key, Fit, Span};

/// Lines apart within which spans of one patient count as one mention.
const MENTION_LINES: usize = 4;
/// Lines above from which a short labelled cell passes its role down.
const INHERIT_LINES: usize = 6;
/// Words that label a date as a birth date.
const BIRTH_WORDS: &[&str] = &[
    "dob",
    "birth",
    "born",
    "birthdate",
    "bd",
    "dn",
    "geb",
    "geboren",
    "naissance",
    "nacimiento",
    "b",
    "ddn",
    "birthday",
];
/// A date of birth shared by more patients than this is not used to find candidates (a data-quality
/// placeholder such as 1900-01-01).
const MAX_PER_BIRTH_DATE: usize = 2_000;

/// The words around some places of a document (keys of one to three consecutive words), for a quick check
/// of a name before the full search.
struct Window<'d> {
    keys: Vec<&'d str>,
}

impl<'d> Window<'d> {
    fn around(doc: &'d Document<'_>, places: &[(u32, usize)]) -> Window<'d> {
        let mut lines: Vec<usize> = Vec::new();
        for &(page, line) in places {
            let from = line.saturating_sub(MENTION_LINES);
            let to = (line + MENTION_LINES + 1).min(doc.lines.len());
            lines.extend((from..to).filter(|&l| {
                let (first, last) = doc.lines[l];
                first < last && doc.tokens[first].page == page
            }));
        }
        lines.sort_unstable();
        lines.dedup();
        let mut keys: Vec<&str> = lines
            .into_iter()
            .flat_map(|l| doc.line_keys[l].iter().map(String::as_str))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        Window { keys }
    }

    /// Whether `name` (or its first word) may be printed here: exactly, or close by Jaro-Winkler among words
    /// that share its first letter and nearly its length (the keys are sorted: one binary search).
    fn may_hold(&self, name: &str, threshold: f32) -> bool {
        let key = fold_key(name);
        let Some(&a) = key.as_bytes().first() else {
            return false;
        };
        if key.len() < 2 {
            return false;
        }
        let from = self.keys.partition_point(|w| w.as_bytes()[0] < a);
        let to = self.keys.partition_point(|w| w.as_bytes()[0] <= a);
        let same_letter = &self.keys[from..to];
        if same_letter.binary_search(&key.as_str()).is_ok() {
            return true;
        }
        let first_word = name
            .split(|c: char| c.is_whitespace() || c == '-')
            .map(fold_key)
            .find(|w| !w.is_empty())
            .unwrap_or_default();
        if first_word.len() >= 3 && same_letter.binary_search(&first_word.as_str()).is_ok() {
            return true;
        }
        let threshold = f64::from(threshold);
        key.len() >= 4
            && same_letter.iter().any(|w| {
                w.len() + 2 >= key.len()
                    && w.len() <= key.len() + 2
                    && strsim::jaro_winkler(w, &key) >= threshold
            })
    }
}

/// One candidate's evidence.
#[derive(Debug, Clone)]
pub(crate) struct Evidence {
    pub mrn: String,
    spans: Vec<Span>,
    /// The strongest mention on the patient's side: (strength, explicit patient role, its spans).
    best: Option<Mention>,
    /// Whether any of the candidate's identifiers (MRN, date of birth) appear in another person's role.
    other_role: bool,
}

#[derive(Debug, Clone)]
struct Mention {
    /// 3: MRN, birth date and name; 2: two of them (a name counts only when family and given are close).
    strength: u8,
    explicit: bool,
    name_exact: bool,
    /// Token ranges of the name spans: two candidates whose names were read at the same place (near-twins)
    /// are not independent.
    name_tokens: Vec<(usize, usize)>,
    spans: Vec<Span>,
}

impl Evidence {
    /// The spans shown to a clerk, with their boxes where the page was OCR'd.
    fn public_spans(&self, layouts: &[Option<LayoutPage>]) -> Vec<EvidenceSpan> {
        let mut shown: Vec<&Span> = match &self.best {
            Some(mention) => mention.spans.iter().collect(),
            None => self.spans.iter().collect(),
        };
        shown.sort_by_key(|s| (s.page, s.start));
        shown.dedup_by_key(|s| (s.page, s.start, s.identifier));
        shown
            .into_iter()
            .take(12)
            .map(|s| {
                let text_source = Source::Text {
                    page: s.page,
                    start: s.start,
                    end: s.end,
                };
                let source = layouts
                    .get(s.page as usize)
                    .and_then(Option::as_ref)
                    .and_then(|l| l.source(s.page, s.start, s.end))
                    .unwrap_or(text_source);
                EvidenceSpan {
                    identifier: s.identifier,
                    role: s.role,
                    source,
                }
            })
            .collect()
    }
}

fn mentions(spans: &[Span]) -> Vec<Mention> {
    let mut sorted: Vec<Span> = spans
        .iter()
        .filter(|s| s.role != EvidenceRole::Other)
        .copied()
        .collect();
    sorted.sort_by_key(|s| (s.page, s.line, s.start));
    let mut groups: Vec<Vec<Span>> = Vec::new();
    for span in sorted {
        match groups.last_mut() {
            Some(group)
                if group.last().is_some_and(|last| {
                    last.page == span.page && span.line <= last.line + MENTION_LINES
                }) =>
            {
                group.push(span);
            }
            _ => groups.push(vec![span]),
        }
    }
    groups
        .into_iter()
        .map(|spans| {
            let has = |id: FieldName| spans.iter().any(|s| s.identifier == id);
            // A name: family and given words within a few words of each other on one line, or in split name
            // fields on adjacent lines.
            let mut name = None::<(bool, Vec<(usize, usize)>)>;
            for family in spans
                .iter()
                .filter(|s| s.identifier == FieldName::PatientFamily)
            {
                for given in spans.iter().filter(|s| {
                    s.identifier == FieldName::PatientGiven
                        && s.tokens != family.tokens
                        && (if s.line == family.line {
                            s.tokens
                                .0
                                .abs_diff(family.tokens.1)
                                .min(family.tokens.0.abs_diff(s.tokens.1))
                                <= 4
                        } else {
                            // Split name fields (`Last Name: …` over `First Name: …`), in one role.
                            s.page == family.page
                                && s.line.abs_diff(family.line) <= 2
                                && s.role == family.role
                        })
                }) {
                    let exact = family.fit == Fit::Exact && given.fit == Fit::Exact;
                    let close_enough = family.fit == Fit::Exact || given.fit == Fit::Exact;
                    if !close_enough {
                        continue;
                    }
                    if name.as_ref().is_none_or(|(e, _)| exact && !e) {
                        name = Some((exact, vec![family.tokens, given.tokens]));
                    }
                }
            }
            let mrn = has(FieldName::Mrn);
            let dob = has(FieldName::DateOfBirth);
            let (name_found, name_exact, name_tokens) = match name {
                Some((exact, tokens)) => (true, exact, tokens),
                None => (false, false, Vec::new()),
            };
            let strength = match (mrn, dob, name_found) {
                (true, true, true) => 3,
                (true, true, false) => 2,
                (true, false, true) if name_exact => 2,
                (false, true, true) => 2,
                _ => u8::from(mrn || dob || name_found),
            };
            Mention {
                strength,
                explicit: spans.iter().any(|s| s.role == EvidenceRole::Patient),
                name_exact,
                name_tokens,
                spans,
            }
        })
        .collect()
}

/// Finds every index patient whose identifiers the document prints, with the evidence for each.
pub(crate) fn search(doc: &Document<'_>, index: &PatientIndex, cfg: &MatchConfig) -> Vec<Evidence> {
    let mut found: HashMap<String, (&PatientRecord, Vec<Span>)> = HashMap::new();
    for (key, span) in &doc.numbers {
        for record in index.by_mrn(key) {
            found
                .entry(record.mrn.clone())
                .or_insert_with(|| (record, Vec::new()))
                .1
                .push(*span);
        }
    }
    // Candidates by birth date: only patients whose family name is printed near one of the date's places.
    // The words around a date are gathered once, sorted, so the work per date is one binary search (and a
    // few Jaro-Winkler comparisons among words of the same first letter) per patient born that day.
    let mut seen_dates: Vec<Date> = Vec::new();
    for (date, span) in &doc.dates {
        if seen_dates.contains(date) || doc.not_birth_date(span) {
            continue;
        }
        seen_dates.push(*date);
        let records = index.by_birth_date(*date);
        if records.is_empty() || records.len() > MAX_PER_BIRTH_DATE {
            continue;
        }
        let places: Vec<(u32, usize)> = doc
            .dates
            .iter()
            .filter(|(d, _)| d == date)
            .map(|(_, s)| (s.page, s.line))
            .collect();
        let window = Window::around(doc, &places);
        for record in records {
            if window.may_hold(&record.family, cfg.family_threshold) {
                found
                    .entry(record.mrn.clone())
                    .or_insert_with(|| (record, Vec::new()));
            }
        }
    }
    let mut out = Vec::new();
    for (mrn, (record, mut spans)) in found {
        if let Some(birth) = record.birth_date {
            spans.extend(
                doc.dates
                    .iter()
                    .filter(|(d, _)| *d == birth)
                    .map(|(_, s)| *s),
            );
        }
        let near: Vec<(u32, usize)> = spans.iter().map(|s| (s.page, s.line)).collect();
        let families = doc.find_name(
            FieldName::PatientFamily,
            &record.family,
            cfg.family_threshold,
            &near,
        );
        if families.is_empty() && spans.iter().all(|s| s.identifier != FieldName::Mrn) {
            // A birth date alone says nothing: most candidates stop here.
            continue;
        }
        spans.extend(families);
        for given in record.given.iter().take(2) {
            spans.extend(doc.find_name(FieldName::PatientGiven, given, cfg.given_threshold, &near));
        }
        let best = mentions(&spans)
            .into_iter()
            .max_by_key(|m| (m.strength, m.explicit, m.name_exact));
        let other_role = spans.iter().any(|s| {
            s.role == EvidenceRole::Other
                && matches!(s.identifier, FieldName::Mrn | FieldName::DateOfBirth)
        });
        out.push(Evidence {
            mrn,
            spans,
            best,
            other_role,
        });
    }
    out.sort_by(|a, b| a.mrn.cmp(&b.mrn));
    out
}

fn strong(e: &Evidence) -> bool {
    e.best.as_ref().is_some_and(|m| m.strength >= 2)
}

fn rank(e: &Evidence) -> (u8, bool) {
    e.best
        .as_ref()
        .map_or((0, false), |m| (m.strength.min(2), m.explicit))
}

/// Whether two candidates' names were read at different places of the document: two people, not a patient
/// and a near-twin read from the same words.
fn independent(a: &Evidence, b: &Evidence) -> bool {
    match (&a.best, &b.best) {
        (Some(x), Some(y)) => {
            !x.name_tokens.is_empty()
                && !y.name_tokens.is_empty()
                && x.name_tokens
                    .iter()
                    .all(|t| y.name_tokens.iter().all(|u| t.1 < u.0 || u.1 < t.0))
        }
        _ => false,
    }
}

/// Whether a value the label reader took for the patient's is printed only in another person's role
/// (`Mother's DOB`, `Guarantor: …`): then it says nothing against the candidate.
fn only_in_other_role(doc: &Document<'_>, field: FieldName, value: &str) -> bool {
    let spans: Vec<&Span> = match field {
        FieldName::DateOfBirth => match Date::parse_iso(value) {
            Some(date) => doc
                .dates
                .iter()
                .filter(|(d, _)| *d == date)
                .map(|(_, s)| s)
                .collect(),
            None => Vec::new(),
        },
        FieldName::Mrn => {
            let key = mrn_key(value);
            doc.numbers
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, s)| s)
                .collect()
        }
        _ => {
            // Every word of the name, wherever it is printed, in another person's role.
            let words: Vec<String> = value
                .split(|c: char| c.is_whitespace() || c == '-')
                .map(fold_key)
                .filter(|w| !w.is_empty())
                .collect();
            return !words.is_empty()
                && words.iter().all(|w| {
                    doc.by_key.get(w).is_some_and(|ts| {
                        ts.iter()
                            .all(|&t| doc.tokens[t].role == EvidenceRole::Other)
                    })
                });
        }
    };
    !spans.is_empty() && spans.iter().all(|s| s.role == EvidenceRole::Other)
}

/// A number another organisation gave (an insurer's member id, another hospital's record number, a national
/// number): not of this index's shape. It neither matches nor contradicts.
fn foreign_number(index: &PatientIndex, value: &str) -> bool {
    let key = mrn_key(value);
    if !index.check_digit().is_valid(&key) {
        return true;
    }
    if key.chars().any(|c| c.is_ascii_alphabetic()) && !index.has_lettered_mrns() {
        return true;
    }
    match index.mrn_width() {
        // Every MRN of the index has one length: a number of another length (its leading zeros aside) is
        // not one of ours.
        Some(width) => {
            let unpadded = key.trim_start_matches('0').len();
            key.len() != width && unpadded != width
        }
        None => false,
    }
}

/// A "name" the label reader took from a header row's labels (`Case No`, `Unit Number`, `Sex`): not a name.
fn label_words(value: &str) -> bool {
    const LABELS: &[&str] = &[
        "case", "no", "nr", "number", "num", "name", "names", "date", "birth", "dob", "sex",
        "gender", "mrn", "id", "unit", "ward", "room", "bed", "record", "chart", "hosp",
        "hospital", "patient", "pt", "first", "last", "surname", "given", "family", "middle",
        "age", "account", "acct", "visit", "admit", "adm", "service", "dos", "mf", "m", "f",
        "dept", "location", "ref", "file",
    ];
    let words: Vec<String> = value
        .split(|c: char| !c.is_alphanumeric())
        .map(fold_key)
        .filter(|w| !w.is_empty())
        .collect();
    !words.is_empty() && words.iter().all(|w| LABELS.contains(&w.as_str()))
}

/// What the label reader read that names someone other than `record` as the patient.
fn contradicted(
    doc: &Document<'_>,
    fields: &Fields,
    record: &PatientRecord,
    index: &PatientIndex,
    cfg: &MatchConfig,
) -> bool {
    if let Some(mrn) = &fields.mrn {
        // `E38923422` where the index has no lettered MRNs: its digits may still be another patient's.
        let digits = mrn
            .value
            .trim_start_matches(|c: char| c.is_ascii_alphabetic());
        let mut owners = index.by_mrn(&mrn.value);
        if owners.is_empty() && digits.len() != mrn.value.len() && !index.has_lettered_mrns() {
            owners = index.by_mrn(digits);
        }
        let own = owners.iter().any(|r| r.mrn == record.mrn)
            || fields
                .mrn_candidates
                .iter()
                .any(|c| index.by_mrn(c).iter().any(|r| r.mrn == record.mrn));
        if !own {
            let explained = only_in_other_role(doc, FieldName::Mrn, &mrn.value);
            let strange = if owners.is_empty() {
                // Nobody holds it: another organisation's number, or (well-formed) an unknown MRN of ours.
                !foreign_number(index, &mrn.value) && !cfg.name_dob_when_mrn_unknown
            } else {
                true
            };
            if strange && !explained {
                return true;
            }
        }
    }
    // A birth date printed under its label that is not the record's (one the label reader missed).
    if let Some(birth) = record.birth_date {
        if !doc.dates.iter().any(|(d, _)| *d == birth)
            && doc
                .dates
                .iter()
                .any(|(_, s)| s.role != EvidenceRole::Other && doc.birth_labelled(s))
        {
            return true;
        }
    }
    if let Some(dob) = fields.date_of_birth_date() {
        // `03/05/1961` read month first by the label reader is also the record's 3 May: the same print.
        let same_print = doc.dates.iter().any(|(d, s)| {
            Some(*d) == record.birth_date
                && doc
                    .dates
                    .iter()
                    .any(|(e, t)| *e == dob && t.page == s.page && t.start == s.start)
        });
        if record.birth_date != Some(dob)
            && !same_print
            && !only_in_other_role(doc, FieldName::DateOfBirth, &dob.to_string())
        {
            return true;
        }
    }
    let given_fits = |value: &str| {
        record
            .given
            .iter()
            .any(|g| name_similarity(value, g) >= cfg.name_conflict_below)
    };
    let family = fields.patient_family.as_ref().map(|f| f.value.as_str());
    let given = fields.patient_given.as_ref().map(|f| f.value.as_str());
    let straight = family
        .is_none_or(|f| name_similarity(f, &record.family) >= cfg.name_conflict_below)
        && given.is_none_or(given_fits);
    let swapped = match (family, given) {
        (Some(f), Some(g)) => {
            name_similarity(g, &record.family) >= cfg.name_conflict_below && given_fits(f)
        }
        _ => false,
    };
    if !straight && !swapped {
        // Each name read either fits the record or is printed only in another person's role.
        let family_ok = family.is_none_or(|f| {
            name_similarity(f, &record.family) >= cfg.name_conflict_below
                || only_in_other_role(doc, FieldName::PatientFamily, f)
                || label_words(f)
        });
        let given_ok = given.is_none_or(|g| {
            given_fits(g) || only_in_other_role(doc, FieldName::PatientGiven, g) || label_words(g)
        });
        if !(family_ok && given_ok) {
            return true;
        }
    }
    false
}

/// Sets the identity fields from the evidence the document was filed on: what is printed there.
fn fields_from(
    doc: &Document<'_>,
    layouts: &[Option<LayoutPage>],
    mention: &Mention,
    record: &PatientRecord,
    fields: &mut Fields,
) {
    let field = |span: &Span, value: String, raw: &str| Field {
        value,
        confidence: 0.8,
        source: layouts
            .get(span.page as usize)
            .and_then(Option::as_ref)
            .and_then(|l| l.source(span.page, span.start, span.end))
            .unwrap_or(Source::Text {
                page: span.page,
                start: span.start,
                end: span.end,
            }),
        raw: Some(raw.to_string()),
    };
    for span in &mention.spans {
        let text = doc.texts[span.page as usize];
        let raw = text.get(span.start..span.end).unwrap_or_default();
        let clean = raw.trim_matches(|c: char| !c.is_alphanumeric());
        match span.identifier {
            FieldName::Mrn
                if fields
                    .mrn
                    .as_ref()
                    .is_none_or(|f| mrn_key(&f.value) != mrn_key(&record.mrn)) =>
            {
                fields.mrn = Some(field(span, mrn_key(clean), raw));
            }
            FieldName::DateOfBirth if fields.date_of_birth_date() != record.birth_date => {
                if let Some(date) = record.birth_date {
                    fields.date_of_birth = Some(field(span, date.to_string(), raw));
                }
            }
            FieldName::PatientFamily
                if span.fit == Fit::Exact
                    && fields
                        .patient_family
                        .as_ref()
                        .is_none_or(|f| fold_key(&f.value) != fold_key(&record.family)) =>
            {
                fields.patient_family = Some(field(span, clean.to_string(), raw));
            }
            FieldName::PatientGiven
                if span.fit == Fit::Exact
                    && fields.patient_given.as_ref().is_none_or(|f| {
                        !record
                            .given
                            .iter()
                            .any(|g| fold_key(g) == fold_key(&f.value))
                    }) =>
            {
                fields.patient_given = Some(field(span, clean.to_string(), raw));
            }
            _ => {}
        }
    }
    for name in [
        FieldName::Mrn,
        FieldName::DateOfBirth,
        FieldName::PatientFamily,
        FieldName::PatientGiven,
    ] {
        fields
            .warnings
            .retain(|w| *w != crate::field::ExtractWarning::ConflictingValues { field: name });
    }
}

/// Applies the evidence to the label reader's decision (docs/MATCHING.md, rows E1–E5) and attaches each
/// candidate's evidence spans.
pub(crate) fn decide(
    doc: &Document<'_>,
    layouts: &[Option<LayoutPage>],
    fields: &mut Fields,
    base: MatchDecision,
    index: &PatientIndex,
    cfg: &MatchConfig,
) -> MatchDecision {
    let evidence = search(doc, index, cfg);
    let mut decision = base;
    // The reason the label reader's decision leaves room for the evidence to file (row E3).
    let mut search_after: Option<UnmatchedReason> = None;
    let by_mrn = |mrn: &str| evidence.iter().find(|e| e.mrn == mrn);
    let unmatched = |reason| MatchOutcome::Unmatched { reason };
    match decision.outcome.clone() {
        MatchOutcome::Matched { mrn, rule, .. } => {
            let birth_unread = matches!(rule, MatchRule::MrnName | MatchRule::CorrectedMrn)
                && fields.date_of_birth.is_none();
            let own_birth = index
                .by_mrn(&mrn)
                .into_iter()
                .find(|r| r.mrn == mrn)
                .and_then(|r| r.birth_date);
            if birth_unread
                && own_birth.is_some_and(|birth| {
                    !doc.dates.iter().any(|(d, _)| *d == birth)
                        && doc
                            .dates
                            .iter()
                            .any(|(_, s)| s.role != EvidenceRole::Other && doc.birth_labelled(s))
                })
            {
                // E6: the label reader missed a birth date that is printed, labelled, and not the patient's.
                decision.outcome = unmatched(UnmatchedReason::DobConflict);
            } else if let Some(own) = by_mrn(&mrn) {
                // What identifies the patient on the patient's side: the MRN, the birth date or the whole
                // name (a family name shared with the other person is not enough).
                let patient_side =
                    own.spans.iter().any(|s| {
                        s.role != EvidenceRole::Other
                            && matches!(s.identifier, FieldName::Mrn | FieldName::DateOfBirth)
                    }) || own.best.as_ref().is_some_and(|m| !m.name_tokens.is_empty());
                if !patient_side && own.other_role {
                    // E1: everything of this patient is printed in another person's role.
                    decision.outcome = unmatched(UnmatchedReason::OtherRole);
                    search_after = Some(UnmatchedReason::OtherRole);
                } else if evidence.iter().any(|e| {
                    e.mrn != mrn && strong(e) && independent(e, own) && rank(e) >= rank(own)
                }) {
                    // E2: a second index patient with comparable patient-side evidence.
                    decision.outcome = unmatched(UnmatchedReason::Ambiguous);
                }
            } else if evidence
                .iter()
                .any(|e| e.mrn != mrn && strong(e) && rank(e).1)
            {
                // E2: the filed patient's identifiers were not found as printed, another's are, as the patient.
                decision.outcome = unmatched(UnmatchedReason::Ambiguous);
            }
        }
        MatchOutcome::Unmatched { reason } => {
            let may_file = matches!(
                reason,
                UnmatchedReason::NoCandidate
                    | UnmatchedReason::InsufficientFields
                    | UnmatchedReason::MrnOnly
                    | UnmatchedReason::MrnConflict
                    | UnmatchedReason::DobConflict
                    | UnmatchedReason::ConflictingFields
            ) || (reason == UnmatchedReason::Ambiguous
                // Near-twins the label reader could not tell apart, not an MRN two patients hold.
                && decision.corrected_mrn.is_none()
                && fields.mrn.as_ref().is_none_or(|m| index.by_mrn(&m.value).len() <= 1)
                && fields
                    .mrn_candidates
                    .iter()
                    .filter(|c| !index.by_mrn(c).is_empty())
                    .count()
                    <= 1);
            if may_file {
                search_after = Some(reason);
            }
        }
    }
    if let Some(reason) = search_after {
        if let Some((chosen, rule_rank)) = choose(&evidence) {
            let record = index
                .by_mrn(&chosen.mrn)
                .into_iter()
                .find(|r| r.mrn == chosen.mrn);
            // Fields read from two people (or from the other person only) are set aside only for a
            // mention labelled as the patient's, on a page that prints a second person's birth date.
            // On a one-page document, MRN, birth date and name printed together as the patient's outweigh a
            // second birth date or MRN the label reader took from elsewhere on the page.
            // A second *name* read as the patient's is another patient's page (row 1), never outweighed.
            let complete = doc.texts.len() == 1
                && rule_rank.1
                && chosen.best.as_ref().is_some_and(|m| m.strength >= 3)
                && !fields.has_conflict(FieldName::PatientFamily)
                && !fields.has_conflict(FieldName::PatientGiven);
            let second_person_ok = !matches!(
                reason,
                UnmatchedReason::ConflictingFields | UnmatchedReason::OtherRole
            ) || complete
                || (rule_rank.1 && doc.dates.iter().any(|(_, s)| s.role == EvidenceRole::Other));
            // A page with a labelled patient block is about the patient named there.
            let labelled_ok = rule_rank.1 || !doc.patient_label;
            if let (Some(record), Some(mention)) = (record, &chosen.best) {
                // Another index patient's MRN printed as the patient's (`Unit No: E40811293`) contradicts.
                let other_mrn = evidence.iter().any(|e| {
                    e.mrn != record.mrn
                        && e.spans.iter().any(|s| {
                            s.identifier == FieldName::Mrn && s.role == EvidenceRole::Patient
                        })
                });
                if second_person_ok
                    && labelled_ok
                    && !other_mrn
                    && !contradicted(doc, fields, record, index, cfg)
                {
                    fields_from(doc, layouts, mention, record, fields);
                    let score = decision
                        .candidates
                        .iter()
                        .find(|c| c.mrn == record.mrn)
                        .map_or(0.9, |c| c.score.max(0.9));
                    decision.outcome = MatchOutcome::Matched {
                        mrn: record.mrn.clone(),
                        score,
                        rule: MatchRule::IndexEvidence,
                    };
                }
            }
        }
    }
    // Every candidate the evidence found is offered, with its spans.
    for e in &evidence {
        if e.spans.is_empty() {
            continue;
        }
        let spans = e.public_spans(layouts);
        match decision.candidates.iter_mut().find(|c| c.mrn == e.mrn) {
            Some(candidate) => candidate.evidence = spans,
            None if strong(e)
                || e.best
                    .as_ref()
                    .is_some_and(|m| m.strength >= 1 && !m.name_tokens.is_empty()) =>
            {
                decision.candidates.push(Candidate {
                    mrn: e.mrn.clone(),
                    scores: Default::default(),
                    score: e.best.as_ref().map_or(0.0, |m| f32::from(m.strength) / 3.0),
                    evidence: spans,
                });
            }
            None => {}
        }
    }
    decision
}

/// The one patient with strong patient-side evidence, if there is one: explicit patient role first; among
/// candidates read from the same words (near-twins), only an exact name decides.
fn choose(evidence: &[Evidence]) -> Option<(&Evidence, (u8, bool))> {
    let strong: Vec<&Evidence> = evidence.iter().filter(|e| strong(e)).collect();
    let top = strong.iter().map(|e| rank(e)).max()?;
    let best: Vec<&Evidence> = strong.iter().copied().filter(|e| rank(e) == top).collect();
    // Group the top candidates by where their names were read.
    let mut winners: Vec<&Evidence> = Vec::new();
    for e in &best {
        let twins: Vec<&&Evidence> = best.iter().filter(|o| !independent(e, o)).collect();
        let exact: Vec<&&Evidence> = twins
            .iter()
            .copied()
            .filter(|o| {
                o.best
                    .as_ref()
                    .is_some_and(|m| m.name_exact || m.strength >= 3)
            })
            .collect();
        match exact.as_slice() {
            [one] if std::ptr::eq(**one, *e) => winners.push(e),
            _ if twins.len() == 1 => winners.push(e),
            _ => {}
        }
    }
    winners.dedup_by_key(|e| e.mrn.clone());
    // Lower-ranked strong candidates named elsewhere with the same explicitness also block.
    match winners.as_slice() {
        [one]
            if !strong.iter().any(|o| {
                o.mrn != one.mrn
                    && independent(o, one)
                    && rank(o).1 == top.1
                    && rank(o) >= (2, top.1)
            }) =>
        {
            Some((one, top))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;

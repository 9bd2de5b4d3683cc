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
//! 4. **Decision** ([`decide`]): the rows `E1`–`E5` of docs/MATCHING.md, applied over the label reader's
//!    decision. A candidate whose identifiers appear only in another person's role is never filed; two index
//!    patients with comparable patient-side evidence leave the document unmatched; a document the label reader
//!    could not match is filed when exactly one patient has strong patient-side evidence and nothing read on
//!    the page contradicts it.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use crate::date::{find_dates, repair_digits, Date};
use crate::decision::{
    Candidate, EvidenceRole, EvidenceSpan, MatchConfig, MatchDecision, MatchOutcome, MatchRule,
    UnmatchedReason,
};
use crate::field::{Field, FieldName, Fields, Source};
use crate::index::{PatientIndex, PatientRecord};
use crate::layout::LayoutPage;
use crate::mrn::mrn_key;
use crate::names::{fold_char, name_similarity};

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

/// One word of a page.
#[derive(Debug, Clone)]
struct Token {
    page: u32,
    line: usize,
    start: usize,
    end: usize,
    /// Lower case, accents folded, letters and digits only.
    key: String,
    /// Whether the word ends with a colon (a label).
    label: bool,
    /// Whether the word starts a cell.
    cell_start: bool,
    x0: u32,
    x1: u32,
    role: EvidenceRole,
}

/// What an identifier span says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fit {
    Exact,
    Close,
}

#[derive(Debug, Clone, Copy)]
struct Span {
    identifier: FieldName,
    page: u32,
    line: usize,
    start: usize,
    end: usize,
    /// First and last token index, for telling two patients' name spans apart.
    tokens: (usize, usize),
    role: EvidenceRole,
    fit: Fit,
}

/// The pages of one document as the evidence search reads them.
pub(crate) struct Document<'a> {
    texts: Vec<&'a str>,
    tokens: Vec<Token>,
    /// Tokens by key, for exact name lookups.
    by_key: HashMap<String, Vec<usize>>,
    /// Token index range of every line.
    lines: Vec<(usize, usize)>,
    dates: Vec<(Date, Span)>,
    /// Digit-group spans by MRN key.
    numbers: Vec<(String, Span)>,
    /// Per line, the keys of one to three consecutive words (`garcia`, `garcialopez`…).
    line_keys: Vec<Vec<String>>,
    /// Whether the page labels a patient block (`Patient:`, `PATIENT`, `Baby:`): then a patient found only
    /// outside it, unlabelled, is not the one the page is about.
    patient_label: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cue {
    /// The patient (`Patient:`, `Re:`, `Baby`): carries across cells and down to the block below.
    Patient,
    /// Another person with identifiers of their own (guarantor, insured, parent, next of kin): carries.
    Person,
    /// A clinician, sender or organisation (`Dr`, `Attending:`, `cc:`): only the words of its own cell.
    Clinician,
}

impl Cue {
    fn carries(self) -> bool {
        !matches!(self, Cue::Clinician)
    }
}

/// Words that name the role of the person whose identifiers follow, and whether the word acts wherever it
/// stands (`strong`) or only as a label (followed by a colon, or first in its cell).
fn cue(key: &str) -> Option<(Cue, bool)> {
    const PERSON: &[&str] = &[
        "guarantor",
        "guarantors",
        "subscriber",
        "subscribers",
        "insured",
        "insureds",
        "policyholder",
        "policyholders",
        "mother",
        "mothers",
        "father",
        "fathers",
        "parent",
        "parents",
        "guardian",
        "guardians",
        "kin",
        "nok",
        "spouse",
        "spouses",
        "husband",
        "husbands",
        "wife",
        "wifes",
        "son",
        "daughter",
        "sibling",
        "brother",
        "sister",
        "grandmother",
        "grandfather",
        "grandparent",
        "aunt",
        "uncle",
        "stepmother",
        "stepfather",
        "caregiver",
        "informant",
        "poa",
        "proxy",
        "witness",
        "mom",
        "dad",
        "custodian",
        "accompanied",
        "maternal",
        "paternal",
        "holder",
        "party",
    ];
    const PERSON_LABEL: &[&str] = &[
        "contact",
        "responsible",
        "representative",
        "relative",
        "partner",
        "attorney",
        "agent",
        "relationship",
        "emergency",
        "policy",
    ];
    const CLINICIAN: &[&str] = &[
        "physician",
        "physicians",
        "doctor",
        "dr",
        "surgeon",
        "attending",
        "consultant",
        "pcp",
        "gp",
        "md",
        "rn",
        "np",
        "cc",
        "dear",
        "sincerely",
        "regards",
        "dictated",
        "cosigned",
        "electronically",
        "interpreter",
        "employer",
        "insurer",
        "insurance",
        "payer",
        "payor",
        "carrier",
    ];
    const CLINICIAN_LABEL: &[&str] = &[
        "from",
        "to",
        "copy",
        "signed",
        "signature",
        "provider",
        "author",
        "sender",
        "facility",
        "ward",
        "by",
        "nurse",
        "clinician",
        "practitioner",
        "company",
        "plan",
        "group",
        "referring",
    ];
    const PATIENT: &[&str] = &[
        "patient", "patients", "pt", "pts", "infant", "infants", "baby", "babys", "newborn",
        "newborns", "neonate", "child", "childs", "minor", "minors",
    ];
    const PATIENT_LABEL: &[&str] = &[
        "re",
        "regarding",
        "concerning",
        "subject",
        "client",
        "clients",
        "resident",
        "residents",
    ];
    for (words, cue, strong) in [
        (PERSON, Cue::Person, true),
        (PERSON_LABEL, Cue::Person, false),
        (CLINICIAN, Cue::Clinician, true),
        (CLINICIAN_LABEL, Cue::Clinician, false),
        (PATIENT, Cue::Patient, true),
        (PATIENT_LABEL, Cue::Patient, false),
    ] {
        if words.contains(&key) {
            return Some((cue, strong));
        }
    }
    None
}

fn fold_key(word: &str) -> String {
    word.chars()
        .flat_map(char::to_lowercase)
        .map(fold_char)
        .filter(|c| c.is_alphanumeric())
        .flat_map(|c| match c {
            'ß' => ['s', 's'].into_iter().take(2),
            'æ' => ['a', 'e'].into_iter().take(2),
            'œ' => ['o', 'e'].into_iter().take(2),
            'ø' => ['o', 'o'].into_iter().take(1),
            'ł' => ['l', 'l'].into_iter().take(1),
            'đ' => ['d', 'd'].into_iter().take(1),
            other => [other, other].into_iter().take(1),
        })
        .collect()
}

/// `7th`, `21st` → the day and its suffix as spaces; `07 III 1964` → Roman months; both only for the
/// evidence search's own date pass, spans unchanged.
static EXTRA_DATE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?P<d>\d{1,2})(?:st|nd|rd|th)?(?:\s+of)?[\s./-]+(?:(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)|(?P<roman>XII|XI|X|IX|VIII|VII|VI|V|IV|III|II|I))\.?,?[\s./-]+(?P<y>\d{4}|\d{2})\b",
    )
    .expect("date pattern compiles")
});

/// A month's name, then day and year run together (`JUN 071965`).
static MERGED_DATE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?P<mon>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s*(?P<d>[0-3]\d)(?P<y>(?:19|20)\d{2})\b",
    )
    .expect("date pattern compiles")
});

/// Day and month in either order, then the year.
static NUMERIC_DATE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?P<a>\d{1,2})[-/.](?P<b>\d{1,2})[-/.,](?P<y>\d{4}|\d{2})\b")
        .expect("date pattern compiles")
});

/// Digit groups: digits with single separators between them, and an optional letter prefix.
static NUMBER_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[A-Za-z]{0,3}\d+(?:[-. /]\d+)*\b").expect("number pattern compiles")
});

fn roman(text: &str) -> Option<u8> {
    let months = [
        "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII",
    ];
    months
        .iter()
        .position(|m| m.eq_ignore_ascii_case(text))
        .and_then(|p| u8::try_from(p + 1).ok())
}

fn month_of(text: &str) -> Option<u8> {
    let prefix: String = text.chars().take(3).collect::<String>().to_lowercase();
    [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|m| *m == prefix)
    .and_then(|p| u8::try_from(p + 1).ok())
}

fn year_of(text: &str, today: Date) -> Option<i32> {
    let value: i32 = text.parse().ok()?;
    if text.len() == 4 {
        return Some(value);
    }
    let century = today.year() - today.year() % 100;
    Some(if century + value > today.year() {
        century + value - 100
    } else {
        century + value
    })
}

/// Every date of a line (byte spans relative to the line): the usual formats, their OCR-repaired forms,
/// ordinals and Roman months; `03/07/1964` is 7 March, and also 3 July on a page written day first.
fn line_dates(line: &str, today: Date, day_first: bool) -> Vec<(Date, usize, usize)> {
    let mut out: Vec<(Date, usize, usize)> = Vec::new();
    let mut push = |date: Date, start: usize, end: usize| {
        if date <= today && !out.iter().any(|(d, s, _)| *d == date && *s == start) {
            out.push((date, start, end));
        }
    };
    let repaired = repair_digits(line);
    // OCR's stray punctuation (`April 21,.1952`): the same line with `,` `;` `.` as spaces (offsets kept).
    let spaced: String = repaired
        .chars()
        .map(|c| if matches!(c, ',' | ';' | '.') { ' ' } else { c })
        .collect();
    for text in [line, repaired.as_str(), spaced.as_str()] {
        for found in find_dates(text, today) {
            push(found.date, found.start, found.end);
        }
        // Numeric dates read day first where they cannot be month first (`30.06.1958`), and, on a page
        // written day first, both ways (`03/07/1964`).
        for caps in NUMERIC_DATE_RE.captures_iter(text) {
            let Some(whole) = caps.get(0) else { continue };
            let a = caps.name("a").and_then(|m| m.as_str().parse::<u8>().ok());
            let b = caps.name("b").and_then(|m| m.as_str().parse::<u8>().ok());
            let y = caps.name("y").and_then(|m| year_of(m.as_str(), today));
            if let (Some(a), Some(b), Some(y)) = (a, b, y) {
                if a > 12 || day_first {
                    if let Some(date) = Date::new(y, b, a) {
                        push(date, whole.start(), whole.end());
                    }
                }
            }
        }
        // `JUN 071965`: day and year run together after the month's name.
        for caps in MERGED_DATE_RE.captures_iter(text) {
            let Some(whole) = caps.get(0) else { continue };
            let month = caps.name("mon").and_then(|m| month_of(m.as_str()));
            let day = caps.name("d").and_then(|d| d.as_str().parse::<u8>().ok());
            let year = caps.name("y").and_then(|y| y.as_str().parse::<i32>().ok());
            if let (Some(month), Some(day), Some(year)) = (month, day, year) {
                if let Some(date) = Date::new(year, month, day) {
                    push(date, whole.start(), whole.end());
                }
            }
        }
        for caps in EXTRA_DATE_RE.captures_iter(text) {
            let Some(whole) = caps.get(0) else { continue };
            let month = match (caps.name("mon"), caps.name("roman")) {
                (Some(m), _) => month_of(m.as_str()),
                (None, Some(r)) => roman(r.as_str()),
                _ => None,
            };
            let day = caps.name("d").and_then(|d| d.as_str().parse::<u8>().ok());
            let year = caps.name("y").and_then(|y| year_of(y.as_str(), today));
            if let (Some(month), Some(day), Some(year)) = (month, day, year) {
                if let Some(date) = Date::new(year, month, day) {
                    push(date, whole.start(), whole.end());
                }
            }
        }
    }
    out
}

impl<'a> Document<'a> {
    /// Reads the pages (`texts[i]` is the text of page `i`, by its layout where `layouts[i]` is present).
    pub(crate) fn read(
        texts: &[&'a str],
        layouts: &[Option<LayoutPage>],
        today: Date,
    ) -> Document<'a> {
        let mut doc = Document {
            texts: texts.to_vec(),
            tokens: Vec::new(),
            by_key: HashMap::new(),
            lines: Vec::new(),
            dates: Vec::new(),
            numbers: Vec::new(),
            patient_label: false,
            line_keys: Vec::new(),
        };
        for (page_index, text) in texts.iter().enumerate() {
            let page = u32::try_from(page_index).unwrap_or(u32::MAX);
            let layout = layouts.get(page_index).and_then(Option::as_ref);
            let mut offset = 0;
            for raw_line in text.split_inclusive('\n') {
                let line = raw_line.trim_end_matches(['\n', '\r']);
                doc.read_line(page, line, offset, layout, today);
                offset += raw_line.len();
            }
        }
        doc.assign_roles();
        doc.patient_label = (0..doc.tokens.len()).any(|t| {
            let token = &doc.tokens[t];
            (token.label || token.cell_start) && doc.token_cue(t, t) == Some(Cue::Patient)
        });
        for (position, token) in doc.tokens.iter().enumerate() {
            if token.key.len() >= 2 {
                doc.by_key
                    .entry(token.key.clone())
                    .or_default()
                    .push(position);
            }
        }
        doc.locate_spans(today);
        doc.line_keys = doc
            .lines
            .iter()
            .map(|&(first, last)| {
                let mut keys = Vec::new();
                for t in first..last {
                    let mut joined = String::new();
                    for u in t..(t + 3).min(last) {
                        joined.push_str(&doc.tokens[u].key);
                        if joined.len() >= 2 {
                            keys.push(joined.clone());
                        }
                    }
                }
                keys
            })
            .collect();
        doc
    }

    fn read_line(
        &mut self,
        page: u32,
        line: &str,
        offset: usize,
        layout: Option<&LayoutPage>,
        _today: Date,
    ) {
        let line_index = self.lines.len();
        let first = self.tokens.len();
        let mut cell_start = true;
        let mut previous_end = 0;
        let mut char_offset = 0usize;
        let bytes = line.as_bytes();
        let separator = |b: u8| b.is_ascii_whitespace() || b == b',' || b == b';';
        let mut i = 0;
        while i < bytes.len() {
            if separator(bytes[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && !separator(bytes[i]) {
                i += 1;
            }
            let word = &line[start..i];
            let gap = &line[previous_end..start];
            if gap.len() >= 3 || gap.contains('\t') || word.starts_with('|') {
                cell_start = true;
            }
            char_offset += line[previous_end..start].chars().count();
            let width = word.chars().count();
            let (x0, x1) = layout
                .and_then(|l| l.source(page, offset + start, offset + i))
                .and_then(|s| match s {
                    Source::Box { bbox, .. } => Some((bbox[0], bbox[0] + bbox[2])),
                    _ => None,
                })
                .unwrap_or_else(|| {
                    let x0 = u32::try_from(char_offset * 10).unwrap_or(u32::MAX);
                    (x0, x0 + u32::try_from(width * 10).unwrap_or(0))
                });
            char_offset += width;
            let trimmed = word.trim_end_matches(['.', ',', ';', ')', ']', '|']);
            if fold_key(word).is_empty() {
                // Punctuation alone (`:`, `|`, `—`) is no word; a cell starting with it starts at the next word.
                previous_end = i;
                continue;
            }
            self.tokens.push(Token {
                page,
                line: line_index,
                start: offset + start,
                end: offset + i,
                key: fold_key(word),
                label: trimmed.ends_with(':') || trimmed.ends_with('#'),
                cell_start,
                x0,
                x1,
                role: EvidenceRole::Unlabelled,
            });
            cell_start = false;
            previous_end = i;
        }
        self.lines.push((first, self.tokens.len()));
    }

    /// The role of every token: the nearest role word before it on its line (a clinician's only within its
    /// cell); else the role of a short labelled cell above it in the same column; else the role a sentence
    /// carries from the line before.
    fn assign_roles(&mut self) {
        let n_lines = self.lines.len();
        // Per line, each cell's extent and the carrying role it passes down (short labelled cells only).
        let mut cells_of_line: Vec<Vec<(u32, u32, Option<Cue>)>> = vec![Vec::new(); n_lines];
        let mut line_end_cue: Vec<Option<Cue>> = vec![None; n_lines];
        for line in 0..n_lines {
            let (first, last) = self.lines[line];
            let mut cells: Vec<(usize, usize)> = Vec::new();
            for t in first..last {
                if self.tokens[t].cell_start || cells.is_empty() {
                    cells.push((t, t + 1));
                } else if let Some(cell) = cells.last_mut() {
                    cell.1 = t + 1;
                }
            }
            let mut last_cue = None;
            for &(a, b) in &cells {
                let mut cell_cue = None;
                for t in a..b {
                    if let Some(c) = self.token_cue(t, a) {
                        cell_cue = Some(c);
                        last_cue = Some(c);
                    }
                }
                let labelled = (a..b).any(|t| self.tokens[t].label);
                let heading = b - a <= 4;
                let passes = cell_cue.filter(|c| c.carries() && (labelled || heading));
                cells_of_line[line].push((self.tokens[a].x0, self.tokens[b - 1].x1, passes));
            }
            line_end_cue[line] = last_cue.filter(|c| c.carries());
        }
        for line in 0..n_lines {
            let (first, last) = self.lines[line];
            if first == last {
                continue;
            }
            let page = self.tokens[first].page;
            // A sentence running on from the previous line carries its role.
            let carried = (line > 0)
                .then(|| line - 1)
                .filter(|&prev| {
                    let (pf, pl) = self.lines[prev];
                    pl > pf
                        && self.tokens[pf].page == page
                        && pl - pf >= 6
                        && !(pf + 1..pl).any(|t| self.tokens[t].cell_start)
                        && !self.texts[page as usize]
                            [self.tokens[pf].start..self.tokens[pl - 1].end]
                            .trim_end()
                            .ends_with(['.', '!', '?', ':'])
                })
                .and_then(|prev| line_end_cue[prev]);
            // Along the line: each cell takes the role of the block above it (a short labelled cell over its
            // extent), else the role carried from the cells before it; a role word in the cell overrides.
            let mut along: Option<Cue> = carried;
            // A role word printed earlier on this line beats the block above (`Mother: …   DOB: …`).
            let mut said: Option<Cue> = None;
            let mut cell_role: Option<Cue> = None;
            let mut cell_first = first;
            // The cue of a cell that ends with its label (`Consultant:`): the next cell is its value.
            let mut label_cue: Option<Cue> = None;
            for t in first..last {
                if t == first || self.tokens[t].cell_start {
                    cell_first = t;
                    let (x0, x1) = self.cell_extent(line, t);
                    cell_role = label_cue
                        .or(said)
                        .or_else(|| self.inherited(line, page, x0, x1, &cells_of_line))
                        .or(along);
                    label_cue = None;
                }
                let own = self.token_cue(t, cell_first);
                let ends_cell = t + 1 == last || self.tokens[t + 1].cell_start;
                if ends_cell && self.tokens[t].label {
                    label_cue = own.or(if t > cell_first { cell_role } else { None });
                }
                if let Some(own) = own {
                    cell_role = Some(own);
                    if own.carries() {
                        said = Some(own);
                    }
                }
                if let Some(c) = cell_role.filter(|c| c.carries()) {
                    along = Some(c);
                }
                self.tokens[t].role = match cell_role {
                    Some(Cue::Patient) => EvidenceRole::Patient,
                    Some(Cue::Person | Cue::Clinician) => EvidenceRole::Other,
                    None => EvidenceRole::Unlabelled,
                };
            }
        }
    }

    fn token_cue(&self, t: usize, cell_first: usize) -> Option<Cue> {
        let token = &self.tokens[t];
        let raw = &self.texts[token.page as usize][token.start..token.end];
        // `Parent/Guardian:`, `Mother's`: the last part of the word that names a role.
        let (which, strong) = raw
            .split(|c: char| !c.is_alphanumeric())
            .map(fold_key)
            .filter_map(|part| cue(&part))
            .next_back()?;
        let next = self
            .tokens
            .get(t + 1)
            .filter(|n| n.line == token.line)
            .map(|n| n.key.as_str());
        // `Emergency Department` is a place, `Emergency Contact` a person.
        if token.key == "emergency" {
            return next
                .filter(|n| n.starts_with("contact"))
                .map(|_| Cue::Person);
        }
        if strong || token.label || t == cell_first {
            Some(which)
        } else {
            None
        }
    }

    fn inherited(
        &self,
        line: usize,
        page: u32,
        x0: u32,
        x1: u32,
        cells_of_line: &[Vec<(u32, u32, Option<Cue>)>],
    ) -> Option<Cue> {
        for above in (line.saturating_sub(INHERIT_LINES)..line).rev() {
            let (first, last) = self.lines[above];
            if first == last || self.tokens[first].page != page {
                continue;
            }
            let overlapping = cells_of_line[above]
                .iter()
                .filter(|(c0, c1, _)| *c0 <= x1 && x0 <= *c1)
                // Columns are left-aligned: the cell above whose left edge is nearest.
                .min_by_key(|(c0, _, _)| c0.abs_diff(x0));
            if let Some((_, _, Some(cue))) = overlapping {
                return Some(*cue);
            }
            let cells = cells_of_line[above].len();
            let has_digit =
                (first..last).any(|t| self.tokens[t].key.bytes().any(|b| b.is_ascii_digit()));
            let has_label = (first..last).any(|t| self.tokens[t].label);
            // A heading alone on its line (`MOTHER`), or opening a line of labelled values
            // (`PATIENT INFORMATION   Date Seen: 20230520`), heads the whole block under it.
            if let Some((_, _, Some(cue))) = cells_of_line[above].first() {
                let heading_end = (first + 1..last)
                    .find(|&t| self.tokens[t].cell_start)
                    .unwrap_or(last);
                if heading_end - first <= 4
                    && !(first..heading_end).any(|t| self.tokens[t].label)
                    && (cells == 1 || has_digit)
                {
                    return Some(*cue);
                }
            }
            // A row of column headers (`LAST NAME   FIRST NAME   MED REC NO`) over values: the values belong to
            // their column's header, and nothing above it.
            if cells >= 2 && !has_digit && !has_label {
                return None;
            }
        }
        None
    }

    fn span(
        &self,
        identifier: FieldName,
        first: usize,
        last: usize,
        start: usize,
        end: usize,
        fit: Fit,
    ) -> Span {
        let token = &self.tokens[first];
        // The role of a span is its first token's; a value after its label (`Mother: Mary`) takes the label's.
        let role = self.tokens[first..=last]
            .iter()
            .map(|t| t.role)
            .find(|r| *r != EvidenceRole::Unlabelled)
            .unwrap_or(token.role);
        Span {
            identifier,
            page: token.page,
            line: token.line,
            start,
            end,
            tokens: (first, last),
            role,
            fit,
        }
    }

    /// Whether a date is labelled as another kind of date (`Date of service:`, `Collected`, `Signed`…):
    /// such dates do not bring in candidates (they still count as a birth date printed, when they are one).
    fn not_birth_date(&self, span: &Span) -> bool {
        const OTHER: &[&str] = &[
            "service",
            "dos",
            "visit",
            "admit",
            "admitted",
            "admission",
            "discharge",
            "discharged",
            "collected",
            "received",
            "signed",
            "dictated",
            "transcribed",
            "printed",
            "fax",
            "faxed",
            "sent",
            "reported",
            "ordered",
            "exam",
            "procedure",
            "surgery",
            "appointment",
            "encounter",
            "seen",
            "effective",
            "expires",
            "expiration",
            "issued",
            "resulted",
            "verified",
            "reviewed",
            "onset",
            "injury",
            "accident",
        ];
        let (first, _) = self.lines[span.line];
        let from = span.tokens.0.saturating_sub(4).max(first);
        for t in (from..span.tokens.0).rev() {
            let key = self.tokens[t].key.as_str();
            if BIRTH_WORDS.contains(&key) || key.starts_with("birth") || key.ends_with("birth") {
                return false;
            }
            if OTHER.contains(&key) {
                return true;
            }
        }
        false
    }

    /// Whether a date is labelled as a birth date: a birth word just before it on its line, or in the cell
    /// above it (a label row over a value row).
    fn birth_labelled(&self, span: &Span) -> bool {
        let is_birth = |key: &str| {
            BIRTH_WORDS.contains(&key) || key.starts_with("birth") || key.ends_with("birth")
        };
        let (first, _) = self.lines[span.line];
        let from = span.tokens.0.saturating_sub(4).max(first);
        if (from..span.tokens.0).any(|t| is_birth(&self.tokens[t].key)) {
            return true;
        }
        let Some(above) = span.line.checked_sub(1) else {
            return false;
        };
        let (x0, x1) = self.cell_extent(span.line, span.tokens.0);
        let (a, b) = self.lines[above];
        (a..b).any(|t| {
            let (c0, c1) = self.cell_extent(above, t);
            self.tokens[t].page == self.tokens[span.tokens.0].page
                && c0 <= x1
                && x0 <= c1
                && is_birth(&self.tokens[t].key)
        })
    }

    /// The horizontal extent of the cell of token `t` on line `line`.
    fn cell_extent(&self, line: usize, t: usize) -> (u32, u32) {
        let (first, last) = self.lines[line];
        let start = (first..=t)
            .rev()
            .find(|&u| self.tokens[u].cell_start)
            .unwrap_or(first);
        let end = (t + 1..last)
            .find(|&u| self.tokens[u].cell_start)
            .unwrap_or(last);
        (self.tokens[start].x0, self.tokens[end - 1].x1)
    }

    /// The tokens of line `line` a byte span of its page covers.
    fn tokens_of(&self, line: usize, start: usize, end: usize) -> Option<(usize, usize)> {
        let (first, last) = self.lines[line];
        let mut covered =
            (first..last).filter(|&i| self.tokens[i].start < end && self.tokens[i].end > start);
        let a = covered.next()?;
        let b = covered.next_back().unwrap_or(a);
        Some((a, b))
    }

    fn locate_spans(&mut self, today: Date) {
        // A page that writes `30/06/1958` and never `06/30/1958` writes its dates day first.
        let (mut day_first, mut month_first) = (false, false);
        for text in &self.texts {
            for caps in NUMERIC_DATE_RE.captures_iter(text) {
                let part = |name: &str| caps.name(name).and_then(|m| m.as_str().parse::<u8>().ok());
                match (part("a"), part("b")) {
                    (Some(a), Some(b)) if a > 12 && b <= 12 => day_first = true,
                    (Some(a), Some(b)) if b > 12 && a <= 12 => month_first = true,
                    _ => {}
                }
            }
        }
        let day_first = day_first && !month_first;
        let mut dates = Vec::new();
        let mut numbers = Vec::new();
        for line in 0..self.lines.len() {
            let (first, last) = self.lines[line];
            if first == last {
                continue;
            }
            let page = self.tokens[first].page;
            let text = self.texts[page as usize];
            let line_start = self.tokens[first].start;
            let line_text = &text[line_start..self.tokens[last - 1].end];
            for (date, start, end) in line_dates(line_text, today, day_first) {
                if let Some((a, b)) = self.tokens_of(line, line_start + start, line_start + end) {
                    let span = self.span(
                        FieldName::DateOfBirth,
                        a,
                        b,
                        line_start + start,
                        line_start + end,
                        Fit::Exact,
                    );
                    dates.push((date, span));
                }
            }
            for found in NUMBER_RE.find_iter(line_text) {
                let groups: Vec<(usize, usize)> = {
                    let raw = found.as_str();
                    let mut out = Vec::new();
                    let mut start = None;
                    for (i, c) in raw.char_indices() {
                        let part = c.is_ascii_alphanumeric();
                        match (part, start) {
                            (true, None) => start = Some(i),
                            (false, Some(s)) => {
                                out.push((s, i));
                                start = None;
                            }
                            _ => {}
                        }
                    }
                    if let Some(s) = start {
                        out.push((s, raw.len()));
                    }
                    out
                };
                let base = line_start + found.start();
                for i in 0..groups.len() {
                    for j in i..groups.len().min(i + 4) {
                        let (s, e) = (groups[i].0, groups[j].1);
                        let key = mrn_key(&found.as_str()[s..e]);
                        let digits = key.chars().filter(char::is_ascii_digit).count();
                        if !(3..=20).contains(&digits) {
                            continue;
                        }
                        if let Some((a, b)) = self.tokens_of(line, base + s, base + e) {
                            let span =
                                self.span(FieldName::Mrn, a, b, base + s, base + e, Fit::Exact);
                            // `MR13938876`, `RGH-38499395`: the number without its letter prefix too.
                            let digits_only =
                                key.trim_start_matches(|c: char| c.is_ascii_alphabetic());
                            if digits_only.len() != key.len() && digits_only.len() >= 3 {
                                numbers.push((digits_only.to_string(), span));
                            }
                            numbers.push((key, span));
                        }
                    }
                }
            }
        }
        self.dates = dates;
        self.numbers = numbers;
    }

    /// Where `name` (one or more words, e.g. `Garcia Lopez`, `van der Berg`, `Jean-Luc`) is printed: one to
    /// three consecutive words of one line whose letters are the name's, exactly or within a close
    /// Jaro-Winkler distance. `near` limits close matches to lines around the given ones.
    fn find_name(
        &self,
        identifier: FieldName,
        name: &str,
        threshold: f32,
        near: &[(u32, usize)],
    ) -> Vec<Span> {
        let key = fold_key(name);
        if key.len() < 2 {
            return Vec::new();
        }
        let words = name
            .split(|c: char| c.is_whitespace() || c == '-')
            .filter(|w| !fold_key(w).is_empty())
            .count()
            .clamp(1, 3);
        let mut out = Vec::new();
        let try_at = |first: usize, out: &mut Vec<Span>| {
            for width in 1..=3usize {
                let last = first + width - 1;
                if last >= self.tokens.len()
                    || self.tokens[last].line != self.tokens[first].line
                    || width + 1 < words
                    || width > words + 1
                {
                    continue;
                }
                let length: usize = self.tokens[first..=last].iter().map(|t| t.key.len()).sum();
                if length + 2 < key.len() || length > key.len() + 2 || length == 0 {
                    continue;
                }
                let joined: String = self.tokens[first..=last]
                    .iter()
                    .map(|t| t.key.as_str())
                    .collect();
                let fit = if joined == key {
                    Some(Fit::Exact)
                } else if key.len() >= 4
                    && (joined.as_bytes()[0] == key.as_bytes()[0]
                        || joined.as_bytes()[joined.len() - 1] == key.as_bytes()[key.len() - 1])
                    && strsim::jaro_winkler(&joined, &key) >= f64::from(threshold)
                {
                    Some(Fit::Close)
                } else {
                    None
                };
                if let Some(fit) = fit {
                    let (start, end) = (self.tokens[first].start, self.tokens[last].end);
                    out.push(self.span(identifier, first, last, start, end, fit));
                }
            }
        };
        // Exact: by the first word's key.
        let first_word = name
            .split(|c: char| c.is_whitespace() || c == '-')
            .map(fold_key)
            .find(|w| !w.is_empty())
            .unwrap_or_default();
        for probe in [&key, &first_word] {
            if let Some(positions) = self.by_key.get(probe.as_str()) {
                for &p in positions {
                    try_at(p, &mut out);
                }
            }
        }
        // Close: only near the candidate's other spans.
        for &(page, line) in near {
            let from = line.saturating_sub(MENTION_LINES);
            let to = (line + MENTION_LINES + 1).min(self.lines.len());
            for l in from..to {
                let (first, last) = self.lines[l];
                if first == last || self.tokens[first].page != page {
                    continue;
                }
                for t in first..last {
                    try_at(t, &mut out);
                }
            }
        }
        out.sort_by_key(|s| (s.tokens, s.fit != Fit::Exact));
        out.dedup_by_key(|s| s.tokens);
        out
    }
}

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
    // The words around a date are gathered once and indexed by first and last letter, so the work per date
    // is one cheap check per patient born that day, whatever the size of the index.
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
mod tests {
    use super::*;
    use crate::extract::identify_pages;
    use crate::field::ExtractOptions;
    use crate::layout::PageContent;
    use crate::mrn::CheckDigit;

    const INDEX: &str = "mrn,family,given,birth_date,sex\n\
        40811210,Okafor,Amara,2012-03-14,F\n\
        40811228,Okafor,Chidi,1979-11-02,M\n\
        40811236,Lindqvist,Maja,2024-01-05,F\n\
        40811244,Lindqvist,Sara,1991-07-19,F\n\
        40811251,Garcia Lopez,Ana Maria,1964-03-07,F\n\
        40811269,Brennan,Thomas,1958-06-30,M\n\
        40811277,Hale,Augustus,1990-02-03,M\n\
        40811285,Hale,Augusta,1990-02-03,F\n\
        40811293,Doe,Jane,1961-05-03,F\n";

    fn index() -> PatientIndex {
        PatientIndex::from_csv(INDEX.as_bytes(), CheckDigit::None).unwrap()
    }

    fn decide_text(pages: &[&str]) -> (Fields, MatchDecision) {
        let pages: Vec<PageContent<'_>> = pages
            .iter()
            .map(|text| PageContent { text, words: &[] })
            .collect();
        let opts = ExtractOptions::new(Date::new(2026, 6, 1).unwrap());
        identify_pages(&pages, &index(), &opts, &MatchConfig::default())
    }

    fn filed(decision: &MatchDecision) -> Option<&str> {
        match &decision.outcome {
            MatchOutcome::Matched { mrn, .. } => Some(mrn),
            MatchOutcome::Unmatched { .. } => None,
        }
    }

    fn reason(decision: &MatchDecision) -> Option<UnmatchedReason> {
        match &decision.outcome {
            MatchOutcome::Unmatched { reason } => Some(*reason),
            MatchOutcome::Matched { .. } => None,
        }
    }

    #[test]
    fn roles_come_from_the_words_around_a_value() {
        let text = "GUARANTOR INFORMATION\nName: Chidi Okafor   DOB: 11/02/1979\n\
                    PATIENT\nName: Amara Okafor   DOB: 03/14/2012\n\
                    Attending: Dr Thomas Brennan   MRN: 40811210\n";
        let doc = Document::read(&[text], &[None], Date::new(2026, 6, 1).unwrap());
        let role_of = |word: &str| {
            doc.tokens
                .iter()
                .find(|t| t.key == word)
                .map(|t| t.role)
                .unwrap()
        };
        assert_eq!(role_of("chidi"), EvidenceRole::Other);
        assert_eq!(role_of("amara"), EvidenceRole::Patient);
        assert_eq!(role_of("thomas"), EvidenceRole::Other);
        // A clinician's role ends with the cell: the MRN beside the attending is the patient block's.
        assert_eq!(role_of("40811210"), EvidenceRole::Patient);
    }

    #[test]
    fn e1_a_guarantor_printed_first_is_never_filed() {
        // Row E3 files the patient; the guarantor, printed first with a clean block, stays a candidate only.
        let page = "CONSENT FOR TREATMENT OF A MINOR\n\
                    Parent/Guardian: Okafor, Chidi   DOB: 11/02/1979\n\
                    \n\
                    Patient: Okafor, Amara   DOB: 03/14/2012\n";
        let (fields, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), Some("40811210"), "{decision:?}");
        assert_eq!(fields.date_of_birth.unwrap().value, "2012-03-14");
        let guarantor = decision
            .candidates
            .iter()
            .find(|c| c.mrn == "40811228")
            .unwrap();
        assert!(guarantor
            .evidence
            .iter()
            .filter(|s| s.identifier != FieldName::PatientFamily)
            .all(|s| s.role == EvidenceRole::Other));
    }

    #[test]
    fn e1_an_unreadable_patient_block_with_a_clean_parent_block_is_unmatched() {
        let page = "CONSENT FOR TREATMENT OF A MINOR\n\
                    Patient: 0k@f#r, A~~ra   DOB: 0?/1?/2O1?\n\
                    Parent/Guardian: Okafor, Chidi   DOB: 11/02/1979\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), None, "{decision:?}");
    }

    #[test]
    fn e1_a_heading_gives_its_role_to_the_value_cells_of_its_block() {
        // Labels and values in cells apart (as a layout reads a form); the heading stands over the labels.
        let page = "DISCHARGE SUMMARY\n\
                    MOTHER\n\
                    Name:   LINDQVIST, Sara\n\
                    Birthdate:   19 July 1991\n\
                    Mother's MRN:   40811244\n\
                    PATIENT INFORMATION\n\
                    Name:   ~~~~~~~, ~~~~\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), None, "{decision:?}");
        let mother = decision.candidates.iter().find(|c| c.mrn == "40811244");
        assert!(mother.is_none_or(|c| c.evidence.iter().all(|s| s.role == EvidenceRole::Other)));
    }

    #[test]
    fn e1_fields_read_only_from_another_persons_block_are_not_the_patients() {
        // The label reader finds a name and birth date only in the mother's block.
        let page =
            "NEWBORN ADMISSION RECORD\nMother's Name: Sara Lindqvist\nMother's DOB: 07/19/1991\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), None, "{decision:?}");
    }

    #[test]
    fn e3_a_mothers_birth_date_read_as_the_patients_does_not_block_the_newborn() {
        let page = "NEWBORN ADMISSION RECORD\n\
                    Baby: Lindqvist, Maja   MRN: 40811236\n\
                    Mother: Lindqvist, Sara   DOB: 07/19/1991\n\
                    Infant date of birth: 01/05/2024\n";
        let (fields, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), Some("40811236"), "{decision:?}");
        assert_eq!(fields.date_of_birth.unwrap().value, "2024-01-05");
    }

    #[test]
    fn e3_identity_only_in_prose_files() {
        let page = "Northside Family Practice\n12 Elm Street\n\n\
                    Dear Dr Brennan,\n\n\
                    Re: Mrs Ana Maria Garcia Lopez, born 7th March 1964\n\n\
                    I saw your patient in clinic today with her husband. She reports ...\n";
        let (fields, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), Some("40811251"), "{decision:?}");
        assert_eq!(fields.date_of_birth.unwrap().value, "1964-03-07");
    }

    #[test]
    fn e3_prose_sentence_names_the_patient() {
        // A page written day first (21/04/2026): 03/05/1961 is also 3 May, and the index tells which.
        let page = "Clinic 21/04/2026\n\
                    Thank you for referring Jane Doe (date of birth 03/05/1961), whom I saw today.\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), Some("40811293"), "{decision:?}");
    }

    #[test]
    fn e4_another_organisations_number_is_neither_a_match_nor_a_conflict() {
        let page = "St Olaf Hospital, Trondheim\nHospital No: 4417 882 019 3\n\
                    Patient: BRENNAN Thomas   Born: 30.06.1958\nDischarge letter\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), Some("40811269"), "{decision:?}");
    }

    #[test]
    fn e4_a_well_formed_unknown_mrn_still_blocks() {
        let page = "Patient: BRENNAN Thomas   MRN: 55512345   DOB: 06/30/1958\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), None, "{decision:?}");
    }

    #[test]
    fn e2_two_patients_each_labelled_as_the_patient_are_ambiguous() {
        let page = "Patient: Doe, Jane   DOB: 05/03/1961\n\
                    Progress note ...\n\n\n\n\n\n\n\
                    Patient: Brennan, Thomas   DOB: 06/30/1958\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), None, "{decision:?}");
    }

    #[test]
    fn e5_near_twins_read_from_the_same_words_file_only_on_the_exact_name() {
        let page = "Patient: Augusta Hale\nDOB: 02/03/1990\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), Some("40811285"), "{decision:?}");
        let page = "Patient: Augustu Hale\nDOB: 02/03/1990\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), None, "{decision:?}");
    }

    #[test]
    fn the_dob_conflict_row_still_holds() {
        let page = "Patient: Doe, Jane   MRN: 40811293   DOB: 05/04/1961\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(
            reason(&decision),
            Some(UnmatchedReason::DobConflict),
            "{decision:?}"
        );
    }

    #[test]
    fn e6_a_labelled_birth_date_the_label_reader_missed_still_contradicts() {
        // The label reader reads the MRN and the name but not the birth date under its label row.
        let page = "Procedure Report\n\
                    Pat. Name      Hospital Number      Room\n\
                    THOMAS BRENNAN      40811269      ICU-12\n\
                    Pt. DOB        Clinic Date\n\
                    14 -DEC-1958   02-FEB-2026\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), None, "{decision:?}");
        // The same page with his birth date files.
        let page = page.replace("14 -DEC-1958", "30 -JUN-1958");
        let (_, decision) = decide_text(&[&page]);
        assert_eq!(filed(&decision), Some("40811269"), "{decision:?}");
    }

    #[test]
    fn e3_a_complete_patient_block_outweighs_a_second_birth_date_but_never_a_second_name() {
        // The label reader reads a second birth date further down; MRN, birth date and name are printed together.
        let page = "PATIENT\nSurname: Brennan\nFirst name: Thomas\nPatient ID: 40811269\n\
                    Date of Birth: 06/30/1958\n\n\n\n\n\n\nDOB: 06/11/1959\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), Some("40811269"), "{decision:?}");
        // A second patient name on the page is another patient's page: never.
        let page = format!("{page}\nPATIENT: DOE, JANE\n");
        let (_, decision) = decide_text(&[&page]);
        assert_eq!(filed(&decision), None, "{decision:?}");
    }

    #[test]
    fn e4_a_lettered_number_whose_digits_are_another_patients_mrn_still_blocks() {
        // The index has no lettered MRNs; `E40811293` is Jane Doe's MRN with a letter: a conflict, not foreign.
        let page = "Pt   Unit No   Born\nBRENNAN / Thomas   E40811293   30-Jun-1958\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), None, "{decision:?}");
        let page = "Pt   Unit No   Born\nBRENNAN / Thomas   SB621977   30-Jun-1958\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), Some("40811269"), "{decision:?}");
    }

    #[test]
    fn header_labels_read_as_a_name_do_not_contradict() {
        assert!(label_words("Case No"));
        assert!(label_words("No"));
        assert!(!label_words("Brennan"));
        // `PARENT.   :` is a heading alone on its line (the colon is no cell of its own).
        let page = "PATIENT\nName of patient: DOE, Jane\nDOB: 05/03/1961\nPARENT.   :\n\
                    Name:   Thomas BRENNAN\nBirthdate:   06/30/1958\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), Some("40811293"), "{decision:?}");
    }

    #[test]
    fn dates_as_ocr_reads_them() {
        let today = Date::new(2026, 6, 1).unwrap();
        let dates = |line: &str| -> Vec<String> {
            line_dates(line, today, false)
                .into_iter()
                .map(|(d, _, _)| d.to_string())
                .collect()
        };
        assert!(dates("DOB: JUN 071965").contains(&"1965-06-07".to_string()));
        assert!(dates("Born: April 21,.1952").contains(&"1952-04-21".to_string()));
        assert!(dates("Geb. 07 III 1964").contains(&"1964-03-07".to_string()));
        assert!(dates("born 7th March 1964").contains(&"1964-03-07".to_string()));
        assert!(dates("D/N 30.06.1958").contains(&"1958-06-30".to_string()));
        assert!(dates("DOB 17.04,1939").contains(&"1939-04-17".to_string()));
        // Month first unless the page is written day first.
        assert_eq!(dates("DOB 03/07/1964"), vec!["1964-03-07".to_string()]);
        assert!(line_dates("DOB 03/07/1964", today, true)
            .iter()
            .any(|(d, _, _)| d.to_string() == "1964-07-03"));
    }

    #[test]
    fn wristband_family_name_first_files() {
        let page = "|||| ||| || ||||\nGARCIA LOPEZ ANA MARIA  F  07-Mar-64  40811251\n";
        let (_, decision) = decide_text(&[page]);
        assert_eq!(filed(&decision), Some("40811251"), "{decision:?}");
    }
}

#[cfg(test)]
mod second_person {
    //! Property: a form naming the patient and a second person (both in the index; either printed first;
    //! labelled or only in prose) is never filed to the second person; with the patient's block unreadable
    //! and the second person's clean, it is unmatched.

    use super::*;
    use crate::extract::identify_pages;
    use crate::field::ExtractOptions;
    use crate::layout::PageContent;
    use crate::mrn::CheckDigit;

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[(self.next() % items.len() as u64) as usize]
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    const FAMILIES: &[&str] = &[
        "Okafor",
        "Lindqvist",
        "Nakamura",
        "Brennan",
        "Moreau",
        "Kowalczyk",
        "Haddad",
        "Van der Berg",
        "Garcia Lopez",
        "O'Neill",
        "Nguyen",
        "Abernathy",
        "Castellanos",
        "Fitzgerald",
        "Oyelaran",
        "Petrakis",
    ];
    const GIVENS: &[&str] = &[
        "Amara",
        "Chidi",
        "Maja",
        "Thomas",
        "Ana",
        "Jean-Luc",
        "Sofia",
        "Bartholomew",
        "Ines",
        "Kenji",
        "Layla",
        "Marcus",
        "Noor",
        "Oskar",
        "Priya",
        "Rafael",
    ];
    const SECOND: &[&str] = &[
        "Guarantor",
        "Mother",
        "Father",
        "Parent/Guardian",
        "Next of Kin",
        "Insured",
        "Subscriber",
        "Spouse",
        "Emergency Contact",
        "Legal Guardian",
        "Responsible Party",
        "Policy Holder",
    ];
    const PROSE: &[&str] = &[
        "mother", "father", "husband", "wife", "guardian", "daughter", "son",
    ];

    fn date(rng: &mut Rng, from: i32, span: u64) -> Date {
        let year = from + rng.below(span) as i32;
        Date::new(year, 1 + rng.below(12) as u8, 1 + rng.below(28) as u8).unwrap()
    }

    fn us(d: Date) -> String {
        format!("{:02}/{:02}/{}", d.month(), d.day(), d.year())
    }

    fn garble(text: &str, rng: &mut Rng) -> String {
        text.chars()
            .map(|c| {
                if c.is_alphanumeric() && rng.below(3) > 0 {
                    ['~', '#', '?', '%', '@'][rng.below(5) as usize]
                } else {
                    c
                }
            })
            .collect()
    }

    #[test]
    fn a_form_is_never_filed_to_the_second_person() {
        let mut rng = Rng(27);
        let today = Date::new(2026, 6, 1).unwrap();
        let (mut to_patient, mut readable) = (0, 0);
        for case in 0..300 {
            let patient_family = rng.pick(FAMILIES);
            let same_family = rng.below(2) == 0;
            let second_family = if same_family {
                patient_family
            } else {
                rng.pick(FAMILIES)
            };
            let patient_given = rng.pick(GIVENS);
            let mut second_given = rng.pick(GIVENS);
            while second_given == patient_given {
                second_given = rng.pick(GIVENS);
            }
            let patient_dob = date(&mut rng, 1940, 85);
            let second_dob = date(&mut rng, 1930, 70);
            let (patient_mrn, second_mrn) = (
                format!("{}", 20_000_000 + case * 2),
                format!("{}", 20_000_001 + case * 2),
            );
            let csv = format!(
                "mrn,family,given,birth_date,sex\n{patient_mrn},{patient_family},{patient_given},{patient_dob},U\n\
                 {second_mrn},{second_family},{second_given},{second_dob},U\n\
                 30000001,Someone,Else,{patient_dob},U\n"
            );
            let index = PatientIndex::from_csv(csv.as_bytes(), CheckDigit::None).unwrap();
            let unreadable = case % 3 == 2;
            let labelled = rng.below(3) > 0;
            let second_first = rng.below(2) == 0;
            let print_mrn = rng.below(2) == 0;
            let (mut pname, mut pdob, mut pmrn) = (
                format!("{patient_family}, {patient_given}"),
                us(patient_dob),
                if print_mrn {
                    format!("   MRN: {patient_mrn}")
                } else {
                    String::new()
                },
            );
            if unreadable {
                pname = garble(&pname, &mut rng);
                pdob = garble(&pdob, &mut rng);
                pmrn = garble(&pmrn.replace("MRN", "###"), &mut rng);
            }
            let role = rng.pick(SECOND);
            let (patient_block, second_block) = if labelled {
                (
                    format!("Patient: {pname}   DOB: {pdob}{pmrn}\n"),
                    if rng.below(2) == 0 {
                        format!(
                            "{role}: {second_family}, {second_given}   DOB: {}\n",
                            us(second_dob)
                        )
                    } else {
                        format!(
                            "{} INFORMATION\nName: {second_given} {second_family}\nDate of Birth: {}\n",
                            role.to_uppercase(),
                            us(second_dob)
                        )
                    },
                )
            } else {
                (
                    format!("Re: {pname}, DOB {pdob}{pmrn}.\n"),
                    format!(
                        "The patient was accompanied by her {} {second_given} {second_family} (born {}).\n",
                        rng.pick(PROSE),
                        us(second_dob)
                    ),
                )
            };
            let body = "Reviewed history and consent with the family. Plan discussed.\n";
            let page = if second_first {
                format!("CONSENT FORM\n{second_block}\n{patient_block}\n{body}")
            } else {
                format!("CONSENT FORM\n{patient_block}\n{second_block}\n{body}")
            };
            let pages = [PageContent {
                text: &page,
                words: &[],
            }];
            let (_, decision) = identify_pages(
                &pages,
                &index,
                &ExtractOptions::new(today),
                &MatchConfig::default(),
            );
            let filed = match &decision.outcome {
                MatchOutcome::Matched { mrn, .. } => Some(mrn.clone()),
                MatchOutcome::Unmatched { .. } => None,
            };
            assert_ne!(
                filed.as_deref(),
                Some(second_mrn.as_str()),
                "case {case}: filed to the second person:\n{page}"
            );
            if unreadable {
                assert_eq!(
                    filed, None,
                    "case {case}: unreadable patient block filed:\n{page}"
                );
            } else {
                readable += 1;
                to_patient += usize::from(filed.as_deref() == Some(patient_mrn.as_str()));
            }
        }
        // Filing the readable ones is the evidence search's job; most must file.
        assert!(
            to_patient * 10 >= readable * 9,
            "filed {to_patient}/{readable}"
        );
    }
}

#[cfg(test)]
mod never_panics {
    use super::*;
    use crate::extract::identify_pages;
    use crate::field::ExtractOptions;
    use crate::layout::PageContent;
    use crate::mrn::CheckDigit;

    #[test]
    fn random_pages_never_panic() {
        let index = PatientIndex::from_csv(
            "mrn,family,given,birth_date,sex\n40811269,Brennan,Thomas,1958-06-30,M\n0401,Ø,Ł,2000-01-01,F\n"
                .as_bytes(),
            CheckDigit::None,
        )
        .unwrap();
        let pieces = [
            "Patient:",
            "Mother's",
            "DOB",
            "06/30/1958",
            "30.06.1958",
            "JUN 071965",
            "07 III 1964",
            "Brennan",
            "Thomas",
            "40811269",
            "E40811269",
            "MR#",
            "0000000",
            "ß",
            "Ø",
            "é",
            "\u{a0}",
            "   ",
            "\n",
            "\t",
            ",",
            ";",
            ":",
            "|",
            "—",
            "7th",
            "of",
            "March",
            "99/99/9999",
            "1/1/1",
            "PARENT.",
            "Re:",
            "XXXX",
            "日本",
            "🙂",
            "-",
        ];
        let mut state: u64 = 27;
        let opts = ExtractOptions::new(Date::new(2026, 6, 1).unwrap());
        for _ in 0..600 {
            let mut page = String::new();
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let words = 1 + (state >> 33) % 60;
            for _ in 0..words {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                page.push_str(pieces[((state >> 33) % pieces.len() as u64) as usize]);
                if (state >> 40).is_multiple_of(3) {
                    page.push(' ');
                }
            }
            let pages = [PageContent {
                text: &page,
                words: &[],
            }];
            let _ = identify_pages(&pages, &index, &opts, &MatchConfig::default());
        }
    }
}

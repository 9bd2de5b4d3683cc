//! One document as the evidence search reads it: words with their line, column and role; dates in the forms
//! OCR gives them; digit groups; where a name is printed.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use super::dates::{line_dates, NUMERIC_DATE_RE};
use super::{BIRTH_WORDS, INHERIT_LINES, MENTION_LINES};
use crate::date::Date;
use crate::decision::EvidenceRole;
use crate::field::{FieldName, Source};
use crate::layout::LayoutPage;
use crate::mrn::mrn_key;
use crate::names::fold_char;

/// One word of a page.
#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) page: u32,
    pub(super) line: usize,
    pub(super) start: usize,
    pub(super) end: usize,
    /// Lower case, accents folded, letters and digits only.
    pub(super) key: String,
    /// Whether the word ends with a colon (a label).
    pub(super) label: bool,
    /// Whether the word starts a cell.
    pub(super) cell_start: bool,
    x0: u32,
    x1: u32,
    pub(super) role: EvidenceRole,
}

/// What an identifier span says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fit {
    Exact,
    Close,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub(super) identifier: FieldName,
    pub(super) page: u32,
    pub(super) line: usize,
    pub(super) start: usize,
    pub(super) end: usize,
    /// First and last token index, for telling two patients' name spans apart.
    pub(super) tokens: (usize, usize),
    pub(super) role: EvidenceRole,
    pub(super) fit: Fit,
}

/// The pages of one document as the evidence search reads them.
pub(crate) struct Document<'a> {
    pub(super) texts: Vec<&'a str>,
    pub(super) tokens: Vec<Token>,
    /// Tokens by key, for exact name lookups.
    pub(super) by_key: HashMap<String, Vec<usize>>,
    /// Token index range of every line.
    pub(super) lines: Vec<(usize, usize)>,
    pub(super) dates: Vec<(Date, Span)>,
    /// Digit-group spans by MRN key.
    pub(super) numbers: Vec<(String, Span)>,
    /// Per line, the keys of one to three consecutive words (`garcia`, `garcialopez`…).
    pub(super) line_keys: Vec<Vec<String>>,
    /// Whether the page labels a patient block (`Patient:`, `PATIENT`, `Baby:`): then a patient found only
    /// outside it, unlabelled, is not the one the page is about.
    pub(super) patient_label: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cue {
    /// The patient (`Patient:`, `Re:`, `Baby`): carries across cells and down to the block below.
    Patient,
    /// Another person with identifiers of their own (guarantor, insured, parent, next of kin): carries.
    Person,
    /// A clinician, sender or organisation (`Dr`, `Attending:`, `cc:`): only the words of its own cell.
    Clinician,
}

impl Cue {
    pub(super) fn carries(self) -> bool {
        !matches!(self, Cue::Clinician)
    }
}

/// Words that name the role of the person whose identifiers follow, and whether the word acts wherever it
/// stands (`strong`) or only as a label (followed by a colon, or first in its cell).
pub(super) fn cue(key: &str) -> Option<(Cue, bool)> {
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

pub(super) fn fold_key(word: &str) -> String {
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

/// Digit groups: digits with single separators between them, and an optional letter prefix.
pub(super) static NUMBER_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[A-Za-z]{0,3}\d+(?:[-. /]\d+)*\b").expect("number pattern compiles")
});

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
                doc.read_line(page, line, offset, layout);
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

    pub(super) fn read_line(
        &mut self,
        page: u32,
        line: &str,
        offset: usize,
        layout: Option<&LayoutPage>,
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
    pub(super) fn assign_roles(&mut self) {
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

    pub(super) fn token_cue(&self, t: usize, cell_first: usize) -> Option<Cue> {
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

    pub(super) fn inherited(
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

    pub(super) fn span(
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
    pub(super) fn not_birth_date(&self, span: &Span) -> bool {
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
    pub(super) fn birth_labelled(&self, span: &Span) -> bool {
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
    pub(super) fn cell_extent(&self, line: usize, t: usize) -> (u32, u32) {
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
    pub(super) fn tokens_of(
        &self,
        line: usize,
        start: usize,
        end: usize,
    ) -> Option<(usize, usize)> {
        let (first, last) = self.lines[line];
        let mut covered =
            (first..last).filter(|&i| self.tokens[i].start < end && self.tokens[i].end > start);
        let a = covered.next()?;
        let b = covered.next_back().unwrap_or(a);
        Some((a, b))
    }

    pub(super) fn locate_spans(&mut self, today: Date) {
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
    pub(super) fn find_name(
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

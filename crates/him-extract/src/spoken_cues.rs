//! A sturdier reading of a dictated header: what speech recognisers actually write for it.
//!
//! Labels come out misheard (`Datamer from` for *date of birth*, `the OB` for *D O B*, `Birthday`), digit
//! strings come out in groups (`53, 12, 26, 9`, `6132.047`, `MRN841-987-1`), dates in every shape (`11, 26,
//! 1991`, `10-25-20-19`, `the 13th of March 1957`) and names spelled out as letters (`R-O-K-S`,
//! `S.T.M.M.E.R.I.T.H.`). This pass runs after the labelled reading and only fills the fields it left empty:
//! labels are spotted by similarity (Jaro-Winkler over the words before a value), and a header date that no
//! label claims is the date of birth only when it is unambiguous.

use std::sync::LazyLock;

use regex::Regex;

use crate::date::{find_dates, Date};
use crate::extract::Candidate;
use crate::field::FieldName;
use crate::labels::LabelKind;
use crate::spoken_roles::{is_cue_word, role_of, Role};
use crate::values::read_value;

/// Words that make up the header: identity is dictated first; later numbers and dates belong to the note.
const HEADER_WORDS: usize = 100;

const DOB_CUES: &[&str] = &[
    "dateofbirth",
    "birthdate",
    "birthday",
    "born",
    "bornon",
    "dob",
    "ofbirth",
    "birth",
    "dateofbirthis",
];
const DOS_CUES: &[&str] = &[
    "dateofservice",
    "dateofvisit",
    "visitdate",
    "servicedate",
    "seenon",
    "seen",
    "admitted",
    "admittedon",
    "discharged",
    "dateofadmission",
    "dateofdischarge",
    "visit",
    "service",
];
const MRN_CUES: &[&str] = &[
    "medicalrecordnumber",
    "medicalrecord",
    "recordnumber",
    "mrn",
    "mrnnumber",
    "chartnumber",
    "medicalrecordno",
    "mrnumber",
    "recordno",
    "patientnumber",
    "hospitalnumber",
    "unitnumber",
];
const NAME_CUES: &[&[&str]] = &[
    &["patient", "name", "is"],
    &["patient", "name"],
    &["patient", "named"],
    &["patient", "is"],
    &["name", "is"],
    &["regarding"],
    &["patient"],
];
/// Words that end a spoken name.
const NAME_STOP: &[&str] = &[
    "last",
    "first",
    "name",
    "medical",
    "record",
    "date",
    "born",
    "birth",
    "spelled",
    "mrn",
    "dob",
    "number",
    "dictating",
    "this",
    "is",
    "age",
    "year",
    "years",
    "old",
    "the",
    "patient",
    "a",
    "an",
    "and",
    "with",
    "who",
    "was",
    "seen",
    "for",
    "on",
    "of",
    "doctor",
    "dr",
];
/// Capitalised words of a header that are not a patient's name (note types, labels, titles).
const NOT_NAMES: &[&str] = &[
    "this",
    "is",
    "dr",
    "doctor",
    "dictating",
    "dictation",
    "operative",
    "operation",
    "note",
    "notes",
    "no",
    "emergency",
    "department",
    "summary",
    "consultation",
    "consult",
    "history",
    "physical",
    "discharge",
    "procedure",
    "progress",
    "admission",
    "report",
    "patient",
    "name",
    "medical",
    "record",
    "number",
    "date",
    "birth",
    "born",
    "mrn",
    "dob",
    "service",
    "visit",
    "last",
    "first",
    "spelled",
    "the",
    "and",
    "of",
    "on",
    "for",
    "with",
    "regarding",
    "mr",
    "mrs",
    "ms",
    "miss",
    "april",
    "may",
    "june",
    "july",
    "august",
    "january",
    "february",
    "march",
    "september",
    "october",
    "november",
    "december",
    "seen",
    "plan",
    "continue",
    "she",
    "he",
    "they",
    "we",
    "i",
    "it",
    "in",
    "a",
    "an",
    "to",
    "from",
];

/// Fillers that may sit between a label and its value.
const FILLERS: &[&str] = &["is", "was", "the", "a", "of", "uh", "um"];

static TOKEN_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z][A-Za-z'’]*|\d+(?:st|nd|rd|th)?|[^\sA-Za-z\d]")
        .expect("token pattern compiles")
});
static GLUED_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([A-Za-z])(\d)|(\d)([A-Za-z]+)").expect("glued pattern compiles")
});
static DAY_OF_MONTH_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)?\s+of\s+(january|february|march|april|may|june|july|august|september|october|november|december)\b")
        .expect("day-of-month pattern compiles")
});
static NUMERIC_DATE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\b(\d{1,2})(?:[,.]?\s+|[-/.])(\d{1,2})(?:[,.]?\s+|[-/.])(\d{4}|(?:19|20)(?:[-\s]|,\s)?\d{2})\b",
    )
    .expect("numeric date pattern compiles")
});

/// Rewrites what recognisers write for spoken identifiers into forms the date reader knows. Keeps byte
/// offsets only approximately; callers map offsets back by proportion.
pub(crate) fn canonicalize(text: &str) -> String {
    let text = GLUED_RE.replace_all(text, |caps: &regex::Captures<'_>| {
        match (caps.get(1), caps.get(3)) {
            (Some(letter), _) => format!("{} {}", letter.as_str(), &caps[2]),
            // `1st`, `22nd` stay; `8I86754` splits.
            (None, Some(digit))
                if matches!(
                    caps[4].to_ascii_lowercase().as_str(),
                    "st" | "nd" | "rd" | "th"
                ) =>
            {
                format!("{}{}", digit.as_str(), &caps[4])
            }
            (None, Some(digit)) => format!("{} {}", digit.as_str(), &caps[4]),
            (None, None) => caps[0].to_string(),
        }
    });
    let text = DAY_OF_MONTH_RE.replace_all(&text, "$2 $1");
    NUMERIC_DATE_RE
        .replace_all(&text, |caps: &regex::Captures<'_>| {
            let (m, d) = (&caps[1], &caps[2]);
            let year: String = caps[3].chars().filter(char::is_ascii_digit).collect();
            let valid = m.parse::<u8>().is_ok_and(|m| (1..=12).contains(&m))
                && d.parse::<u8>().is_ok_and(|d| (1..=31).contains(&d));
            if valid {
                format!("{m}/{d}/{year}")
            } else {
                caps[0].to_string()
            }
        })
        .into_owned()
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    text: &'a str,
    start: usize,
    end: usize,
}

impl Token<'_> {
    fn word(&self) -> Option<String> {
        self.text
            .starts_with(|c: char| c.is_ascii_alphabetic())
            .then(|| self.text.to_lowercase().replace(['\'', '’'], ""))
    }

    fn is_number(&self) -> bool {
        self.text.starts_with(|c: char| c.is_ascii_digit())
    }
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    TOKEN_RE
        .find_iter(text)
        .map(|m| Token {
            text: m.as_str(),
            start: m.start(),
            end: m.end(),
        })
        .collect()
}

/// How well the words just before token `at` spell one of `cues` (0 to 1): the best Jaro-Winkler similarity
/// of the last one to four words, joined, fillers at the end skipped.
fn cue_score(tokens: &[Token<'_>], at: usize, cues: &[&str]) -> f32 {
    let mut words: Vec<String> = Vec::new();
    for token in tokens[..at].iter().rev() {
        match token.word() {
            Some(word) => {
                if words.is_empty() && FILLERS.contains(&word.as_str()) {
                    continue;
                }
                words.push(word);
                if words.len() == 4 {
                    break;
                }
            }
            // A comma or a colon may sit between a label and its value; a sentence end may not.
            None if matches!(token.text, "," | ":" | "-" | "#") && words.is_empty() => continue,
            None => break,
        }
    }
    let mut best = 0.0f32;
    let mut joined = String::new();
    for word in &words {
        joined.insert_str(0, word);
        for cue in cues {
            best = best.max(strsim::jaro_winkler(&joined, cue) as f32);
        }
    }
    best
}

/// A label is spotted when the words before a value are at least this similar to it.
const CUE_AT: f32 = 0.86;

/// Which fields the labelled reading already found.
pub(crate) struct Found {
    pub mrn: bool,
    pub dob: bool,
    pub service: bool,
    pub name: bool,
}

impl Found {
    pub(crate) fn of(candidates: &[Candidate]) -> Found {
        let has = |name: FieldName| candidates.iter().any(|c| c.name == name);
        Found {
            mrn: has(FieldName::Mrn),
            dob: has(FieldName::DateOfBirth),
            service: has(FieldName::DateOfService),
            name: has(FieldName::PatientFamily),
        }
    }
}

/// Candidates for the identity fields the labelled reading missed, read from `text` (already canonical).
/// Offsets of the candidates are in `text`.
pub(crate) fn cue_candidates(text: &str, found: &Found, today: Date, out: &mut Vec<Candidate>) {
    let all = tokens(text);
    let header_end = all
        .iter()
        .enumerate()
        .filter(|(_, t)| t.word().is_some())
        .nth(HEADER_WORDS)
        .map_or(text.len(), |(_, t)| t.start);
    let toks: Vec<Token<'_>> = all.into_iter().filter(|t| t.start < header_end).collect();
    let index_at = |offset: usize| {
        toks.iter()
            .position(|t| t.start >= offset)
            .unwrap_or(toks.len())
    };

    // Dates: labelled by similarity, else by elimination.
    let dates: Vec<_> = find_dates(
        &text[..header_end],
        Date::new(9999, 12, 31).unwrap_or(today),
    );
    let mut unlabelled = Vec::new();
    let mut dob_seen = found.dob;
    let mut dos_seen = found.service;
    for date in &dates {
        let at = index_at(date.start);
        let dob = cue_score(&toks, at, DOB_CUES);
        let dos = cue_score(&toks, at, DOS_CUES);
        let value = &text[date.start..date.end];
        if dob >= CUE_AT && dob > dos {
            if !found.dob {
                read_value(LabelKind::Dob, 0.6, value, date.start, 0, today, out);
            }
            dob_seen = true;
        } else if dos >= CUE_AT && dos > dob {
            if !found.service {
                read_value(LabelKind::Service, 0.6, value, date.start, 0, today, out);
            }
            dos_seen = true;
        } else {
            unlabelled.push(date);
        }
    }
    if !dob_seen {
        // A header date no label claims: the date of birth when it is the only one, or the earlier of two
        // when no service date was dictated either.
        let birth = match unlabelled.as_slice() {
            [only] => Some(only),
            [first, second] if !dos_seen && first.date < second.date => Some(first),
            _ => None,
        };
        if let Some(date) = birth.filter(|d| d.date.year() < today.year()) {
            read_value(
                LabelKind::Dob,
                0.45,
                &text[date.start..date.end],
                date.start,
                0,
                today,
                out,
            );
        }
    }

    // MRN: a run of digit groups after an MRN-like label.
    if !found.mrn {
        let in_date = |offset: usize| dates.iter().any(|d| d.start <= offset && offset < d.end);
        let starts_run = |i: usize| {
            let t = &toks[i];
            let first = t.is_number()
                || (t.word().as_deref().and_then(misheard_digit).is_some()
                    && toks.get(i + 1).is_some_and(Token::is_number));
            first && !in_date(t.start) && (i == 0 || !toks[i - 1].is_number())
        };
        let found_mrn = (0..toks.len())
            .filter(|&i| starts_run(i) && cue_score(&toks, i, MRN_CUES) >= CUE_AT)
            .find_map(|i| {
                let run = joined_digit_run(&text[toks[i].start..header_end])?;
                Some((toks[i].start, run))
            });
        if let Some((start, digits)) = found_mrn {
            read_value(LabelKind::Mrn, 0.7, &digits, start, 0, today, out);
        }
    }

    // Name: the capitalised words after a name cue.
    if !found.name {
        'cues: for (i, _) in toks.iter().enumerate() {
            for cue in NAME_CUES {
                let matches = cue.iter().enumerate().all(|(k, word)| {
                    toks.get(i + k)
                        .and_then(Token::word)
                        .is_some_and(|w| w == *word)
                });
                if !matches {
                    continue;
                }
                let mut j = i + cue.len();
                // `patient, Trevor Hoffmann`, `patient in Joan Jablonski`: a comma or one short lower-case
                // word the recogniser put between the cue and the name.
                if toks.get(j).is_some_and(|t| t.text == ",") {
                    j += 1;
                }
                if toks.get(j).is_some_and(|t| {
                    t.word()
                        .is_some_and(|w| matches!(w.as_str(), "in" | "is" | "named" | "name"))
                        && t.text.starts_with(|c: char| c.is_ascii_lowercase())
                }) {
                    j += 1;
                }
                let value_start = toks.get(j).map_or(text.len(), |t| t.start);
                let mut parts: Vec<&str> = Vec::new();
                let mut comma = false;
                while let Some(t) = toks.get(j) {
                    if t.text == "," && parts.len() == 1 && !comma {
                        comma = true;
                        j += 1;
                        continue;
                    }
                    let Some(word) = t.word() else { break };
                    let capitalised = t.text.starts_with(|c: char| c.is_ascii_uppercase());
                    if !capitalised || NAME_STOP.contains(&word.as_str()) || parts.len() == 3 {
                        break;
                    }
                    parts.push(t.text);
                    j += 1;
                }
                // `my name is Alan Brooks`, `regarding Dr Brooks`: not the patient; a later cue may be.
                let value_end = j
                    .checked_sub(1)
                    .and_then(|last| toks.get(last))
                    .map_or(value_start, |t| t.end);
                if parts.len() >= 2 && Role::may_be_patient(role_of(text, value_start, value_end)) {
                    let value = if comma {
                        format!("{}, {}", parts[0], parts[1..].join(" "))
                    } else {
                        parts.join(" ")
                    };
                    read_value(LabelKind::Name, 0.6, &value, value_start, 0, today, out);
                    break 'cues;
                }
            }
        }
        if !out.iter().any(|c| c.name == FieldName::PatientFamily) {
            unlabelled_name(text, &toks, today, out);
        }
    }
    unlabelled_author(text, &toks, today, out);
}

/// Runs of two or three capitalised words among the header's first `words` words that are not a note
/// type, a label, a title or a word that says whose a name is: `(first, last)` token indexes.
fn name_runs(toks: &[Token<'_>], words: usize) -> Vec<(usize, usize)> {
    let limit = toks
        .iter()
        .enumerate()
        .filter(|(_, t)| t.word().is_some())
        .nth(words)
        .map_or(toks.len(), |(i, _)| i);
    let name_like = |t: &Token<'_>| {
        t.text.starts_with(|c: char| c.is_ascii_uppercase())
            && t.text.len() >= 2
            && t.word().is_some_and(|w| !NOT_NAMES.contains(&w.as_str()))
            && !t.text.chars().all(|c| c.is_ascii_uppercase())
    };
    // A cue word (`Attending`, `Guardian`, `Copy`) does not start a name; inside one it may be part of it
    // (`Maria Parent`, `Thanh Son`).
    let starts_name = |t: &Token<'_>| name_like(t) && t.word().is_some_and(|w| !is_cue_word(&w));
    let mut runs = Vec::new();
    let mut i = 0;
    while i < limit {
        if !starts_name(&toks[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < limit && name_like(&toks[i]) {
            i += 1;
        }
        if (2..=3).contains(&(i - start)) {
            runs.push((start, i - 1));
        }
    }
    runs
}

/// The first run of two or three capitalised words in the header's first words that are not the
/// author (after `Dr`/`Doctor`), a note type or a label, nor a name the words around it give to someone
/// else (`this is Alan Brooks`, `mother Susan Lopez`): the patient's name when no cue introduced it
/// (`... Operative No. 3 Laura Nguyen.`). Low confidence.
fn unlabelled_name(text: &str, toks: &[Token<'_>], today: Date, out: &mut Vec<Candidate>) {
    // The first 30 words: the name is said early (abbreviations like `Dr.` make sentences unreliable).
    for (start, last) in name_runs(toks, 30) {
        let after_title = start > 0
            && toks[..start].iter().rev().take(2).any(|t| {
                t.word()
                    .is_some_and(|w| matches!(w.as_str(), "dr" | "doctor"))
            });
        if after_title || !Role::may_be_patient(role_of(text, toks[start].start, toks[last].end)) {
            continue;
        }
        let value = &text[toks[start].start..toks[last].end];
        read_value(
            LabelKind::Name,
            0.4,
            value,
            toks[start].start,
            0,
            today,
            out,
        );
        return;
    }
}

/// The dictating physician named without the `this is Doctor` the labelled reading knows (`this is Alan
/// Brooks`, `Alan Brooks here`, `attending Alan Brooks`): the first name run the words around it give the
/// author.
fn unlabelled_author(text: &str, toks: &[Token<'_>], today: Date, out: &mut Vec<Candidate>) {
    let author = name_runs(toks, 60).into_iter().find(|&(start, last)| {
        role_of(text, toks[start].start, toks[last].end) == Some(Role::Author)
    });
    if let Some((start, last)) = author {
        let value = &text[toks[start].start..toks[last].end];
        read_value(
            LabelKind::Author,
            0.6,
            value,
            toks[start].start,
            0,
            today,
            out,
        );
    }
}

/// What recognisers write for a digit inside a spoken digit string: `I` for *nine*, `Hero`, `Nero`, `Nilo`
/// for *zero*, `O` for *oh*.
fn misheard_digit(word: &str) -> Option<char> {
    match word {
        "i" => Some('9'),
        "o" | "oh" | "zero" | "hero" | "nero" | "nilo" => Some('0'),
        _ => None,
    }
}

/// The digits of an MRN said or written in groups at the start of `value` (`53, 12, 26, 9`, `6132.047`,
/// `1-9-3-8-2-8`, `8 I-86754`): the groups joined, when they make 5 to 12 digits. Groups join by one kind
/// of separator (punctuation or spaces); a sentence end (`. `) ends the run.
pub(crate) fn joined_digit_run(value: &str) -> Option<String> {
    let toks = tokens(value);
    let mut digits = String::new();
    // Whether the groups so far were joined by punctuation (true) or by spaces (false).
    let mut joined_by: Option<bool> = None;
    let mut punct_before = false;
    let mut previous_misheard = false;
    for (i, t) in toks.iter().enumerate() {
        let misheard = t.word().as_deref().and_then(misheard_digit);
        let is_digits = t.is_number() && t.text.chars().all(|c| c.is_ascii_digit());
        let next_is_digit = toks.get(i + 1).is_some_and(|n| {
            n.is_number() || n.word().as_deref().and_then(misheard_digit).is_some()
        });
        if is_digits || (misheard.is_some() && (!digits.is_empty() || next_is_digit)) {
            // A misheard digit word joins either way; real groups keep to one kind of separator.
            if !digits.is_empty()
                && misheard.is_none()
                && !previous_misheard
                && *joined_by.get_or_insert(punct_before) != punct_before
            {
                break;
            }
            match misheard {
                Some(d) if !is_digits => digits.push(d),
                _ => digits.push_str(t.text),
            }
            previous_misheard = misheard.is_some() && !is_digits;
            punct_before = false;
        } else if matches!(t.text, "," | "." | "-" | "#" | ":") {
            let spaced = toks.get(i + 1).is_some_and(|n| t.end < n.start);
            let sentence_end = t.text == "." && spaced && !digits.is_empty();
            if sentence_end || !(digits.is_empty() || next_is_digit) {
                break;
            }
            punct_before = !digits.is_empty();
        } else {
            break;
        }
    }
    (5..=12).contains(&digits.len()).then_some(digits)
}

/// Names spelled out letter by letter: after `spelled` (`E M M E R I C H`, `R-O-K-S`, `S.T.M.M.E.R.I.T.H.`,
/// short capital groups such as `REDN B. R. G.`), or four single letters in a row anywhere in the header.
#[cfg(test)]
pub(crate) fn spelled_names(text: &str) -> Vec<String> {
    spelled_names_at(text)
        .into_iter()
        .map(|(_, letters)| letters)
        .collect()
}

/// [`spelled_names`] with the byte offset in `text` where each spelling starts.
pub(crate) fn spelled_names_at(text: &str) -> Vec<(usize, String)> {
    let toks = tokens(text);
    let mut out = Vec::new();
    let letters_of = |t: &Token<'_>| -> Option<String> {
        let bare: String = t.text.chars().filter(|c| c.is_ascii_alphabetic()).collect();
        let all_caps = !bare.is_empty() && bare.chars().all(|c| c.is_ascii_uppercase());
        (all_caps && bare.len() <= 5).then_some(bare)
    };
    let mut i = 0;
    while i < toks.len() {
        let word = toks[i].word();
        let last_name = matches!(word.as_deref(), Some("name" | "named"))
            && i > 0
            && toks[i - 1].word().as_deref() == Some("last");
        let after_spelled = last_name
            || word.is_some_and(|w| strsim::jaro_winkler(&w, "spelled") >= 0.85 || w == "spelling");
        let single =
            toks[i].text.len() == 1 && toks[i].text.chars().all(|c| c.is_ascii_uppercase());
        if !after_spelled && !single {
            i += 1;
            continue;
        }
        let mut j = if after_spelled { i + 1 } else { i };
        let mut letters = String::new();
        let mut letters_at = toks[j.min(toks.len() - 1)].start;
        let mut pieces = 0;
        let mut fillers = 0;
        while let Some(t) = toks.get(j) {
            if matches!(t.text, "." | "-" | "," | "\"") {
                j += 1;
                continue;
            }
            let label = matches!(t.text, "MRN" | "DOB" | "MR" | "DOS" | "ID" | "MD");
            if let Some(group) = letters_of(t).filter(|_| !label) {
                // Outside a `spelled` cue only single letters count.
                if !after_spelled && group.len() > 1 {
                    break;
                }
                if letters.is_empty() {
                    letters_at = t.start;
                }
                letters.push_str(&group);
                pieces += 1;
                j += 1;
            } else if after_spelled
                && letters.is_empty()
                && fillers < 2
                && t.word()
                    .is_some_and(|w| matches!(w.as_str(), "the" | "as" | "is" | "it" | "spelled"))
            {
                fillers += 1;
                j += 1;
            } else {
                break;
            }
        }
        let enough = if after_spelled {
            letters.len() >= 3
        } else {
            pieces >= 4
        };
        if enough {
            out.push((letters_at, letters));
        }
        i = j.max(i + 1);
    }
    out.dedup_by(|a, b| a.1 == b.1);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        Date::new(2026, 11, 30).unwrap()
    }

    fn read(text: &str) -> Vec<(FieldName, String)> {
        let canonical = canonicalize(text);
        let found = Found {
            mrn: false,
            dob: false,
            service: false,
            name: false,
        };
        let mut out = Vec::new();
        cue_candidates(&canonical, &found, today(), &mut out);
        out.into_iter().map(|c| (c.name, c.value)).collect()
    }

    fn value(read: &[(FieldName, String)], name: FieldName) -> Option<&str> {
        read.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn grouped_digits_after_a_misheard_label_are_the_mrn() {
        for (text, mrn) in [
            (
                "Record number 53, 12, 26, 9. Birthday February 12, 1979.",
                "5312269",
            ),
            (
                "medical record 12, 05, 18, 6, perfect March 5, 1990",
                "1205186",
            ),
            (
                "terrorism MRN841-987-1, Thursday 10-25-20-19, the wound",
                "8419871",
            ),
            (
                "Medical record number 6132.047. 1st 8 January 17 2002.",
                "6132047",
            ),
            ("Record number 8 I-86754 C-1-182022", "8986754"),
            (
                "Medical record I8763 Hero1. Per state June 19, 1953.",
                "9876301",
            ),
            (
                "Medical Record #9668237. 8 of Bertho 5, 19, 1941.",
                "9668237",
            ),
            (
                "Medical record number 61-32-04-7 1 date January 17-2002",
                "6132047",
            ),
            ("MRN 686, Nero 183, D.O.V. January 18, 1936.", "6860183"),
            ("record number 74 92 20 family", "749220"),
        ] {
            let at = text.find(|c: char| c.is_ascii_digit()).unwrap();
            let direct = joined_digit_run(&canonicalize(&text[at..]));
            assert!(
                direct.as_deref().is_some_and(|d| mrn.ends_with(d)),
                "{text}"
            );
            let got = read(text);
            assert_eq!(value(&got, FieldName::Mrn), Some(mrn), "{text}: {got:?}");
        }
    }

    #[test]
    fn misheard_and_unlabelled_birth_dates() {
        for (text, dob) in [
            ("Record number 53, 12, 26, 9. Birthday February 12, 1979. Daytop visit June 12, 2025.", "1979-02-12"),
            ("medical record 12, 05, 18, 6, perfect March 5, 1990, C. October 10, 2020.", "1990-03-05"),
            ("MRN841-987-1, Thursday 10-25-20-19, the wound is clean", "2019-10-25"),
            ("born on the 13th of March 1957. seen on June 2, 2024", "1957-03-13"),
            ("birthday to three, 11, 26, 1991. Record number 1450071.", "1991-11-26"),
            ("8th of Virgil 4, 17, 19, 84 C on March 5th, 2020", "1984-04-17"),
        ] {
            let got = read(text);
            assert_eq!(value(&got, FieldName::DateOfBirth), Some(dob), "{text}: {got:?}");
        }
        // Two unlabelled dates after a dictated service date: no guess.
        let got = read("date of service June 2, 2024. March 5, 1990 and April 1, 1991.");
        assert_eq!(value(&got, FieldName::DateOfBirth), None, "{got:?}");
    }

    #[test]
    fn names_after_a_cue_and_spelled_letters() {
        let got = read("dictating a consultation note regarding Robert Larson, medical record 12");
        assert_eq!(
            value(&got, FieldName::PatientFamily),
            Some("Larson"),
            "{got:?}"
        );
        assert_eq!(value(&got, FieldName::PatientGiven), Some("Robert"));
        let got = read("operative note patient named Ursula Takahashi. Medical record");
        assert_eq!(
            value(&got, FieldName::PatientFamily),
            Some("Takahashi"),
            "{got:?}"
        );
        assert_eq!(
            spelled_names("Last named as the REDN B. R. G. Medical Record"),
            vec!["REDNBRG".to_string()]
        );
        assert_eq!(
            spelled_names("Last name, the current L, the R-O-K-S, medical"),
            vec!["ROKS".to_string()]
        );
        assert_eq!(
            spelled_names("spelled E M M E R I C H, date of birth"),
            vec!["EMMERICH".to_string()]
        );
        assert_eq!(
            spelled_names("S.T.M.M.E.R.I.T.H."),
            vec!["STMMERITH".to_string()]
        );
        assert!(spelled_names("the patient has MS and a CT scan").is_empty());
        let got = read(
            "This is Dr. Wych and Dictating Operative No. 3 Laura Nguyen. Born on May 1, 1950.",
        );
        assert_eq!(
            value(&got, FieldName::PatientFamily),
            Some("Nguyen"),
            "{got:?}"
        );
        // After `Guardian` (even a misheard word) the name is someone else's: never the patient's.
        let got = read("This is Dr. Wych and Dictating Operative No. 3 Guardian Laura Nguyen. Born on May 1, 1950.");
        assert_eq!(value(&got, FieldName::PatientFamily), None, "{got:?}");
        let got = read("This is Dr Maria Santos dictating a consultation. The wound is clean.");
        assert_eq!(value(&got, FieldName::PatientFamily), None, "{got:?}");
    }
}

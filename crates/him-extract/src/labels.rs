//! Header labels (`PATIENT:`, `Med Rec #`, `D.O.B.`…) and the value each one introduces.

use std::sync::LazyLock;

use regex::Regex;

/// What a label introduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LabelKind {
    Name,
    Mrn,
    Dob,
    Service,
    Admission,
    Discharge,
    GenericDate,
    Author,
    Encounter,
    DocType,
    /// A split name field: the family name alone (`Last Name`).
    FamilyName,
    /// A split name field: the given name alone (`First Name`).
    GivenName,
    /// A label that only ends the previous value (`Sex:`, `Room:`, `Referring physician:`).
    Other,
}

/// How a label must be followed to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Follow {
    /// A `:` separator.
    Colon,
    /// `:` or `#`, or a value that starts with a digit.
    ColonOrDigit,
    /// `:`, or a value that starts with a date.
    ColonOrDate,
    /// Nothing: the label is a phrase like `dictated by`.
    Phrase,
}

struct LabelSpec {
    pattern: &'static str,
    kind: LabelKind,
    confidence: f32,
    follow: Follow,
}

const fn spec(
    pattern: &'static str,
    kind: LabelKind,
    confidence: f32,
    follow: Follow,
) -> LabelSpec {
    LabelSpec {
        pattern,
        kind,
        confidence,
        follow,
    }
}

use Follow::{Colon, ColonOrDate, ColonOrDigit, Phrase};
use LabelKind::*;

/// Tried in order at each position: longer, more specific labels first.
const SPECS: &[LabelSpec] = &[
    spec(
        r"(?:acct|account)\.?\s*/\s*(?:mrn|mr\s*#)",
        Mrn,
        0.85,
        ColonOrDigit,
    ),
    spec(r"mrn\s*/\s*(?:acct|account)\b", Mrn, 0.85, ColonOrDigit),
    spec(
        r"medical\s+record\s*(?:number\b|num\b|no\b|#)?",
        Mrn,
        0.95,
        ColonOrDigit,
    ),
    spec(
        r"med\.?\s*rec\b\.?\s*(?:number\b|num\b|no\b|#)?",
        Mrn,
        0.93,
        ColonOrDigit,
    ),
    spec(r"m\.\s*r\.\s*n\b", Mrn, 0.95, ColonOrDigit),
    spec(r"mrn\b", Mrn, 0.95, ColonOrDigit),
    spec(r"mr\s*(?:#|no\b|number\b)", Mrn, 0.9, ColonOrDigit),
    spec(
        r"(?:chart|unit|hospital)\s*(?:#|no\b|number\b)",
        Mrn,
        0.8,
        ColonOrDigit,
    ),
    spec(r"(?:patient|pt)\.?\s*id\b", Mrn, 0.75, ColonOrDigit),
    spec(
        r"(?:patient|pt)\.?\s*(?:#|no\b|number\b)",
        Mrn,
        0.75,
        ColonOrDigit,
    ),
    spec(
        r"(?:record|emr|ehr|hosp)\.?\s*(?:#|no\b|number\b)",
        Mrn,
        0.8,
        ColonOrDigit,
    ),
    // OCR reads the O of D.O.B. as a zero often enough to accept it in the label (never in values).
    spec(r"d\.\s*[o0]\.\s*b\b", Dob, 0.95, ColonOrDate),
    spec(r"d[o0]b\b", Dob, 0.95, ColonOrDate),
    spec(r"date\s+of\s+birth\b", Dob, 0.95, ColonOrDate),
    spec(r"birth\s*(?:date|dt)\b", Dob, 0.95, ColonOrDate),
    spec(r"d\s*/\s*[o0]\s*/\s*b\b", Dob, 0.95, ColonOrDate),
    spec(r"born\b", Dob, 0.7, ColonOrDate),
    spec(r"date\s+of\s+admission\b", Admission, 0.9, ColonOrDate),
    spec(r"(?:admission|admit)\s+date\b", Admission, 0.9, ColonOrDate),
    spec(r"admitted\b", Admission, 0.8, ColonOrDate),
    spec(r"date\s+of\s+discharge\b", Discharge, 0.9, ColonOrDate),
    spec(r"discharge\s+date\b", Discharge, 0.9, ColonOrDate),
    spec(r"discharged\b", Discharge, 0.8, ColonOrDate),
    spec(r"date\s+of\s+service\b", Service, 0.95, ColonOrDate),
    spec(r"dos\b", Service, 0.9, ColonOrDate),
    spec(
        r"date\s+of\s+(?:visit|exam|examination|procedure|operation|surgery|consultation|encounter|study|note|report)\b",
        Service,
        0.9,
        ColonOrDate,
    ),
    spec(
        r"(?:service|visit|exam|procedure|surgery|encounter|study|report|consultation|consult)\s+date\b",
        Service,
        0.9,
        ColonOrDate,
    ),
    spec(r"date\s+seen\b", Service, 0.85, ColonOrDate),
    spec(
        r"encounter\s*(?:#|no\b|number\b|id\b)",
        Encounter,
        0.9,
        ColonOrDigit,
    ),
    spec(
        r"(?:visit|admission)\s*(?:#|no\b|number\b|id\b)",
        Encounter,
        0.85,
        ColonOrDigit,
    ),
    spec(
        r"(?:account|acct)\.?\s*(?:#|no\b|number\b)?",
        Encounter,
        0.8,
        ColonOrDigit,
    ),
    spec(r"(?:enc|fin|csn)\b\s*#?", Encounter, 0.85, ColonOrDigit),
    spec(r"(?:document|report|note)\s+type\b", DocType, 0.95, Colon),
    spec(
        r"type\s+of\s+(?:report|note|document)\b",
        DocType,
        0.95,
        Colon,
    ),
    spec(
        r"(?:referring|primary\s+care|admitting)\s+(?:physician|provider|doctor|md)\b",
        Other,
        0.0,
        Colon,
    ),
    spec(
        r"(?:transcribed|typed|copies|cc)\s+(?:by|to)\b",
        Other,
        0.0,
        Phrase,
    ),
    spec(r"electronically\s+signed\s+by\b", Author, 0.95, Phrase),
    spec(
        r"(?:signed|dictated|authored|reported|written|documented)\s+by\b",
        Author,
        0.92,
        Phrase,
    ),
    spec(
        r"dictating\s+(?:physician|provider|clinician|doctor)\b",
        Author,
        0.92,
        Colon,
    ),
    spec(
        r"attending\s+(?:physician|provider|doctor)\b",
        Author,
        0.85,
        Colon,
    ),
    spec(
        r"(?:author|attending|surgeon|radiologist|pathologist)\b",
        Author,
        0.85,
        Colon,
    ),
    spec(r"(?:provider|physician|clinician)\b", Author, 0.75, Colon),
    spec(r"(?:patient'?s?|pt\.?)\s+name\b", Name, 0.95, Colon),
    spec(r"name\s+of\s+patient\b", Name, 0.95, Colon),
    spec(r"patient\b", Name, 0.9, Colon),
    spec(r"pt\b", Name, 0.85, Colon),
    spec(r"name\b", Name, 0.85, Colon),
    spec(r"re\b", Name, 0.6, Colon),
    spec(
        r"(?:sex|gender|age|room|rm|bed|location|loc|service|ssn|phone|facility|hospital|clinic|department|dept|insurance|page|pcp|time|cc|race)\b",
        Other,
        0.0,
        Colon,
    ),
    spec(r"date\b", GenericDate, 0.7, Colon),
];

static LABEL_RE: LazyLock<Regex> = LazyLock::new(|| {
    let alternatives: Vec<String> = SPECS.iter().map(|s| format!("({})", s.pattern)).collect();
    let pattern = format!(
        r"(?i)(?:^|[^\w'])(?:{})(?P<sep>\.?[ \t]*[:#])?",
        alternatives.join("|")
    );
    Regex::new(&pattern).expect("label pattern compiles")
});

/// A label found in a line and the value it introduces, as byte spans of the line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LabelValue {
    pub kind: LabelKind,
    pub confidence: f32,
    /// Where the label itself starts.
    pub label_start: usize,
    /// Where the label (with its separator) ends.
    pub label_end: usize,
    pub value_start: usize,
    pub value_end: usize,
}

struct Hit {
    kind: LabelKind,
    confidence: f32,
    follow: Follow,
    label_start: usize,
    value_start: usize,
    has_separator: bool,
}

/// The value starts with an identifier: letters, digits and dashes with at least one digit.
fn starts_with_identifier(text: &str) -> bool {
    let head = text.trim_start_matches([' ', '\t', '.', '#', ':']);
    let token = head.split_whitespace().next().unwrap_or_default();
    let token = token.trim_end_matches([',', ';', '.']);
    !token.is_empty()
        && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && token.chars().any(|c| c.is_ascii_digit())
}

fn starts_with_date(text: &str) -> bool {
    let head = text.trim_start_matches([' ', '\t', '.', ':']);
    let head_start = text.len() - head.len();
    let window_end = (head_start + 24).min(text.len());
    let window = text.get(head_start..window_end).unwrap_or(head);
    crate::date::find_dates(
        window,
        crate::date::Date::new(9999, 12, 31).expect("valid date"),
    )
    .first()
    .is_some_and(|found| found.start == 0)
}

fn accepted(hit: &Hit, rest: &str) -> bool {
    match hit.follow {
        Colon => hit.has_separator,
        ColonOrDigit => hit.has_separator || starts_with_identifier(rest),
        ColonOrDate => hit.has_separator || starts_with_date(rest),
        Phrase => true,
    }
}

/// Ends a value at a tab or a run of three spaces (column layouts).
fn column_end(line: &str, start: usize, end: usize) -> usize {
    let segment = &line[start..end];
    let tab = segment.find('\t');
    let spaces = segment.find("   ");
    let cut = match (tab, spaces) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    // A cut right at the start only skips leading padding.
    match cut {
        Some(offset) if !segment[..offset].trim().is_empty() => start + offset,
        _ => end,
    }
}

/// A key at the start of a cell: `Key:` (the value follows), or in a row of cells a key that fills its cell.
struct CellKey {
    start: usize,
    end: usize,
    /// A key without its colon, read from its words alone.
    bare: bool,
    /// Where the value may start: after the colon, or after the key.
    value_start: usize,
}

/// Keys this long or longer are prose, not labels.
const MAX_KEY_CHARS: usize = 40;
const MAX_KEY_WORDS: usize = 6;

/// Words keys are made of: a run of them at a cell start is a key even without its colon
/// (`Clinic # 0013127030`, `B-Date 5/20/2012`, `Seen by Anders Kim`).
const KEY_WORDS: &[&str] = &[
    "office",
    "identifier",
    "ident",
    "person",
    "enterprise",
    "empi",
    "mpi",
    "adm",
    "appointment",
    "signature",
    "attested",
    "cosigned",
    "supervising",
    "f",
    "initial",
    "initials",
    "ordering",
    "referring",
    "admitting",
    "primary",
    "care",
    "pcp",
    "room",
    "bed",
    "location",
    "loc",
    "patient",
    "pt",
    "pat",
    "name",
    "nm",
    "full",
    "legal",
    "last",
    "first",
    "given",
    "family",
    "surname",
    "middle",
    "mi",
    "of",
    "the",
    "date",
    "dt",
    "dos",
    "birth",
    "dob",
    "born",
    "bd",
    "b",
    "d",
    "o",
    "s",
    "birthdate",
    "birthday",
    "age",
    "mrn",
    "mr",
    "m",
    "r",
    "n",
    "no",
    "number",
    "num",
    "nbr",
    "id",
    "medical",
    "med",
    "rec",
    "record",
    "chart",
    "unit",
    "hospital",
    "hosp",
    "clinic",
    "reg",
    "registration",
    "hrn",
    "emr",
    "ehr",
    "ur",
    "cr",
    "service",
    "svc",
    "visit",
    "admission",
    "admit",
    "arrival",
    "discharge",
    "disch",
    "encounter",
    "enc",
    "exam",
    "examination",
    "study",
    "procedure",
    "surgery",
    "operation",
    "or",
    "appt",
    "appointment",
    "consult",
    "consultation",
    "note",
    "report",
    "specimen",
    "collection",
    "seen",
    "by",
    "signed",
    "dictated",
    "dictating",
    "attending",
    "physician",
    "provider",
    "clinician",
    "author",
    "surgeon",
    "doctor",
    "md",
    "prepared",
    "examined",
    "authenticated",
    "interpreted",
    "documented",
    "reviewed",
    "performed",
    "written",
    "e",
    "electronically",
    "performing",
    "responsible",
    "staff",
    "treating",
    "rendering",
    "operating",
    "signing",
    "account",
    "acct",
    "fin",
    "csn",
    "re",
    "subject",
    "client",
    "resident",
    "member",
    "nombre",
    "fecha",
    "de",
    "nacimiento",
    "sex",
    "gender",
    "at",
    "and",
];

/// Whether `token` is a key word (punctuation aside: `Pat.`, `#`, `B-Date`, `D.O.B.`).
fn is_key_token(token: &str) -> bool {
    let lower = token.to_lowercase();
    let parts: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        return token.chars().all(|c| matches!(c, '#' | '/' | '&' | '-'));
    }
    parts.iter().all(|p| KEY_WORDS.contains(p))
}

/// A key without its colon at the start of `text`: the longest run of key words (at most six) that names a
/// field, followed by its value. Returns the key's length in bytes.
fn bare_key(text: &str) -> Option<usize> {
    let mut spans = Vec::new();
    let mut offset = 0;
    for token in text.split_inclusive(char::is_whitespace) {
        let bare = token.trim_end();
        if !bare.is_empty() {
            spans.push((offset, offset + bare.len()));
        }
        offset += token.len();
    }
    let runs = spans
        .iter()
        .take(MAX_KEY_WORDS)
        .take_while(|&&(s, e)| is_key_token(&text[s..e]))
        .count();
    // A bare key heads a short value (prose runs the width of the page).
    if text.trim_end().len() > MAX_BARE_KEYED_CELL {
        return None;
    }
    // Leave at least one token for the value; the longest key that names something wins. A key of one word
    // must be one no heading or sentence starts with (`Family Medicine Clinic` is no family name).
    (1..=runs.min(spans.len().saturating_sub(1)))
        .rev()
        .filter(|&words| {
            words > 1 || {
                let token = &text[spans[0].0..spans[0].1];
                let word = token.trim_end_matches([':', '.', '#']).to_lowercase();
                // An abbreviation (`B-Date`, `D.O.B.`, `B/D`) is a key too.
                SINGLE_WORD_KEYS.contains(&word.as_str()) || word.contains(['-', '/', '.', '#'])
            }
        })
        .map(|words| spans[words - 1].1)
        .find(|&end| classify_key(&text[..end]).is_some())
}

/// A cell longer than this is prose, not a bare key and its value.
const MAX_BARE_KEYED_CELL: usize = 60;

/// One-word keys that may stand without a colon.
const SINGLE_WORD_KEYS: &[&str] = &[
    "subject",
    "patient",
    "pt",
    "re",
    "client",
    "resident",
    "member",
    "dob",
    "mrn",
    "hrn",
    "urn",
    "dos",
    "fin",
    "csn",
    "born",
    "birthdate",
    "birthday",
    "bd",
    "emr",
    "date",
];

/// Confidence of a value after a bare key: below the level at which two values of a field conflict, so a
/// misread in prose never blocks filing; a labelled value wins over it.
const BARE_KEY_CONFIDENCE: f32 = 0.45;

/// Where a run of key words holds two keys of different kinds (`Patient Name` + `Dictating Physician`): the
/// end of the longest first key whose rest names another field.
fn split_keys(text: &str) -> Option<usize> {
    let ends: Vec<usize> = text
        .split_inclusive(char::is_whitespace)
        .scan(0, |offset, token| {
            *offset += token.len();
            Some(*offset - (token.len() - token.trim_end().len()))
        })
        .collect();
    classify_key(text)?;
    // A key does not end in a connector (`Patient Date of` + `Birth`), and the second does not start with a
    // word that heads the first (`Birth` + `Date`, `Patient` + `Name`).
    const NO_END: &[&str] = &["of", "at", "and", "the", "de", "la", "del", "/"];
    const NO_START: &[&str] = &[
        "of", "at", "and", "by", "no", "no.", "number", "num", "#", "id", "name", "nm", "date",
        "dt", "birth", "born", "/",
    ];
    ends.iter().rev().skip(1).copied().find(|&end| {
        let (first, second) = (&text[..end], text[end..].trim_start());
        // Never inside a parenthesis (`Patient (Last, First)` is one key).
        if first.matches('(').count() != first.matches(')').count() {
            return false;
        }
        let last_word = first.split_whitespace().last().unwrap_or("").to_lowercase();
        let first_word = second
            .split(|c: char| !c.is_alphanumeric() && c != '#')
            .find(|w| !w.is_empty())
            .unwrap_or("")
            .to_lowercase();
        let kinds = (classify_key(first), classify_key(second));
        // The second key may name nothing the extractor reads (`Encounter Date Sex`), the first must.
        !NO_END.contains(&last_word.as_str())
            && !NO_START.contains(&first_word.as_str())
            && matches!(kinds, (Some((a, _)), Some((b, _))) if a != b && a != LabelKind::Other)
    })
}

/// The keys that open a cell of `line`: at the line start, after a column gap or a table rule, or right
/// after another key's colon when that key has no value of its own (`Med Rec Number: Date Born:`). With
/// `loose` (a page's header), a run of key words is a key without its colon.
fn cell_keys(line: &str, cells: bool, loose: bool) -> Vec<CellKey> {
    let mut starts = vec![0];
    let mut offset = 0;
    while let Some(found) = line[offset..].find(crate::layout::COLUMN_GAP) {
        let gap_end = offset + found + crate::layout::COLUMN_GAP.len();
        starts.push(gap_end);
        offset = gap_end;
    }
    starts.extend(line.match_indices('|').map(|(i, _)| i + 1));
    starts.sort_unstable();
    starts.dedup();
    let mut keys = Vec::new();
    for start in starts {
        let rest = &line[start..];
        // Speckle before a key (`_Client Name`, `~D.O.B:`) is not part of it.
        let lead = rest.len()
            - rest
                .trim_start_matches([' ', '\t', '|', '_', '~', '-', '*', '«', '>', '.', '°'])
                .len();
        let key_start = start + lead;
        let text = &line[key_start..];
        if !text.starts_with(|c: char| c.is_alphabetic()) {
            continue;
        }
        // The key runs to a colon, or (in a row of cells) to the end of its cell.
        let cell_end = text
            .find(crate::layout::COLUMN_GAP)
            .into_iter()
            .chain(text.find('|'))
            .min()
            .unwrap_or(text.len());
        let colon = text[..cell_end].find(':');
        let mut bare = false;
        let (key_end, value_start) = match colon {
            Some(colon) => (colon, colon + 1),
            None if cells
                && text[..cell_end].split_whitespace().all(is_key_token)
                && classify_key(&text[..cell_end]).is_some() =>
            {
                // Two header cells set too close to part (`Patient Name Dictating Physician`): the first
                // key is read, and the second where it starts.
                match split_keys(&text[..cell_end]) {
                    Some(split) => {
                        let rest = &text[split..cell_end];
                        let second = split + (rest.len() - rest.trim_start().len());
                        keys.push(CellKey {
                            start: key_start + second,
                            end: key_start + cell_end,
                            bare: false,
                            value_start: key_start + cell_end,
                        });
                        (split, split)
                    }
                    None => (cell_end, cell_end),
                }
            }
            // Outside the header only a signer's key stands without its colon (`PERFORMING PHYSICIAN Debra
            // Adams, NP` at the foot of a page).
            None if cells => match bare_key(&text[..cell_end]) {
                Some(end)
                    if loose
                        || classify_key(&text[..end])
                            .is_some_and(|(kind, _)| kind == LabelKind::Author) =>
                {
                    bare = true;
                    (end, end)
                }
                _ => continue,
            },
            None => continue,
        };
        let key = text[..key_end].trim_end();
        if key.is_empty()
            || key.chars().count() > MAX_KEY_CHARS
            || key.split_whitespace().count() > MAX_KEY_WORDS
            || key.chars().any(|c| c.is_ascii_digit())
        {
            continue;
        }
        keys.push(CellKey {
            start: key_start,
            end: key_start + key.len(),
            bare,
            value_start: key_start + value_start,
        });
        // Keys in a row, each with its colon and no value (`Med Rec Number: Date Born:`).
        let mut after = key_start + value_start;
        while let Some(next) = chained_key(line, after) {
            after = next.value_start;
            keys.push(next);
        }
    }
    keys.sort_by_key(|k| k.start);
    keys.dedup_by_key(|k| k.start);
    keys
}

/// A `Key:` right after a key's colon, where the first key has no value of its own.
fn chained_key(line: &str, after: usize) -> Option<CellKey> {
    let rest = &line[after..];
    let lead = rest.len() - rest.trim_start().len();
    let start = after + lead;
    let text = &line[start..];
    let colon = text.find(':')?;
    let key = text[..colon].trim_end();
    let plausible = text.starts_with(|c: char| c.is_alphabetic())
        && !key.contains(crate::layout::COLUMN_GAP)
        && key.chars().count() <= MAX_KEY_CHARS
        && key.split_whitespace().count() <= 4
        && !key.chars().any(|c| c.is_ascii_digit() || c == '|')
        && key.split_whitespace().all(is_key_token)
        && classify_key(key).is_some();
    plausible.then(|| CellKey {
        start,
        end: start + key.len(),
        bare: false,
        value_start: start + colon + 1,
    })
}

/// Classifies a free-form key by its words: what a department prints before a value, in any spelling
/// (`Dt. of Birth`, `B-Date`, `MR No.`, `HRN`, `Svc Date`, `D.O.S.`, `Pat. Name`, `Name (Last, First)`,
/// `Provider of Service`, `Authenticated by`). `None` for a key that names nothing the extractor reads.
pub(crate) fn classify_key(key: &str) -> Option<(LabelKind, f32)> {
    // What a parenthesis adds (`(Last, First)`, `(Age)`) qualifies the key; the words outside name it.
    let mut outside = String::new();
    let mut depth = 0usize;
    for c in key.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => outside.push(c),
            _ => {}
        }
    }
    let lower = outside.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return None;
    }
    let compact: String = words.concat();
    let has = |candidates: &[&str]| words.iter().any(|w| candidates.contains(w));
    let id_marker =
        key.contains('#') || has(&["no", "number", "num", "nbr", "id", "identifier", "ident"]);
    let by = words.last() == Some(&"by");

    if has(&["sex", "gender"]) {
        // `Sex at Birth`, `Gender`.
        return Some((LabelKind::Other, 0.0));
    }
    if compact.contains("birth")
        || compact.contains("dob")
        || compact.contains("nacimiento")
        || has(&["born", "birthday"])
        || matches!(compact.as_str(), "bd" | "bdate" | "bdt" | "bday")
    {
        return Some((LabelKind::Dob, 0.85));
    }
    if has(&[
        "referring",
        "referred",
        "pcp",
        "admitting",
        "ordering",
        "cc",
        "copy",
        "copies",
    ]) || has(&["transcribed", "typed", "transcriptionist"])
        || (has(&["primary"]) && has(&["care"]))
    {
        return Some((LabelKind::Other, 0.0));
    }
    if by
        || has(&[
            "physician",
            "provider",
            "clinician",
            "attending",
            "surgeon",
            "author",
            "doctor",
            "radiologist",
            "pathologist",
            "dictating",
            "practitioner",
            "signature",
        ])
    {
        return Some((LabelKind::Author, 0.8));
    }
    if has(&["name", "nm"]) && has(&["last", "family", "surname"]) && !has(&["first", "given"]) {
        return Some((LabelKind::FamilyName, 0.85));
    }
    if matches!(words.as_slice(), ["last"] | ["family"] | ["surname"]) {
        return Some((LabelKind::FamilyName, 0.8));
    }
    if matches!(words.as_slice(), ["first"] | ["given"]) {
        return Some((LabelKind::GivenName, 0.8));
    }
    if has(&["surname"]) && !has(&["first", "given"]) {
        return Some((LabelKind::FamilyName, 0.85));
    }
    if has(&["name", "nm"]) && has(&["first", "given"]) && !has(&["last", "family", "surname"]) {
        return Some((LabelKind::GivenName, 0.85));
    }
    if has(&["mi", "middle", "initial"]) {
        return Some((LabelKind::Other, 0.0));
    }
    if compact.contains("mrn")
        || compact.contains("medicalrecord")
        || compact.contains("medrec")
        || has(&["hrn", "urn", "empi", "mpi"])
    {
        return Some((LabelKind::Mrn, 0.85));
    }
    let date = has(&["date", "dt", "dos"]) || compact == "dos";
    if date {
        let kind = if has(&["admit", "adm", "admission", "admitted", "arrival"]) {
            LabelKind::Admission
        } else if has(&["disch", "discharge", "discharged"]) {
            LabelKind::Discharge
        } else if words.len() == 1 && words[0] != "dos" {
            LabelKind::GenericDate
        } else {
            LabelKind::Service
        };
        return Some((kind, 0.8));
    }
    if id_marker
        && has(&[
            "encounter",
            "visit",
            "account",
            "acct",
            "fin",
            "csn",
            "admission",
            "episode",
            "case",
        ])
    {
        return Some((LabelKind::Encounter, 0.8));
    }
    if has(&["fin", "csn"]) {
        return Some((LabelKind::Encounter, 0.8));
    }
    if id_marker
        && has(&[
            "mr",
            "ur",
            "cr",
            "chart",
            "unit",
            "record",
            "reg",
            "registration",
            "hospital",
            "hosp",
            "clinic",
            "patient",
            "pt",
            "pat",
            "emr",
            "ehr",
            "id",
            "member",
            "client",
            "person",
            "enterprise",
        ])
    {
        return Some((LabelKind::Mrn, 0.75));
    }
    if has(&["emr", "ehr"]) {
        return Some((LabelKind::Mrn, 0.7));
    }
    if has(&[
        "sex",
        "gender",
        "age",
        "room",
        "rm",
        "bed",
        "phone",
        "tel",
        "fax",
        "ssn",
        "insurance",
        "race",
        "language",
        "facility",
        "location",
        "page",
        "time",
        "allergies",
        "unit",
        "floor",
        "ward",
    ]) {
        return Some((LabelKind::Other, 0.0));
    }
    if has(&["name", "nm", "nombre"])
        || has(&[
            "patient", "pt", "pat", "re", "subject", "client", "resident", "member",
        ])
    {
        return Some((LabelKind::Name, 0.8));
    }
    if has(&["type"]) && has(&["document", "note", "report"]) {
        return Some((LabelKind::DocType, 0.85));
    }
    None
}

/// Whether most cells of the row open with a label, two of them side by side: a header row of a table or of
/// labels set above their values.
fn is_label_row(line: &str, hits: &[Hit]) -> bool {
    let gap = crate::layout::COLUMN_GAP;
    let mut cell_starts = vec![line.len() - line.trim_start_matches([' ', '|']).len()];
    let mut offset = 0;
    while let Some(found) = line[offset..].find(gap) {
        let after = offset + found + gap.len();
        let rest = &line[after..];
        cell_starts.push(after + (rest.len() - rest.trim_start_matches([' ', '|']).len()));
        offset = after;
    }
    cell_starts.dedup();
    let labelled: Vec<bool> = cell_starts
        .iter()
        .map(|&start| hits.iter().any(|h| h.label_start == start))
        .collect();
    let count = labelled.iter().filter(|&&l| l).count();
    let adjacent = labelled.windows(2).any(|pair| pair[0] && pair[1]);
    labelled.len() >= 2 && count * 2 > labelled.len() && adjacent
}

/// Finds the labels in one line and the span of each one's value.
pub(crate) fn label_values(line: &str) -> Vec<LabelValue> {
    find_label_values(line, false, false)
}

/// Finds the labels of one row of a page rebuilt from its layout: besides the labels [`label_values`]
/// accepts, a label that fills a cell of its own (a column gap or the row's edge on both sides: a table's
/// header cell, a label whose value sits under it or across a rule) counts without its colon. In the page's
/// `header`, so does a run of key words at a cell start (`B-Date 5/20/2012`).
pub(crate) fn cell_label_values(row: &str, header: bool) -> Vec<LabelValue> {
    find_label_values(row, true, header)
}

/// Whether the label spans a cell of its own: nothing but a column gap or the row's edge on either side.
fn fills_cell(line: &str, label_start: usize, value_start: usize) -> bool {
    let before = &line[..label_start];
    let after = &line[value_start..];
    let open = before.trim_end_matches([' ', '|']).is_empty()
        || before.ends_with(crate::layout::COLUMN_GAP);
    let close = after.trim().is_empty() || after.starts_with(crate::layout::COLUMN_GAP);
    open && close
}

fn find_label_values(line: &str, cells: bool, loose: bool) -> Vec<LabelValue> {
    let mut hits = Vec::new();
    for caps in LABEL_RE.captures_iter(line) {
        let Some((index, label)) = caps
            .iter()
            .skip(1)
            .enumerate()
            .find_map(|(i, group)| group.map(|g| (i, g)))
        else {
            continue;
        };
        let Some(spec) = SPECS.get(index) else {
            continue;
        };
        let whole = caps.get(0).map_or(label.end(), |m| m.end());
        let hit = Hit {
            kind: spec.kind,
            confidence: spec.confidence,
            follow: spec.follow,
            label_start: label.start(),
            value_start: whole,
            has_separator: caps.name("sep").is_some(),
        };
        let in_own_cell = cells && hit.follow != Phrase && fills_cell(line, hit.label_start, whole);
        if accepted(&hit, &line[whole..]) || in_own_cell {
            hits.push(hit);
        }
    }
    // Keys the patterns above do not know (`Dt. of Birth:`, `Svc Date:`, `HRN:`, a header cell `PATIENT FULL
    // NAME`) are classified by their words; a key read so replaces the patterns' hits inside it
    // (`Physician Name:` is the author, not a name).
    for key in cell_keys(line, cells, loose) {
        let Some((kind, confidence)) = classify_key(&line[key.start..key.end]) else {
            continue;
        };
        let confidence = if key.bare {
            BARE_KEY_CONFIDENCE
        } else {
            confidence
        };
        let inside: Vec<&Hit> = hits
            .iter()
            .filter(|h| h.label_start >= key.start && h.label_start < key.value_start)
            .collect();
        let confidence = inside
            .iter()
            .filter(|h| h.kind == kind)
            .map(|h| h.confidence)
            .fold(confidence, f32::max);
        hits.retain(|h| !(h.label_start >= key.start && h.label_start < key.value_start));
        hits.push(Hit {
            kind,
            confidence,
            follow: Colon,
            label_start: key.start,
            value_start: key.value_start,
            has_separator: true,
        });
    }
    hits.sort_by_key(|h| h.label_start);
    // A key may have been read twice (from a column gap and after a colon): overlapping hits keep the first.
    let mut reach = 0;
    hits.retain(|h| {
        let keep = h.label_start >= reach;
        if keep {
            reach = h.value_start;
        }
        keep
    });
    // A row of column headers (most of its cells open with a label): a label's value is under it, never the
    // next header cell (`Pat. Name   Ordering Provider   Chart No.`).
    let label_row = cells && is_label_row(line, &hits);
    let mut values = Vec::new();
    for (position, hit) in hits.iter().enumerate() {
        let next_label = hits
            .get(position + 1)
            .map_or(line.len(), |h| h.label_start)
            .max(hit.value_start);
        let mut end = column_end(line, hit.value_start, next_label);
        if label_row && line[hit.value_start..end].starts_with(crate::layout::COLUMN_GAP) {
            end = hit.value_start;
        }
        let raw = &line[hit.value_start..end];
        // Speckle and leader marks between a label and its value (`Date of Visit:   *   03-Apr-2000`).
        let trimmed_start = raw.trim_start_matches([
            ' ', '\t', '.', ':', '#', ',', '*', '-', '~', '_', '\'', '"', '‘', '’', '•', '·', ';',
            '+',
        ]);
        let trimmed = trimmed_start.trim_end_matches([' ', '\t', ',', ';', '\r']);
        let value_start = hit.value_start + (raw.len() - trimmed_start.len());
        values.push(LabelValue {
            kind: hit.kind,
            confidence: hit.confidence,
            label_start: hit.label_start,
            label_end: hit.value_start,
            value_start,
            value_end: value_start + trimmed.len(),
        });
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(line: &str) -> Vec<(LabelKind, &str)> {
        label_values(line)
            .into_iter()
            .map(|v| (v.kind, &line[v.value_start..v.value_end]))
            .collect()
    }

    #[test]
    fn one_label_per_line() {
        assert_eq!(
            found("PATIENT: O'KEEFE, KARENA"),
            vec![(Name, "O'KEEFE, KARENA")]
        );
        assert_eq!(
            found("Name: Karena O'Keefe"),
            vec![(Name, "Karena O'Keefe")]
        );
        assert_eq!(found("Pt: Karena O'Keefe"), vec![(Name, "Karena O'Keefe")]);
        assert_eq!(found("MRN: 408 112 1"), vec![(Mrn, "408 112 1")]);
        assert_eq!(found("Med Rec # 408-112-1"), vec![(Mrn, "408-112-1")]);
        assert_eq!(found("Medical Record No. 4081121"), vec![(Mrn, "4081121")]);
        assert_eq!(found("Acct/MRN: 4081121"), vec![(Mrn, "4081121")]);
        assert_eq!(found("D.O.B.: 03/14/1957"), vec![(Dob, "03/14/1957")]);
        assert_eq!(found("Birth Date: 1957-03-14"), vec![(Dob, "1957-03-14")]);
        assert_eq!(found("DOB 14-MAR-1957"), vec![(Dob, "14-MAR-1957")]);
        assert_eq!(found("D.0.B.: 23-MAR-2011"), vec![(Dob, "23-MAR-2011")]);
        assert_eq!(
            found("Dictated by: Jane Miller, MD"),
            vec![(Author, "Jane Miller, MD")]
        );
        assert_eq!(found("Encounter #: E12345"), vec![(Encounter, "E12345")]);
        assert_eq!(found("Patient #: 4081121"), vec![(Mrn, "4081121")]);
        assert_eq!(found("Record No. 4081121"), vec![(Mrn, "4081121")]);
        assert_eq!(found("D/O/B: 3/14/1957"), vec![(Dob, "3/14/1957")]);
        assert_eq!(found("Reported by: Ann Lee"), vec![(Author, "Ann Lee")]);
    }

    #[test]
    fn several_labels_on_one_line() {
        assert_eq!(
            found("Patient Name: O'KEEFE, KARENA   MRN: 4081121   DOB: 03/14/1957"),
            vec![
                (Name, "O'KEEFE, KARENA"),
                (Mrn, "4081121"),
                (Dob, "03/14/1957")
            ]
        );
        assert_eq!(
            found("RE:  XXXX, XXXX ,MR#:  0000000,DOB:  MM/DD/YYYY"),
            vec![(Name, "XXXX, XXXX"), (Mrn, "0000000"), (Dob, "MM/DD/YYYY")]
        );
    }

    #[test]
    fn prose_is_not_a_label() {
        assert!(found("The patient is a 45-year-old male.").is_empty());
        assert!(found("Ptosis: none").is_empty());
        assert!(found("Patient's daughter was present").is_empty());
    }

    #[test]
    fn keys_by_their_words() {
        for (key, kind) in [
            ("Dt. of Birth", Dob),
            ("B-Date", Dob),
            ("Date of Birth (Age)", Dob),
            ("Sex at Birth", Other),
            ("MR No.", Mrn),
            ("HRN", Mrn),
            ("Clinic #", Mrn),
            ("Svc Date", Service),
            ("D.O.S.", Service),
            ("Admit Date", Admission),
            ("Pat. Name", Name),
            ("Name (Last, First)", Name),
            ("Last Name", FamilyName),
            ("First Name", GivenName),
            ("Physician Name", Author),
            ("Authenticated by", Author),
            ("Referring Physician", Other),
            ("Encounter #", Encounter),
            ("Patient Identifier", Mrn),
            ("EMPI", Mrn),
            ("Adm Date", Admission),
            ("Signature", Author),
        ] {
            assert_eq!(classify_key(key).map(|(k, _)| k), Some(kind), "{key}");
        }
        assert_eq!(classify_key("Impression"), None);
    }

    #[test]
    fn two_header_cells_set_too_close_are_two_keys() {
        let line = "Patient #   DOB/Age   Appt Date   Patient Name Dictating Physician";
        let kinds: Vec<LabelKind> = cell_label_values(line, true)
            .into_iter()
            .map(|v| v.kind)
            .collect();
        assert_eq!(kinds, vec![Mrn, Dob, Service, Name, Author]);
        let kinds: Vec<LabelKind> = cell_label_values("Birth Date   Encounter Date Sex", true)
            .into_iter()
            .map(|v| v.kind)
            .collect();
        assert_eq!(kinds, vec![Dob, Service, Other]);
        assert_eq!(split_keys("Patient Date of Birth"), None);
        assert_eq!(split_keys("Birth Date"), None);
        assert_eq!(split_keys("birth date/age"), None);
        assert_eq!(split_keys("Birth Dt."), None);
        assert_eq!(split_keys("date born"), None);
        assert_eq!(split_keys("Patient (Last, First)"), None);
        assert_eq!(split_keys("Patient Name"), None);
    }

    #[test]
    fn keys_without_colons_in_a_header() {
        let found = |line: &str| -> Vec<(LabelKind, String)> {
            cell_label_values(line, true)
                .into_iter()
                .map(|v| (v.kind, line[v.value_start..v.value_end].to_string()))
                .collect()
        };
        assert_eq!(found("B-Date 5/20/2012"), vec![(Dob, "5/20/2012".into())]);
        assert_eq!(
            found("Med Rec Number: Date Born:   Visit Date:"),
            vec![
                (Mrn, String::new()),
                (Dob, String::new()),
                (Service, String::new())
            ]
        );
        assert_eq!(
            found("Sex at Birth: M   Birth Dt: 10.03.1994"),
            vec![(Other, "M".into()), (Dob, "10.03.1994".into())]
        );
    }

    /// Any line of label words, colons, rules and gaps is read without a panic, and every value span lies
    /// in the line, after its label.
    #[test]
    fn any_line_is_read_safely() {
        const PARTS: &[&str] = &[
            "Birth",
            "Dt",
            ":",
            "Sex",
            "at",
            "M",
            "   ",
            "|",
            "MRN",
            "#",
            "Name",
            "Patient",
            "DOB",
            "Date",
            "of",
            "Service",
            "12/03/1990",
            "4081121",
            "SMITH,",
            "JOHN",
            "by",
            "Seen",
            "Ñ",
            "é",
            " ",
        ];
        let mut seed = 0x2545_f491_u64;
        for _ in 0..5000 {
            let mut line = String::new();
            for _ in 0..(seed % 14) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                line.push_str(PARTS[(seed % PARTS.len() as u64) as usize]);
                if seed.is_multiple_of(3) {
                    line.push(' ');
                }
            }
            for header in [false, true] {
                for value in cell_label_values(&line, header)
                    .into_iter()
                    .chain(label_values(&line))
                {
                    assert!(value.label_start <= value.value_start, "{line:?}");
                    assert!(value.value_start <= value.value_end, "{line:?}");
                    assert!(
                        line.get(value.value_start..value.value_end).is_some(),
                        "{line:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn referring_physician_is_not_the_author() {
        assert_eq!(
            found("Referring physician: John Smith"),
            vec![(Other, "John Smith")]
        );
    }
}

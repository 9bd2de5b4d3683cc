//! The bundled table of LOINC document types (`data/document-types.tsv`) and the matching of a printed title
//! against the titles and synonyms of each type, tolerant to OCR noise.

use std::cmp::Reverse;
use std::sync::LazyLock;

use regex::Regex;

/// The table as shipped; its header states the LOINC notice and the columns.
const TABLE_TSV: &str = include_str!("../../data/document-types.tsv");

/// Qualifying words allowed before a title: `HOSPITAL DISCHARGE SUMMARY`, `Cardiology Consultation`.
const MAX_QUALIFIERS: usize = 2;

/// Words a trailing `*` of a title stands for at most: `CT ABDOMEN AND PELVIS WITH CONTRAST` is a title, a sentence
/// that happens to start with `Consent for` is not.
const MAX_OPEN_WORDS: usize = 6;

/// Letter edits an OCR-noisy title may carry in all.
const MAX_EDITS: usize = 2;

/// Prefixes joined to the next word across a hyphen, so that `Pre-Op` and `Preop` read alike.
const JOINED_PREFIXES: [&str; 6] = ["pre", "post", "intra", "peri", "inter", "non"];

/// One row of the table.
pub(super) struct DocumentType {
    pub(super) code: &'static str,
    pub(super) display: &'static str,
    titles: Vec<Title>,
    /// A title pattern for what words alone cannot say (`CT CHEST WITHOUT CONTRAST`), qualifiers included.
    pattern: Option<Regex>,
}

/// A printed title, as normalised words; `open` when a trailing `*` stands for more words.
#[derive(Debug, PartialEq)]
struct Title {
    words: Vec<String>,
    open: bool,
}

pub(super) struct Table {
    pub(super) types: Vec<DocumentType>,
    /// `(code, display)` of every type, in table order.
    pub(super) pairs: Vec<(&'static str, &'static str)>,
}

pub(super) static TABLE: LazyLock<Table> = LazyLock::new(|| parse(TABLE_TSV));

/// Parses the bundled table; the table is part of the source, so a malformed row is a build defect (a test reads it).
fn parse(tsv: &'static str) -> Table {
    let mut types = Vec::new();
    for (index, line) in tsv.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut cells = line.split('\t');
        let (Some(code), Some(display), Some(titles)) = (cells.next(), cells.next(), cells.next())
        else {
            panic!(
                "document-types.tsv line {}: expected code, display and titles",
                index + 1
            );
        };
        let pattern = cells.next().filter(|p| !p.trim().is_empty()).map(|p| {
            Regex::new(&format!(r"(?i)^(?:[a-z&]+\s+){{0,2}}?(?:{p})")).unwrap_or_else(|e| {
                panic!("document-types.tsv line {}: bad pattern: {e}", index + 1)
            })
        });
        let titles = titles
            .split('|')
            .flat_map(expand)
            .map(|title| Title::new(&title))
            .filter(|title| !title.words.is_empty())
            .collect();
        types.push(DocumentType {
            code: code.trim(),
            display: display.trim(),
            titles,
            pattern,
        });
    }
    let pairs = types.iter().map(|t| (t.code, t.display)).collect();
    Table { types, pairs }
}

/// Expands each `{a,b,…}` of a title into its choices: `{ED,ER} note` is `ED note` and `ER note`.
fn expand(title: &str) -> Vec<String> {
    let Some(open) = title.find('{') else {
        return vec![title.to_string()];
    };
    let Some(close) = title[open..].find('}').map(|i| open + i) else {
        return vec![title.to_string()];
    };
    title[open + 1..close]
        .split(',')
        .flat_map(|choice| {
            expand(&format!(
                "{}{choice}{}",
                &title[..open],
                &title[close + 1..]
            ))
        })
        .collect()
}

impl Title {
    fn new(text: &str) -> Title {
        let text = text.trim();
        let open = text.ends_with('*');
        let words = words(text.trim_end_matches('*'))
            .into_iter()
            .map(|w| w.norm)
            .collect();
        Title { words, open }
    }
}

/// A word of a line: normalised text and its byte span.
#[derive(Debug)]
struct Word {
    norm: String,
    start: usize,
    end: usize,
    alphabetic: bool,
}

/// The words of `text`, normalised alike for the table and for a page: lower case, `&` read as `and`, apostrophes
/// dropped (`Nurse's`), `Pre-Op` joined, OCR digits in a word read as letters (`N0TE`), a plural `s` dropped.
fn words(text: &str) -> Vec<Word> {
    let mut raw: Vec<Word> = Vec::new();
    let mut current: Option<Word> = None;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            let word = current.get_or_insert_with(|| Word {
                norm: String::new(),
                start: i,
                end: i,
                alphabetic: true,
            });
            word.norm.extend(c.to_lowercase());
            word.end = i + c.len_utf8();
        } else if (c == '\'' || c == '\u{2019}') && current.is_some() {
            // An apostrophe inside a word is skipped: `Nurse's` reads as `Nurses`.
        } else {
            raw.extend(current.take());
            if c == '&' {
                raw.push(Word {
                    norm: "and".to_string(),
                    start: i,
                    end: i + 1,
                    alphabetic: true,
                });
            }
        }
    }
    raw.extend(current.take());
    let mut joined: Vec<Word> = Vec::with_capacity(raw.len());
    for word in raw {
        if let Some(last) = joined.last_mut() {
            let hyphenated = text[last.end..word.start] == *"-";
            if hyphenated && JOINED_PREFIXES.contains(&last.norm.as_str()) {
                last.norm.push_str(&word.norm);
                last.end = word.end;
                continue;
            }
        }
        joined.push(word);
    }
    for word in &mut joined {
        let has_letter = word.norm.chars().any(char::is_alphabetic);
        if has_letter && word.norm.chars().any(|c| c.is_ascii_digit()) {
            word.norm = word
                .norm
                .chars()
                .map(|c| match c {
                    '0' => 'o',
                    '1' => 'l',
                    '5' => 's',
                    other => other,
                })
                .collect();
        }
        word.alphabetic = word.norm.chars().all(char::is_alphabetic);
        let n = word.norm.chars().count();
        if n >= 4
            && word.norm.ends_with('s')
            && !["ss", "us", "is"]
                .iter()
                .any(|end| word.norm.ends_with(end))
        {
            word.norm.pop();
        }
    }
    joined
}

/// The edits a page word may differ from a title word by: none for short words and abbreviations.
fn allowed_edits(title_word: &str) -> usize {
    match title_word.chars().count() {
        0..=4 => 0,
        5..=11 => 1,
        _ => 2,
    }
}

/// Letter edits between `title` and the start of `line`, if they match within the allowance.
fn match_words(title: &[String], line: &[Word]) -> Option<usize> {
    if line.len() < title.len() {
        return None;
    }
    let mut edits = 0;
    for (want, got) in title.iter().zip(line) {
        if *want == got.norm {
            continue;
        }
        let allowed = allowed_edits(want);
        let same_first = want.chars().next() == got.norm.chars().next();
        if allowed == 0 || !same_first || want.len().abs_diff(got.norm.len()) > allowed {
            return None;
        }
        // Optimal string alignment: a swap of two letters (`Departmnet`) is one edit.
        let distance = strsim::osa_distance(want, &got.norm);
        if distance > allowed {
            return None;
        }
        edits += distance;
    }
    (edits <= MAX_EDITS).then_some(edits)
}

/// Whether what follows a title leaves it a whole line: nothing, or a ` - CT HEAD` or `(…)` tail.
fn fills_line(rest: &str) -> bool {
    let rest = rest.trim_matches(|c: char| c.is_whitespace() || c == '*');
    rest.is_empty() || rest.starts_with(['-', '\u{2013}', '\u{2014}', '('])
}

/// The best title of the table at the start of `line` (its first line): `(row, start, end)`.
///
/// A title may follow up to two qualifying words. Of several, the one whose own words end latest wins (the head
/// word of a title decides: `Operative Consent` is a consent), then the longest (`Discharge Summary` over
/// `Summary`), then the one with fewer OCR edits, then the earlier row. With `whole_line`, the title must fill the
/// line (a ` - …` or `(…)` tail allowed).
pub(super) fn best_title(line: &str, whole_line: bool) -> Option<(usize, usize, usize)> {
    let line = line.split('\n').next().unwrap_or_default();
    let words = words(line);
    let first = words.first()?;
    if first.start != 0 {
        return None;
    }
    // Where a title may start: after at most two alphabetic qualifying words joined by spaces or hyphens.
    let mut starts = vec![0];
    for s in 1..=MAX_QUALIFIERS.min(words.len().saturating_sub(1)) {
        let qualifier = &words[s - 1];
        let gap = &line[qualifier.end..words[s].start];
        let joined = gap
            .chars()
            .all(|c| c.is_whitespace() || "-/&'.".contains(c));
        if !qualifier.alphabetic || !joined {
            break;
        }
        starts.push(s);
    }
    let sentence = line.trim_end().ends_with('.');
    type Key = (usize, usize, Reverse<usize>);
    let mut best: Option<(Key, usize, usize)> = None;
    let mut consider = |key: Key, row: usize, end: usize| {
        if best.as_ref().is_none_or(|(k, _, _)| key > *k) {
            best = Some((key, row, end));
        }
    };
    for (row, doc_type) in TABLE.types.iter().enumerate() {
        for title in &doc_type.titles {
            for &s in &starts {
                let Some(edits) = match_words(&title.words, &words[s..]) else {
                    continue;
                };
                let last = s + title.words.len() - 1;
                let literal_end = words[last].end;
                let end = if title.open {
                    let more = words.len() - last - 1;
                    if more == 0 || whole_line && (more > MAX_OPEN_WORDS || sentence) {
                        continue;
                    }
                    words[last + more.min(MAX_OPEN_WORDS)].end
                } else {
                    if whole_line && !fills_line(&line[literal_end..]) {
                        continue;
                    }
                    literal_end
                };
                let key = (literal_end, literal_end - words[s].start, Reverse(edits));
                consider(key, row, end);
            }
        }
        if let Some(m) = doc_type.pattern.as_ref().and_then(|re| re.find(line)) {
            if !whole_line || fills_line(&line[m.end()..]) {
                consider((m.end(), m.len(), Reverse(0)), row, m.end());
            }
        }
    }
    best.map(|(_, row, end)| (row, 0, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_expand_to_every_choice() {
        assert_eq!(
            expand("{ED,ER} {,visit }note"),
            ["ED note", "ED visit note", "ER note", "ER visit note"]
        );
    }

    #[test]
    fn words_read_ocr_noise_alike() {
        let norm = |text: &str| {
            words(text)
                .into_iter()
                .map(|w| w.norm)
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(norm("H&P"), "h and p");
        assert_eq!(norm("Nurses' Notes"), "nurse note");
        assert_eq!(norm("Nurse's Note"), "nurse note");
        assert_eq!(norm("Pre-Op Evaluation"), "preop evaluation");
        assert_eq!(norm("PR0GRESS N0TE"), "progress note");
        assert_eq!(norm("Diagnosis Status"), "diagnosis status");
    }

    #[test]
    fn the_table_parses_and_no_title_names_two_types() {
        let mut seen = std::collections::HashMap::new();
        for doc_type in &TABLE.types {
            assert!(
                !doc_type.titles.is_empty(),
                "{} has no title",
                doc_type.code
            );
            for title in &doc_type.titles {
                let key = (title.words.join(" "), title.open);
                if let Some(other) = seen.insert(key.clone(), doc_type.code) {
                    assert_eq!(other, doc_type.code, "{key:?} is a title of two types");
                }
            }
        }
    }
}

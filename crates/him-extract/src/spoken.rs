//! Dictated headers: spoken numbers, ordinals and years turned into digits, then the same labels
//! as charts, plus the phrases dictation uses ("this is Doctor …", "on patient …").

use std::sync::LazyLock;

use regex::Regex;

use crate::doctype;
use crate::extract::{assemble, Candidate};
use crate::field::{ExtractOptions, FieldName, Fields, Source};
use crate::labels::{label_values, LabelKind};
use crate::spoken_cues::{canonicalize, cue_candidates, joined_digit_run, spelled_names_at, Found};
use crate::spoken_roles::{drop_other_peoples_names, role_of_spelling, Role};
use crate::values::read_value;

/// One transcribed stretch of a dictation, with its time span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TranscriptSegment<'a> {
    /// The words, as the speech recogniser wrote them.
    pub text: &'a str,
    /// Start of the segment, in milliseconds from the start of the recording.
    pub start_ms: u64,
    /// End of the segment.
    pub end_ms: u64,
}

const UNITS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];
const TEENS: [&str; 10] = [
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 8] = [
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const UNIT_ORDINALS: [&str; 10] = [
    "", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
];
const TEEN_ORDINALS: [&str; 10] = [
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn unit(word: &str) -> Option<u32> {
    UNITS.iter().position(|u| *u == word).map(|p| p as u32)
}

/// A digit as spoken inside a digit string: "oh" and "o" are zero there.
fn spoken_digit(word: &str) -> Option<u32> {
    match word {
        "oh" | "o" => Some(0),
        _ => unit(word),
    }
}

fn teen(word: &str) -> Option<u32> {
    TEENS.iter().position(|t| *t == word).map(|p| 10 + p as u32)
}

fn tens(word: &str) -> Option<u32> {
    TENS.iter()
        .position(|t| *t == word)
        .map(|p| 20 + 10 * p as u32)
}

fn ordinal(word: &str) -> Option<u32> {
    if let Some(p) = UNIT_ORDINALS
        .iter()
        .position(|o| !o.is_empty() && *o == word)
    {
        return Some(p as u32);
    }
    if let Some(p) = TEEN_ORDINALS.iter().position(|o| *o == word) {
        return Some(10 + p as u32);
    }
    match word {
        "twentieth" => Some(20),
        "thirtieth" => Some(30),
        _ => None,
    }
}

/// 1 to 99 spoken as "seven", "fourteen", "fifty seven", "twenty first" (ordinal allowed last).
/// Returns the number and how many words it took.
fn small_number(words: &[&str], allow_ordinal: bool) -> Option<(u32, usize)> {
    let first = *words.first()?;
    if let Some(t) = tens(first) {
        let next = words.get(1).copied();
        if let Some(u) = next.and_then(unit).filter(|u| *u > 0) {
            return Some((t + u, 2));
        }
        if let Some(u) = next
            .filter(|_| allow_ordinal)
            .and_then(ordinal)
            .filter(|u| *u < 10)
        {
            return Some((t + u, 2));
        }
        return Some((t, 1));
    }
    if let Some(n) = teen(first).or_else(|| unit(first).filter(|u| *u > 0)) {
        return Some((n, 1));
    }
    if allow_ordinal {
        return ordinal(first).map(|n| (n, 1));
    }
    None
}

/// A year: "nineteen fifty seven", "twenty oh three", "two thousand (and) three", "twenty twenty four".
fn year(words: &[&str]) -> Option<(u32, usize)> {
    let first = *words.first()?;
    if first == "two" && words.get(1) == Some(&"thousand") {
        let mut used = 2;
        if words.get(used) == Some(&"and") {
            used += 1;
        }
        return match small_number(&words[used..], false) {
            Some((n, taken)) => Some((2000 + n, used + taken)),
            None => Some((2000, 2)),
        };
    }
    let century = match first {
        "eighteen" => 18,
        "nineteen" => 19,
        "twenty" => 20,
        _ => return None,
    };
    let rest = &words[1..];
    if matches!(rest.first(), Some(&"oh") | Some(&"o")) {
        let u = rest.get(1).copied().and_then(unit)?;
        return Some((century * 100 + u, 3));
    }
    if rest.first() == Some(&"hundred") {
        return Some((century * 100, 2));
    }
    let (n, taken) = small_number(rest, false).filter(|(n, _)| *n >= 10)?;
    Some((century * 100 + n, 1 + taken))
}

/// Digits said one by one ("four oh eight", "oh three", "double four"): at least two digits, the first a
/// digit word or "oh" followed by one. Returns the digits and how many words they took.
fn digit_string(run: &[&str]) -> Option<(String, usize)> {
    let mut digits = String::new();
    let mut taken = 0;
    while taken < run.len() {
        let word = run[taken];
        if word == "double" || word == "triple" {
            let Some(d) = run.get(taken + 1).copied().and_then(spoken_digit) else {
                break;
            };
            let times = if word == "double" { 2 } else { 3 };
            for _ in 0..times {
                digits.push(char::from_digit(d, 10).unwrap_or('0'));
            }
            taken += 2;
            continue;
        }
        let Some(d) = spoken_digit(word) else { break };
        digits.push(char::from_digit(d, 10).unwrap_or('0'));
        taken += 1;
    }
    let first_ok = unit(run[0]).is_some()
        || matches!(run[0], "double" | "triple")
        || (matches!(run[0], "oh" | "o") && run.get(1).copied().and_then(unit).is_some());
    (digits.len() >= 2 && first_ok).then_some((digits, taken))
}

/// Spoken numbers rewritten as digits; each output word remembers the segment it came from.
struct Normalized {
    text: String,
    /// `(byte offset in text, segment index)`, ascending.
    segment_at: Vec<(usize, usize)>,
}

fn split_word(token: &str) -> (String, &str) {
    let core_end = token
        .trim_end_matches(|c: char| c.is_ascii_punctuation() && c != '\'')
        .len();
    (token[..core_end].to_lowercase(), &token[core_end..])
}

fn normalize(segments: &[TranscriptSegment<'_>]) -> Normalized {
    let mut words: Vec<(String, String, &str, usize)> = Vec::new();
    for (index, segment) in segments.iter().enumerate() {
        for token in segment.text.split_whitespace() {
            let (core, punct) = split_word(token);
            words.push((
                token.trim_end_matches(punct).to_string(),
                core,
                punct,
                index,
            ));
        }
    }
    let mut out = Normalized {
        text: String::new(),
        segment_at: Vec::new(),
    };
    let mut position = 0;
    let mut previous_was_month = false;
    while position < words.len() {
        // Numbers never run across punctuation: "seven, date of birth".
        let run_end = words[position..]
            .iter()
            .position(|w| !w.2.is_empty())
            .map_or(words.len(), |p| position + p + 1);
        let run: Vec<&str> = words[position..run_end]
            .iter()
            .map(|w| w.1.as_str())
            .collect();
        let (replacement, taken) = if previous_was_month {
            small_number(&run, true)
                .filter(|(n, _)| (1..=31).contains(n))
                .map(|(n, t)| (n.to_string(), t))
                .map_or((None, 1), |(s, t)| (Some(s), t))
        } else if let Some((y, t)) = year(&run) {
            (Some(y.to_string()), t)
        } else if let Some((digits, t)) = digit_string(&run) {
            (Some(digits), t)
        } else if let Some((n, t)) =
            small_number(&run, false).filter(|_| tens(run[0]).is_some() || teen(run[0]).is_some())
        {
            // "forty six": a group of a digit string said in pairs ("forty six, eighty eight"), an age or a
            // dose; digits either way.
            (Some(n.to_string()), t)
        } else if let Some(n) = ordinal(run[0]) {
            (Some(n.to_string()), 1)
        } else {
            (None, 1)
        };
        let punct = words[position + taken - 1].2;
        let first_segment = words[position].3;
        if !out.text.is_empty() {
            out.text.push(' ');
        }
        out.segment_at.push((out.text.len(), first_segment));
        match replacement {
            Some(text) => {
                out.text.push_str(&text);
                out.text.push_str(punct);
            }
            None => {
                out.text.push_str(&words[position].0);
                out.text.push_str(words[position].2);
            }
        }
        previous_was_month = taken == 1 && MONTHS.contains(&words[position].1.as_str());
        position += taken;
    }
    out
}

/// Phrases that introduce a value in dictation, with what they introduce.
static SPOKEN_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:(?P<patient>(?:on|for|regarding|re)\s+(?:the\s+)?patient(?:\s+named)?|patient\s+name\s+is)|(?P<author>this\s+is\s+(?:doctor|dr\.?))|(?P<doctype>dictating\s+(?:a|an|the)?))\s+",
    )
    .expect("spoken pattern compiles")
});

/// The value after a spoken phrase: up to punctuation, the next label, or `dictating`.
fn spoken_value(text: &str, start: usize) -> &str {
    let rest = &text[start..];
    let mut end = rest.find([',', '.', ';']).unwrap_or(rest.len());
    if let Some(label) = label_values(&rest[..end]).first() {
        let label_start = rest[..label.value_start].rfind(' ').unwrap_or(0);
        end = end.min(label_start);
    }
    if let Some(dictating) = rest[..end].to_lowercase().find(" dictating") {
        end = dictating;
    }
    rest[..end].trim()
}

/// Extracts the same fields as [`extract`](crate::extract) from a dictation's transcript.
/// Sources are [`Source::Audio`] spans of the segments the values were spoken in.
pub fn extract_transcript(segments: &[TranscriptSegment<'_>], opts: &ExtractOptions) -> Fields {
    let normalized = normalize(segments);
    let text = normalized.text.as_str();
    let mut candidates: Vec<Candidate> = Vec::new();
    for label in label_values(text) {
        // A transcript is one long line: a label's value ends at the end of its clause, not of the line.
        let value = &text[label.value_start..label.value_end];
        let clause_end = match label.kind {
            LabelKind::Mrn => value.find([',', ';', '.']),
            _ => value.find(". ").or_else(|| value.find(';')),
        };
        let value = &value[..clause_end.unwrap_or(value.len())];
        // An MRN said or written in groups (`53, 12, 26, 9`) runs across the commas.
        let joined = (label.kind == LabelKind::Mrn)
            .then(|| joined_digit_run(&canonicalize(&text[label.value_start..label.value_end])))
            .flatten();
        let value = joined.as_deref().unwrap_or(value);
        read_value(
            label.kind,
            label.confidence,
            value,
            label.value_start,
            0,
            opts.today,
            &mut candidates,
        );
    }
    for caps in SPOKEN_RE.captures_iter(text) {
        let Some(whole) = caps.get(0) else { continue };
        let value = spoken_value(text, whole.end());
        let kind = if caps.name("patient").is_some() {
            LabelKind::Name
        } else if caps.name("author").is_some() {
            LabelKind::Author
        } else {
            LabelKind::DocType
        };
        if kind == LabelKind::DocType && doctype::classify_title(value, false).is_none() {
            continue;
        }
        read_value(
            kind,
            0.85,
            value,
            whole.end(),
            0,
            opts.today,
            &mut candidates,
        );
    }
    // The physician's, a colleague's or a relative's name is never the patient's.
    let mut authors = drop_other_peoples_names(text, &mut candidates);
    for candidate in candidates.iter_mut().chain(authors.iter_mut()) {
        if let Source::Text { start, end, .. } = candidate.source {
            candidate.source = audio_span(&normalized, segments, start, end);
        }
    }
    // What the labelled reading missed, from what recognisers write for a header; offsets in the canonical
    // text are mapped back to the transcript by proportion (they only choose a segment).
    let canonical = canonicalize(text);
    let mut cued = Vec::new();
    cue_candidates(&canonical, &Found::of(&candidates), opts.today, &mut cued);
    let cued_authors = drop_other_peoples_names(&canonical, &mut cued);
    let scale = |offset: usize| offset * text.len() / canonical.len().max(1);
    for mut candidate in cued.into_iter().chain(cued_authors) {
        if let Source::Text { start, end, .. } = candidate.source {
            candidate.source = audio_span(&normalized, segments, scale(start), scale(end));
        }
        if candidate.name == FieldName::Author {
            authors.push(candidate);
        } else {
            candidates.push(candidate);
        }
    }
    // The dictating physician named without a title ("this is Alan Brooks", "Alan Brooks here") is the
    // author when no labelled reading found one.
    if !candidates.iter().any(|c| c.name == FieldName::Author) {
        candidates.extend(authors.into_iter().take(1));
    }
    let mut fields = assemble(candidates, opts);
    fields.spelled = spelled_names_at(&canonical)
        .into_iter()
        .filter(|(at, _)| Role::may_be_patient(role_of_spelling(&canonical, *at)))
        .map(|(_, letters)| letters)
        .collect();
    fields
}

fn audio_span(
    normalized: &Normalized,
    segments: &[TranscriptSegment<'_>],
    start: usize,
    end: usize,
) -> Source {
    let segment_of = |offset: usize| {
        normalized
            .segment_at
            .iter()
            .take_while(|(at, _)| *at <= offset)
            .last()
            .map_or(0, |(_, segment)| *segment)
    };
    let first = segments.get(segment_of(start));
    let last = segments.get(segment_of(end.saturating_sub(1)));
    Source::Audio {
        start_ms: first.map_or(0, |s| s.start_ms),
        end_ms: last.map_or(0, |s| s.end_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::Date;

    fn norm(text: &str) -> String {
        normalize(&[TranscriptSegment {
            text,
            start_ms: 0,
            end_ms: 1,
        }])
        .text
    }

    #[test]
    fn spoken_digits_become_digits() {
        assert_eq!(
            norm("number four zero eight one one two three"),
            "number 4081123"
        );
        assert_eq!(norm("four oh eight one"), "4081");
        assert_eq!(norm("one of them"), "one of them");
    }

    #[test]
    fn spoken_dates_become_dates() {
        assert_eq!(
            norm("March fourteenth nineteen fifty seven"),
            "March 14 1957"
        );
        assert_eq!(
            norm("March twenty first two thousand and three"),
            "March 21 2003"
        );
        assert_eq!(norm("June four twenty oh three"), "June 4 2003");
        assert_eq!(
            norm("January thirty first twenty twenty four."),
            "January 31 2024."
        );
    }

    #[test]
    fn reads_a_dictated_header() {
        let segments = [
            TranscriptSegment {
                text: "This is Doctor Jane Miller dictating a discharge summary on patient Karena O'Keefe,",
                start_ms: 0,
                end_ms: 4000,
            },
            TranscriptSegment {
                text: "medical record number four zero eight one one two one, date of birth March fourteenth nineteen fifty seven.",
                start_ms: 4000,
                end_ms: 9000,
            },
        ];
        let opts = ExtractOptions::new(Date::new(2024, 6, 1).unwrap());
        let fields = extract_transcript(&segments, &opts);
        let value = |f: &Option<crate::field::Field>| f.as_ref().map(|f| f.value.clone());
        assert_eq!(value(&fields.author).as_deref(), Some("Jane Miller"));
        assert_eq!(value(&fields.document_type).as_deref(), Some("18842-5"));
        assert_eq!(value(&fields.patient_family).as_deref(), Some("O'Keefe"));
        assert_eq!(value(&fields.patient_given).as_deref(), Some("Karena"));
        assert_eq!(value(&fields.mrn).as_deref(), Some("4081121"));
        assert_eq!(value(&fields.date_of_birth).as_deref(), Some("1957-03-14"));
        assert_eq!(
            fields.date_of_birth.unwrap().source,
            Source::Audio {
                start_ms: 4000,
                end_ms: 9000
            }
        );
        assert_eq!(
            fields.patient_family.unwrap().source,
            Source::Audio {
                start_ms: 0,
                end_ms: 4000
            }
        );
    }
}

#[cfg(test)]
mod transcript_digit_tests {
    use super::*;
    use crate::Date;

    #[test]
    fn written_digits_after_a_spoken_label_are_an_mrn() {
        let segments = [TranscriptSegment {
            text: " This is not a pre-aramendictating an operative note on patient Maria Gonzalez, medical record number 7133802, paid on birth January 23, 1964.",
            start_ms: 0,
            end_ms: 9000,
        }];
        let fields = extract_transcript(
            &segments,
            &ExtractOptions::new(Date::new(2024, 1, 1).unwrap()),
        );
        assert_eq!(
            fields.mrn.as_ref().map(|f| f.value.as_str()),
            Some("7133802"),
            "{fields:?}"
        );
    }
}

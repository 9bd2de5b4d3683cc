//! Whose name a dictation speaks: the patient's, the dictating physician's, another physician's or a
//! relative's, from the words around it.
//!
//! A header names two people or more ("this is Doctor Alan Brooks dictating for patient Maria Lopez", "copy
//! to Dr Karen White", "the patient's mother Susan Lopez"). Only a name whose role is the patient's, or
//! unknown, may fill the patient fields; the dictating physician's fills the author when nothing else did.

use std::sync::LazyLock;

use regex::Regex;

use crate::extract::{Candidate, DateRole};
use crate::field::{FieldName, Source};

/// Whom a spoken name belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Introduced as the patient ("patient", "for", "regarding", "re", "name is").
    Patient,
    /// The physician dictating ("this is (Dr) X", "X here", "X dictating", "dictated by", "attending").
    Author,
    /// Another clinician ("Dr X", "cc / copy to", "referring physician", "primary care").
    Physician,
    /// Someone else: a relative, a guardian, an interpreter.
    Other,
}

impl Role {
    /// Whether a name with this role (or none) may be read as the patient's.
    pub(crate) fn may_be_patient(role: Option<Role>) -> bool {
        matches!(role, None | Some(Role::Patient))
    }
}

/// Words before a name that say whose it is; the longest sequence ending nearest the name wins.
const CUES: &[(&[&str], Role)] = &[
    (&["this", "is"], Role::Author),
    (&["my", "name", "is"], Role::Author),
    (&["dictated", "by"], Role::Author),
    (&["dictating", "physician"], Role::Author),
    (&["dictating", "doctor"], Role::Author),
    (&["dictating", "provider"], Role::Author),
    (&["signed", "by"], Role::Author),
    (&["attending"], Role::Author),
    (&["attending", "physician"], Role::Author),
    (&["author"], Role::Author),
    (&["cc"], Role::Physician),
    (&["copy", "to"], Role::Physician),
    (&["copies", "to"], Role::Physician),
    (&["copy"], Role::Physician),
    (&["referring"], Role::Physician),
    (&["referred", "by"], Role::Physician),
    (&["referral", "from"], Role::Physician),
    (&["primary", "care"], Role::Physician),
    (&["pcp"], Role::Physician),
    (&["physician"], Role::Physician),
    (&["doctors", "name"], Role::Physician),
    (&["physicians", "name"], Role::Physician),
    (&["provider"], Role::Physician),
    (&["surgeon"], Role::Physician),
    (&["consultant"], Role::Physician),
    (&["consulting"], Role::Physician),
    (&["resident"], Role::Physician),
    (&["accompanied", "by"], Role::Other),
    (&["next", "of", "kin"], Role::Other),
    (&["emergency", "contact"], Role::Other),
    (&["contact"], Role::Other),
    (&["patient"], Role::Patient),
    (&["for"], Role::Patient),
    (&["regarding"], Role::Patient),
    (&["re"], Role::Patient),
    (&["on"], Role::Patient),
    (&["name"], Role::Patient),
    (&["named"], Role::Patient),
];

/// People around a patient who are not the patient; `mother's name is`, `wife named` too.
const RELATIONS: &[&str] = &[
    "mother",
    "mom",
    "father",
    "dad",
    "wife",
    "husband",
    "spouse",
    "partner",
    "guardian",
    "parent",
    "parents",
    "son",
    "daughter",
    "sister",
    "brother",
    "grandmother",
    "grandfather",
    "grandson",
    "granddaughter",
    "aunt",
    "uncle",
    "niece",
    "nephew",
    "cousin",
    "caregiver",
    "friend",
    "neighbor",
    "neighbour",
    "boyfriend",
    "girlfriend",
    "fiance",
    "fiancee",
    "interpreter",
    "nurse",
    "relative",
    "proxy",
    "attorney",
];

/// Titles of a clinician: a name after one is never the patient's.
const TITLES: &[&str] = &["dr", "doctor", "doc", "professor", "prof"];

/// Words that may sit between a cue and a name.
const FILLERS: &[&str] = &[
    "is", "was", "the", "a", "an", "uh", "um", "her", "his", "their", "our", "my",
];

/// Words after a name that make it the dictating physician's ("Alan Brooks here", "Alan Brooks dictating").
const AFTER_AUTHOR: &[&str] = &["here", "dictating", "speaking", "dictates"];

/// Credentials after a name: a clinician's.
const CREDENTIALS: &[&str] = &["md", "do", "mbbs", "phd", "np", "pa", "dds"];

static TOKEN_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z]+(?:['’][A-Za-z]+)*|\d+|[^\sA-Za-z\d]").expect("token pattern compiles")
});

#[derive(Debug, Clone)]
struct Token {
    /// Lower case, a possessive `'s` and apostrophes dropped; empty for punctuation and digits.
    word: String,
    text_start: usize,
    text_end: usize,
    capitalised: bool,
    punct: Option<char>,
}

fn tokens(text: &str) -> Vec<Token> {
    TOKEN_RE
        .find_iter(text)
        .map(|m| {
            let s = m.as_str();
            let first = s.chars().next().unwrap_or(' ');
            let word = if first.is_ascii_alphabetic() {
                let lower = s.to_lowercase();
                let lower = lower
                    .strip_suffix("'s")
                    .or_else(|| lower.strip_suffix("’s"))
                    .unwrap_or(&lower)
                    .replace(['\'', '’'], "");
                lower
            } else {
                String::new()
            };
            Token {
                word,
                text_start: m.start(),
                text_end: m.end(),
                capitalised: first.is_ascii_uppercase(),
                punct: (!first.is_ascii_alphanumeric()).then_some(first),
            }
        })
        .collect()
}

/// Whether punctuation token `at` ends a sentence: `.`, `?`, `!`, `;`, but not the point after `Dr`, `Mr`
/// or a single letter (`M.D.`, `J. Brooks`).
fn ends_sentence(toks: &[Token], at: usize) -> bool {
    match toks[at].punct {
        Some('?' | '!' | ';') => true,
        Some('.') => !at.checked_sub(1).is_some_and(|p| {
            let w = toks[p].word.as_str();
            w.len() == 1 || matches!(w, "dr" | "mr" | "mrs" | "ms" | "st" | "prof" | "jr" | "sr")
        }),
        _ => false,
    }
}

fn cue_ending_at(toks: &[Token], at: usize) -> Option<Role> {
    let word = toks[at].word.as_str();
    // `mother's name is`, `wife named`: a relative's; `my name is` is the cue table's.
    if matches!(word, "name" | "named") {
        let before = at.checked_sub(1).map(|p| toks[p].word.as_str());
        if before.is_some_and(|b| RELATIONS.contains(&b)) {
            return Some(Role::Other);
        }
    }
    if RELATIONS.contains(&word) {
        return Some(Role::Other);
    }
    CUES.iter()
        .filter(|(words, _)| {
            words.len() <= at + 1
                && words
                    .iter()
                    .rev()
                    .zip(toks[..=at].iter().rev())
                    .all(|(cue, tok)| tok.word == *cue)
        })
        .max_by_key(|(words, _)| words.len())
        .map(|(_, role)| *role)
}

/// The role the words before `start` give a name: the nearest cue within the sentence, scanning back over
/// the rest of the name, fillers, titles and commas.
fn role_before(toks: &[Token], first: usize) -> (Option<Role>, bool) {
    let mut title = false;
    let mut crossed_punct = false;
    for at in (0..first).rev() {
        let tok = &toks[at];
        if tok.punct.is_some() {
            if ends_sentence(toks, at) {
                break;
            }
            crossed_punct = true;
            continue;
        }
        if tok.word.is_empty() {
            break;
        }
        if TITLES.contains(&tok.word.as_str()) {
            title = true;
            continue;
        }
        // `is` ends `this is`, `my name is`: look for a cue before taking it for a filler.
        if let Some(role) = cue_ending_at(toks, at) {
            // `for Dr Brooks`: the title outranks a cue that would make him the patient.
            let role = match role {
                Role::Patient if title => Role::Physician,
                other => other,
            };
            return (Some(role), title);
        }
        if FILLERS.contains(&tok.word.as_str()) {
            continue;
        }
        // A middle name, or the family name before the given name of the same mention.
        if tok.capitalised && !crossed_punct && !title {
            continue;
        }
        break;
    }
    (title.then_some(Role::Physician), title)
}

/// Whether `word` (lower case) says whose the name after it is: a title, a relation or a cue's last word.
pub(crate) fn is_cue_word(word: &str) -> bool {
    TITLES.contains(&word)
        || RELATIONS.contains(&word)
        || CUES.iter().any(|(words, _)| words.last() == Some(&word))
}

/// Whether the words right after a name make it the dictating physician's or a clinician's.
fn role_after(toks: &[Token], after: usize) -> Option<Role> {
    let mut at = after;
    let mut credential = false;
    while let Some(tok) = toks.get(at) {
        if matches!(tok.punct, Some(',' | '-' | ':')) {
            at += 1;
            continue;
        }
        if tok.punct == Some('.') && credential {
            at += 1;
            continue;
        }
        // `M.D.`, `MD`, `M D`.
        if tok.word == "m"
            && toks
                .get(at + 1)
                .filter(|t| t.punct == Some('.'))
                .map_or(toks.get(at + 1), |_| toks.get(at + 2))
                .is_some_and(|t| t.word == "d")
        {
            credential = true;
            at += if toks.get(at + 1).is_some_and(|t| t.punct == Some('.')) {
                3
            } else {
                2
            };
            continue;
        }
        if CREDENTIALS.contains(&tok.word.as_str()) && (tok.word != "do" || tok.capitalised) {
            credential = true;
            at += 1;
            continue;
        }
        if AFTER_AUTHOR.contains(&tok.word.as_str()) {
            return Some(Role::Author);
        }
        break;
    }
    credential.then_some(Role::Physician)
}

/// The role of the name spoken at `start..end` of `text` (byte offsets), or `None` when nothing around it
/// says.
pub(crate) fn role_of(text: &str, start: usize, end: usize) -> Option<Role> {
    let toks = tokens(text);
    let first = toks
        .iter()
        .position(|t| t.text_start >= start)
        .unwrap_or(toks.len());
    let after = toks
        .iter()
        .position(|t| t.text_start >= end)
        .unwrap_or(toks.len());
    let (before, titled) = role_before(&toks, first);
    match before {
        Some(Role::Patient) | Some(Role::Other) | Some(Role::Author) => before,
        // `Dr Brooks dictating`, `Alan Brooks here`, `Alan Brooks, MD`.
        Some(Role::Physician) | None => match role_after(&toks, after) {
            Some(Role::Author) if before.is_none() || titled => Some(Role::Author),
            after => before.or(after),
        },
    }
}

/// Spelling fillers between a name and its letters: `Brooks, that's B R O O K S`, `last name spelled`.
const SPELLING_FILLERS: &[&str] = &[
    "spelled", "spelling", "spell", "thats", "that", "is", "as", "the", "its", "it", "last",
    "first", "family", "name", "with", "a", "an",
];

/// The role of the person whose name is spelled out at byte `at` of `text`: that of the name just before
/// the letters (`Doctor Alan Brooks, B-R-O-O-K-S`), else of the words before them.
pub(crate) fn role_of_spelling(text: &str, at: usize) -> Option<Role> {
    let toks = tokens(text);
    let first = toks
        .iter()
        .position(|t| t.text_start >= at)
        .unwrap_or(toks.len());
    let mut k = first;
    while k > 0 {
        let tok = &toks[k - 1];
        let skip = (tok.punct.is_some() && !ends_sentence(&toks, k - 1))
            || SPELLING_FILLERS.contains(&tok.word.as_str());
        if !skip {
            break;
        }
        k -= 1;
    }
    let last = k.checked_sub(1)?;
    let is_name_word = |i: usize| {
        let t = &toks[i];
        t.capitalised
            && t.word.len() > 1
            && !TITLES.contains(&t.word.as_str())
            && !FILLERS.contains(&t.word.as_str())
            && cue_ending_at(&toks, i).is_none()
    };
    if !is_name_word(last) {
        return role_before(&toks, k).0;
    }
    let mut name_start = last;
    while name_start > 0 && is_name_word(name_start - 1) {
        name_start -= 1;
    }
    role_of(text, toks[name_start].text_start, toks[last].text_end)
}

/// Removes from `candidates` the patient names that the words around them in `text` (the text their
/// [`Source::Text`] offsets point into) give another role, and returns the dictating physician's among
/// them as [`FieldName::Author`] candidates (`Given Family`).
pub(crate) fn drop_other_peoples_names(
    text: &str,
    candidates: &mut Vec<Candidate>,
) -> Vec<Candidate> {
    let span = |c: &Candidate| match c.source {
        Source::Text { start, end, .. } => Some((start, end)),
        _ => None,
    };
    let mut keep = vec![true; candidates.len()];
    let mut authors = Vec::new();
    let mut i = 0;
    while i < candidates.len() {
        let name = candidates[i].name;
        let (Some((start, end)), true) = (
            span(&candidates[i]),
            matches!(name, FieldName::PatientFamily | FieldName::PatientGiven),
        ) else {
            i += 1;
            continue;
        };
        // A reading pushes the family name then the given name of one mention: judge them together.
        let given = (name == FieldName::PatientFamily)
            .then(|| candidates.get(i + 1))
            .flatten()
            .filter(|c| c.name == FieldName::PatientGiven)
            .and_then(|c| span(c).map(|s| (c, s)));
        let (start, end) = given.map_or((start, end), |(_, (gs, ge))| (start.min(gs), end.max(ge)));
        let taken = if given.is_some() { 2 } else { 1 };
        let role = role_of(text, start, end);
        if !Role::may_be_patient(role) {
            if role == Some(Role::Author) {
                let family = &candidates[i];
                let value = match given {
                    Some((g, _)) if name == FieldName::PatientFamily => {
                        format!("{} {}", g.value, family.value)
                    }
                    _ => family.value.clone(),
                };
                authors.push(Candidate {
                    name: FieldName::Author,
                    date_role: DateRole::NotADate,
                    raw: text.get(start..end).unwrap_or(&value).to_string(),
                    value,
                    confidence: family.confidence.min(0.6),
                    source: match family.source {
                        Source::Text { page, .. } => Source::Text { page, start, end },
                        other => other,
                    },
                });
            }
            keep[i..i + taken].iter_mut().for_each(|k| *k = false);
        }
        i += taken;
    }
    let mut flags = keep.into_iter();
    candidates.retain(|_| flags.next().unwrap_or(true));
    authors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(text: &str, name: &str) -> Option<Role> {
        let start = text.find(name).expect("name in text");
        role_of(text, start, start + name.len())
    }

    #[test]
    fn the_words_around_a_name_give_its_role() {
        let header = "This is Doctor Alan Brooks dictating for patient Maria Lopez, date of birth";
        assert_eq!(role(header, "Alan Brooks"), Some(Role::Author));
        assert_eq!(role(header, "Maria Lopez"), Some(Role::Patient));
        let header = "Patient Lopez, Maria. This is Dr. Alan Brooks dictating.";
        assert_eq!(role(header, "Lopez, Maria"), Some(Role::Patient));
        assert_eq!(role(header, "Alan Brooks"), Some(Role::Author));
        for (text, name, expected) in [
            (
                "Alan Brooks here, dictating for Maria Lopez",
                "Alan Brooks",
                Some(Role::Author),
            ),
            (
                "Alan Brooks here, dictating for Maria Lopez",
                "Maria Lopez",
                Some(Role::Patient),
            ),
            (
                "this is alan brooks regarding maria lopez",
                "alan brooks",
                Some(Role::Author),
            ),
            (
                "this is alan brooks regarding maria lopez",
                "maria lopez",
                Some(Role::Patient),
            ),
            (
                "Dictated by Alan Brooks. Maria Lopez, born",
                "Alan Brooks",
                Some(Role::Author),
            ),
            (
                "Dictated by Alan Brooks. Maria Lopez, born",
                "Maria Lopez",
                None,
            ),
            ("Attending, Alan Brooks.", "Alan Brooks", Some(Role::Author)),
            (
                "Copy to Dr. Karen White.",
                "Karen White",
                Some(Role::Physician),
            ),
            ("cc Karen White", "Karen White", Some(Role::Physician)),
            (
                "Referring physician Karen White",
                "Karen White",
                Some(Role::Physician),
            ),
            (
                "seen for Dr Karen White",
                "Karen White",
                Some(Role::Physician),
            ),
            (
                "Karen White, M.D. Patient",
                "Karen White",
                Some(Role::Physician),
            ),
            (
                "The patient's mother, Susan Lopez, is here",
                "Susan Lopez",
                Some(Role::Other),
            ),
            (
                "her mother's name is Susan Lopez",
                "Susan Lopez",
                Some(Role::Other),
            ),
            (
                "accompanied by her husband John Lopez",
                "John Lopez",
                Some(Role::Other),
            ),
            ("Guardian Laura Nguyen", "Laura Nguyen", Some(Role::Other)),
            ("my name is Alan Brooks", "Alan Brooks", Some(Role::Author)),
            (
                "patient name is Maria Lopez",
                "Maria Lopez",
                Some(Role::Patient),
            ),
            (
                "This is Alan Brooks, Maria Lopez, date of birth",
                "Maria Lopez",
                None,
            ),
            ("Maria Lopez, date of birth", "Maria Lopez", None),
        ] {
            assert_eq!(role(text, name), expected, "{name} in {text:?}");
        }
    }

    #[test]
    fn spelled_letters_belong_to_the_name_before_them() {
        let text =
            "This is Doctor Alan Brooks, B-R-O-O-K-S, for patient Maria Lopez, spelled L O P E Z.";
        let at = |s: &str| text.find(s).unwrap();
        assert_eq!(role_of_spelling(text, at("B-R")), Some(Role::Author));
        assert_eq!(role_of_spelling(text, at("L O P")), Some(Role::Patient));
        let text = "Doctor, spelled B R O O K S, dictating";
        assert_eq!(role_of_spelling(text, 16), Some(Role::Physician));
    }
}
#[cfg(test)]
mod transcript_tests {
    use crate::spoken::{extract_transcript, TranscriptSegment};
    use crate::{Date, ExtractOptions, Field, Fields};

    fn read(text: &str) -> Fields {
        let segments = [TranscriptSegment {
            text,
            start_ms: 0,
            end_ms: 1,
        }];
        extract_transcript(
            &segments,
            &ExtractOptions::new(Date::new(2024, 6, 1).unwrap()),
        )
    }

    fn value(field: &Option<Field>) -> Option<&str> {
        field.as_ref().map(|f| f.value.as_str())
    }

    /// Asserts that the patient fields hold the patient (or nothing) and never the physician's or another
    /// person's name words.
    fn never_the_others(fields: &Fields, text: &str, others: &[&str]) {
        for value in [value(&fields.patient_family), value(&fields.patient_given)]
            .into_iter()
            .flatten()
        {
            assert!(
                !others.iter().any(|o| o.eq_ignore_ascii_case(value)),
                "{value:?} read as the patient's in {text:?}: {fields:?}"
            );
        }
        for letters in &fields.spelled {
            assert!(
                !others.iter().any(|o| o.eq_ignore_ascii_case(letters)),
                "{letters:?} spelled for the patient in {text:?}"
            );
        }
    }

    /// Both names spoken, in either order, with and without titles, spelled, and as synthetic speech comes
    /// out of a recogniser: the physician's name is never read into the patient fields, and it is the
    /// author when nothing else names one.
    #[test]
    fn the_dictating_physician_is_never_the_patient() {
        for (text, author) in [
            ("This is Doctor Alan Brooks dictating for patient Maria Lopez, date of birth March 3 1960.", Some("Alan Brooks")),
            ("Patient Maria Lopez, date of birth March 3, 1960. This is Dr. Alan Brooks dictating.", Some("Alan Brooks")),
            ("Alan Brooks here, dictating for Maria Lopez, date of birth March 3, 1960.", Some("Alan Brooks")),
            ("This is Alan Brooks dictating on Maria Lopez, born March 3, 1960.", Some("Alan Brooks")),
            ("This is Alan Brooks, Maria Lopez, date of birth March 3, 1960.", Some("Alan Brooks")),
            ("Maria Lopez, date of birth March 3, 1960. Alan Brooks dictating.", Some("Alan Brooks")),
            ("Dictated by Alan Brooks. Patient name Maria Lopez. Date of birth March 3, 1960.", Some("Alan Brooks")),
            ("My name is Alan Brooks, regarding Maria Lopez, date of birth March 3, 1960.", Some("Alan Brooks")),
            ("Maria Lopez, date of birth March 3, 1960. Attending Alan Brooks.", Some("Alan Brooks")),
            ("This is Doctor Alan Brooks, B-R-O-O-K-S, dictating a consult on patient Maria Lopez, L-O-P-E-Z, born March 3 1960.", Some("Alan Brooks")),
            ("Patient Maria Lopez, spelled L O P E Z. Date of birth 3, 3, 1960. This is Alan Brooks, spelled B R O O K S, dictating.", Some("Alan Brooks")),
            // Synthetic speech: misheard words around the names, stray punctuation, lower case.
            ("This is the Doctor Alan Brooks, Ditectating for patient Maria Lopez, Datamer from March 3, 1960.", Some("Alan Brooks")),
            (" This is Dr, Alan Brooks. Dictatin a discharge summary on patient, Maria Lopez, the OB 3-3-1960.", Some("Alan Brooks")),
            ("Alan Brooks here. Um, patient in Maria Lopez, birthday March third, nineteen sixty.", Some("Alan Brooks")),
            ("this is alan brooks dictating regarding Maria Lopez date of birth march three nineteen sixty", None),
        ] {
            let fields = read(text);
            never_the_others(&fields, text, &["Alan", "Brooks", "BROOKS"]);
            assert_eq!(value(&fields.patient_family), Some("Lopez"), "{text:?}: {fields:?}");
            assert_eq!(value(&fields.patient_given), Some("Maria"), "{text:?}: {fields:?}");
            if let Some(author) = author {
                assert_eq!(value(&fields.author), Some(author), "{text:?}");
            }
        }
    }

    /// Names of other clinicians and of relatives are not the patient's either; with only such a name, the
    /// patient fields stay empty.
    #[test]
    fn colleagues_and_relatives_are_not_the_patient() {
        for text in [
            "Patient Maria Lopez, born March 3, 1960. Copy to Dr Karen White.",
            "Maria Lopez, date of birth March 3, 1960. Referring physician Karen White.",
            "This is Doctor Alan Brooks. The patient's mother Karen White is present. Patient Maria Lopez, born March 3, 1960.",
            "Dr. Karen White referred patient Maria Lopez, date of birth March 3, 1960.",
            "Accompanied by her husband Karen White, patient Maria Lopez, born March 3, 1960.",
        ] {
            let fields = read(text);
            never_the_others(&fields, text, &["Karen", "White", "Alan", "Brooks"]);
            assert_eq!(value(&fields.patient_family), Some("Lopez"), "{text:?}: {fields:?}");
        }
        for text in [
            "The patient's mother Susan Lopez reports. Date of birth March 3, 1960.",
            "Guardian Susan Lopez, date of birth March 3, 1960.",
            "cc Dr Susan Lopez. Date of birth March 3, 1960.",
            "This is Susan Lopez. Date of birth March 3, 1960.",
        ] {
            let fields = read(text);
            assert_eq!(value(&fields.patient_family), None, "{text:?}: {fields:?}");
            assert_eq!(value(&fields.patient_given), None, "{text:?}: {fields:?}");
        }
    }
}

//! Person names: parsing header values, rejecting section headings, normalising for comparison.

/// A parsed person name: byte spans into the parsed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NameSpans {
    pub family: (usize, usize),
    pub given: Option<(usize, usize)>,
    /// `FAMILY, GIVEN` order (written by a system) rather than free text.
    pub comma_form: bool,
}

const TITLES: &[&str] = &["mr", "mrs", "ms", "miss", "mx", "dr", "doctor", "prof"];

const SUFFIXES: &[&str] = &[
    "md", "m.d", "do", "d.o", "phd", "np", "rn", "pa", "pa-c", "facs", "facp", "mbbs", "dds", "jr",
    "sr", "ii", "iii", "iv", "crna", "aprn", "fnp", "dnp",
];

/// Family-name particles: `van der Berg`, `De la Cruz`, `St. John`.
const PARTICLES: &[&str] = &[
    "van", "von", "der", "den", "de", "del", "della", "la", "le", "da", "di", "dos", "das", "du",
    "st", "ter", "ten", "mac", "bin", "al", "el",
];

/// Words that show the "name" is a heading or prose, not a person.
const NOT_NAME_WORDS: &[&str] = &[
    "history",
    "present",
    "illness",
    "chief",
    "complaint",
    "diagnosis",
    "diagnoses",
    "assessment",
    "plan",
    "physical",
    "exam",
    "examination",
    "impression",
    "findings",
    "procedure",
    "procedures",
    "medications",
    "medication",
    "allergies",
    "review",
    "systems",
    "social",
    "past",
    "medical",
    "surgical",
    "hospital",
    "course",
    "discharge",
    "admission",
    "subjective",
    "objective",
    "report",
    "note",
    "summary",
    "consultation",
    "date",
    "service",
    "record",
    "number",
    "unknown",
    "none",
    "patient",
    "name",
    "dob",
    "mrn",
    "of",
    "and",
    "the",
    "is",
    "was",
    "with",
    "year",
    "old",
    "male",
    "female",
    "who",
    "for",
    "to",
    "in",
    "on",
    "at",
    "seen",
    "presents",
    "reason",
    "technique",
    "indication",
    "indications",
    "operative",
    "preoperative",
    "postoperative",
    "gross",
    "description",
    "microscopic",
    "specimen",
    "clinical",
    "vital",
    "signs",
    "labs",
    "laboratory",
    "results",
    "family",
    "identified",
    "information",
    "unit",
    "room",
    "account",
    "birth",
    "sex",
    "age",
    "not",
    "available",
    "n/a",
    "na",
    "see",
    "above",
];

/// Splits `text` into whitespace-separated tokens with their byte spans.
fn tokens(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (index, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(begin)) => {
                spans.push((begin, index));
                start = None;
            }
            (false, None) => start = Some(index),
            _ => {}
        }
    }
    if let Some(begin) = start {
        spans.push((begin, text.len()));
    }
    spans
}

/// The token without surrounding punctuation a name never ends or starts with.
fn trim_token(text: &str, (start, end): (usize, usize)) -> (usize, usize) {
    let token = &text[start..end];
    let trimmed_start =
        token.trim_start_matches(['"', '(', '[', ',', '“', '”', '‘', '\'', '-', '~', '*', '_']);
    let mut trimmed = trimmed_start.trim_end_matches([',', ';', ':', ')', ']', '"', '“', '”', '_']);
    // A full stop after a word (`Ahmed.`) is punctuation; after one letter (`J.`) it marks an initial.
    if trimmed.matches('.').count() <= 1 {
        let bare = trimmed.trim_end_matches(['.', '_']);
        if bare.chars().count() > 1 {
            trimmed = bare;
        }
    }
    let new_start = start + (token.len() - trimmed_start.len());
    (new_start, new_start + trimmed.len())
}

fn bare_lower(token: &str) -> String {
    token
        .trim_end_matches('.')
        .chars()
        // OCR reads the O of a credential as a zero (`D.0.`); other digits are Synthea's.
        .map(|c| if c == '0' { 'o' } else { c })
        .filter(|c| !c.is_ascii_digit())
        .collect::<String>()
        .to_lowercase()
}

/// A name part: letters with inner `'`, `’`, `-`, `.`, optional trailing digits (Synthea).
fn is_name_token(token: &str) -> bool {
    let without_digits = token.trim_end_matches(|c: char| c.is_ascii_digit());
    let mut chars = without_digits.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_alphabetic() && chars.all(|c| c.is_alphabetic() || matches!(c, '\'' | '’' | '-' | '.'))
}

fn is_initial(token: &str) -> bool {
    let bare = token.trim_end_matches('.');
    bare.chars().count() == 1
}

/// Parses `FAMILY, GIVEN [MIDDLE]` or `Given [Middle] Family`, dropping titles and credentials.
///
/// Returns `None` when the value is not a plausible person name (a heading, prose, digits).
pub(crate) fn parse_person_name(value: &str) -> Option<NameSpans> {
    let (before_comma, after_comma) = match value.find(',') {
        Some(comma) => (&value[..comma], Some(comma + 1)),
        None => (value, None),
    };
    let mut head: Vec<(usize, usize)> = tokens(before_comma)
        .into_iter()
        .map(|span| trim_token(value, span))
        .filter(|(s, e)| s < e)
        .collect();
    while head
        .first()
        .is_some_and(|&(s, e)| TITLES.contains(&bare_lower(&value[s..e]).as_str()))
    {
        head.remove(0);
    }
    let tail: Vec<(usize, usize)> = match after_comma {
        Some(offset) => tokens(&value[offset..])
            .into_iter()
            .map(|(s, e)| trim_token(value, (s + offset, e + offset)))
            .filter(|(s, e)| s < e)
            .take_while(|&(s, e)| !SUFFIXES.contains(&bare_lower(&value[s..e]).as_str()))
            .collect(),
        None => Vec::new(),
    };
    let all_parts = head.iter().chain(tail.iter());
    for &(s, e) in all_parts {
        let token = &value[s..e];
        if !is_name_token(token) || NOT_NAME_WORDS.contains(&bare_lower(token).as_str()) {
            return None;
        }
        // Names are capitalised (or in capitals); a lower-case word is prose, unless a particle (`van`).
        let particle = PARTICLES.contains(&bare_lower(token).as_str());
        if !particle && token.starts_with(|c: char| c.is_lowercase()) {
            return None;
        }
    }
    // Particles and initials do not make a value prose: `Maria E. De la Cruz` is a name.
    let words = head
        .iter()
        .filter(|&&(s, e)| {
            let token = &value[s..e];
            !is_initial(token) && !PARTICLES.contains(&bare_lower(token).as_str())
        })
        .count();
    if head.is_empty() || words > 4 || head.len() > 7 || tail.len() > 3 {
        return None;
    }
    // "Given Family, MD": the comma introduces credentials, not a given name.
    let comma_form = !tail.is_empty();
    let spans = if comma_form {
        // `SMITH JR, JOHN`: the suffix is not part of the family name.
        let family_parts: Vec<(usize, usize)> = head
            .iter()
            .copied()
            .filter(|&(s, e)| !SUFFIXES.contains(&bare_lower(&value[s..e]).as_str()))
            .collect();
        let (Some(first), Some(last)) = (family_parts.first(), family_parts.last()) else {
            return None;
        };
        let family = (first.0, last.1);
        NameSpans {
            family,
            given: Some(tail[0]),
            comma_form,
        }
    } else {
        let parts: Vec<(usize, usize)> = head
            .iter()
            .copied()
            .filter(|&(s, e)| !SUFFIXES.contains(&bare_lower(&value[s..e]).as_str()))
            .collect();
        match parts.as_slice() {
            [] => return None,
            [only] => NameSpans {
                family: *only,
                given: None,
                comma_form,
            },
            [first, middle @ .., last] => {
                // `Anna van der Berg`: particles before the last word belong to the family name.
                let particles = middle
                    .iter()
                    .rev()
                    .take_while(|&&(s, e)| PARTICLES.contains(&bare_lower(&value[s..e]).as_str()))
                    .count();
                let family_start = if particles > 0 {
                    middle[middle.len() - particles].0
                } else {
                    last.0
                };
                NameSpans {
                    family: (family_start, last.1),
                    given: Some(*first),
                    comma_form,
                }
            }
        }
    };
    let family_text = &value[spans.family.0..spans.family.1];
    if is_initial(family_text) {
        return None;
    }
    Some(spans)
}

pub(crate) fn fold_char(c: char) -> char {
    match c {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' => 'o',
        'ú' | 'ù' | 'û' | 'ü' => 'u',
        'ñ' => 'n',
        'ç' => 'c',
        'ý' | 'ÿ' => 'y',
        other => other,
    }
}

/// The comparison form of a name: lower case, accents folded, Synthea's trailing digits and
/// punctuation dropped (`O'Keefe54` → `okeefe`), words joined by one space.
pub fn normalize_name(name: &str) -> String {
    let mut words = Vec::new();
    for word in name.split(|c: char| c.is_whitespace() || c == '-') {
        let bare: String = word
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .chars()
            .flat_map(char::to_lowercase)
            .map(fold_char)
            .filter(|c| c.is_alphabetic())
            .collect();
        if !bare.is_empty() {
            words.push(bare);
        }
    }
    words.join(" ")
}

/// Similarity of two names, 0 to 1 (Jaro-Winkler of their normalised forms).
pub(crate) fn name_similarity(a: &str, b: &str) -> f32 {
    let (a, b) = (normalize_name(a), normalize_name(b));
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    if a == b {
        return 1.0;
    }
    // Compound names: "de la cruz" vs "cruz" — compare each word of the longer against the shorter.
    let whole = strsim::jaro_winkler(&a, &b);
    let best_word = a
        .split(' ')
        .flat_map(|wa| b.split(' ').map(move |wb| strsim::jaro_winkler(wa, wb)))
        .fold(0.0_f64, f64::max);
    let compound = if a.contains(' ') || b.contains(' ') {
        best_word * 0.97
    } else {
        0.0
    };
    whole.max(compound) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Option<(String, Option<String>)> {
        let spans = parse_person_name(value)?;
        Some((
            value[spans.family.0..spans.family.1].to_string(),
            spans.given.map(|(s, e)| value[s..e].to_string()),
        ))
    }

    #[test]
    fn comma_form_is_family_then_given() {
        assert_eq!(
            parse("O'KEEFE, KARENA"),
            Some(("O'KEEFE".into(), Some("KARENA".into())))
        );
        assert_eq!(
            parse("O'KEEFE, KARENA M."),
            Some(("O'KEEFE".into(), Some("KARENA".into())))
        );
        assert_eq!(
            parse("DE LA CRUZ, MARIA"),
            Some(("DE LA CRUZ".into(), Some("MARIA".into())))
        );
    }

    #[test]
    fn free_form_is_given_then_family() {
        assert_eq!(
            parse("Karena O'Keefe"),
            Some(("O'Keefe".into(), Some("Karena".into())))
        );
        assert_eq!(
            parse("Ms. Karena692 M. O'Keefe54"),
            Some(("O'Keefe54".into(), Some("Karena692".into())))
        );
        assert_eq!(
            parse("Dr. Jane Miller, MD"),
            Some(("Miller".into(), Some("Jane".into())))
        );
    }

    #[test]
    fn suffixes_and_particles() {
        assert_eq!(
            parse("SMITH JR, JOHN"),
            Some(("SMITH".into(), Some("JOHN".into())))
        );
        assert_eq!(
            parse("Anna van der Berg"),
            Some(("van der Berg".into(), Some("Anna".into())))
        );
        assert_eq!(
            parse("Maria E. De la Cruz"),
            Some(("De la Cruz".into(), Some("Maria".into())))
        );
        assert_eq!(
            parse("John A. Smith III"),
            Some(("Smith".into(), Some("John".into())))
        );
    }

    #[test]
    fn section_headings_are_not_names() {
        assert_eq!(parse("HISTORY OF PRESENT ILLNESS"), None);
        assert_eq!(parse("CHIEF COMPLAINT"), None);
        assert_eq!(parse("Discharge Summary"), None);
        assert_eq!(parse("is a 45 year old male"), None);
        assert_eq!(parse("12345"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn normalisation_strips_synthea_digits_and_punctuation() {
        assert_eq!(normalize_name("O'Keefe54"), "okeefe");
        assert_eq!(normalize_name("KARENA"), "karena");
        assert_eq!(normalize_name("Joaquín233"), "joaquin");
        assert_eq!(normalize_name("Smith-Jones"), "smith jones");
    }

    #[test]
    fn similarity_is_fuzzy() {
        assert_eq!(name_similarity("O'KEEFE", "O'Keefe54"), 1.0);
        assert!(name_similarity("OKEEFE", "OKEFE") > 0.9);
        assert!(name_similarity("Smith", "Jones") < 0.6);
        assert_eq!(name_similarity("", "Jones"), 0.0);
    }
}

//! Whether a heard name is the index's name: speech recognisers spell names by ear (`Karina` for `Karena`,
//! `Lindquist` for `Lindqvist`), so spoken names are compared by sound (Double Metaphone and NYSIIS codes)
//! and by spelled-out letters (`E M M E R I C H`), not only by spelling.

use std::sync::LazyLock;

use rphonetic::{DoubleMetaphone, Encoder, Nysiis};

use crate::names::{name_similarity, normalize_name};

static DOUBLE_METAPHONE: LazyLock<DoubleMetaphone> = LazyLock::new(|| DoubleMetaphone::new(None));
static NYSIIS: LazyLock<Nysiis> = LazyLock::new(|| Nysiis::new(false));

/// How a heard name part compares with the index's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fit {
    /// Nothing was heard for this part.
    Absent,
    /// Clearly another name: dissimilar in spelling and in sound.
    Differs,
    /// Neither clearly the same nor clearly another (a garbled hearing).
    Unclear,
    /// The same name by spelling, by sound or by spelled letters.
    Agrees,
}

/// The letters of a name, upper case, accents folded, everything else dropped (`O'Keefe` → `OKEEFE`).
fn letters(name: &str) -> String {
    normalize_name(name)
        .chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Whether two names sound alike: equal Double Metaphone codes (primary or alternate, at least two
/// consonant sounds) or equal NYSIIS codes, compared over the whole name with spaces and apostrophes removed.
pub fn sounds_like(heard: &str, name: &str) -> bool {
    let (a, b) = (letters(heard), letters(name));
    if a.len() < 2 || b.len() < 2 {
        return false;
    }
    if a == b {
        return true;
    }
    let da = DOUBLE_METAPHONE.double_metaphone(&a);
    let db = DOUBLE_METAPHONE.double_metaphone(&b);
    let codes_a = [da.primary(), da.alternate()];
    let codes_b = [db.primary(), db.alternate()];
    let metaphone = codes_a
        .iter()
        .any(|ca| ca.len() >= 2 && codes_b.iter().any(|cb| cb == ca));
    metaphone || {
        let (na, nb) = (NYSIIS.encode(&a), NYSIIS.encode(&b));
        na.len() >= 2 && na == nb
    }
}

/// Whether spelled-out letters are the name: equal, one edit apart for names of five letters or more, two
/// for names of eight or more (letters misheard, dropped or doubled).
pub fn spelled_is(spelled: &str, name: &str) -> bool {
    let (a, b) = (letters(spelled), letters(name));
    if a.len() < 3 || b.is_empty() {
        return false;
    }
    let slack = match b.len() {
        0..=4 => 0,
        5..=7 => 1,
        _ => 2,
    };
    strsim::levenshtein(&a, &b) <= slack
}

/// How heard spellings of one name part (the heard name and any spelled-out letters) compare with the
/// index's spellings of it (`thresholds`: Jaro-Winkler agreement and conflict limits).
pub fn fit(
    heard: &[&str],
    spelled: &[&str],
    index: &[&str],
    agree_at: f32,
    differ_below: f32,
) -> Fit {
    if heard.is_empty() && spelled.is_empty() {
        return Fit::Absent;
    }
    let agrees = index.iter().any(|name| {
        spelled.iter().any(|s| spelled_is(s, name))
            || heard
                .iter()
                .any(|h| name_similarity(h, name) >= agree_at || sounds_like(h, name))
    });
    if agrees {
        return Fit::Agrees;
    }
    let all_differ = !heard.is_empty()
        && spelled.is_empty()
        && index.iter().all(|name| {
            heard
                .iter()
                .all(|h| name_similarity(h, name) < differ_below)
        });
    if all_differ {
        Fit::Differs
    } else {
        Fit::Unclear
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misheard_spellings_sound_alike() {
        for (heard, name) in [
            ("Karina", "Karena"),
            ("Whitfield", "Whitfeld"),
            ("O'Keeffe", "O'Keefe"),
            ("Catherine", "Kathryn"),
            ("Stephen", "Steven"),
            ("Schmidt", "Smith"),
        ] {
            assert!(sounds_like(heard, name), "{heard} / {name}");
        }
        for (heard, name) in [("Miller", "Bennett"), ("Rich", "Emmerich"), ("Jo", "Grant")] {
            assert!(!sounds_like(heard, name), "{heard} / {name}");
        }
    }

    #[test]
    fn spelled_letters_allow_one_slip_in_long_names() {
        assert!(spelled_is("EMMERICH", "Emmerich"));
        assert!(spelled_is("EMMERITH", "Emmerich"));
        assert!(spelled_is("WHITKR", "Whitaker"));
        assert!(!spelled_is("EMRITH", "Emmerich"));
        assert!(!spelled_is("WHITKR", "Whitfield"));
        assert!(!spelled_is("LEE", "Lea"));
    }

    #[test]
    fn fits() {
        let f = |heard: &[&str], spelled: &[&str], index: &[&str]| {
            fit(heard, spelled, index, 0.9, 0.75)
        };
        assert_eq!(f(&["Karina"], &[], &["Karena"]), Fit::Agrees);
        assert_eq!(f(&["Lindquist"], &[], &["Lindqvist"]), Fit::Agrees);
        assert_eq!(f(&["Rich"], &["EMMERICH"], &["Emmerich"]), Fit::Agrees);
        assert_eq!(f(&["Bennett"], &[], &["Miller"]), Fit::Differs);
        assert_eq!(f(&[], &[], &["Miller"]), Fit::Absent);
    }
}

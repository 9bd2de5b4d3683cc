//! Medical record numbers: check digits, OCR look-alikes and safe object keys.

use serde::{Deserialize, Serialize};

/// The hospital's MRN check-digit scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckDigit {
    /// No check digit: any MRN of `[A-Za-z0-9-]` is accepted (e.g. Synthea's UUIDs).
    #[default]
    None,
    /// The last digit is a Luhn (mod 10) check digit over the digits; the MRN is digits only.
    Luhn,
}

impl CheckDigit {
    /// Tells whether `mrn` (spaces and dashes ignored) passes this scheme.
    pub fn is_valid(self, mrn: &str) -> bool {
        let key = mrn_key(mrn);
        if key.is_empty() {
            return false;
        }
        match self {
            CheckDigit::None => true,
            CheckDigit::Luhn => luhn_valid(&key),
        }
    }
}

/// Whether the leading zeros of an MRN read from a document count (`[patients] mrn_strip_leading_zeros`).
///
/// Stations and forms pad MRNs (`0021562756` for `21562756`) or drop the padding of a fixed-width number
/// (`123456` for `00123456`). Whatever the policy, only zeros are ever added or removed: an MRN is never
/// "repaired" into a different number, and when two index MRNs differ by their zeros alone the lookup finds
/// both and the document stays unmatched (`ambiguous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeadingZeros {
    /// Derived from the index: when no index MRN starts with a zero, a read MRN's leading zeros are padding;
    /// when the index's MRNs are zero-padded to one width, a read MRN is padded to that width; otherwise
    /// zeros count.
    #[default]
    Auto,
    /// Leading zeros never count, on either side (`true` in the configuration).
    Strip,
    /// Leading zeros always count (`false` in the configuration).
    Keep,
}

impl Serialize for LeadingZeros {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            LeadingZeros::Auto => serializer.serialize_str("auto"),
            LeadingZeros::Strip => serializer.serialize_bool(true),
            LeadingZeros::Keep => serializer.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for LeadingZeros {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = LeadingZeros;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(r#"true, false or "auto""#)
            }
            fn visit_bool<E: serde::de::Error>(self, strip: bool) -> Result<LeadingZeros, E> {
                Ok(if strip {
                    LeadingZeros::Strip
                } else {
                    LeadingZeros::Keep
                })
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<LeadingZeros, E> {
                match text {
                    "auto" => Ok(LeadingZeros::Auto),
                    "true" => Ok(LeadingZeros::Strip),
                    "false" => Ok(LeadingZeros::Keep),
                    other => Err(E::invalid_value(serde::de::Unexpected::Str(other), &self)),
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Tells whether `digits` (ASCII digits only, at least two) passes the Luhn mod 10 check.
pub fn luhn_valid(digits: &str) -> bool {
    if digits.len() < 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(position, byte)| {
            let digit = u32::from(byte - b'0');
            if position % 2 == 1 {
                let doubled = digit * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                digit
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Tells whether `mrn` may be used inside an object-store key: the rule of [`him_core::Mrn`].
pub fn is_safe_mrn_for_key(mrn: &str) -> bool {
    him_core::Mrn::parse(mrn).is_some()
}

/// The comparison key of an MRN: ASCII letters and digits only, upper-cased.
///
/// `408-112-3`, `408 112 3` and `4081123` share one key; so do a UUID and its upper-case form.
pub(crate) fn mrn_key(mrn: &str) -> String {
    mrn.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Normalises an MRN as read: spaces dropped, dashes between digit groups dropped,
/// dashes of a UUID-like value kept.
pub(crate) fn normalize_read_mrn(raw: &str) -> String {
    let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    if looks_like_uuid(&compact) {
        return compact.to_ascii_lowercase();
    }
    compact.chars().filter(|&c| c != '-').collect()
}

fn looks_like_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The digit an OCR engine most often misreads as this letter.
fn look_alike_digit(c: char) -> Option<char> {
    match c {
        'O' | 'o' | 'D' | 'Q' => Some('0'),
        'l' | 'I' | 'i' | '|' => Some('1'),
        'S' | 's' => Some('5'),
        'B' => Some('8'),
        'Z' | 'z' => Some('2'),
        'G' => Some('6'),
        _ => None,
    }
}

/// At most this many look-alike letters are tried in one MRN (2^6 variants).
const MAX_AMBIGUOUS_LETTERS: usize = 6;

/// OCR corrections of a mostly-numeric MRN: every combination of look-alike letters replaced
/// by digits, excluding the value itself, filtered by `check_digit`.
///
/// A value that is mostly letters, or a UUID, gets none: its letters are meant.
pub(crate) fn ocr_candidates(mrn: &str, check_digit: CheckDigit) -> Vec<String> {
    if looks_like_uuid(mrn) {
        return Vec::new();
    }
    let chars: Vec<char> = mrn.chars().collect();
    let digits = chars.iter().filter(|c| c.is_ascii_digit()).count();
    let ambiguous: Vec<usize> = chars
        .iter()
        .enumerate()
        .filter(|(_, c)| look_alike_digit(**c).is_some())
        .map(|(i, _)| i)
        .collect();
    let letters = chars.iter().filter(|c| c.is_alphabetic()).count();
    if ambiguous.is_empty()
        || ambiguous.len() > MAX_AMBIGUOUS_LETTERS
        || digits == 0
        || letters > ambiguous.len()
    {
        return Vec::new();
    }
    let mut candidates = Vec::new();
    // Prefer fewer substitutions: all-replaced first is the likeliest for a numeric MRN.
    for mask in (1u32..(1 << ambiguous.len())).rev() {
        let mut variant = chars.clone();
        for (bit, &index) in ambiguous.iter().enumerate() {
            if mask & (1 << bit) != 0 {
                if let Some(digit) = look_alike_digit(variant[index]) {
                    variant[index] = digit;
                }
            }
        }
        let variant: String = variant.into_iter().collect();
        if check_digit.is_valid(&variant) && is_safe_mrn_for_key(&variant) {
            candidates.push(variant);
        }
    }
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_valid_and_rejects_one_digit_off() {
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398714"));
        assert!(luhn_valid("4081121"));
        assert!(!luhn_valid("4081123"));
        assert!(!luhn_valid("40811A5"));
    }

    #[test]
    fn check_digit_ignores_separators() {
        assert!(CheckDigit::Luhn.is_valid("408-112-1"));
        assert!(CheckDigit::Luhn.is_valid("408 1121"));
        assert!(CheckDigit::None.is_valid("fb7c882a-f897-e7c5-67e0-825e7fd55d15"));
        assert!(!CheckDigit::Luhn.is_valid("fb7c882a-f897-e7c5-67e0-825e7fd55d15"));
        assert!(!CheckDigit::None.is_valid(" - "));
    }

    #[test]
    fn safe_keys_allow_uuids_and_reject_paths() {
        assert!(is_safe_mrn_for_key("fb7c882a-f897-e7c5-67e0-825e7fd55d15"));
        assert!(is_safe_mrn_for_key("4081121"));
        assert!(!is_safe_mrn_for_key(""));
        assert!(!is_safe_mrn_for_key("../etc"));
        assert!(!is_safe_mrn_for_key("a/b"));
        assert!(!is_safe_mrn_for_key("a\\b"));
        assert!(!is_safe_mrn_for_key("a b"));
        assert!(!is_safe_mrn_for_key("a.b"));
        assert!(!is_safe_mrn_for_key(&"1".repeat(65)));
    }

    #[test]
    fn read_mrns_lose_spaces_and_digit_group_dashes() {
        assert_eq!(normalize_read_mrn("408 112 3"), "4081123");
        assert_eq!(normalize_read_mrn("408-112-3"), "4081123");
        assert_eq!(
            normalize_read_mrn("FB7C882A-F897-E7C5-67E0-825E7FD55D15"),
            "fb7c882a-f897-e7c5-67e0-825e7fd55d15"
        );
        assert_eq!(mrn_key("408-112 3"), "4081123");
    }

    #[test]
    fn ocr_candidates_replace_look_alikes() {
        let candidates = ocr_candidates("4O8l121", CheckDigit::None);
        assert_eq!(candidates[0], "4081121");
        assert_eq!(candidates.len(), 3);
    }

    #[test]
    fn luhn_filters_ocr_candidates() {
        assert_eq!(ocr_candidates("4O8l121", CheckDigit::Luhn), vec!["4081121"]);
        assert!(ocr_candidates("4O8l123", CheckDigit::Luhn).is_empty());
    }

    #[test]
    fn letter_mrns_and_uuids_get_no_candidates() {
        assert!(ocr_candidates("ABSOLUTE", CheckDigit::None).is_empty());
        assert!(
            ocr_candidates("fb7c882a-f897-e7c5-67e0-825e7fd55d15", CheckDigit::None).is_empty()
        );
        assert!(ocr_candidates("4081121", CheckDigit::None).is_empty());
    }
}

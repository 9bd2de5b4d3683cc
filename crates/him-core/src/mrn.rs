//! The medical record number as it names a patient folder.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// A medical record number that is safe to use as an object-key segment: `[A-Za-z0-9-]{1,64}`.
///
/// This is the one key-safety rule of the project: the patient index, the identity stage, filing and the
/// review's reassignment all go through [`Mrn::parse`]. It excludes `/`, `\`, `.` (so no `..`), whitespace
/// and control characters. An MRN is protected health information: its [`fmt::Debug`] form is redacted and
/// it has no [`fmt::Display`]; use [`Mrn::as_str`] where the value itself is needed (store paths, the
/// review UI), never in logs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Mrn(String);

impl Mrn {
    /// Longest MRN accepted.
    pub const MAX_LEN: usize = 64;

    /// Accepts `text` when it is safe inside an object key.
    pub fn parse(text: &str) -> Option<Self> {
        let valid = (1..=Self::MAX_LEN).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        valid.then(|| Mrn(text.to_string()))
    }

    /// The MRN itself (PHI: never log it).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Mrn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Mrn(..)")
    }
}

impl<'de> Deserialize<'de> for Mrn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Mrn::parse(&text)
            .ok_or_else(|| serde::de::Error::custom("not an MRN usable in an object key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrn_rule_accepts_digits_letters_and_hyphens_only() {
        assert!(Mrn::parse("fb7c882a-f897-e7c5-67e0-825e7fd55d15").is_some());
        assert!(Mrn::parse("4081121").is_some());
        assert!(Mrn::parse(&"1".repeat(64)).is_some());
        for bad in ["", "../etc", "a/b", "a\\b", "a b", "a.b", "a\n"] {
            assert!(Mrn::parse(bad).is_none(), "{bad:?}");
        }
        assert!(Mrn::parse(&"1".repeat(65)).is_none());
    }

    #[test]
    fn debug_form_hides_the_number() {
        let mrn = Mrn::parse("40079196").unwrap();
        assert_eq!(format!("{mrn:?}"), "Mrn(..)");
        assert_eq!(serde_json::to_string(&mrn).unwrap(), "\"40079196\"");
        assert!(serde_json::from_str::<Mrn>("\"a/b\"").is_err());
    }
}

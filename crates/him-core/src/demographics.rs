//! Job demographics: what a dictation device or app sends with the audio.
//!
//! The physician picks the patient from the schedule or keys the MRN on a keypad; the device sends that, the
//! author and the work type as a small JSON object beside the audio (`<audio file name>.json`, the intake API's
//! multipart field `job`). It is a **claim**, not an identity: the pipeline files into the keyed patient's
//! folder only when the spoken header corroborates it (a keyed MRN with one wrong digit is a classic
//! wrong-patient error).
//!
//! The object holds PHI (the MRN): it is stored beside the original and in the document's folder, never put
//! into a queue message or a log line. Errors name the key and the problem, never the value.

use serde::{Deserialize, Serialize};

/// The job demographics of a dictation; every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobDemographics {
    /// The MRN the physician picked or keyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrn: Option<String>,
    /// The encounter (visit) number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<String>,
    /// The dictating physician's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The dictating physician's id (NPI or a local provider number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_id: Option<String>,
    /// The work type as a LOINC document code (`18842-5` discharge summary, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_type: Option<String>,
    /// When it was dictated, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dictated_at: Option<String>,
    /// Urgent (STAT) work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<bool>,
    /// Id of the dictation device or station (letters, digits, `- _ .`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station: Option<String>,
}

/// Why job demographics were refused. Names the key, never its value (values are PHI).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DemographicsError {
    #[error("job demographics are larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("job demographics are not a JSON object with the known keys ({detail})")]
    NotAnObject { detail: String },
    #[error("job demographics key `{key}`: {problem}")]
    InvalidValue {
        key: &'static str,
        problem: &'static str,
    },
}

impl JobDemographics {
    /// The largest accepted encoding: the object is a handful of short values.
    pub const MAX_BYTES: usize = 16 * 1024;

    /// Parses and checks a JSON object. Unknown keys are refused (a misspelt `mrn` must not pass silently).
    pub fn parse(bytes: &[u8]) -> Result<Self, DemographicsError> {
        if bytes.len() > Self::MAX_BYTES {
            return Err(DemographicsError::TooLarge {
                limit: Self::MAX_BYTES,
            });
        }
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(not_an_object)?;
        if !value.is_object() {
            return Err(DemographicsError::NotAnObject {
                detail: "not an object".to_string(),
            });
        }
        let demographics: JobDemographics = serde_json::from_value(value).map_err(not_an_object)?;
        demographics.validate()?;
        Ok(demographics)
    }

    /// Checks every present value's shape.
    pub fn validate(&self) -> Result<(), DemographicsError> {
        let invalid = |key, problem| Err(DemographicsError::InvalidValue { key, problem });
        let identifier = |text: &str| {
            !text.is_empty()
                && text.len() <= 64
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '))
        };
        if let Some(mrn) = &self.mrn {
            if !mrn.chars().any(|c| c.is_ascii_alphanumeric()) {
                return invalid("mrn", "expected letters, digits, - _ . or spaces, 1 to 64");
            }
        }
        for (key, value) in [
            ("mrn", &self.mrn),
            ("encounter", &self.encounter),
            ("author_id", &self.author_id),
        ] {
            if value.as_deref().is_some_and(|v| !identifier(v)) {
                return invalid(key, "expected letters, digits, - _ . or spaces, 1 to 64");
            }
        }
        if let Some(author) = &self.author {
            if author.trim().is_empty()
                || author.chars().count() > 128
                || author.chars().any(char::is_control)
            {
                return invalid("author", "expected a name of 1 to 128 printable characters");
            }
        }
        if let Some(work_type) = &self.work_type {
            if !is_loinc_code(work_type) {
                return invalid("work_type", "expected a LOINC code such as 18842-5");
            }
        }
        if let Some(at) = &self.dictated_at {
            if !is_rfc3339_shaped(at) {
                return invalid("dictated_at", "expected an RFC 3339 time");
            }
        }
        if let Some(station) = &self.station {
            if station.contains(' ') || !identifier(station) {
                return invalid("station", "expected letters, digits, - _ . only, 1 to 64");
            }
        }
        Ok(())
    }

    /// The keyed MRN with separators (spaces, `-`, `.`, `_`) removed, as the index compares MRNs.
    pub fn mrn_compact(&self) -> Option<String> {
        let mrn = self.mrn.as_deref()?;
        let compact: String = mrn.chars().filter(char::is_ascii_alphanumeric).collect();
        (!compact.is_empty()).then_some(compact)
    }
}

/// The category and position of a JSON error: serde's message can quote a value, these cannot.
fn not_an_object(error: serde_json::Error) -> DemographicsError {
    DemographicsError::NotAnObject {
        detail: format!(
            "{} at line {} column {}",
            match error.classify() {
                serde_json::error::Category::Io => "unreadable",
                serde_json::error::Category::Syntax => "syntax error",
                serde_json::error::Category::Data => "unknown key or wrong type",
                serde_json::error::Category::Eof => "truncated",
            },
            error.line(),
            error.column()
        ),
    }
}

/// A LOINC code: 1 to 7 digits, `-`, one check digit.
pub fn is_loinc_code(text: &str) -> bool {
    match text.split_once('-') {
        Some((number, check)) => {
            (1..=7).contains(&number.len())
                && number.bytes().all(|b| b.is_ascii_digit())
                && check.len() == 1
                && check.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// `YYYY-MM-DDTHH:MM:SS` followed by an optional fraction and a zone (`Z` or `±HH:MM`).
pub fn is_rfc3339_shaped(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes.len() > 40 || !text.is_ascii() {
        return false;
    }
    let digits_at = |positions: &[usize]| positions.iter().all(|&i| bytes[i].is_ascii_digit());
    let head_ok = digits_at(&[0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18])
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && matches!(bytes[10], b'T' | b't' | b' ')
        && bytes[13] == b':'
        && bytes[16] == b':';
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &fraction[digits..];
    }
    let zone_ok = matches!(rest, "Z" | "z")
        || (rest.len() == 6
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest.as_bytes()[3] == b':'
            && [1, 2, 4, 5]
                .iter()
                .all(|&i| rest.as_bytes()[i].is_ascii_digit()));
    head_ok && zone_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_key() {
        let job = JobDemographics::parse(
            br#"{"mrn":"408-112-3","encounter":"E1001","author":"Jane Miller","author_id":"1234567893",
                "work_type":"18842-5","dictated_at":"2026-11-30T08:15:00-05:00","stat":true,"station":"dict-04"}"#,
        )
        .unwrap();
        assert_eq!(job.mrn_compact().as_deref(), Some("4081123"));
        assert_eq!(job.stat, Some(true));
        assert_eq!(
            JobDemographics::parse(b"{}").unwrap(),
            JobDemographics::default()
        );
    }

    #[test]
    fn refuses_bad_shapes_without_quoting_values() {
        let cases: [&[u8]; 7] = [
            br#"{"mrn":"Jane Doe's chart!"}"#,
            br#"{"work_type":"discharge"}"#,
            br#"{"dictated_at":"yesterday"}"#,
            br#"{"station":"Jane Doe"}"#,
            br#"{"patient":"Doe, Jane"}"#,
            br#"{"mrn":4081123}"#,
            br#"["mrn"]"#,
        ];
        for bytes in cases {
            let error = JobDemographics::parse(bytes).unwrap_err().to_string();
            for secret in ["Jane", "Doe", "discharge", "yesterday", "4081123"] {
                assert!(!error.contains(secret), "{error}");
            }
        }
        let big = vec![b' '; JobDemographics::MAX_BYTES + 1];
        assert!(matches!(
            JobDemographics::parse(&big),
            Err(DemographicsError::TooLarge { .. })
        ));
        assert!(JobDemographics::parse(b"{\"mrn\":").is_err());
    }

    #[test]
    fn rfc3339_shapes() {
        assert!(!is_rfc3339_shaped("2025-03-01T08:30:00"));
        assert!(is_rfc3339_shaped("2025-03-01T08:30:00.123+01:00"));
        assert!(is_rfc3339_shaped("2025-03-01T08:30:00Z"));
        assert!(is_loinc_code("18842-5") && !is_loinc_code("18842") && !is_loinc_code("a-1"));
    }
}

//! Calendar dates and the date formats found on chart headers.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A calendar date (proleptic Gregorian), ordered chronologically, shown as ISO `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: i32,
    month: u8,
    day: u8,
}

impl Date {
    /// Builds a date, or `None` when the day does not exist (e.g. February 30).
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        if !(1..=9999).contains(&year) || !(1..=12).contains(&month) || day == 0 {
            return None;
        }
        if day > days_in_month(year, month) {
            return None;
        }
        Some(Date { year, month, day })
    }

    /// Parses an ISO `YYYY-MM-DD` date (the form FHIR `birthDate` and CSV indexes use).
    pub fn parse_iso(text: &str) -> Option<Date> {
        let text = text.trim();
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let year = text.get(0..4)?.parse().ok()?;
        let month = text.get(5..7)?.parse().ok()?;
        let day = text.get(8..10)?.parse().ok()?;
        Date::new(year, month, day)
    }

    /// The year.
    pub fn year(&self) -> i32 {
        self.year
    }

    /// The month, 1 to 12.
    pub fn month(&self) -> u8 {
        self.month
    }

    /// The day of the month, 1 to 31.
    pub fn day(&self) -> u8 {
        self.day
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Date::parse_iso(&text).ok_or_else(|| serde::de::Error::custom("expected a YYYY-MM-DD date"))
    }
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

const MONTH_ALTS: &str = "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?";

static DATE_RE: LazyLock<Regex> = LazyLock::new(|| {
    let pattern = format!(
        r"(?i)\b(?:(?P<y1>\d{{4}})[-/.](?P<m1>\d{{1,2}})[-/.](?P<d1>\d{{1,2}})|(?P<m2>\d{{1,2}})[-/.](?P<d2>\d{{1,2}})[-/.](?P<y2>\d{{4}}|\d{{2}})|(?P<d3>\d{{1,2}})[-\s.]?(?P<mon3>{MONTH_ALTS})\.?[-\s.,]?\s*(?P<y3>\d{{4}}|\d{{2}})|(?P<mon4>{MONTH_ALTS})\.?(?:\s+|-)(?P<d4>\d{{1,2}})(?:st|nd|rd|th)?(?:[,;.]?\s+|-)(?P<y4>\d{{4}})|(?P<y5>(?:19|20)\d{{2}})(?P<m5>0[1-9]|1[0-2])(?P<d5>0[1-9]|[12]\d|3[01]))\b"
    );
    Regex::new(&pattern).expect("date pattern compiles")
});

/// A date found in text: the date and its byte span in that text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FoundDate {
    pub date: Date,
    pub start: usize,
    pub end: usize,
}

/// Finds every well-formed date in `text`, in order.
///
/// Two-digit years are placed in the century that keeps them at or before `today`.
pub(crate) fn find_dates(text: &str, today: Date) -> Vec<FoundDate> {
    DATE_RE
        .captures_iter(text)
        .filter_map(|caps| {
            let whole = caps.get(0)?;
            let (year, month, day) = if let Some(y) = caps.name("y1") {
                (y.as_str(), caps["m1"].parse().ok()?, &caps["d1"])
            } else if let Some(y) = caps.name("y2") {
                (y.as_str(), caps["m2"].parse().ok()?, &caps["d2"])
            } else if let Some(y) = caps.name("y3") {
                (y.as_str(), month_number(&caps["mon3"])?, &caps["d3"])
            } else if let Some(y) = caps.name("y5") {
                (y.as_str(), caps["m5"].parse().ok()?, &caps["d5"])
            } else {
                (&caps["y4"], month_number(&caps["mon4"])?, &caps["d4"])
            };
            let date = Date::new(expand_year(year, today)?, month, day.parse().ok()?)?;
            Some(FoundDate {
                date,
                start: whole.start(),
                end: whole.end(),
            })
        })
        .collect()
}

/// Finds the first date in `text`, also after replacing OCR look-alikes (O→0, l/I→1, S→5, B→8).
///
/// The flag is true when the date was only readable after that repair.
pub(crate) fn first_date_ocr_tolerant(text: &str, today: Date) -> Option<(FoundDate, bool)> {
    if let Some(found) = find_dates(text, today).into_iter().next() {
        return Some((found, false));
    }
    // Every replacement is one ASCII byte for one ASCII byte, so spans stay valid.
    let repaired = repair_digits(text);
    if repaired.len() != text.len() {
        return None;
    }
    find_dates(&repaired, today)
        .into_iter()
        .next()
        .map(|found| (found, true))
}

/// The digit OCR most often misreads as this character.
fn look_alike(c: char) -> Option<char> {
    match c {
        'O' | 'o' | 'D' => Some('0'),
        'l' | 'I' | '|' | 'L' | 'i' => Some('1'),
        'S' => Some('5'),
        'B' => Some('8'),
        'Z' => Some('2'),
        _ => None,
    }
}

/// Replaces OCR look-alikes by digits where they stand among digits: in a run of digits and look-alikes that
/// holds a digit (`O3/l4` → `03/14`), or a run of one or two right before a month name (`OLNOV1961` →
/// `01NOV1961`). A month name's own letters (`NOV`, `OCT`) are left alone.
pub(crate) fn repair_digits(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = chars.clone();
    let mut start = 0;
    while start < chars.len() {
        let in_run = |c: char| c.is_ascii_digit() || look_alike(c).is_some();
        if !in_run(chars[start]) {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < chars.len() && in_run(chars[end]) {
            end += 1;
        }
        let run = &chars[start..end];
        let has_digit = run.iter().any(char::is_ascii_digit);
        let before_month = run.len() <= 2 && {
            let after: String = chars[end..].iter().take(3).collect();
            month_number(&after).is_some()
        };
        // A run of letters only, inside a word, stays a word (`Ol` of `Olivia`).
        let word_edge = start == 0 || !chars[start - 1].is_alphabetic();
        if has_digit || (before_month && word_edge) {
            for (offset, &c) in run.iter().enumerate() {
                if let Some(digit) = look_alike(c) {
                    out[start + offset] = digit;
                }
            }
        }
        start = end;
    }
    out.into_iter().collect()
}

pub(crate) fn month_number(name: &str) -> Option<u8> {
    let prefix: String = name
        .chars()
        .take(3)
        .collect::<String>()
        .to_ascii_lowercase();
    let month = match prefix.as_str() {
        "jan" => 1,
        "feb" => 2,
        "mar" => 3,
        "apr" => 4,
        "may" => 5,
        "jun" => 6,
        "jul" => 7,
        "aug" => 8,
        "sep" => 9,
        "oct" => 10,
        "nov" => 11,
        "dec" => 12,
        _ => return None,
    };
    Some(month)
}

/// A two- or four-digit year; two digits are placed in the century that keeps them at or before `today`.
pub(crate) fn expand_year(text: &str, today: Date) -> Option<i32> {
    let value: i32 = text.parse().ok()?;
    if text.len() == 4 {
        return Some(value);
    }
    let this_century = today.year - today.year % 100;
    let candidate = this_century + value;
    Some(if candidate > today.year {
        candidate - 100
    } else {
        candidate
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        Date::new(2024, 6, 1).unwrap()
    }

    fn first(text: &str) -> Option<String> {
        find_dates(text, today())
            .first()
            .map(|found| found.date.to_string())
    }

    #[test]
    fn parses_every_header_date_format() {
        assert_eq!(first("03/14/1957").as_deref(), Some("1957-03-14"));
        assert_eq!(first("3/4/1957").as_deref(), Some("1957-03-04"));
        assert_eq!(first("1957-03-14").as_deref(), Some("1957-03-14"));
        assert_eq!(first("March 14, 1957").as_deref(), Some("1957-03-14"));
        assert_eq!(first("Mar. 14th 1957").as_deref(), Some("1957-03-14"));
        assert_eq!(first("14-MAR-1957").as_deref(), Some("1957-03-14"));
        assert_eq!(first("14 March 1957").as_deref(), Some("1957-03-14"));
        assert_eq!(first("14MAR1957").as_deref(), Some("1957-03-14"));
        assert_eq!(first("03-14-1957").as_deref(), Some("1957-03-14"));
        assert_eq!(first("19570314").as_deref(), Some("1957-03-14"));
        assert_eq!(first("Mar-14-1957").as_deref(), Some("1957-03-14"));
        assert_eq!(first("Jul. 8; 2005").as_deref(), Some("2005-07-08"));
        assert_eq!(first("19571314"), None);
        assert_eq!(first("4081121957"), None);
    }

    #[test]
    fn look_alikes_are_repaired_among_digits_only() {
        let repaired = |text: &str| {
            first_date_ocr_tolerant(text, today()).map(|(found, _)| found.date.to_string())
        };
        assert_eq!(repaired("OLNOV1961").as_deref(), Some("1961-11-01"));
        assert_eq!(repaired("2OMAY2018").as_deref(), Some("2018-05-20"));
        assert_eq!(
            repair_digits("NOV OCT Olivia O3/l4"),
            "NOV OCT Olivia 03/14"
        );
    }

    #[test]
    fn two_digit_years_stay_in_the_past() {
        assert_eq!(first("03/14/57").as_deref(), Some("1957-03-14"));
        assert_eq!(first("03/14/19").as_deref(), Some("2019-03-14"));
    }

    #[test]
    fn impossible_days_are_not_dates() {
        assert_eq!(first("02/30/2001"), None);
        assert_eq!(first("13/01/2001"), None);
        assert_eq!(first("2000-02-29").as_deref(), Some("2000-02-29"));
        assert_eq!(first("1900-02-29"), None);
    }

    #[test]
    fn spans_point_at_the_date() {
        let text = "DOB: March 14, 1957 MRN";
        let found = find_dates(text, today())[0];
        assert_eq!(&text[found.start..found.end], "March 14, 1957");
    }

    #[test]
    fn ocr_look_alikes_are_repaired_only_on_request() {
        assert_eq!(first("O3/l4/1957"), None);
        let (found, repaired) = first_date_ocr_tolerant("O3/l4/1957", today()).unwrap();
        assert!(repaired);
        assert_eq!(found.date.to_string(), "1957-03-14");
    }

    #[test]
    fn serializes_as_iso_text() {
        let date = Date::parse_iso("1957-03-14").unwrap();
        assert_eq!(serde_json::to_string(&date).unwrap(), "\"1957-03-14\"");
        assert!(Date::new(1957, 3, 14).unwrap() < Date::new(1957, 3, 15).unwrap());
    }
}

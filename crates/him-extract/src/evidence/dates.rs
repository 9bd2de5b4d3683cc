//! Dates as OCR gives them, for the evidence search: every format of `crate::date`, their OCR-repaired forms,
//! stray punctuation, ordinals, Roman months, day and year run together, and day-first readings on pages written
//! day first.

use std::sync::LazyLock;

use regex::Regex;

use crate::date::{expand_year, find_dates, month_number, repair_digits, Date};

/// `7th`, `21st` → the day and its suffix as spaces; `07 III 1964` → Roman months; both only for the
/// evidence search's own date pass, spans unchanged.
pub(super) static EXTRA_DATE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?P<d>\d{1,2})(?:st|nd|rd|th)?(?:\s+of)?[\s./-]+(?:(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)|(?P<roman>XII|XI|X|IX|VIII|VII|VI|V|IV|III|II|I))\.?,?[\s./-]+(?P<y>\d{4}|\d{2})\b",
    )
    .expect("date pattern compiles")
});

/// A month's name, then day and year run together (`JUN 071965`).
pub(super) static MERGED_DATE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?P<mon>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s*(?P<d>[0-3]\d)(?P<y>(?:19|20)\d{2})\b",
    )
    .expect("date pattern compiles")
});

/// Day and month in either order, then the year.
pub(super) static NUMERIC_DATE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?P<a>\d{1,2})[-/.](?P<b>\d{1,2})[-/.,](?P<y>\d{4}|\d{2})\b")
        .expect("date pattern compiles")
});

pub(super) fn roman(text: &str) -> Option<u8> {
    let months = [
        "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII",
    ];
    months
        .iter()
        .position(|m| m.eq_ignore_ascii_case(text))
        .and_then(|p| u8::try_from(p + 1).ok())
}

/// Every date of a line (byte spans relative to the line): the usual formats, their OCR-repaired forms,
/// ordinals and Roman months; `03/07/1964` is 7 March, and also 3 July on a page written day first.
pub(super) fn line_dates(line: &str, today: Date, day_first: bool) -> Vec<(Date, usize, usize)> {
    let mut out: Vec<(Date, usize, usize)> = Vec::new();
    let mut push = |date: Date, start: usize, end: usize| {
        if date <= today && !out.iter().any(|(d, s, _)| *d == date && *s == start) {
            out.push((date, start, end));
        }
    };
    let repaired = repair_digits(line);
    // OCR's stray punctuation (`April 21,.1952`): the same line with `,` `;` `.` as spaces (offsets kept).
    let spaced: String = repaired
        .chars()
        .map(|c| if matches!(c, ',' | ';' | '.') { ' ' } else { c })
        .collect();
    for text in [line, repaired.as_str(), spaced.as_str()] {
        for found in find_dates(text, today) {
            push(found.date, found.start, found.end);
        }
        // Numeric dates read day first where they cannot be month first (`30.06.1958`), and, on a page
        // written day first, both ways (`03/07/1964`).
        for caps in NUMERIC_DATE_RE.captures_iter(text) {
            let Some(whole) = caps.get(0) else { continue };
            let a = caps.name("a").and_then(|m| m.as_str().parse::<u8>().ok());
            let b = caps.name("b").and_then(|m| m.as_str().parse::<u8>().ok());
            let y = caps.name("y").and_then(|m| expand_year(m.as_str(), today));
            if let (Some(a), Some(b), Some(y)) = (a, b, y) {
                if a > 12 || day_first {
                    if let Some(date) = Date::new(y, b, a) {
                        push(date, whole.start(), whole.end());
                    }
                }
            }
        }
        // `JUN 071965`: day and year run together after the month's name.
        for caps in MERGED_DATE_RE.captures_iter(text) {
            let Some(whole) = caps.get(0) else { continue };
            let month = caps.name("mon").and_then(|m| month_number(m.as_str()));
            let day = caps.name("d").and_then(|d| d.as_str().parse::<u8>().ok());
            let year = caps.name("y").and_then(|y| y.as_str().parse::<i32>().ok());
            if let (Some(month), Some(day), Some(year)) = (month, day, year) {
                if let Some(date) = Date::new(year, month, day) {
                    push(date, whole.start(), whole.end());
                }
            }
        }
        for caps in EXTRA_DATE_RE.captures_iter(text) {
            let Some(whole) = caps.get(0) else { continue };
            let month = match (caps.name("mon"), caps.name("roman")) {
                (Some(m), _) => month_number(m.as_str()),
                (None, Some(r)) => roman(r.as_str()),
                _ => None,
            };
            let day = caps.name("d").and_then(|d| d.as_str().parse::<u8>().ok());
            let year = caps.name("y").and_then(|y| expand_year(y.as_str(), today));
            if let (Some(month), Some(day), Some(year)) = (month, day, year) {
                if let Some(date) = Date::new(year, month, day) {
                    push(date, whole.start(), whole.end());
                }
            }
        }
    }
    out
}

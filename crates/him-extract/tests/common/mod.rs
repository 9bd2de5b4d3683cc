//! Helpers shared by the integration tests.

use std::path::PathBuf;

use him_extract::{normalize_name, Date, ExtractOptions};

/// A fixed "today" so results never depend on the clock.
pub fn options() -> ExtractOptions {
    ExtractOptions::new(Date::new(2025, 1, 1).expect("valid date"))
}

/// The crate's fixture folder.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The MTSamples notes: the development split kept in `tests/fixtures/mtsamples`, or the `text/mtsamples`
/// folder of a corpus named by `HIM_CORPUS_DIR` (to run the same test over another split).
pub fn mtsamples() -> PathBuf {
    let dir = std::env::var_os("HIM_CORPUS_DIR").map_or_else(
        || fixtures().join("mtsamples"),
        |corpus| PathBuf::from(corpus).join("text/mtsamples"),
    );
    assert!(
        dir.join("manifest.csv").is_file(),
        "MTSamples notes not found at {}",
        dir.display()
    );
    dir
}

/// One accuracy counter per field, printed as a table.
#[derive(Default)]
pub struct Accuracy {
    rows: Vec<(&'static str, usize, usize)>,
}

impl Accuracy {
    pub fn record(&mut self, field: &'static str, correct: bool) {
        let at = match self.rows.iter().position(|(name, _, _)| *name == field) {
            Some(at) => at,
            None => {
                self.rows.push((field, 0, 0));
                self.rows.len() - 1
            }
        };
        self.rows[at].1 += usize::from(correct);
        self.rows[at].2 += 1;
    }

    pub fn get(&self, field: &str) -> (usize, usize) {
        self.rows
            .iter()
            .find(|(name, _, _)| *name == field)
            .map_or((0, 0), |(_, correct, total)| (*correct, *total))
    }

    pub fn table(&self, title: &str) -> String {
        let mut out = format!("\n{title}\n| field | correct | total | % |\n|---|---:|---:|---:|\n");
        for (field, correct, total) in &self.rows {
            let percent = if *total == 0 {
                0.0
            } else {
                100.0 * *correct as f64 / *total as f64
            };
            out.push_str(&format!(
                "| {field} | {correct} | {total} | {percent:.1} |\n"
            ));
        }
        out
    }
}

/// Names compare without Synthea's digits, case or punctuation.
pub fn same_name(a: &str, b: &str) -> bool {
    normalize_name(a) == normalize_name(b)
}

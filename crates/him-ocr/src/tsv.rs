//! Parsing tesseract's TSV output into words.

use him_core::OcrWord;

/// TSV level of a word row.
const WORD_LEVEL: &str = "5";

/// Parses the TSV tesseract produces (`level page block par line word left top width height conf text`)
/// into words with a running line number.
pub(crate) fn parse_words(tsv: &str) -> Vec<OcrWord> {
    let mut words = Vec::new();
    let mut current_line: Option<(u32, u32, u32)> = None;
    let mut line_number = 0u32;
    for row in tsv.lines() {
        let columns: Vec<&str> = row.splitn(12, '\t').collect();
        if columns.len() != 12 || columns[0] != WORD_LEVEL {
            continue;
        }
        let text = columns[11].trim();
        if text.is_empty() {
            continue;
        }
        let number = |index: usize| columns[index].trim().parse::<u32>().unwrap_or(0);
        let line_key = (number(2), number(3), number(4));
        if current_line != Some(line_key) {
            current_line = Some(line_key);
            line_number += 1;
        }
        let confidence = columns[10].trim().parse::<f32>().unwrap_or(0.0).max(0.0);
        words.push(OcrWord {
            text: text.to_string(),
            confidence,
            bbox: [number(6), number(7), number(8), number(9)],
            line: line_number,
        });
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_lines_are_read_from_tsv() {
        let tsv = "1\t1\t0\t0\t0\t0\t0\t0\t640\t480\t-1\t\n\
                   5\t1\t1\t1\t1\t1\t36\t92\t60\t24\t95.5\tThis\n\
                   5\t1\t1\t1\t1\t2\t102\t92\t30\t24\t96\tis\n\
                   5\t1\t1\t1\t2\t1\t36\t130\t40\t24\t91\tlot\n\
                   5\t1\t1\t1\t2\t2\t80\t130\t40\t24\t-1\t \n";
        let words = parse_words(tsv);
        assert_eq!(words.len(), 3);
        assert_eq!(words[0].text, "This");
        assert_eq!(words[0].bbox, [36, 92, 60, 24]);
        assert_eq!(words[2].line, 2);
        assert!((words[0].confidence - 95.5).abs() < 1e-6);
    }
}

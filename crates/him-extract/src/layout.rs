//! Layout-aware reading of a chart page: the visual rows of the page are rebuilt from the OCR word boxes.
//!
//! Tesseract reads a two-column header, a table or a patient sticker block by block, so a label and its value
//! can land far apart in its text. Here every word is placed back on the row it sits on, cells of a row are
//! kept apart by a column gap (three spaces in the rebuilt text), and a label whose value is not beside it
//! finds the value under it, in its own column. Every value read keeps the box of the words it came from.

use std::ops::Range;

use him_core::OcrWord;

use crate::field::Source;

/// One page as the extractor reads it: its text, and the OCR words with their boxes when it was OCR'd.
///
/// A page with words is read by its layout; a page without (a PDF text layer) by its text.
#[derive(Debug, Clone, Copy)]
pub struct PageContent<'a> {
    /// The page's text, as the engine or the text layer gave it.
    pub text: &'a str,
    /// The OCR words with their boxes; empty when the page was not OCR'd.
    pub words: &'a [OcrWord],
}

/// The text the extractor reads from a page's OCR words: one line per visual row, cells apart by a column
/// gap. For explaining a reading (`examples/reidentify`); it holds the page's content, so it is never logged.
pub fn layout_text(words: &[OcrWord]) -> String {
    LayoutPage::build(words).text
}

/// The separator of two cells of one row in the rebuilt text: the column gap that `labels` ends values at.
pub(crate) const COLUMN_GAP: &str = "   ";

/// A word placed in the rebuilt text.
#[derive(Debug, Clone, Copy)]
struct Placed {
    /// Byte span in [`LayoutPage::text`].
    start: usize,
    end: usize,
    /// Left, top, width, height.
    bbox: [u32; 4],
}

impl Placed {
    fn left(&self) -> u32 {
        self.bbox[0]
    }
    fn right(&self) -> u32 {
        self.bbox[0].saturating_add(self.bbox[2])
    }
    fn top(&self) -> u32 {
        self.bbox[1]
    }
    fn bottom(&self) -> u32 {
        self.bbox[1].saturating_add(self.bbox[3])
    }
}

/// A visual row: a line of the rebuilt text.
#[derive(Debug, Clone)]
struct Row {
    /// Byte offset of the row's first byte in the text.
    start: usize,
    top: u32,
    bottom: u32,
    /// The row's words in [`LayoutPage::words`], left to right.
    words: Range<usize>,
}

/// A page's words placed on visual rows, and the text rebuilt from them (one line per row).
#[derive(Debug, Clone, Default)]
pub(crate) struct LayoutPage {
    pub text: String,
    words: Vec<Placed>,
    rows: Vec<Row>,
    /// Median width of one character, in pixels.
    char_width: f32,
    /// The lowest word bottom: the page's written height.
    extent: u32,
}

/// Vertical table rules as OCR reads them.
const VERTICAL_RULES: &[char] = &['|', '[', ']', '¦'];

/// A horizontal gap wider than this many characters separates two cells of a row.
const COLUMN_GAP_CHARS: f32 = 2.0;

/// Grid lines, underscores and speckle that OCR reads as words.
fn is_rule(text: &str) -> bool {
    text.chars().all(|c| {
        matches!(
            c,
            '|' | '_'
                | '['
                | ']'
                | '{'
                | '}'
                | '='
                | '~'
                | '—'
                | '–'
                | '-'
                | '‘'
                | '’'
                | '\''
                | '"'
                | '`'
                | '.'
                | ','
                | ';'
                | '!'
                | '¦'
                | '«'
                | '»'
        )
    })
}

/// The word without the table rules OCR glues to it (`|MRN:` reads `MRN:`).
fn strip_rules(text: &str) -> &str {
    text.trim_matches(|c| matches!(c, '|' | '[' | ']' | '¦' | '{' | '}'))
}

fn median(mut values: Vec<f32>) -> Option<f32> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f32::total_cmp);
    Some(values[values.len() / 2])
}

impl LayoutPage {
    /// Places `words` on rows and rebuilds the page text from them.
    pub(crate) fn build(words: &[OcrWord]) -> LayoutPage {
        // Vertical table rules read as words (`|`, `]`) separate cells; so do rules glued inside a word
        // (`Brooks]452`), which is cut there. Other rules and speckle are dropped.
        let mut separators: Vec<[u32; 4]> = Vec::new();
        let mut kept: Vec<(&str, [u32; 4], u32)> = Vec::new();
        let mut cut_after: Vec<(u32, u32)> = Vec::new();
        for word in words.iter().filter(|w| w.bbox[3] > 0) {
            let text = word.text.trim();
            if !text.is_empty() && text.chars().all(|c| VERTICAL_RULES.contains(&c)) {
                separators.push(word.bbox);
                continue;
            }
            let chars = text.chars().count().max(1) as u32;
            let mut offset = 0;
            for piece in text.split(VERTICAL_RULES) {
                let piece_chars = piece.chars().count() as u32;
                let left = word.bbox[0] + word.bbox[2] * offset / chars;
                let width = (word.bbox[2] * piece_chars / chars).max(1);
                offset += piece_chars + 1;
                let bare = strip_rules(piece);
                if bare.is_empty() || is_rule(bare) {
                    continue;
                }
                if offset <= chars {
                    // A rule follows this piece inside the word.
                    cut_after.push((left + width, word.bbox[1]));
                }
                kept.push((bare, [left, word.bbox[1], width, word.bbox[3]], word.line));
            }
        }
        let char_width = median(
            kept.iter()
                .filter(|(text, _, _)| text.chars().count() >= 3)
                .map(|(text, bbox, _)| bbox[2] as f32 / text.chars().count() as f32)
                .collect(),
        )
        .unwrap_or(12.0)
        .max(1.0);

        // Tesseract's lines first (a line's words share a baseline), then lines side by side on one row.
        let mut lines: Vec<Vec<(&str, [u32; 4])>> = Vec::new();
        let mut last_line = None;
        for &(text, bbox, line) in &kept {
            if last_line != Some(line) {
                lines.push(Vec::new());
                last_line = Some(line);
            }
            if let Some(current) = lines.last_mut() {
                current.push((text, bbox));
            }
        }
        let span = |line: &[(&str, [u32; 4])]| -> (u32, u32, u32, u32) {
            let top = line.iter().map(|(_, b)| b[1]).min().unwrap_or(0);
            let bottom = line.iter().map(|(_, b)| b[1] + b[3]).max().unwrap_or(0);
            let left = line.iter().map(|(_, b)| b[0]).min().unwrap_or(0);
            let right = line.iter().map(|(_, b)| b[0] + b[2]).max().unwrap_or(0);
            (top, bottom, left, right)
        };
        lines.sort_by_key(|line| {
            let (top, bottom, _, _) = span(line);
            top + bottom
        });
        struct Building<'w> {
            top: u32,
            bottom: u32,
            spans: Vec<(u32, u32)>,
            words: Vec<(&'w str, [u32; 4])>,
        }
        let mut rows: Vec<Building> = Vec::new();
        for line in lines {
            let (top, bottom, left, right) = span(&line);
            let height = bottom.saturating_sub(top).max(1);
            let joins = rows.iter().rposition(|row| {
                let overlap = bottom.min(row.bottom).saturating_sub(top.max(row.top));
                let smaller = height.min(row.bottom.saturating_sub(row.top).max(1));
                overlap * 2 >= smaller && row.spans.iter().all(|&(l, r)| right <= l || left >= r)
            });
            match joins {
                Some(index) => {
                    let row = &mut rows[index];
                    row.top = row.top.min(top);
                    row.bottom = row.bottom.max(bottom);
                    row.spans.push((left, right));
                    row.words.extend(line);
                }
                None => rows.push(Building {
                    top,
                    bottom,
                    spans: vec![(left, right)],
                    words: line,
                }),
            }
        }
        rows.sort_by_key(|row| row.top + row.bottom);

        let mut page = LayoutPage {
            char_width,
            ..LayoutPage::default()
        };
        for mut row in rows {
            row.words.sort_by_key(|(_, bbox)| bbox[0]);
            if !page.text.is_empty() {
                page.text.push('\n');
            }
            let start = page.text.len();
            let first_word = page.words.len();
            let mut previous_right: Option<(u32, f32)> = None;
            for (text, bbox) in &row.words {
                let here = bbox[2] as f32 / text.chars().count().max(1) as f32;
                if let Some((right, previous_char)) = previous_right {
                    let gap = bbox[0].saturating_sub(right) as f32;
                    // The gap is measured in the characters of the words on either side: a header set in a
                    // larger font than the body has wider spaces.
                    let local = ((previous_char + here) / 2.0).max(char_width * 0.5);
                    let ruled = separators.iter().any(|rule| {
                        let (center_x, center_y) = (rule[0] + rule[2] / 2, rule[1] + rule[3] / 2);
                        center_x + 2 >= right
                            && center_x <= bbox[0] + 2
                            && center_y >= row.top
                            && center_y <= row.bottom
                    }) || cut_after.contains(&(right, bbox[1]));
                    page.text
                        .push_str(if ruled || gap > COLUMN_GAP_CHARS * local {
                            COLUMN_GAP
                        } else {
                            " "
                        });
                }
                let word_start = page.text.len();
                page.text.push_str(text);
                page.words.push(Placed {
                    start: word_start,
                    end: page.text.len(),
                    bbox: *bbox,
                });
                previous_right = Some((bbox[0] + bbox[2], here));
                page.extent = page.extent.max(bbox[1] + bbox[3]);
            }
            page.rows.push(Row {
                start,
                top: row.top,
                bottom: row.bottom,
                words: first_word..page.words.len(),
            });
        }
        page
    }

    /// The row holding byte `offset` of the text.
    fn row_at(&self, offset: usize) -> Option<usize> {
        self.rows
            .iter()
            .rposition(|row| row.start <= offset)
            .filter(|_| offset <= self.text.len())
    }

    fn words_in(&self, start: usize, end: usize) -> impl Iterator<Item = &Placed> {
        self.words
            .iter()
            .filter(move |w| w.start < end && w.end > start)
    }

    /// Whether the byte span lies in the upper part of the written page, where headers and stickers sit: the
    /// first six rows, or the top 40 % of the written height.
    pub(crate) fn in_header(&self, offset: usize) -> bool {
        let Some(row) = self.row_at(offset) else {
            return false;
        };
        let top = self.rows[row].top;
        row < 6 || top.saturating_mul(10) <= self.extent.saturating_mul(4)
    }

    /// The median height of the words of a text span: the size of its type.
    pub(crate) fn text_height(&self, start: usize, end: usize) -> Option<u32> {
        let mut heights: Vec<u32> = self.words_in(start, end).map(|w| w.bbox[3]).collect();
        heights.sort_unstable();
        heights.get(heights.len() / 2).copied()
    }

    /// The box around the words of a text span, as a source.
    pub(crate) fn source(&self, page: u32, start: usize, end: usize) -> Option<Source> {
        let mut boxes = self.words_in(start, end.max(start + 1));
        let first = boxes.next()?;
        let (mut left, mut top, mut right, mut bottom) =
            (first.left(), first.top(), first.right(), first.bottom());
        for word in boxes {
            left = left.min(word.left());
            top = top.min(word.top());
            right = right.max(word.right());
            bottom = bottom.max(word.bottom());
        }
        Some(Source::Box {
            page,
            bbox: [left, top, right - left, bottom - top],
        })
    }

    /// The value under a label: the words of a row below whose horizontal extent falls in the label's
    /// column, up to the next column gap. `label` and `next_label` are byte spans of the text; the column
    /// ends where the next label of the label's row starts, or at the next cell of that row.
    ///
    /// Returns the byte span of the value in the text.
    pub(crate) fn value_below(
        &self,
        label: (usize, usize),
        next_label: Option<usize>,
    ) -> Option<(usize, usize)> {
        let row_index = self.row_at(label.0)?;
        let row = &self.rows[row_index];
        let label_words: Vec<&Placed> = self.words_in(label.0, label.1).collect();
        let column_left = label_words.iter().map(|w| w.left()).min()?;
        let label_bottom = label_words.iter().map(|w| w.bottom()).max()?;
        // The column ends at the next cell of the label's row (the next label, or whatever follows a gap).
        let column_right = self.words[row.words.clone()]
            .iter()
            .filter(|w| w.start >= label.1)
            .find(|w| next_label.is_some_and(|n| w.start >= n) || self.gap_before(w.start))
            .map_or(u32::MAX, Placed::left);
        let slack = (2.0 * self.char_width) as u32;
        let line_height = row.bottom.saturating_sub(row.top).max(1);
        for below in self.rows.iter().skip(row_index + 1).take(2) {
            if below.top > label_bottom + 3 * line_height {
                break;
            }
            let in_column: Vec<&Placed> = self.words[below.words.clone()]
                .iter()
                // A word starting where the next column's label starts belongs to that column.
                // A word whose middle lies left of the column is the end of the previous column's value.
                .filter(|w| {
                    w.left() + w.bbox[2] / 2 >= column_left.saturating_sub(slack)
                        && w.left().saturating_add(slack / 2) < column_right
                })
                .collect();
            let Some(first) = in_column.first() else {
                continue;
            };
            // One cell: the words inside the column's bounds; an unbounded column (the row's last label)
            // stops at the first column gap.
            let mut end = first.end;
            for word in in_column.iter().skip(1) {
                if column_right == u32::MAX && self.gap_before(word.start) {
                    break;
                }
                end = word.end;
            }
            return Some((first.start, end));
        }
        None
    }

    /// Whether a column gap precedes byte `offset` (a word start) on its row.
    fn gap_before(&self, offset: usize) -> bool {
        self.text
            .get(..offset)
            .is_some_and(|before| before.ends_with(COLUMN_GAP))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Words for a page drawn on a grid: each `(text, left, top)` is one word 14 px per character wide and
    /// 30 px high; tesseract line numbers follow the `line` given.
    pub(crate) fn words(spec: &[(&str, u32, u32, u32)]) -> Vec<OcrWord> {
        spec.iter()
            .map(|&(text, left, top, line)| OcrWord {
                text: text.to_string(),
                confidence: 90.0,
                bbox: [left, top, 14 * text.chars().count() as u32, 30],
                line,
            })
            .collect()
    }

    #[test]
    fn side_by_side_blocks_share_a_row() {
        // Tesseract read the right column as its own block: lines 3 and 4 after 1 and 2.
        let page = LayoutPage::build(&words(&[
            ("Patient:", 100, 100, 1),
            ("SMITH,", 230, 100, 1),
            ("JOHN", 330, 100, 1),
            ("DOB:", 100, 150, 2),
            ("01/02/1990", 170, 150, 2),
            ("MRN:", 900, 102, 3),
            ("1234567", 970, 102, 3),
            ("DOS:", 900, 151, 4),
            ("03/04/2020", 970, 151, 4),
        ]));
        assert_eq!(
            page.text,
            "Patient: SMITH, JOHN   MRN: 1234567\nDOB: 01/02/1990   DOS: 03/04/2020"
        );
    }

    #[test]
    fn grid_rules_are_dropped() {
        let page = LayoutPage::build(&words(&[
            ("|", 90, 100, 1),
            ("|Name", 100, 100, 1),
            ("|", 400, 100, 1),
            ("SMITH,", 420, 100, 1),
            ("JOHN|", 520, 100, 1),
            ("____", 100, 140, 2),
        ]));
        assert_eq!(page.text, "Name   SMITH, JOHN");
    }

    #[test]
    fn a_value_under_its_label_stays_in_its_column() {
        let page = LayoutPage::build(&words(&[
            ("Patient", 100, 100, 1),
            ("Name", 210, 100, 1),
            ("MRN", 600, 100, 1),
            ("DOB", 900, 100, 1),
            ("GARCIA-LOPEZ,", 100, 140, 2),
            ("MARIA", 300, 140, 2),
            ("79-345971", 600, 140, 2),
            ("11-Jul-2007", 900, 140, 2),
        ]));
        let text = &page.text;
        let name_label = (0, "Patient Name".len());
        let mrn_start = text.find("MRN").unwrap();
        let (start, end) = page.value_below(name_label, Some(mrn_start)).unwrap();
        assert_eq!(&text[start..end], "GARCIA-LOPEZ, MARIA");
        let dob_start = text.find("DOB").unwrap();
        let (start, end) = page
            .value_below((mrn_start, mrn_start + 3), Some(dob_start))
            .unwrap();
        assert_eq!(&text[start..end], "79-345971");
        let (start, end) = page.value_below((dob_start, dob_start + 3), None).unwrap();
        assert_eq!(&text[start..end], "11-Jul-2007");
        let Some(Source::Box { page: 0, bbox }) = page.source(0, start, end) else {
            panic!("no box");
        };
        assert_eq!(bbox, [900, 140, 14 * 11, 30]);
    }
}

//! Document type: LOINC code from the title, else from the section structure.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

/// The document types the classifier knows, with their LOINC codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DocType {
    HistoryAndPhysical,
    DischargeSummary,
    Consult,
    Progress,
    Operative,
    Imaging,
    Emergency,
    Pathology,
}

/// Every type, in the order of [`DOCUMENT_TYPES`] (checked by a test).
#[cfg(test)]
const ALL_TYPES: [DocType; 8] = [
    DocType::HistoryAndPhysical,
    DocType::DischargeSummary,
    DocType::Consult,
    DocType::Progress,
    DocType::Operative,
    DocType::Imaging,
    DocType::Emergency,
    DocType::Pathology,
];

impl DocType {
    pub(crate) fn loinc(self) -> &'static str {
        match self {
            DocType::HistoryAndPhysical => "34117-2",
            DocType::DischargeSummary => "18842-5",
            DocType::Consult => "11488-4",
            DocType::Progress => "11506-3",
            DocType::Operative => "11504-8",
            DocType::Imaging => "18748-4",
            DocType::Emergency => "34111-5",
            DocType::Pathology => "11526-1",
        }
    }

    /// Title phrases, tested in this order of types (most specific first).
    fn title_pattern(self) -> &'static str {
        match self {
            DocType::Pathology => {
                r"surgical\s+pathology(?:\s+report)?|pathology\s+(?:report|consultation)|cytology\s+report"
            }
            DocType::Operative => {
                r"operative\s+(?:report|note)|operation\s+(?:report|note)|op\s+note|brief\s+op"
            }
            DocType::DischargeSummary => r"discharge\s+summary|discharge\s+note|death\s+summary",
            DocType::Emergency => {
                r"emergency\s+(?:department|room)\s*(?:note|report|record|visit)?|\bed\s+(?:note|report|visit)|\ber\s+report"
            }
            DocType::Imaging => {
                r"radiology\s+report|imaging\s+report|diagnostic\s+imaging|\b(?:ct|mri|x-ray|ultrasound|mammogram)\s+(?:of|report)"
            }
            DocType::Consult => r"consultation(?:\s+(?:note|report))?|consult\s+note",
            DocType::HistoryAndPhysical => {
                r"history\s+(?:and|&)\s+physical|\bh\s*&\s*p\b|admission\s+history"
            }
            DocType::Progress => r"progress\s+note|soap\s+note|follow-?\s?up\s+note|clinic\s+note",
        }
    }
}

/// Displays are LOINC's long common names as US Core's clinical note type value set lists them
/// (case aside: it writes "Emergency department Note"); 57133-1 as C-CDA's referral note types do.
static DOCUMENT_TYPES: [(&str, &str); 11] = [
    ("34117-2", "History and physical note"),
    ("18842-5", "Discharge summary"),
    ("11488-4", "Consult note"),
    ("11506-3", "Progress note"),
    ("11504-8", "Surgical operation note"),
    ("18748-4", "Diagnostic imaging study"),
    ("34111-5", "Emergency department note"),
    ("11526-1", "Pathology study"),
    // Not assigned by the classifier; US Core's common clinical notes and C-CDA's referral note.
    ("28570-0", "Procedure note"),
    ("11502-2", "Laboratory report"),
    ("57133-1", "Referral note"),
];

/// The LOINC document types a document may be filed under, as `(code, display)`: the ones the
/// classifier assigns first, then a few more (procedure note, laboratory report, referral note)
/// that only a reviewer chooses. A code outside this table is not a document type of `him`.
#[must_use]
pub fn document_types() -> &'static [(&'static str, &'static str)] {
    &DOCUMENT_TYPES
}

/// The display name of a LOINC document type code in [`document_types`]; `None` for other codes.
#[must_use]
pub fn loinc_display(code: &str) -> Option<&'static str> {
    DOCUMENT_TYPES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, display)| *display)
}

const TITLE_ORDER: [DocType; 8] = [
    DocType::Pathology,
    DocType::Operative,
    DocType::DischargeSummary,
    DocType::Emergency,
    DocType::Imaging,
    DocType::HistoryAndPhysical,
    DocType::Consult,
    DocType::Progress,
];

static TITLE_RES: LazyLock<Vec<(DocType, Regex)>> = LazyLock::new(|| {
    TITLE_ORDER
        .iter()
        .map(|&t| {
            let re = Regex::new(&format!(r"(?i)^(?:{})", t.title_pattern()))
                .expect("title pattern compiles");
            (t, re)
        })
        .collect()
});

/// Classifies a title or a `Document type:` value. Returns the type and its span in `text`.
///
/// With `whole_line`, the title must fill the line (a trailing ` - CT HEAD` or `(…)` allowed),
/// so that `Consultation date: …` or prose is not taken for a title.
pub(crate) fn classify_title(text: &str, whole_line: bool) -> Option<(DocType, usize, usize)> {
    let trimmed = text.trim_start_matches(|c: char| c.is_whitespace() || c == '#' || c == '*');
    let offset = text.len() - trimmed.len();
    TITLE_RES.iter().find_map(|(t, re)| {
        let m = re.find(trimmed)?;
        let rest =
            trimmed[m.end()..].trim_matches(|c: char| c.is_whitespace() || c == '*' || c == ':');
        let fills_line = rest.is_empty() || rest.starts_with(['-', '\u{2013}', '(']);
        (!whole_line || fills_line).then_some((*t, offset + m.start(), offset + m.end()))
    })
}

/// A heading: at a line start (markdown `#` allowed) or after a comma (flattened text), ending
/// in `:`, or a whole line in capitals.
static HEADING_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)(?:^|,)[ \t]*#*[ \t]*([A-Za-z][A-Za-z /&()-]{0,60}?)[ \t]*:|^[ \t]*#+[ \t]*([A-Za-z][A-Za-z /&()-]{0,60}?)[ \t]*$|^[ \t]*([A-Z][A-Z /&()-]{3,60}?)[ \t]*$")
        .expect("heading pattern compiles")
});

fn headings(text: &str) -> HashSet<String> {
    HEADING_RE
        .captures_iter(text)
        .filter_map(|caps| caps.get(1).or(caps.get(2)).or(caps.get(3)))
        .map(|m| {
            m.as_str()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
                .replace("post-operative", "postoperative")
                .replace("pre-operative", "preoperative")
        })
        .collect()
}

fn any(headings: &HashSet<String>, names: &[&str]) -> bool {
    names.iter().any(|name| headings.contains(*name))
}

fn any_prefix(headings: &HashSet<String>, prefixes: &[&str]) -> bool {
    headings
        .iter()
        .any(|h| prefixes.iter().any(|p| h.starts_with(p)))
}

/// How many lines from the top of a page a title is looked for in: letterhead, address, phone and a sticker
/// can come first.
const TITLE_LINES: usize = 20;

/// Scores each type from the section headings; the best one with its confidence.
fn classify_sections(text: &str) -> Option<(DocType, f32)> {
    let h = headings(text);
    let lower = text.to_lowercase();
    let mut scores: Vec<(DocType, f32)> = Vec::new();
    let mut add = |t: DocType, score: f32| scores.push((t, score));

    if any_prefix(&h, &["gross description", "microscopic", "gross"]) {
        add(DocType::Pathology, 0.85);
    }
    let preop = any_prefix(&h, &["preoperative diagnos"]);
    let postop = any_prefix(&h, &["postoperative diagnos"]);
    if preop && postop {
        add(DocType::Operative, 0.85);
    } else if (preop || postop)
        && any_prefix(
            &h,
            &[
                "procedure",
                "operation",
                "anesthesia",
                "estimated blood loss",
            ],
        )
    {
        add(DocType::Operative, 0.7);
    }
    let course = any_prefix(&h, &["hospital course", "course in hospital"]);
    let discharge_dx = any_prefix(&h, &["discharge diagnos", "final diagnos"]);
    let discharge_other = any_prefix(
        &h,
        &[
            "discharge medication",
            "discharge instruction",
            "disposition",
            "discharge condition",
            "condition on discharge",
            "discharge plan",
        ],
    );
    if course && (discharge_dx || discharge_other) {
        add(DocType::DischargeSummary, 0.9);
    } else if course || discharge_dx {
        add(DocType::DischargeSummary, 0.75);
    }
    let impression = any_prefix(&h, &["impression", "conclusion"]);
    let findings = any(&h, &["findings", "finding"]);
    let technique = any_prefix(
        &h,
        &[
            "technique",
            "exam",
            "examination",
            "procedure",
            "comparison",
            "clinical history",
            "indication",
        ],
    );
    if impression && findings && technique {
        add(DocType::Imaging, 0.85);
    } else if findings && (impression || technique) {
        add(DocType::Imaging, 0.65);
    }
    let subjective = any(&h, &["subjective", "s"]);
    let objective = any(
        &h,
        &[
            "objective",
            "o",
            "physical examination",
            "physical exam",
            "exam",
        ],
    );
    let assessment = any_prefix(&h, &["assessment", "plan", "a", "p", "impression"]);
    if subjective && objective && assessment {
        add(DocType::Progress, 0.8);
    } else if subjective && assessment {
        add(DocType::Progress, 0.65);
    }
    if any_prefix(&h, &["reason for consult", "reason for referral"])
        || lower.contains("thank you for") && lower.contains("consult")
    {
        add(DocType::Consult, 0.7);
    }
    let chief = any_prefix(
        &h,
        &[
            "chief complaint",
            "cc",
            "reason for visit",
            "reason for admission",
            "presenting complaint",
        ],
    );
    let hpi = any_prefix(&h, &["history of present illness", "hpi", "history"]);
    let exam = any_prefix(
        &h,
        &[
            "physical exam",
            "exam",
            "review of systems",
            "past medical history",
            "social history",
        ],
    );
    let emergency = lower.contains("emergency department")
        || lower.contains("emergency room")
        || any_prefix(
            &h,
            &[
                "ed course",
                "er course",
                "emergency department course",
                "medical decision making",
            ],
        );
    if chief && hpi && emergency {
        add(DocType::Emergency, 0.7);
    } else if hpi
        && emergency
        && any_prefix(
            &h,
            &[
                "ed course",
                "emergency department course",
                "medical decision making",
            ],
        )
    {
        add(DocType::Emergency, 0.65);
    }
    if chief && hpi && exam {
        add(DocType::HistoryAndPhysical, 0.75);
    } else if (chief || hpi) && exam {
        add(DocType::HistoryAndPhysical, 0.6);
    } else if chief && hpi {
        add(DocType::HistoryAndPhysical, 0.55);
    }
    scores
        .into_iter()
        .fold(None, |best: Option<(DocType, f32)>, (t, s)| match best {
            Some((_, bs)) if bs >= s => best,
            _ => Some((t, s)),
        })
}

/// Where a title was found: page and byte span.
pub(crate) type TitleSpan = (u32, usize, usize);

/// The document type of `pages`: a title in the first lines wins; otherwise section structure.
/// Returns the type, its confidence, and the page and span of the title when one was found.
pub(crate) fn classify(pages: &[&str]) -> Option<(DocType, f32, Option<TitleSpan>)> {
    for (page_index, page) in pages.iter().enumerate().take(2) {
        let mut offset = 0;
        for line in page.split_inclusive('\n').take(TITLE_LINES) {
            // A title may share its row with a letterhead or a sticker: each cell of the row is tried.
            let mut cell_offset = offset;
            for cell in line.split(crate::layout::COLUMN_GAP) {
                if cell.trim().len() <= 80 {
                    if let Some((t, start, end)) = classify_title(cell, true) {
                        let page_number = u32::try_from(page_index).unwrap_or(u32::MAX);
                        return Some((
                            t,
                            0.9,
                            Some((page_number, cell_offset + start, cell_offset + end)),
                        ));
                    }
                }
                cell_offset += cell.len() + crate::layout::COLUMN_GAP.len();
            }
            offset += line.len();
        }
    }
    let all_text = pages.join("\n");
    classify_sections(&all_text).map(|(t, score)| (t, score, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections(text: &str) -> Option<&'static str> {
        classify(&[text]).map(|(t, _, _)| t.loinc())
    }

    #[test]
    fn titles_win() {
        assert_eq!(sections("DISCHARGE SUMMARY\nPatient: X"), Some("18842-5"));
        assert_eq!(sections("Emergency Department Note\n"), Some("34111-5"));
        assert_eq!(sections("OPERATIVE REPORT\n"), Some("11504-8"));
        assert_eq!(sections("HISTORY AND PHYSICAL\n"), Some("34117-2"));
        assert_eq!(sections("SURGICAL PATHOLOGY REPORT\n"), Some("11526-1"));
        assert_eq!(sections("CONSULTATION\n"), Some("11488-4"));
        assert_eq!(sections("PROGRESS NOTE\n"), Some("11506-3"));
    }

    #[test]
    fn operative_sections() {
        let text = "PREOPERATIVE DIAGNOSIS: Cataract.\n\nPOSTOPERATIVE DIAGNOSIS: Same.\n\nPROCEDURE: Phaco.";
        assert_eq!(sections(text), Some("11504-8"));
    }

    #[test]
    fn discharge_sections() {
        let text = "ADMISSION DIAGNOSIS: Pneumonia.\nHOSPITAL COURSE: Improved.\nDISCHARGE DIAGNOSIS: Pneumonia.";
        assert_eq!(sections(text), Some("18842-5"));
    }

    #[test]
    fn imaging_sections() {
        let text =
            "EXAM: CT head.\nTECHNIQUE: Noncontrast.\nFINDINGS: Normal.\nIMPRESSION: Normal.";
        assert_eq!(sections(text), Some("18748-4"));
    }

    #[test]
    fn soap_sections() {
        let text =
            "SUBJECTIVE: Feels well.\nOBJECTIVE: Afebrile.\nASSESSMENT: Better.\nPLAN: Continue.";
        assert_eq!(sections(text), Some("11506-3"));
        let flattened = "SUBJECTIVE:, Feels well.,OBJECTIVE:, Afebrile.,ASSESSMENT:, Better.";
        assert_eq!(sections(flattened), Some("11506-3"));
    }

    #[test]
    fn history_and_physical_sections() {
        let text = "CHIEF COMPLAINT: Cough.\nHISTORY OF PRESENT ILLNESS: Two days.\nPHYSICAL EXAMINATION: Clear.";
        assert_eq!(sections(text), Some("34117-2"));
        let markdown = "2018-07-19\n\n# Chief Complaint\n- Cough\n\n# History of Present Illness\nX is a 15 year-old.\n# Social History\n";
        assert_eq!(sections(markdown), Some("34117-2"));
    }

    #[test]
    fn pathology_sections() {
        let text = "SPECIMEN: Prostate.\nGROSS DESCRIPTION: Received in formalin.\nMICROSCOPIC DESCRIPTION: Adenocarcinoma.";
        assert_eq!(sections(text), Some("11526-1"));
    }

    #[test]
    fn unknown_text_has_no_type() {
        assert_eq!(sections("Dear Dr. Smith, thank you."), None);
        assert_eq!(loinc_display("18842-5"), Some("Discharge summary"));
    }

    #[test]
    fn the_table_holds_every_classifier_type_first_and_no_code_twice() {
        for (i, t) in ALL_TYPES.iter().enumerate() {
            assert_eq!(document_types()[i].0, t.loinc());
        }
        let codes: HashSet<&str> = document_types().iter().map(|(c, _)| *c).collect();
        assert_eq!(codes.len(), document_types().len());
        assert_eq!(loinc_display("28570-0"), Some("Procedure note"));
        assert_eq!(loinc_display("34133-9"), None);
        assert_eq!(loinc_display(""), None);
    }
}

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
    Procedure,
    Laboratory,
    Referral,
    Nursing,
    Medications,
    Anesthesia,
}

/// Every type, in the order of [`DOCUMENT_TYPES`] (checked by a test).
#[cfg(test)]
const ALL_TYPES: [DocType; 14] = [
    DocType::HistoryAndPhysical,
    DocType::DischargeSummary,
    DocType::Consult,
    DocType::Progress,
    DocType::Operative,
    DocType::Imaging,
    DocType::Emergency,
    DocType::Pathology,
    DocType::Procedure,
    DocType::Laboratory,
    DocType::Referral,
    DocType::Nursing,
    DocType::Medications,
    DocType::Anesthesia,
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
            DocType::Procedure => "28570-0",
            DocType::Laboratory => "11502-2",
            DocType::Referral => "57133-1",
            DocType::Nursing => "34746-8",
            DocType::Medications => "10160-0",
            DocType::Anesthesia => "11485-0",
        }
    }

    /// Title phrases, tested in this order of types (most specific first).
    fn title_pattern(self) -> &'static str {
        match self {
            DocType::Pathology => {
                r"surgical\s+pathology(?:\s+report)?|(?:cyto|histo)?pathology\s+(?:consultation\s+)?(?:report|consultation|note)|cytology\s+report"
            }
            DocType::Operative => {
                r"operative\s+(?:report|note)|operation\s+(?:report|note)|op\s+note|brief\s+op"
            }
            DocType::DischargeSummary => r"discharge\s+summary|discharge\s+note|death\s+summary",
            DocType::Emergency => {
                r"emergency\s+(?:department|room)\s*(?:(?:physician|provider)\s+)?(?:note|report|record|visit)?|\b(?:ed|er)\s+(?:(?:physician|provider)\s+)?(?:note|report|record|visit(?:\s+note)?)"
            }
            DocType::Imaging => {
                r"(?:radiology|imaging|x-?ray|ultrasound|sonography|ct|mri|mammography|nuclear\s+medicine)\s+(?:report|study|results?)|diagnostic\s+imaging\s+(?:report|study)|\b(?:ct|mri|mr|x-?ray|xr|ultrasound|us|pet|mammogram)\s+(?:of\b|(?:[a-z/&,-]+\s+){0,4}(?:with(?:out)?(?:\s+and\s+without)?\s+contrast|\d\s+views?|views?)\b)"
            }
            DocType::Consult => r"consultation(?:\s+(?:note|report))?|consult\s+(?:note|report)",
            DocType::HistoryAndPhysical => {
                r"history\s+(?:and|&)\s+physical|\bh\s*&\s*p\b|admission\s+history"
            }
            DocType::Progress => {
                r"(?:daily\s+|clinic\s+|follow-?\s?up\s+)?progress\s+note|soap\s+note|follow-?\s?up\s+(?:visit\s+)?note|clinic\s+(?:visit\s+)?note|office\s+(?:visit\s+)?note"
            }
            DocType::Procedure => {
                r"(?:bedside\s+)?procedure\s+(?:note|report|record)|procedural\s+note"
            }
            DocType::Laboratory => {
                r"(?:clinical\s+)?lab(?:oratory)?\s+(?:report|results?)(?:\s+report)?|(?:chemistry|hematology|microbiology)(?:\s*/\s*hematology)?\s+(?:report|results?)"
            }
            DocType::Referral => {
                r"referral(?:\s+(?:letter|note|form|for\s+consultation))?|letter\s+of\s+referral"
            }
            DocType::Nursing => {
                r"nursing\s+(?:progress\s+)?(?:note|notes|assessment|documentation)|nurse'?s'?\s+notes?|rn\s+(?:shift\s+)?note"
            }
            DocType::Medications => {
                r"(?:current|active|home|discharge)?\s*medication\s+(?:list|reconciliation|record)|current\s+medications|medication\s+administration\s+record"
            }
            DocType::Anesthesia => {
                r"(?:intraoperative\s+|pre-?anesthesia\s+)?(?:anesthesia|anaesthesia)\s+(?:record|care\s+record|report|evaluation)"
            }
        }
    }
}

/// Displays are LOINC's long common names as US Core's clinical note type value set lists them
/// (case aside: it writes "Emergency department Note"); 57133-1 as C-CDA's referral note types do; the last
/// three are LOINC's document ontology names.
static DOCUMENT_TYPES: [(&str, &str); 14] = [
    ("34117-2", "History and physical note"),
    ("18842-5", "Discharge summary"),
    ("11488-4", "Consult note"),
    ("11506-3", "Progress note"),
    ("11504-8", "Surgical operation note"),
    ("18748-4", "Diagnostic imaging study"),
    ("34111-5", "Emergency department note"),
    ("11526-1", "Pathology study"),
    ("28570-0", "Procedure note"),
    ("11502-2", "Laboratory report"),
    ("57133-1", "Referral note"),
    ("34746-8", "Nurse note"),
    ("10160-0", "History of medication use"),
    ("11485-0", "Anesthesia records"),
];

/// The LOINC document types a document may be filed under, as `(code, display)`, all of them assigned by
/// the classifier from a title. A code outside this table is not a document type of `him`.
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

const TITLE_ORDER: [DocType; 14] = [
    DocType::Pathology,
    DocType::Anesthesia,
    DocType::Laboratory,
    DocType::Medications,
    DocType::Nursing,
    DocType::Procedure,
    DocType::Referral,
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
            // Up to two qualifying words may come first: `HOSPITAL DISCHARGE SUMMARY`, `Cardiology Consultation`.
            let re = Regex::new(&format!(
                r"(?i)^(?:[a-z&]+\s+){{0,2}}?(?:{})",
                t.title_pattern()
            ))
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
        let rest = trimmed[m.end()..].trim_matches(|c: char| c.is_whitespace() || c == '*');
        // A section heading (`LABORATORY RESULTS:`) is not the document's title.
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
#[cfg(test)]
pub(crate) fn classify(pages: &[&str]) -> Option<(DocType, f32, Option<TitleSpan>)> {
    classify_by_size(pages, &|_, _, _| None)
}

/// [`classify`], where `text_height(page, start, end)` gives the height of the text at a span when the page
/// was read by its layout: of several title-like lines near the top (a department `Diagnostic Imaging` in the
/// letterhead, the title `PROCEDURE NOTE`), the one set in the largest type is the title; otherwise the first.
pub(crate) fn classify_by_size(
    pages: &[&str],
    text_height: &dyn Fn(u32, usize, usize) -> Option<u32>,
) -> Option<(DocType, f32, Option<TitleSpan>)> {
    let mut titles: Vec<(DocType, TitleSpan, u32)> = Vec::new();
    for (page_index, page) in pages.iter().enumerate().take(2) {
        let page_number = u32::try_from(page_index).unwrap_or(u32::MAX);
        let mut offset = 0;
        for line in page.split_inclusive('\n').take(TITLE_LINES) {
            // A title may share its row with a letterhead or a sticker: each cell of the row is tried.
            let mut cell_offset = offset;
            for cell in line.split(crate::layout::COLUMN_GAP) {
                if cell.trim().len() <= 80 {
                    if let Some((t, start, end)) = classify_title(cell, true) {
                        let span = (page_number, cell_offset + start, cell_offset + end);
                        let height = text_height(span.0, span.1, span.2).unwrap_or(0);
                        titles.push((t, span, height));
                    }
                }
                cell_offset += cell.len() + crate::layout::COLUMN_GAP.len();
            }
            offset += line.len();
        }
        if !titles.is_empty() {
            break;
        }
    }
    // The tallest wins; `max_by_key` keeps the last of equals, so the list is walked from the end.
    if let Some((t, span, _)) = titles.iter().rev().max_by_key(|(_, _, height)| *height) {
        return Some((*t, 0.9, Some(*span)));
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
        assert_eq!(sections("Hospital Discharge Summary\n"), Some("18842-5"));
        assert_eq!(sections("CARDIOLOGY CONSULTATION\n"), Some("11488-4"));
        assert_eq!(sections("ED Provider Note\n"), Some("34111-5"));
        assert_eq!(sections("CT CHEST WITHOUT CONTRAST\n"), Some("18748-4"));
        assert_eq!(sections("Bedside Procedure Note\n"), Some("28570-0"));
        assert_eq!(sections("CLINICAL LABORATORY REPORT\n"), Some("11502-2"));
        assert_eq!(sections("Letter of Referral\n"), Some("57133-1"));
        assert_eq!(sections("Nursing Progress Note\n"), Some("34746-8"));
        assert_eq!(sections("Home Medication List\n"), Some("10160-0"));
        assert_eq!(sections("Anesthesia Record\n"), Some("11485-0"));
    }

    #[test]
    fn the_largest_title_wins() {
        let text = "Diagnostic Imaging Report\nPROCEDURE NOTE\n";
        let heights = |_: u32, start: usize, _: usize| Some(if start == 0 { 30 } else { 44 });
        let (t, _, _) = classify_by_size(&[text], &heights).unwrap();
        assert_eq!(t.loinc(), "28570-0");
        assert_eq!(sections(text), Some("18748-4"), "without sizes, the first");
        assert_eq!(
            sections("Diagnostic Imaging\n"),
            None,
            "a department is no title"
        );
        assert_eq!(sections("Cytopathology Report\n"), Some("11526-1"));
        assert_eq!(sections("PATHOLOGY CONSULTATION REPORT\n"), Some("11526-1"));
    }

    #[test]
    fn a_section_heading_is_not_a_title() {
        assert_eq!(sections("LABORATORY RESULTS:\nNormal."), None);
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

//! Document type: LOINC code from the title, else from the section structure.
//!
//! The types and the titles printed on them come from the bundled table `data/document-types.tsv` (LOINC codes and
//! names © Regenstrief Institute, see `data/README.md`), read once.

mod titles;

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use titles::TABLE;

/// A document type of the table, by its LOINC code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct DocType(&'static str);

impl DocType {
    const HISTORY_AND_PHYSICAL: DocType = DocType("34117-2");
    const DISCHARGE_SUMMARY: DocType = DocType("18842-5");
    const CONSULT: DocType = DocType("11488-4");
    const PROGRESS: DocType = DocType("11506-3");
    const OPERATIVE: DocType = DocType("11504-8");
    const IMAGING: DocType = DocType("18748-4");
    const EMERGENCY: DocType = DocType("34111-5");
    const PATHOLOGY: DocType = DocType("11526-1");
    /// A fax cover sheet: the type of a document only when no page after it has a title.
    const COVER_SHEET: DocType = DocType("56444-3");

    pub(crate) fn loinc(self) -> &'static str {
        self.0
    }
}

/// The LOINC document types a document may be filed under, as `(code, display)`, all of them assigned by
/// the classifier from a title. A code outside this table is not a document type of `him`.
#[must_use]
pub fn document_types() -> &'static [(&'static str, &'static str)] {
    &TABLE.pairs
}

/// The display name of a LOINC document type code in [`document_types`]; `None` for other codes.
#[must_use]
pub fn loinc_display(code: &str) -> Option<&'static str> {
    TABLE
        .pairs
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, display)| *display)
}

/// Classifies a title or a `Document type:` value. Returns the type and its span in `text`.
///
/// With `whole_line`, the title must fill the line (a trailing ` - CT HEAD` or `(…)` allowed),
/// so that `Consultation date: …` or prose is not taken for a title.
pub(crate) fn classify_title(text: &str, whole_line: bool) -> Option<(DocType, usize, usize)> {
    let trimmed = text.trim_start_matches(|c: char| c.is_whitespace() || c == '#' || c == '*');
    let offset = text.len() - trimmed.len();
    let (row, start, end) = titles::best_title(trimmed, whole_line)?;
    Some((DocType(TABLE.types[row].code), offset + start, offset + end))
}

/// A subject line near the top of a letter or a form (`RE: Referral for cardiology`), whose value may name the type
/// when no line is a title.
static SUBJECT_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^[ \t]*(?:re|subject|subj|regarding)[ \t]*:[ \t]*")
        .expect("subject pattern compiles")
});

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
        add(DocType::PATHOLOGY, 0.85);
    }
    let preop = any_prefix(&h, &["preoperative diagnos"]);
    let postop = any_prefix(&h, &["postoperative diagnos"]);
    if preop && postop {
        add(DocType::OPERATIVE, 0.85);
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
        add(DocType::OPERATIVE, 0.7);
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
        add(DocType::DISCHARGE_SUMMARY, 0.9);
    } else if course || discharge_dx {
        add(DocType::DISCHARGE_SUMMARY, 0.75);
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
        add(DocType::IMAGING, 0.85);
    } else if findings && (impression || technique) {
        add(DocType::IMAGING, 0.65);
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
        add(DocType::PROGRESS, 0.8);
    } else if subjective && assessment {
        add(DocType::PROGRESS, 0.65);
    }
    if any_prefix(&h, &["reason for consult", "reason for referral"])
        || lower.contains("thank you for") && lower.contains("consult")
    {
        add(DocType::CONSULT, 0.7);
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
        add(DocType::EMERGENCY, 0.7);
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
        add(DocType::EMERGENCY, 0.65);
    }
    if chief && hpi && exam {
        add(DocType::HISTORY_AND_PHYSICAL, 0.75);
    } else if (chief || hpi) && exam {
        add(DocType::HISTORY_AND_PHYSICAL, 0.6);
    } else if chief && hpi {
        add(DocType::HISTORY_AND_PHYSICAL, 0.55);
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
        if titles.iter().any(|(t, _, _)| *t != DocType::COVER_SHEET) {
            break;
        }
    }
    // A faxed chart's first page is often a cover sheet; the page after it says what was sent.
    if titles.iter().any(|(t, _, _)| *t != DocType::COVER_SHEET) {
        titles.retain(|(t, _, _)| *t != DocType::COVER_SHEET);
    }
    // The tallest wins; `max_by_key` keeps the last of equals, so the list is walked from the end.
    if let Some((t, span, _)) = titles.iter().rev().max_by_key(|(_, _, height)| *height) {
        return Some((*t, 0.9, Some(*span)));
    }
    if let Some((t, span)) = subject_type(pages) {
        return Some((t, 0.8, Some(span)));
    }
    let all_text = pages.join("\n");
    classify_sections(&all_text).map(|(t, score)| (t, score, None))
}

/// The type named by a subject line (`RE: Referral for …`) in the first lines of the first page: its value must
/// start with a title, so that `RE: John Smith` or a sentence naming a type further on names none.
fn subject_type(pages: &[&str]) -> Option<(DocType, TitleSpan)> {
    let page = pages.first()?;
    let mut offset = 0;
    for line in page.split_inclusive('\n').take(TITLE_LINES) {
        if let Some(label) = SUBJECT_RE.find(line) {
            if let Some((t, start, end)) = classify_title(&line[label.end()..], false) {
                let base = offset + label.end();
                return Some((t, (0, base + start, base + end)));
            }
        }
        offset += line.len();
    }
    None
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

    /// The classifier's original fourteen types, in their original order.
    const ORIGINAL_TYPES: [&str; 14] = [
        "34117-2", "18842-5", "11488-4", "11506-3", "11504-8", "18748-4", "34111-5", "11526-1",
        "28570-0", "11502-2", "57133-1", "34746-8", "10160-0", "11485-0",
    ];

    #[test]
    fn the_table_holds_the_original_types_first_and_no_code_twice() {
        for (i, code) in ORIGINAL_TYPES.iter().enumerate() {
            assert_eq!(document_types()[i].0, *code);
        }
        let codes: HashSet<&str> = document_types().iter().map(|(c, _)| *c).collect();
        assert_eq!(codes.len(), document_types().len());
        assert!(
            document_types().len() >= 40,
            "{} types",
            document_types().len()
        );
        for t in [
            DocType::HISTORY_AND_PHYSICAL,
            DocType::DISCHARGE_SUMMARY,
            DocType::CONSULT,
            DocType::PROGRESS,
            DocType::OPERATIVE,
            DocType::IMAGING,
            DocType::EMERGENCY,
            DocType::PATHOLOGY,
        ] {
            assert!(loinc_display(t.loinc()).is_some(), "{t:?}");
        }
        assert_eq!(loinc_display("28570-0"), Some("Procedure note"));
        assert_eq!(loinc_display("59284-0"), Some("Patient Consent"));
        assert_eq!(loinc_display("34133-9"), None);
        assert_eq!(loinc_display(""), None);
    }

    /// Each type's main title and a synonym or abbreviation, as printed.
    const TITLES: &[(&str, &str, &str)] = &[
        ("34117-2", "History and Physical", "Admission H&P"),
        ("18842-5", "Discharge Summary", "D/C Summary"),
        ("11488-4", "Consultation", "Cardiology Consult Note"),
        ("11506-3", "Progress Note", "SOAP Note"),
        ("11504-8", "Operative Report", "Brief Op Note"),
        ("18748-4", "Radiology Report", "Chest X-Ray"),
        ("34111-5", "Emergency Department Note", "ER Visit"),
        ("11526-1", "Surgical Pathology Report", "Cytology Report"),
        ("28570-0", "Procedure Note", "Bedside Procedure Record"),
        ("11502-2", "Laboratory Report", "CBC with Differential"),
        ("57133-1", "Referral Letter", "Request for Consultation"),
        ("34746-8", "Nursing Note", "Nurses' Notes"),
        ("10160-0", "Medication List", "MAR"),
        (
            "11485-0",
            "Anesthesia Record",
            "Intraoperative Anesthesia Record",
        ),
        ("59284-0", "Informed Consent", "Consent to Treat"),
        ("64293-4", "Consent for Surgery", "Surgical Consent"),
        ("61359-6", "Anesthesia Consent", "Consent for Sedation"),
        ("64292-6", "Authorization for Release of Information", "ROI"),
        (
            "57016-8",
            "Notice of Privacy Practices Acknowledgment",
            "HIPAA Acknowledgment",
        ),
        (
            "42348-3",
            "Advance Directive",
            "Advance Health Care Directive",
        ),
        ("86533-7", "Living Will", "Directive to Physicians"),
        (
            "64298-3",
            "Durable Power of Attorney for Health Care",
            "Health Care Proxy",
        ),
        ("93037-0", "POLST", "Do Not Resuscitate Order"),
        ("64289-2", "Face Sheet", "Patient Registration Form"),
        ("64290-0", "Insurance Card", "Medicare Card"),
        (
            "64291-8",
            "Advance Beneficiary Notice",
            "Insurance Verification Form",
        ),
        ("11524-6", "EKG Report", "12-Lead ECG"),
        ("18761-7", "Transfer Summary", "Interfacility Transfer Form"),
        ("8653-8", "Discharge Instructions", "After Visit Summary"),
        ("18776-5", "Plan of Care", "Nursing Care Plan"),
        ("67862-3", "Preoperative Evaluation", "Pre-Op Clearance"),
        ("67860-7", "Postoperative Note", "Post-Op Check"),
        ("34748-4", "Telephone Encounter", "Phone Message"),
        ("34895-3", "Patient Education Record", "Teaching Record"),
        ("15508-5", "Labor and Delivery Record", "Delivery Summary"),
        ("29751-5", "Critical Care Flowsheet", "ICU Flowsheet"),
        (
            "29749-9",
            "Dialysis Record",
            "Hemodialysis Treatment Record",
        ),
        (
            "11486-8",
            "Chemotherapy Administration Record",
            "Chemotherapy Flowsheet",
        ),
        ("64297-5", "Death Certificate", "Certificate of Death"),
        ("71230-7", "Birth Certificate", "Certificate of Live Birth"),
        (
            "57833-6",
            "Prescription",
            "Prescription for Lisinopril 10 mg",
        ),
        ("51852-2", "Letter", "Correspondence"),
        ("56444-3", "Fax Cover Sheet", "Confidential Fax Transmittal"),
        ("28579-1", "Physical Therapy Note", "PT Initial Evaluation"),
        ("28578-3", "Occupational Therapy Note", "OT Progress Note"),
        (
            "28571-8",
            "Speech Therapy Evaluation",
            "Bedside Swallow Evaluation",
        ),
        ("34838-3", "Respiratory Therapy Note", "RT Assessment"),
        ("28653-4", "Social Work Note", "Social Services Note"),
        ("34801-1", "Nutrition Assessment", "Dietitian Note"),
        ("28628-6", "Psychiatry Note", "Psychiatric Evaluation"),
        ("34906-8", "Chaplain Note", "Spiritual Care Note"),
        ("11369-6", "Immunization Record", "Vaccination Record"),
        (
            "34896-1",
            "Cardiac Catheterization Report",
            "Left Heart Catheterization",
        ),
        ("34899-5", "Colonoscopy Report", "EGD"),
        ("64299-1", "Court Order", "Subpoena"),
        (
            "18748-4",
            "CT Report",
            "CTA Chest Pulmonary Embolism Protocol",
        ),
        ("18748-4", "MRI Report", "MRI Brain Without Contrast"),
        (
            "18748-4",
            "Ultrasound Report",
            "US of the Right Upper Quadrant",
        ),
        (
            "18748-4",
            "Screening Mammogram",
            "Bilateral Screening Mammography",
        ),
        (
            "18748-4",
            "Diagnostic Mammogram",
            "Mammogram Diagnostic Right Breast",
        ),
        ("59281-6", "Echocardiogram", "Transthoracic Echocardiogram"),
        ("59282-4", "Stress Echocardiogram", "Dobutamine Stress Echo"),
        (
            "18752-6",
            "Exercise Stress Test",
            "Treadmill Stress Test Report",
        ),
        ("18754-2", "Holter Monitor Report", "24 Hour Holter Monitor"),
        ("18750-0", "Electrophysiology Study", "EP Study Report"),
        ("11523-8", "EEG Report", "Electroencephalogram"),
        ("18749-2", "EMG Report", "Nerve Conduction Study"),
        ("28633-6", "Sleep Study", "Polysomnography Report"),
        ("18759-1", "Spirometry", "Spirometry Report"),
        ("58477-1", "Pulmonary Function Test", "PFT Report"),
        ("18744-3", "Bronchoscopy Report", "Flexible Bronchoscopy"),
        ("18743-5", "Autopsy Report", "Postmortem Examination"),
        ("28615-3", "Audiology Evaluation", "Audiogram"),
        ("48765-2", "Allergy List", "Allergies and Adverse Reactions"),
        ("11450-4", "Problem List", "Active Problem List"),
        ("28651-8", "Nursing Transfer Note", "Nurse to Nurse Report"),
        (
            "34744-3",
            "Nursing Admission Assessment",
            "Admission Nursing Assessment",
        ),
        (
            "34745-0",
            "Nursing Discharge Summary",
            "Nurse Discharge Note",
        ),
        ("47420-5", "Functional Status Assessment", "ADL Assessment"),
        ("46215-0", "Wound Care Note", "Wound Assessment"),
        (
            "51851-4",
            "Administrative Note",
            "Patient Belongings Inventory",
        ),
        (
            "34751-8",
            "Pre-Anesthesia Evaluation",
            "Anesthesia Preoperative Assessment",
        ),
        ("34108-1", "Outpatient Note", "Ambulatory Clinic Note"),
        ("51845-6", "Outpatient Consultation", "Clinic Consult Note"),
        ("47040-1", "Second Opinion", "Second Opinion Consultation"),
        ("34752-6", "Cardiology Note", "Cardiology Clinic Note"),
        (
            "59258-4",
            "ED Discharge Summary",
            "Emergency Department Discharge Summary",
        ),
        (
            "15507-7",
            "ED Progress Note",
            "Emergency Room Progress Note",
        ),
        ("54094-8", "Triage Note", "ED Triage Assessment"),
    ];

    #[test]
    fn every_type_is_read_from_its_title_and_a_synonym() {
        let listed: HashSet<&str> = TITLES.iter().map(|(code, _, _)| *code).collect();
        let table: HashSet<&str> = document_types().iter().map(|(code, _)| *code).collect();
        assert_eq!(listed, table, "every row of the table has a test title");
        for (code, title, synonym) in TITLES {
            for printed in [
                *title,
                *synonym,
                &title.to_uppercase(),
                &synonym.to_lowercase(),
            ] {
                assert_eq!(
                    sections(&format!("{printed}\nPatient: X")),
                    Some(*code),
                    "{printed}"
                );
            }
        }
    }

    #[test]
    fn ocr_noisy_titles_are_read() {
        assert_eq!(sections("DISCHARGE SUMMARV\n"), Some("18842-5"));
        assert_eq!(sections("Dischange Sumary\n"), Some("18842-5"));
        assert_eq!(sections("PR0GRESS N0TE\n"), Some("11506-3"));
        assert_eq!(sections("  history & physical  \n"), Some("34117-2"));
        assert_eq!(sections("H & P\n"), Some("34117-2"));
        assert_eq!(sections("CONSULTATlON REPORT\n"), Some("11488-4"));
        assert_eq!(sections("Operative Rep0rt\n"), Some("11504-8"));
        assert_eq!(
            sections("Authorisation for Release of Informaton\n"),
            Some("64292-6")
        );
        assert_eq!(sections("Emergency Departmnet Record\n"), Some("34111-5"));
        assert_eq!(
            sections("DISCHARGE SUMMARY - ADDENDUM\n"),
            Some("18842-5"),
            "a tail"
        );
        assert_eq!(sections("Nte\n"), None, "short words are not guessed");
        assert_eq!(
            sections("Cardiology Report\n"),
            None,
            "not a radiology report two letters off"
        );
    }

    #[test]
    fn the_head_word_of_a_title_decides() {
        assert_eq!(sections("Operative Consent\n"), Some("64293-4"));
        assert_eq!(
            sections("Consent for Operation or Other Procedure\n"),
            Some("64293-4")
        );
        assert_eq!(sections("Discharge Medication List\n"), Some("10160-0"));
        assert_eq!(sections("ED Discharge Instructions\n"), Some("8653-8"));
        assert_eq!(sections("Nursing Progress Note\n"), Some("34746-8"));
        assert_eq!(
            sections("Physical Therapy Progress Note\n"),
            Some("28579-1")
        );
        assert_eq!(
            sections("Consent for Release of Information\n"),
            Some("64292-6")
        );
        assert_eq!(
            sections("Informed Consent for Anesthesia\n"),
            Some("61359-6")
        );
        assert_eq!(sections("Referral Letter\n"), Some("57133-1"));
        assert_eq!(sections("CT Surgery Consultation\n"), Some("11488-4"));
        assert_eq!(sections("Pathology Consultation\n"), Some("11526-1"));
        assert_eq!(sections("Chest X-Ray\n"), Some("18748-4"));
    }

    #[test]
    fn imaging_of_every_modality_is_a_diagnostic_imaging_study() {
        assert_eq!(sections("CT Head Without Contrast\n"), Some("18748-4"));
        assert_eq!(sections("CT of the Abdomen and Pelvis\n"), Some("18748-4"));
        assert_eq!(
            sections("MR Lumbar Spine Without Contrast\n"),
            Some("18748-4")
        );
        assert_eq!(sections("Ultrasound Abdomen Complete\n"), Some("18748-4"));
        assert_eq!(sections("XR Chest 2 Views\n"), Some("18748-4"));
        assert_eq!(sections("PET CT Skull Base to Thigh\n"), Some("18748-4"));
        assert_eq!(sections("Nuclear Medicine Report\n"), Some("18748-4"));
        assert_eq!(sections("Mammogram\n"), Some("18748-4"));
        assert_eq!(
            sections("Transesophageal Echocardiogram\n"),
            Some("18748-4"),
            "no transthoracic echo"
        );
        assert_eq!(sections("Digital Screening Mammogram\n"), Some("18748-4"));
        assert_eq!(sections("Mr John Smith\n"), None);
    }

    #[test]
    fn specific_titles_leave_the_general_types() {
        assert_eq!(sections("ED Triage Note\n"), Some("54094-8"));
        assert_eq!(sections("ER Visit Note\n"), Some("34111-5"));
        assert_eq!(sections("ED Discharge Summary\n"), Some("59258-4"));
        assert_eq!(sections("ED Discharge Instructions\n"), Some("8653-8"));
        assert_eq!(sections("Nursing Admission Assessment\n"), Some("34744-3"));
        assert_eq!(sections("Nursing Assessment\n"), Some("34746-8"));
        assert_eq!(sections("Nursing Transfer Note\n"), Some("28651-8"));
        assert_eq!(sections("Transfer Note\n"), Some("18761-7"));
        assert_eq!(sections("Pre-Anesthesia Evaluation\n"), Some("34751-8"));
        assert_eq!(sections("Anesthesia Record\n"), Some("11485-0"));
        assert_eq!(sections("Outpatient Clinic Note\n"), Some("34108-1"));
        assert_eq!(sections("Clinic Note\n"), Some("11506-3"));
        assert_eq!(sections("Cardiology Consult Note\n"), Some("11488-4"));
        assert_eq!(sections("Cardiology Clinic Note\n"), Some("34752-6"));
        assert_eq!(sections("Exercise Stress Test\n"), Some("18752-6"));
        assert_eq!(
            sections("Dobutamine Stress Echocardiogram\n"),
            Some("59282-4")
        );
        assert_eq!(sections("Current Medication List\n"), Some("10160-0"));
    }

    #[test]
    fn body_prose_naming_a_type_does_not_win() {
        let progress = "PROGRESS NOTE\nSUBJECTIVE: Better.\nDischarge summary to follow.\nConsent for the procedure was obtained from the patient and the family.\n";
        assert_eq!(sections(progress), Some("11506-3"));
        let untitled = "SUBJECTIVE: Feels well.\nDischarge summary to follow.\nOBJECTIVE: Afebrile.\nASSESSMENT: Better.\nPLAN: Continue.";
        assert_eq!(sections(untitled), Some("11506-3"));
        assert_eq!(
            sections("Consent for the procedure was obtained from the patient.\n"),
            None
        );
        assert_eq!(
            sections("We will send a referral letter to cardiology.\n"),
            None
        );
        assert_eq!(sections("Patient: Jane Doe\nHartford, CT 06101\n"), None);
        assert_eq!(sections("Mr John Smith\n"), None);
    }

    #[test]
    fn a_fax_cover_sheet_gives_way_to_the_page_it_covers() {
        let cover = "FAX COVER SHEET\nTo: Records\nPages: 3\n";
        let summary = "DISCHARGE SUMMARY\nPatient: X\n";
        let (t, _, span) = classify(&[cover, summary]).unwrap();
        assert_eq!(t.loinc(), "18842-5");
        assert_eq!(span.map(|(page, _, _)| page), Some(1));
        assert_eq!(sections(cover), Some("56444-3"), "a cover sheet alone");
    }

    #[test]
    fn a_subject_line_names_the_type_when_no_line_is_a_title() {
        let letter = "Valley Clinic\n12 Main St\n\nRE: Referral for cardiology evaluation\n\nDear Dr. Smith,\nThank you.";
        let (t, _, span) = classify(&[letter]).unwrap();
        assert_eq!(t.loinc(), "57133-1");
        let (_, start, end) = span.unwrap();
        assert!(letter[start..end].starts_with("Referral for cardiology"));
        assert_eq!(
            sections("RE: John Smith, DOB 01/02/1950\nDear Dr. Smith,"),
            None
        );
        assert_eq!(sections("Subject: Discharge Summary\n"), Some("18842-5"));
        assert_eq!(
            sections("RE: John Smith\nDear Dr. Jones, the referral letter is enclosed."),
            None
        );
    }
}

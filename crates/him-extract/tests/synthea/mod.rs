//! Synthea notes behind synthetic chart headers in six styles: per-field accuracy against the
//! ground truth, golden output, and matching against the notes' patient index.

use std::fs;

use him_extract::{
    extract, match_patient, CheckDigit, Date, Fields, MatchConfig, MatchOutcome, PatientIndex,
    UnmatchedReason,
};
use serde_json::Value;

use crate::common::{fixtures, options, same_name, Accuracy};

/// One note with its ground truth.
struct Note {
    file: String,
    text: String,
    truth: Value,
}

impl Note {
    fn str(&self, key: &str) -> &str {
        self.truth[key].as_str().unwrap_or_default()
    }
    fn given(&self) -> Vec<&str> {
        self.truth["patient_given"]
            .as_array()
            .map(|g| g.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }
    fn loinc(&self) -> &str {
        self.truth["document_type_loinc"][0]["code"]
            .as_str()
            .unwrap_or_default()
    }
    fn author(&self) -> &str {
        let author = self.truth["author"][0].as_str().unwrap_or_default();
        author.strip_prefix("Dr. ").unwrap_or(author)
    }
}

fn notes() -> Vec<Note> {
    let dir = fixtures().join("synthea");
    let manifest = fs::read_to_string(dir.join("manifest.csv")).expect("synthea manifest");
    let notes: Vec<Note> = manifest
        .lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let mut cells = line.split(',');
            let file = cells.next().expect("file column").to_string();
            let truth_file = cells.next().expect("ground truth column");
            let text = fs::read_to_string(dir.join(&file)).expect("note text");
            let truth = serde_json::from_str(
                &fs::read_to_string(dir.join(truth_file)).expect("note truth"),
            )
            .expect("truth json");
            Note { file, text, truth }
        })
        .collect();
    assert!(!notes.is_empty(), "no synthea notes in the fixtures");
    notes
}

fn strip_digits(name: &str) -> String {
    name.split(' ')
        .map(|w| w.trim_end_matches(|c: char| c.is_ascii_digit()))
        .collect::<Vec<_>>()
        .join(" ")
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn date(iso: &str) -> Date {
    Date::parse_iso(iso).expect("ground truth date")
}

fn us(d: Date) -> String {
    format!("{:02}/{:02}/{:04}", d.month(), d.day(), d.year())
}

fn us_short(d: Date) -> String {
    format!("{}/{}/{:02}", d.month(), d.day(), d.year() % 100)
}

fn long(d: Date) -> String {
    format!(
        "{} {}, {}",
        MONTHS[usize::from(d.month()) - 1],
        d.day(),
        d.year()
    )
}

fn dmy(d: Date) -> String {
    let month = &MONTHS[usize::from(d.month()) - 1][..3];
    format!("{:02}-{}-{}", d.day(), month.to_uppercase(), d.year())
}

fn title(loinc: &str) -> &'static str {
    match loinc {
        "34111-5" => "EMERGENCY DEPARTMENT NOTE",
        _ => "HISTORY AND PHYSICAL",
    }
}

/// Which identity parts a header prints; the safety variants leave some out or lie.
#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Full,
    WithoutMrn,
    MrnOnly,
}

/// A chart header for `note` in style `style` (0 to 5), as a hospital system would print it.
fn header(note: &Note, style: usize, mrn: &str, variant: Variant) -> String {
    let keep_digits = style % 2 == 1;
    let name_form = |n: &str| {
        if keep_digits {
            n.to_string()
        } else {
            strip_digits(n)
        }
    };
    let family = name_form(note.str("patient_family"));
    let given_all: Vec<String> = note.given().into_iter().map(name_form).collect();
    let given = given_all.first().cloned().unwrap_or_default();
    let given_full = given_all.join(" ");
    let author = name_form(note.author());
    let dob = date(note.str("date_of_birth"));
    let dos = date(note.str("date_of_service"));
    let t = title(note.loinc());
    let upper = |s: &str| s.to_uppercase();
    if variant == Variant::MrnOnly {
        return format!("MRN: {mrn}\n\n");
    }
    let mrn_line = |line: String| {
        if variant == Variant::WithoutMrn {
            String::new()
        } else {
            line
        }
    };
    match style {
        0 => format!(
            "GENERAL HOSPITAL\n{t}\nPATIENT: {}, {}\n{}DOB: {}\nDate of Service: {}\nAttending Physician: Dr. {author}\n\n",
            upper(&family),
            upper(&given),
            mrn_line(format!("MRN: {mrn}\n")),
            us(dob),
            us(dos)
        ),
        1 => format!(
            "Name: {given_full} {family}   {}D.O.B.: {}\nVisit Date: {dos}\n\n",
            mrn_line(format!("Med Rec #: {}   ", mrn.to_uppercase())),
            long(dob)
        ),
        2 => format!(
            "{t}\nPt: {}, {}  {}Birth Date: {}\nDOS: {}\nDictated by: {author}, MD\n\n",
            upper(&family),
            upper(&given_full),
            mrn_line(format!("Acct/MRN: {mrn}  ")),
            dmy(dob),
            us_short(dos)
        ),
        3 => format!(
            "Patient Name: {given} {family}\n{}DOB {dob}\n\n",
            mrn_line(format!("Medical Record No. {mrn}\n"))
        ),
        4 => format!(
            "PATIENT NAME:\n{}, {}\n{}Date of Birth: {}\nEncounter #: E{}\n{t}\n\n",
            upper(&family),
            upper(&given),
            mrn_line(format!("MR#: {mrn}\n")),
            long(dob),
            &note.str("document_id")[..8]
        ),
        _ => format!(
            "PATIENT: {}, {}\t\tDOB: {}\n{}Electronically signed by: Dr. {author} on {}\n\n",
            upper(&family),
            upper(&given),
            us(dob),
            mrn_line(format!("MRN: {mrn}\t\tSex: {}\n", note.str("gender"))),
            us(dos)
        ),
    }
}

fn chart(note: &Note, style: usize, mrn: &str, variant: Variant) -> String {
    format!("{}{}", header(note, style, mrn, variant), note.text)
}

fn value(field: &Option<him_extract::Field>) -> &str {
    field.as_ref().map_or("", |f| f.value.as_str())
}

fn score(accuracy: &mut Accuracy, note: &Note, style: usize, fields: &Fields) {
    accuracy.record(
        "patient_family",
        same_name(value(&fields.patient_family), note.str("patient_family")),
    );
    let given = note.given().first().copied().unwrap_or_default();
    accuracy.record(
        "patient_given",
        same_name(value(&fields.patient_given), given),
    );
    accuracy.record(
        "mrn",
        value(&fields.mrn).eq_ignore_ascii_case(note.str("mrn")),
    );
    accuracy.record(
        "date_of_birth",
        value(&fields.date_of_birth) == note.str("date_of_birth"),
    );
    accuracy.record(
        "date_of_service",
        value(&fields.date_of_service) == note.str("date_of_service"),
    );
    accuracy.record(
        "document_type",
        value(&fields.document_type) == note.loinc(),
    );
    if matches!(style, 0 | 2 | 4) {
        accuracy.record(
            "document_type (titled headers)",
            value(&fields.document_type) == note.loinc(),
        );
    } else {
        accuracy.record(
            "document_type (untitled: sections only)",
            value(&fields.document_type) == note.loinc(),
        );
    }
    if matches!(style, 0 | 2 | 5) {
        accuracy.record(
            "author (styles that print it)",
            same_name(value(&fields.author), note.author()),
        );
    }
    if style == 4 {
        accuracy.record(
            "encounter (style that prints it)",
            value(&fields.encounter).len() == 9,
        );
    }
}

/// One entry of the golden file: the flat summary the CLI prints, per note.
#[derive(serde::Serialize)]
struct Golden {
    note: String,
    style: usize,
    fields: std::collections::BTreeMap<&'static str, (String, f32)>,
    warnings: usize,
}

/// Every header style reads every identity field of every note correctly.
#[test]
fn synthea_per_field_accuracy() {
    let notes = notes();
    let mut accuracy = Accuracy::default();
    let mut golden = Vec::new();
    for (index, note) in notes.iter().enumerate() {
        // Each note in its own style, and every note in every style for the accuracy table.
        for style in 0..6 {
            let text = chart(note, style, note.str("mrn"), Variant::Full);
            let fields = extract(&[&text], &options());
            score(&mut accuracy, note, style, &fields);
            if style == index % 6 {
                golden.push(Golden {
                    note: note.file.clone(),
                    style,
                    fields: fields
                        .summary()
                        .into_iter()
                        .map(|(name, s)| (name, (s.value.to_string(), s.confidence)))
                        .collect(),
                    warnings: fields.warnings.len(),
                });
            }
        }
    }
    println!(
        "{}",
        accuracy.table(&format!(
            "Synthea dev notes x 6 header styles ({} charts)",
            notes.len() * 6
        ))
    );
    for field in [
        "patient_family",
        "patient_given",
        "mrn",
        "date_of_birth",
        "date_of_service",
    ] {
        let (correct, total) = accuracy.get(field);
        assert_eq!(correct, total, "{field}: {correct}/{total}");
    }
    let (correct, total) = accuracy.get("document_type (titled headers)");
    assert_eq!(correct, total, "titled document types: {correct}/{total}");
    insta::assert_json_snapshot!("synthea_fields", golden);
}

fn synthea_index() -> PatientIndex {
    let file = fs::File::open(fixtures().join("synthea/Patient.ndjson")).expect("patient fixture");
    PatientIndex::from_fhir_ndjson(file, CheckDigit::None).expect("patient index loads")
}

fn matched_mrn(outcome: &MatchOutcome) -> Option<&str> {
    match outcome {
        MatchOutcome::Matched { mrn, .. } => Some(mrn),
        MatchOutcome::Unmatched { .. } => None,
    }
}

/// No note is ever filed under another patient, whatever the header shows.
#[test]
fn synthea_matching_never_files_to_the_wrong_patient() {
    let notes = notes();
    let index = synthea_index();
    assert_eq!(index.len(), notes.len());
    let cfg = MatchConfig::default();
    let mut accuracy = Accuracy::default();
    let mut wrong = 0;
    for (position, note) in notes.iter().enumerate() {
        let own = note.str("mrn");
        let other = notes[(position + 1) % notes.len()].str("mrn");
        for style in 0..6 {
            let cases = [
                (
                    "full header: matched to the right patient",
                    own,
                    Variant::Full,
                    true,
                ),
                (
                    "no MRN: name + DOB matched when unique",
                    own,
                    Variant::WithoutMrn,
                    true,
                ),
                (
                    "another patient's MRN: unmatched",
                    other,
                    Variant::Full,
                    false,
                ),
                ("MRN only: unmatched", own, Variant::MrnOnly, false),
            ];
            for (label, mrn, variant, should_match) in cases {
                let text = chart(note, style, mrn, variant);
                let decision = match_patient(&extract(&[&text], &options()), &index, &cfg);
                let got = matched_mrn(&decision.outcome);
                if got.is_some_and(|m| m != own) {
                    wrong += 1;
                }
                let right = if should_match {
                    got == Some(own)
                } else {
                    got.is_none()
                };
                accuracy.record(label, right);
                if variant == Variant::MrnOnly {
                    assert_eq!(
                        decision.outcome,
                        MatchOutcome::Unmatched {
                            reason: UnmatchedReason::MrnOnly
                        },
                        "{} style {style}",
                        note.file
                    );
                }
            }
        }
    }
    accuracy.record("wrong-patient matches (must be 0)", wrong == 0);
    println!(
        "{}",
        accuracy.table("Synthea matching (13 patients, 6 header styles, 4 cases each)")
    );
    assert_eq!(wrong, 0, "a document was filed under the wrong patient");
    for label in [
        "full header: matched to the right patient",
        "another patient's MRN: unmatched",
        "MRN only: unmatched",
    ] {
        let (correct, total) = accuracy.get(label);
        assert_eq!(correct, total, "{label}: {correct}/{total}");
    }
}

//! Document-type classification over the MTSamples development notes of the corpus.

use std::fs;

use him_extract::extract;

use crate::common::{mtsamples, options, Accuracy};

/// The LOINC codes accepted for an MTSamples type; empty where LOINC has no matching type here.
fn expected(doc_type: &str) -> &'static [&'static str] {
    match doc_type {
        "discharge_summary" => &["18842-5"],
        "consult_history_physical" => &["34117-2", "11488-4"],
        "progress_note_soap" => &["11506-3"],
        "radiology_report" => &["18748-4"],
        "operative_note" => &["11504-8"],
        "emergency_room_report" => &["34111-5"],
        "pathology_report" => &["11526-1"],
        _ => &[],
    }
}

/// Notes of a type with a LOINC code mostly get that code; the accuracy is printed.
#[test]
fn mtsamples_document_types() {
    let dir = mtsamples();
    let manifest = fs::read_to_string(dir.join("manifest.csv")).expect("mtsamples manifest");
    let mut accuracy = Accuracy::default();
    let mut overall = Accuracy::default();
    for line in manifest.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let mut cells = line.split(',');
        let (Some(file), Some(doc_type)) = (cells.next(), cells.next()) else {
            panic!("malformed manifest line");
        };
        let text = fs::read_to_string(dir.join(file)).expect("mtsamples note");
        let fields = extract(&[&text], &options());
        let got = fields.document_type.as_ref().map(|f| f.value.as_str());
        let codes = expected(doc_type);
        let label: &'static str = Box::leak(doc_type.to_string().into_boxed_str());
        if codes.is_empty() {
            accuracy.record(label, got.is_none());
        } else {
            let right = got.is_some_and(|g| codes.contains(&g));
            accuracy.record(label, right);
            overall.record("types with a LOINC code", right);
        }
    }
    println!(
        "{}",
        accuracy.table("MTSamples dev: document type (no-code types: correct = no code assigned)")
    );
    println!("{}", overall.table("MTSamples dev: overall"));
    let (correct, total) = overall.get("types with a LOINC code");
    assert!(
        correct * 100 >= total * 60,
        "document type accuracy {correct}/{total} below 60%"
    );
}

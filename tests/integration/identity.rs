//! Identity: fields extracted from rendered chart pages, patients matched against an index, and no document
//! ever filed into the wrong patient's folder.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::support::{fixture, process_with};

/// One row of `fixtures/identity/truth.csv`.
struct Truth {
    file: String,
    expect: String,
    mrn: String,
    values: BTreeMap<&'static str, String>,
    reason: String,
}

fn truth() -> Vec<Truth> {
    let text = std::fs::read_to_string(fixture("identity/truth.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|row| {
            let c: Vec<&str> = row.split(',').collect();
            let values = BTreeMap::from([
                ("mrn", c[2].to_string()),
                ("patient_family", c[3].to_string()),
                ("patient_given", c[4].to_string()),
                ("date_of_birth", c[5].to_string()),
                ("date_of_service", c[6].to_string()),
                ("document_type", c[7].to_string()),
            ]);
            Truth {
                file: c[0].to_string(),
                expect: c[1].to_string(),
                mrn: c[2].to_string(),
                values,
                reason: c.get(8).unwrap_or(&"").to_string(),
            }
        })
        .collect()
}

/// Runs `him process` over the charts `names` of the fixture set `set` (`<set>/charts/`) against the set's
/// patient index; returns one JSON line per chart, in order, and stderr.
fn run_chart_set(
    set: &str,
    names: &[&str],
    env: &[(&str, &str)],
) -> (Vec<serde_json::Value>, String) {
    let files: Vec<PathBuf> = names
        .iter()
        .map(|name| fixture(&format!("{set}/charts/{name}")))
        .collect();
    let index = fixture(&format!("{set}/patients.csv"));
    let store = tempfile::tempdir().unwrap();
    let run = process_with(
        store.path(),
        &files,
        &["--workers", "2", "--patients", index.to_str().unwrap()],
        env,
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let lines = files.iter().map(|f| run.line_for(f).clone()).collect();
    (lines, run.stderr)
}

/// Runs the identity fixture set against its patient index; returns the truth rows with their JSON lines.
fn run_identity_set(env: &[(&str, &str)]) -> (Vec<(Truth, serde_json::Value)>, String) {
    let rows = truth();
    let names: Vec<&str> = rows.iter().map(|t| t.file.as_str()).collect();
    let (lines, stderr) = run_chart_set("identity", &names, env);
    (rows.into_iter().zip(lines).collect(), stderr)
}

fn same(field: &str, expected: &str, got: &str) -> bool {
    match field {
        "patient_family" | "patient_given" => expected.eq_ignore_ascii_case(got),
        _ => expected == got,
    }
}

/// Rendered Synthea charts (six header styles; clean, skewed, fax, PDF, noisy JPEG and upside-down scans) are
/// filed to the right patient or left unmatched — never to a wrong one — and the safety pages stay unmatched.
/// Prints the per-field accuracy table; the extracted fields are a golden snapshot.
#[test]
fn charts_are_filed_to_the_right_patient_or_left_unmatched() {
    let (results, _) = run_identity_set(&[]);
    let fields = [
        "patient_family",
        "patient_given",
        "mrn",
        "date_of_birth",
        "date_of_service",
        "document_type",
    ];
    let mut correct: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut filed_right, mut wrong, mut synthetic) = (0, 0, 0);
    let mut golden = BTreeMap::new();
    for (truth, line) in &results {
        let status = line["status"].as_str().unwrap();
        let filed_mrn = line["patient"]["mrn"].as_str();
        if status == "filed" {
            let location = him_store::Folder::parse(line["location"].as_str().unwrap());
            let folder_mrn = location.as_ref().and_then(|f| f.mrn()).map(|m| m.as_str());
            if truth.expect != "filed"
                || filed_mrn != Some(truth.mrn.as_str())
                || folder_mrn != Some(truth.mrn.as_str())
            {
                wrong += 1;
                eprintln!("WRONG PATIENT: {} filed under {location:?}", truth.file);
            }
        }
        if truth.expect == "filed" {
            synthetic += 1;
            if status == "filed" && filed_mrn == Some(truth.mrn.as_str()) {
                filed_right += 1;
            }
            for field in fields {
                let got = line["fields"][field]["value"].as_str().unwrap_or("");
                if same(field, &truth.values[field], got) {
                    *correct.entry(field).or_default() += 1;
                }
            }
        } else {
            assert_eq!(
                status, "unmatched",
                "safety page {} must stay unmatched: {line}",
                truth.file
            );
            let reason = line["unmatched_reason"].as_str().unwrap();
            let allowed: &[&str] = match truth.reason.as_str() {
                "mrn_conflict" | "dob_conflict" => &["mrn_conflict", "dob_conflict"],
                "unmatched" => &["no_candidate", "mrn_unknown"],
                other => &[other],
            };
            assert!(
                allowed.contains(&reason),
                "{}: reason {reason}, expected one of {allowed:?}",
                truth.file
            );
        }
        let summary: BTreeMap<String, String> = line["fields"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v["value"].as_str().unwrap_or("").to_string()))
            .collect();
        golden.insert(
            truth.file.clone(),
            serde_json::json!({ "status": status, "patient": line["patient"]["mrn"], "fields": summary }),
        );
    }
    println!("{:<18} {:>7} {:>5} {:>7}", "field", "correct", "total", "%");
    for field in fields {
        let c = correct.get(field).copied().unwrap_or(0);
        println!(
            "{field:<18} {c:>7} {synthetic:>5} {:>6.1}%",
            100.0 * c as f64 / synthetic as f64
        );
    }
    println!(
        "{:<18} {filed_right:>7} {synthetic:>5} {:>6.1}%",
        "filed to patient",
        100.0 * filed_right as f64 / synthetic as f64
    );
    println!("{:<18} {wrong:>7} {:>5}", "WRONG PATIENT", results.len());
    assert_eq!(
        wrong, 0,
        "a document was filed into the wrong patient's folder"
    );
    assert!(
        filed_right * 100 >= synthetic * 75,
        "only {filed_right}/{synthetic} charts filed to their patient"
    );
    insta::assert_json_snapshot!("identity_fixture_fields", golden);
}

/// With identity fields on the pages and a patient index loaded, the logs still hold no name, MRN or date.
#[test]
fn identity_values_never_reach_the_logs() {
    let (results, stderr) = run_identity_set(&[("HIM_LOG", "debug")]);
    assert!(stderr.contains("patient index loaded"), "{stderr}");
    let logs = stderr.to_lowercase();
    for (truth, _) in &results {
        for value in truth.values.values() {
            if value.len() >= 4 && !value.contains('-') || value.len() == 10 {
                assert!(
                    !logs.contains(&value.to_lowercase()),
                    "logs contain {value:?}:\n{stderr}"
                );
            }
        }
    }
}

/// One page of each header layout a department meets (two columns, labels above values, a ruled table, label
/// cells beside value cells, a letter, a patient sticker, one label per line), generated by
/// scripts/make-identity-corpus and scanned four ways: read by its OCR word boxes through real tesseract, each is
/// filed to its own patient with the name and date of birth it prints.
#[test]
fn each_header_layout_is_read_by_its_word_boxes() {
    let text = std::fs::read_to_string(fixture("identity-layouts/truth.csv")).unwrap();
    let rows: Vec<Vec<String>> = text
        .lines()
        .skip(1)
        .map(|row| row.split(',').map(str::to_string).collect())
        .collect();
    let names: Vec<&str> = rows.iter().map(|row| row[0].as_str()).collect();
    let (lines, _) = run_chart_set("identity-layouts", &names, &[]);
    let fold = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    for (row, line) in rows.iter().zip(&lines) {
        let (name, mrn, family, given, dob) = (&row[0], &row[3], &row[4], &row[5], &row[6]);
        assert_eq!(line["status"], "filed", "{name}: {line}");
        assert_eq!(
            line["patient"]["mrn"].as_str(),
            Some(mrn.as_str()),
            "{name}"
        );
        let field = |key: &str| {
            line["fields"][key]["value"]
                .as_str()
                .unwrap_or("")
                .to_string()
        };
        assert_eq!(fold(&field("patient_family")), fold(family), "{name}");
        assert_eq!(fold(&field("patient_given")), fold(given), "{name}");
        assert_eq!(field("date_of_birth"), *dob, "{name}");
    }
}

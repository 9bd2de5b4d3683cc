//! Scanned batches (issue #14): split at `him` cover sheets and patient labels, blank backs dropped, each
//! document filed to the sheet's patient, never to a wrong one; processing again files nothing twice. Real
//! tesseract, real `him coversheet` sheets (fixtures/batches, made by scripts/make-batch-fixtures).

use std::path::PathBuf;

use serde_json::Value;

use crate::support::{files_under, fixture, process_with, sha256_file, stored_json};

const A: &str = "40000002";
const B: &str = "40475147";
const C: &str = "40950289";

fn run(store: &std::path::Path, files: &[PathBuf]) -> crate::support::Run {
    let index = fixture("identity/patients.csv");
    let run = process_with(
        store,
        files,
        &["--workers", "2", "--patients", index.to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    run
}

/// The documents printed for one input: (scan pages, status, filed MRN, unmatched reason).
fn documents(
    run: &crate::support::Run,
    input: &std::path::Path,
) -> Vec<(Vec<u64>, String, String, String)> {
    let input = input.display().to_string();
    run.lines
        .iter()
        .filter(|line| line["input"] == input.as_str())
        .map(|line| {
            let pages = line["batch"]["pages"]
                .as_array()
                .unwrap_or_else(|| panic!("no batch pages in {line}"))
                .iter()
                .map(|p| p.as_u64().unwrap())
                .collect();
            let text = |v: &Value| v.as_str().unwrap_or("").to_string();
            (
                pages,
                text(&line["status"]),
                text(&line["patient"]["mrn"]),
                text(&line["unmatched_reason"]),
            )
        })
        .collect()
}

fn expect(
    pages: &[u64],
    status: &str,
    mrn: &str,
    reason: &str,
) -> (Vec<u64>, String, String, String) {
    (pages.to_vec(), status.into(), mrn.into(), reason.into())
}

#[test]
fn batches_split_at_sheets_and_labels_and_file_each_document_to_its_patient() {
    let fax = fixture("batches/fax-two-documents.tif");
    let faults = fixture("batches/sheets-and-faults.pdf");
    let labels = fixture("batches/labels-only.tif");
    let store = tempfile::tempdir().unwrap();
    let run = run(store.path(), &[fax.clone(), faults.clone(), labels.clone()]);

    // Fax mode (204×98 dpi G4): two sheets, blank backs after each document.
    assert_eq!(
        documents(&run, &fax),
        vec![expect(&[2], "filed", A, ""), expect(&[5], "filed", B, "")]
    );
    // A torn-off barcode is still a separator; a sheet in front of another patient's chart is a conflict.
    assert_eq!(
        documents(&run, &faults),
        vec![
            expect(&[2], "filed", C, ""),
            expect(&[4], "unmatched", "", "separator_unreadable"),
            expect(&[6], "unmatched", "", "cover_sheet_conflict"),
        ]
    );
    // Patient labels alone split the scan: pages of two patients are never one document.
    let split = documents(&run, &labels);
    assert_eq!(split.len(), 2, "{split:?}");
    assert_eq!(split[0].0, vec![1]);
    assert_eq!(split[1].0, vec![2]);
    for (document, mrn) in split.iter().zip([A, B]) {
        assert!(
            document.2.is_empty() || document.2 == mrn,
            "a labelled page filed to another patient: {document:?}"
        );
    }
    assert!(run
        .lines
        .iter()
        .all(|line| line["patient"]["rule"] != "mrn_only"));
    // Sheet C announced two pages; one followed: filed, and flagged for review.
    let flagged: Vec<&Value> = run
        .lines
        .iter()
        .filter(|l| l["risk_flags"] == serde_json::json!(["page_count_mismatch"]))
        .collect();
    assert_eq!(flagged.len(), 1, "{:?}", run.lines);
    assert_eq!(flagged[0]["patient"]["mrn"], C);

    // The scan byte for byte under batches/, with its record.
    let batch_id = run.line_for(&fax)["batch"]["document_id"]
        .as_str()
        .unwrap()
        .to_string();
    let folder = store.path().join("batches").join(&batch_id);
    assert_eq!(sha256_file(&folder.join("original.tif")), sha256_file(&fax));
    let record = stored_json(store.path(), &format!("batches/{batch_id}/batch.json"));
    assert_eq!(record["blank_pages"], serde_json::json!([3, 6]));
    assert_eq!(record["page_count"], 6);
    let roles: Vec<&str> = record["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        [
            "cover_sheet",
            "content",
            "blank",
            "cover_sheet",
            "content",
            "blank"
        ]
    );

    // Each document: document.pdf of its own pages, source.json, one page image per page.
    for line in run.lines.iter().filter(|l| l["status"] == "filed") {
        let location = line["location"].as_str().unwrap();
        let source = stored_json(store.path(), &format!("{location}/source.json"));
        assert_eq!(source["pages"], line["batch"]["pages"]);
        let pdf = std::fs::read(store.path().join(location).join("document.pdf")).unwrap();
        let pages = lopdf::Document::load_mem(&pdf).unwrap().get_pages().len();
        assert_eq!(pages, line["batch"]["pages"].as_array().unwrap().len());
        let manifest = stored_json(store.path(), &format!("{location}/document.json"));
        assert_eq!(manifest["batch"]["pages"], line["batch"]["pages"]);
        assert_eq!(
            manifest["page_count"],
            line["batch"]["pages"].as_array().unwrap().len()
        );
    }
    // Nothing of the conflicting or unreadable documents went into a patient folder.
    let filed: Vec<String> = files_under(store.path())
        .into_iter()
        .filter(|f| f.starts_with("patients/"))
        .collect();
    for line in run.lines.iter().filter(|l| l["status"] != "filed") {
        let id = line["document_id"].as_str().unwrap();
        assert!(
            !filed.iter().any(|f| f.contains(id)),
            "{id} under patients/"
        );
    }
}

#[test]
fn processing_a_batch_again_files_nothing_twice() {
    let fax = fixture("batches/fax-two-documents.tif");
    let store = tempfile::tempdir().unwrap();
    let first = run(store.path(), std::slice::from_ref(&fax));
    let written = files_under(store.path());
    let second = run(store.path(), std::slice::from_ref(&fax));
    assert_eq!(
        files_under(store.path()),
        written,
        "the second run wrote something"
    );
    assert_eq!(first.lines.len(), 2);
    assert_eq!(second.lines.len(), 2);
    for (a, b) in first.lines.iter().zip(&second.lines) {
        assert_eq!(b["status"], "duplicate", "{b}");
        assert_eq!(a["document_id"], b["document_id"]);
        assert_eq!(a["batch"], b["batch"]);
        assert_eq!(a["location"], b["location"]);
    }
}

#[test]
fn coversheet_refuses_bad_identifiers_without_echoing_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sheet.pdf");
    let sheet = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_him"))
            .arg("coversheet")
            .args(args)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    let made = sheet(&[
        "--mrn",
        A,
        "--dob",
        "1927-05-21",
        "--pages",
        "3",
        "--type",
        "34117-2",
    ]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert!(std::fs::read(&out).unwrap().starts_with(b"%PDF-"));
    for args in [
        ["--mrn", "40000002", "--dob", "1927-13-40"],
        ["--mrn", "4000|0002", "--dob", "1927-05-21"],
    ] {
        let refused = sheet(&args);
        assert_eq!(refused.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            !stderr.contains("1927-13-40") && !stderr.contains("4000|0002"),
            "{stderr}"
        );
    }
    // With the index: the date of birth comes from it, and an MRN nobody holds is refused.
    let index = fixture("identity/patients.csv");
    let index = index.to_str().unwrap();
    assert!(sheet(&["--mrn", A, "--patients", index]).status.success());
    assert_eq!(
        sheet(&["--mrn", "49999999", "--patients", index])
            .status
            .code(),
        Some(2)
    );
}

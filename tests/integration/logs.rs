//! No document text, filename or field value reaches the logs.

use crate::support::{fixture, process_with};

/// A run at debug level over a chart whose file name carries a patient name and birth date, and over a
/// corrupt PDF, logs ids, sizes and durations only.
#[test]
fn logs_hold_no_document_text_or_filename() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("OKEEFE_KARENA_1957-03-14_MRN4081123.tif");
    std::fs::copy(fixture("scans/phototest.tif"), &chart).unwrap();
    let corrupt = dir.path().join("MILLER_JANE_DISCHARGE.pdf");
    std::fs::write(
        &corrupt,
        b"%PDF-1.4\nPATIENT: MILLER, JANE DOB 03/14/1957\n",
    )
    .unwrap();
    let store = tempfile::tempdir().unwrap();
    let run = process_with(
        store.path(),
        &[chart.clone(), corrupt.clone()],
        &["--workers", "1"],
        &[("HIM_LOG", "debug")],
    );
    assert!(
        run.stderr.contains("document filed"),
        "the run should log: {}",
        run.stderr
    );
    let logs = run.stderr.to_lowercase();
    let forbidden = [
        "okeefe",
        "karena",
        "1957",
        "4081123",
        "miller",
        "jane",
        "discharge", // file names and content
        "quick",
        "brown",
        "lazy",
        "jumped",
        "point text", // words of the page
    ];
    for word in forbidden {
        assert!(
            !logs.contains(word),
            "logs contain {word:?}:\n{}",
            run.stderr
        );
    }
}

//! Filing is idempotent and create-only, and originals are kept byte for byte.

use crate::support::{files_under, fixture, process, sha256_file};

/// The same bytes processed twice (in one run, and again in a second run) are filed once; the others
/// report `duplicate`, and the store holds exactly one copy.
#[test]
fn same_file_twice_is_filed_once() {
    let dir = tempfile::tempdir().unwrap();
    let original = fixture("scans/phototest.tif");
    let copy = dir.path().join("copy-with-another-name.tif");
    std::fs::copy(&original, &copy).unwrap();
    let store = tempfile::tempdir().unwrap();

    let first = process(store.path(), &[original.clone(), copy.clone()]);
    let mut statuses: Vec<String> = first
        .lines
        .iter()
        .map(|l| l["status"].as_str().unwrap().to_string())
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["duplicate", "unmatched"], "{}", first.stderr);
    assert_eq!(
        first.line_for(&original)["document_id"],
        first.line_for(&copy)["document_id"]
    );
    let before = files_under(store.path());

    let second = process(store.path(), std::slice::from_ref(&original));
    assert_eq!(second.line_for(&original)["status"], "duplicate");
    assert_eq!(
        second.line_for(&original)["location"],
        first.line_for(&original)["location"]
    );
    assert_eq!(
        files_under(store.path()),
        before,
        "a duplicate must write nothing"
    );

    let originals = before
        .iter()
        .filter(|key| key.contains("/original."))
        .count();
    let index_entries = before
        .iter()
        .filter(|key| key.starts_with("index/"))
        .count();
    assert_eq!((originals, index_entries), (1, 1), "{before:#?}");
}

/// The stored original is byte-identical to the input, and the document id is derived from its SHA-256.
#[test]
fn stored_original_is_byte_identical() {
    let input = fixture("charts/phototest-g4.pdf");
    let store = tempfile::tempdir().unwrap();
    let run = process(store.path(), std::slice::from_ref(&input));
    let line = run.line_for(&input);
    let sha = sha256_file(&input);
    assert_eq!(line["sha256"], sha.as_str());
    assert_eq!(line["document_id"], &sha[..32]);
    let stored = store
        .path()
        .join(line["location"].as_str().unwrap())
        .join("original.pdf");
    assert_eq!(sha256_file(&stored), sha);
}

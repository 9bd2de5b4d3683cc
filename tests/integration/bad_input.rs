//! Bad input is rejected with a reason code, its original is kept, and the run goes on.

use std::path::{Path, PathBuf};

use crate::support::{
    files_under, fixture, process, process_one_with_config, process_with, sha256_file, stored_json,
};

/// Where the original of a processed input was stored, checked byte for byte.
fn assert_original_kept(store: &Path, input: &Path, line: &serde_json::Value) {
    let location = line["location"].as_str().unwrap();
    let original = files_under(&store.join(location))
        .into_iter()
        .find(|name| name.starts_with("original."))
        .unwrap_or_else(|| panic!("no original stored for {}", input.display()));
    assert_eq!(
        sha256_file(&store.join(location).join(original)),
        sha256_file(input),
        "stored original differs from {}",
        input.display()
    );
}

/// Every corrupt, truncated and fuzzed PDF of the corpus gets a JSON line with a status (and a reason when
/// rejected); the process never crashes; every original, rejected or not, is in the store.
#[test]
fn every_corrupt_pdf_gets_a_status_and_its_original_is_kept() {
    let root = fixture("pdf-bad");
    let files: Vec<PathBuf> = files_under(&root)
        .into_iter()
        .filter(|name| name.ends_with(".pdf"))
        .map(|name| root.join(name))
        .collect();
    assert!(
        files.len() >= 45,
        "expected the whole pdf-bad set, found {}",
        files.len()
    );
    let store = tempfile::tempdir().unwrap();
    let run = process(store.path(), &files);
    assert!(
        matches!(run.code, Some(0 | 1)),
        "process died: {:?}\n{}",
        run.code,
        run.stderr
    );
    assert_eq!(run.lines.len(), files.len());
    let mut rejected = 0;
    for file in &files {
        let line = run.line_for(file);
        let status = line["status"].as_str().unwrap();
        assert!(
            ["unmatched", "rejected", "duplicate"].contains(&status),
            "{}: {line}",
            file.display()
        );
        if status == "rejected" {
            rejected += 1;
            let reason = line["reason"]
                .as_str()
                .unwrap_or_else(|| panic!("no reason: {line}"));
            assert!(!reason.is_empty());
            let location = line["location"].as_str().unwrap();
            assert!(location.starts_with("rejected/"));
            let record = stored_json(store.path(), &format!("{location}/rejection.json"));
            assert_eq!(record["reason"], reason);
        }
        if status != "duplicate" {
            assert_original_kept(store.path(), file, line);
        }
    }
    assert!(rejected > 0, "some of these PDFs cannot be opened at all");
    assert_eq!(run.code, Some(1), "exit code 1 when any input was rejected");
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

/// Writes `bytes` to a file in `dir` and returns its path.
fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A PNG header declaring `width` × `height` pixels and nothing else.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut chunk = b"IHDR".to_vec();
    chunk.extend_from_slice(&ihdr);
    let crc = crc32(&chunk);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&chunk);
    png.extend_from_slice(&crc.to_be_bytes());
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A little-endian TIFF with one strip declaring `width` × `height` 8-bit gray pixels.
fn tiff_header(width: u32, height: u32) -> Vec<u8> {
    let mut tiff = b"II*\0\x08\0\0\0".to_vec();
    let entries: [(u16, u16, u32); 8] = [
        (256, 4, width),
        (257, 4, height),
        (258, 3, 8),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, 8),
        (278, 4, height),
        (279, 4, width.saturating_mul(height)),
    ];
    tiff.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for (tag, kind, value) in entries {
        tiff.extend_from_slice(&tag.to_le_bytes());
        tiff.extend_from_slice(&kind.to_le_bytes());
        tiff.extend_from_slice(&1u32.to_le_bytes());
        tiff.extend_from_slice(&value.to_le_bytes());
    }
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff
}

/// Empty, unsupported, truncated, encrypted, oversized and decompression-bomb inputs are rejected with their
/// reason codes, in one run that carries on past each of them.
#[test]
fn synthetic_bad_inputs_are_rejected_with_reason_codes() {
    let dir = tempfile::tempdir().unwrap();
    let jpeg_pdf = std::fs::read(fixture("charts/phototest-jpeg.pdf")).unwrap();
    let cases = [
        (write(dir.path(), "empty.pdf", b""), "empty"),
        (
            write(
                dir.path(),
                "notes.pdf",
                b"PATIENT: DOE, JANE\nnot a chart at all\n",
            ),
            "unsupported_type",
        ),
        (
            write(dir.path(), "truncated.pdf", &jpeg_pdf[..100]),
            "pdf_corrupt",
        ),
        (
            write(dir.path(), "bomb.png", &png_header(100_000, 100_000)),
            "image_bomb",
        ),
        (
            write(dir.path(), "bomb.tif", &tiff_header(200_000, 200_000)),
            "image_bomb",
        ),
        (
            write(dir.path(), "cut.png", &png_header(640, 480)),
            "image_corrupt",
        ),
        (fixture("charts/encrypted.pdf"), "pdf_encrypted"),
    ];
    let mut files: Vec<PathBuf> = cases.iter().map(|(path, _)| path.clone()).collect();
    let good = fixture("scans/phototest.tif");
    files.push(good.clone());
    let store = tempfile::tempdir().unwrap();
    let run = process(store.path(), &files);
    assert_eq!(run.code, Some(1));
    for (path, reason) in &cases {
        let line = run.line_for(path);
        assert_eq!(line["status"], "rejected", "{}: {line}", path.display());
        assert_eq!(line["reason"], *reason, "{}: {line}", path.display());
        assert_original_kept(store.path(), path, line);
    }
    assert_eq!(
        run.line_for(&good)["status"],
        "unmatched",
        "the good file after the bad ones is still filed"
    );
}

/// A file larger than `limits.max_file_bytes` is rejected as `too_large`, and its original kept.
#[test]
fn oversized_file_is_rejected_as_too_large() {
    let file = fixture("scans/phototest.tif");
    let store = tempfile::tempdir().unwrap();
    let run = process_one_with_config(store.path(), &file, "[limits]\nmax_file_bytes = 1000\n");
    let line = run.line_for(&file);
    assert_eq!(line["reason"], "too_large");
    assert_original_kept(store.path(), &file, line);
}

/// A file is recognised by its content, not its name: a PNG called `.pdf` is filed as a PNG.
#[test]
fn mislabelled_file_is_recognised_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let png = std::fs::read(fixture("scans/phototest-rotated-180.png")).unwrap();
    let path = write(dir.path(), "scan.pdf", &png);
    let store = tempfile::tempdir().unwrap();
    let run = process(store.path(), std::slice::from_ref(&path));
    let line = run.line_for(&path);
    assert_eq!(line["status"], "unmatched", "{line}");
    let location = line["location"].as_str().unwrap();
    assert!(store.path().join(location).join("original.png").exists());
}

/// Usage and configuration errors exit with code 2 before touching anything.
#[test]
fn config_errors_exit_with_code_two() {
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), "[ocr]\nlangauge = \"eng\"\n").unwrap();
    let store = tempfile::tempdir().unwrap();
    let run = process_with(
        store.path(),
        &[fixture("scans/phototest.tif")],
        &["--config", config.path().to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("unknown field"), "{}", run.stderr);
}

/// A bad file submitted again — here two empty files, one of them twice — is answered `rejected` with the
/// first rejection's reason and `duplicate_of`, never a bare `duplicate`: the sender learns why.
#[test]
fn a_resubmitted_bad_file_is_rejected_again_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let first = write(dir.path(), "scan-a.pdf", b"");
    let second = write(dir.path(), "dictation-b.wav", b"");
    let store = tempfile::tempdir().unwrap();
    let run = process(store.path(), &[first.clone(), second.clone()]);
    for file in [&first, &second] {
        let line = run.line_for(file);
        assert_eq!(line["status"], "rejected", "{line}");
        assert_eq!(line["reason"], "empty", "{line}");
    }
    let again = process(store.path(), std::slice::from_ref(&first));
    let line = again.line_for(&first);
    assert_eq!(line["status"], "rejected", "{line}");
    assert_eq!(line["reason"], "empty", "{line}");
    assert_eq!(line["duplicate_of"], line["document_id"], "{line}");
    assert_eq!(again.code, Some(1), "a rejection is a failed input");
}

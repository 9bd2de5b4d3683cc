//! Scanned charts: decoding, orientation, deskew and OCR accuracy against ground truth.

use std::path::PathBuf;

use crate::support::{cer, fixture, process, process_one_with_config, stored_json, stored_text};

/// The text of each page of a stored document.
fn page_texts(store: &std::path::Path, location: &str) -> Vec<String> {
    stored_text(store, &format!("{location}/text.txt"))
        .split('\u{c}')
        .map(str::to_string)
        .collect()
}

/// The tesseract test pages (upright, rotated, G4 PDF, JPEG PDF, /Rotate PDF, skewed, multi-page TIFF) are
/// read with a character error rate of at most 2 %.
#[test]
fn tesseract_test_pages_are_read_within_two_percent_cer() {
    let truth = std::fs::read_to_string(fixture("scans/phototest.txt")).unwrap();
    let eurotext = std::fs::read_to_string(fixture("scans/eurotext.txt")).unwrap();
    let single_pages = [
        "scans/phototest.tif",
        "scans/phototest-rotated-L.png",
        "scans/phototest-rotated-R.png",
        "scans/phototest-rotated-180.png",
        "scans/phototestrot.tif",
        "charts/phototest-g4.pdf",
        "charts/phototest-jpeg.pdf",
        "charts/phototest-rotate90.pdf",
        "charts/phototest-skew3.png",
    ];
    let mut files: Vec<PathBuf> = single_pages.iter().map(|f| fixture(f)).collect();
    files.push(fixture("charts/multipage.tif"));
    let store = tempfile::tempdir().unwrap();
    let run = process(store.path(), &files);
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);

    let mut table = vec![format!("{:<34} {:>6}", "page", "CER %")];
    let mut worst: f64 = 0.0;
    for (name, path) in single_pages.iter().zip(&files) {
        let line = run.line_for(path);
        assert_eq!(line["status"], "unmatched", "{name}: {line}");
        assert_eq!(line["pages"], 1, "{name}");
        let texts = page_texts(store.path(), line["location"].as_str().unwrap());
        let rate = cer(&truth, &texts[0]);
        worst = worst.max(rate);
        table.push(format!("{name:<34} {:>6.2}", rate * 100.0));
    }
    let multipage = run.line_for(files.last().unwrap());
    assert_eq!(multipage["pages"], 3);
    let texts = page_texts(store.path(), multipage["location"].as_str().unwrap());
    for (page, reference) in [(0usize, &truth), (2, &truth)] {
        let rate = cer(reference, &texts[page]);
        worst = worst.max(rate);
        table.push(format!(
            "{:<34} {:>6.2}",
            format!("charts/multipage.tif p{}", page + 1),
            rate * 100.0
        ));
    }
    // eurotext is five languages read with the English model: reported, held to a looser bound.
    let euro_rate = cer(&eurotext, &texts[1]);
    table.push(format!(
        "{:<34} {:>6.2}",
        "charts/multipage.tif p2 (eurotext)",
        euro_rate * 100.0
    ));
    println!("{}", table.join("\n"));
    assert!(
        worst <= 0.02,
        "worst CER {:.2} % over 2 %\n{}",
        worst * 100.0,
        table.join("\n")
    );
    assert!(euro_rate <= 0.08, "eurotext CER {:.2} %", euro_rate * 100.0);
}

/// Rotated pages record the rotation applied; the skewed page records its correction.
#[test]
fn manifests_record_rotation_and_skew() {
    let files = [
        fixture("scans/phototest-rotated-L.png"),
        fixture("scans/phototest-rotated-180.png"),
        fixture("charts/phototest-skew3.png"),
    ];
    let store = tempfile::tempdir().unwrap();
    let run = process(store.path(), &files);
    let rotation = |i: usize| {
        let location = run.line_for(&files[i])["location"]
            .as_str()
            .unwrap()
            .to_string();
        stored_json(store.path(), &format!("{location}/document.json"))["pages"][0].clone()
    };
    assert_eq!(rotation(0)["rotation_degrees"], 90);
    assert_eq!(rotation(1)["rotation_degrees"], 180);
    let skew = rotation(2)["skew_degrees"].as_f64().unwrap();
    assert!((skew + 3.0).abs() < 0.3, "skew correction {skew}");
}

/// With orientation detection off, the PDF page's own `/Rotate` still makes the page upright.
#[test]
fn pdf_rotate_is_honoured_without_orientation_detection() {
    let file = fixture("charts/phototest-rotate90.pdf");
    let store = tempfile::tempdir().unwrap();
    let run = process_one_with_config(store.path(), &file, "[ocr]\ndetect_orientation = false\n");
    let location = run.line_for(&file)["location"]
        .as_str()
        .unwrap()
        .to_string();
    let manifest = stored_json(store.path(), &format!("{location}/document.json"));
    assert_eq!(manifest["pages"][0]["rotation_degrees"], 90);
    let truth = std::fs::read_to_string(fixture("scans/phototest.txt")).unwrap();
    let text = stored_text(store.path(), &format!("{location}/text.txt"));
    assert!(cer(&truth, &text) <= 0.02, "{text}");
}

/// A born-digital page is read from its text layer, not OCR'd.
#[test]
fn born_digital_page_uses_its_text_layer() {
    let file = fixture("charts/born-digital.pdf");
    let store = tempfile::tempdir().unwrap();
    let run = process(store.path(), std::slice::from_ref(&file));
    let location = run.line_for(&file)["location"]
        .as_str()
        .unwrap()
        .to_string();
    let manifest = stored_json(store.path(), &format!("{location}/document.json"));
    assert_eq!(manifest["pages"][0]["source"], "text_layer");
    let text = stored_text(store.path(), &format!("{location}/text.txt"));
    assert!(text.contains("Born digital discharge letter"), "{text}");
}

/// Every filed chart has its manifest, text, per-word OCR with boxes and a normalised page image.
#[test]
fn filed_chart_has_manifest_text_words_and_page_images() {
    let file = fixture("charts/multipage.tif");
    let store = tempfile::tempdir().unwrap();
    let run = process(store.path(), std::slice::from_ref(&file));
    let line = run.line_for(&file);
    let location = line["location"].as_str().unwrap().to_string();
    assert!(location.starts_with("unmatched/"), "{location}");
    let manifest = stored_json(store.path(), &format!("{location}/document.json"));
    assert_eq!(manifest["document_id"], line["document_id"]);
    assert_eq!(manifest["kind"], "chart");
    assert_eq!(manifest["media_type"], "image/tiff");
    assert_eq!(manifest["status"], "unmatched");
    assert_eq!(manifest["page_count"], 3);
    assert!(manifest["engines"]["ocr"]
        .as_str()
        .unwrap()
        .starts_with("tesseract"));
    let ocr: him_core::OcrDocument =
        serde_json::from_str(&stored_text(store.path(), &format!("{location}/ocr.json")))
            .expect("ocr.json reads as him_core::OcrDocument");
    assert!(ocr.engine.starts_with("tesseract"), "{}", ocr.engine);
    assert_eq!(ocr.pages.len(), 3);
    let words = &ocr.pages[0].words;
    assert!(words.len() > 50);
    assert!(words[0].confidence > 50.0);
    for page in 1..=3 {
        let png = store.path().join(format!("{location}/pages/{page:04}.png"));
        let image =
            image::open(&png).unwrap_or_else(|e| panic!("page image {}: {e}", png.display()));
        let info = &manifest["pages"][page - 1];
        assert_eq!(u64::from(image.width()), info["width"].as_u64().unwrap());
        assert_eq!(u64::from(image.height()), info["height"].as_u64().unwrap());
        let words_of = &ocr.pages[page - 1];
        assert_eq!(words_of.number, page as u32);
        assert_eq!(
            (words_of.width, words_of.height),
            (image.width(), image.height())
        );
    }
}

//! Bad chart input is rejected with its reason code and never panics; a good page next to it still decodes.
//!
//! The fixtures are a small copy of the repository's bad-input corpora (see `fixtures/LICENSE.md` here).
//! Rendering is disabled so the outcome does not depend on poppler being installed, except in the one test
//! that only asks for the absence of panics.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use him_core::{MediaType, RejectReason};
use him_decode::{decode_chart, DecodedChart, DecodedPage, LimitsConfig, Rejection, Renderer};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Decodes `bytes` as `media`, turning a panic into a test failure that names the input.
fn decode(
    name: &str,
    bytes: &[u8],
    media: MediaType,
    renderer: &Renderer,
) -> Result<DecodedChart, Rejection> {
    let limits = LimitsConfig::default();
    catch_unwind(AssertUnwindSafe(|| {
        decode_chart(bytes, media, &limits, renderer)
    }))
    .unwrap_or_else(|_| panic!("decoding {name} as {media} panicked"))
}

/// Sniffs a fixture by content, as the pipeline does, and decodes it without a renderer.
fn decode_fixture(name: &str) -> (MediaType, Result<DecodedChart, Rejection>) {
    let bytes = fixture(name);
    let media = MediaType::sniff(&bytes).unwrap_or_else(|| panic!("{name} matches no media type"));
    (media, decode(name, &bytes, media, &Renderer::disabled()))
}

fn assert_rejected(name: &str, expected: RejectReason) {
    let (media, result) = decode_fixture(name);
    match result {
        Err(rejection) => {
            assert_eq!(
                rejection.reason, expected,
                "{name} ({media}): {}",
                rejection.detail
            );
            assert_eq!(rejection.reason.code(), expected.code());
            assert!(!rejection.detail.is_empty(), "{name}: a rejection says why");
        }
        Ok(chart) => panic!(
            "{name} ({media}) decoded into {} pages, expected {}",
            chart.pages.len(),
            expected.code()
        ),
    }
}

/// A PDF cut off after 100 bytes is `pdf_corrupt`.
#[test]
fn truncated_pdf_is_pdf_corrupt() {
    assert_rejected("truncated.pdf", RejectReason::PdfCorrupt);
}

/// A PDF encrypted with a user password is `pdf_encrypted`, not corrupt.
#[test]
fn encrypted_pdf_is_pdf_encrypted() {
    assert_rejected("encrypted.pdf", RejectReason::PdfEncrypted);
}

/// A broken PDF that cannot be opened is `pdf_corrupt`.
#[test]
fn unopenable_pdf_is_pdf_corrupt() {
    assert_rejected("bad34.pdf", RejectReason::PdfCorrupt);
}

/// A PDF with a damaged header matches no media type (the pipeline rejects it as `unsupported_type` before
/// decoding); decoded as a PDF anyway, it is `pdf_corrupt`.
#[test]
fn pdf_with_a_damaged_header_is_not_sniffed_and_is_pdf_corrupt() {
    let bytes = fixture("bad-direct-root.pdf");
    assert_eq!(MediaType::sniff(&bytes), None);
    let rejection = decode(
        "bad-direct-root.pdf",
        &bytes,
        MediaType::Pdf,
        &Renderer::disabled(),
    )
    .unwrap_err();
    assert_eq!(rejection.reason, RejectReason::PdfCorrupt);
}

/// A broken PDF whose encryption dictionary is invalid is still `pdf_encrypted`.
#[test]
fn broken_encrypted_pdf_is_pdf_encrypted() {
    assert_rejected("bad-encryption-length.pdf", RejectReason::PdfEncrypted);
}

/// Broken PDFs that open but have no page tree left are `pdf_no_pages`.
#[test]
fn pdfs_without_pages_are_pdf_no_pages() {
    for name in ["bad35.pdf", "poppler-937-0-fuzzed.pdf"] {
        assert_rejected(name, RejectReason::PdfNoPages);
    }
}

/// A broken PDF whose only page can be neither decoded nor rendered is `no_renderable_page`, with or without
/// poppler.
#[test]
fn pdf_without_a_renderable_page_is_no_renderable_page() {
    assert_rejected("bad40.pdf", RejectReason::NoRenderablePage);
    let bytes = fixture("bad40.pdf");
    let rejection = decode("bad40.pdf", &bytes, MediaType::Pdf, &Renderer::detect(72)).unwrap_err();
    assert_eq!(rejection.reason, RejectReason::NoRenderablePage);
}

/// A PDF lopdf recovers (bad xref) whose page is vector content needs rendering: without poppler it is
/// `no_renderable_page`.
#[test]
fn recovered_pdf_needing_rendering_is_no_renderable_page_without_poppler() {
    assert_rejected("bad4.pdf", RejectReason::NoRenderablePage);
}

/// A TIFF whose strip data is cut off is `image_corrupt`.
#[test]
fn truncated_tiff_is_image_corrupt() {
    assert_rejected("truncated.tif", RejectReason::ImageCorrupt);
}

/// A PNG declaring 10^10 pixels is `image_bomb`, from its header, before anything is allocated.
#[test]
fn png_bomb_is_image_bomb() {
    assert_rejected("bomb.png", RejectReason::ImageBomb);
}

/// Zero bytes match no media type (the pipeline rejects them as `empty` before decoding); handed to a
/// decoder anyway, each chart type rejects them without panicking.
#[test]
fn empty_file_is_rejected_by_every_decoder() {
    let bytes = fixture("empty.pdf");
    assert!(bytes.is_empty());
    assert_eq!(MediaType::sniff(&bytes), None);
    for (media, expected) in [
        (MediaType::Pdf, RejectReason::PdfCorrupt),
        (MediaType::Tiff, RejectReason::ImageCorrupt),
        (MediaType::Png, RejectReason::ImageCorrupt),
        (MediaType::Jpeg, RejectReason::ImageCorrupt),
    ] {
        let rejection = decode("empty.pdf", &bytes, media, &Renderer::disabled()).unwrap_err();
        assert_eq!(rejection.reason, expected, "empty as {media}");
    }
}

/// A PNG named `.pdf` is recognised by its content and decodes; decoded by its name instead, it would be
/// `pdf_corrupt`.
#[test]
fn mislabelled_file_is_decoded_by_content() {
    let (media, result) = decode_fixture("scan-named.pdf");
    assert_eq!(media, MediaType::Png);
    let chart = result.expect("the png decodes");
    assert_eq!(chart.pages.len(), 1);
    let bytes = fixture("scan-named.pdf");
    let rejection = decode(
        "scan-named.pdf",
        &bytes,
        MediaType::Pdf,
        &Renderer::disabled(),
    )
    .unwrap_err();
    assert_eq!(rejection.reason, RejectReason::PdfCorrupt);
}

/// A chart media type other than PDF, TIFF, PNG and JPEG is `unsupported_type`.
#[test]
fn audio_is_not_a_chart() {
    let bytes = fixture("phototest-g4.pdf");
    let rejection = decode(
        "phototest-g4.pdf",
        &bytes,
        MediaType::Wav,
        &Renderer::disabled(),
    )
    .unwrap_err();
    assert_eq!(rejection.reason, RejectReason::UnsupportedType);
}

/// The good page next to the bad ones decodes natively (CCITT G4 in a PDF) into a full-size gray raster.
#[test]
fn good_g4_pdf_page_is_decoded() {
    let (media, result) = decode_fixture("phototest-g4.pdf");
    assert_eq!(media, MediaType::Pdf);
    let chart = result.expect("the good page decodes");
    assert_eq!(chart.pages.len(), 1);
    let DecodedPage::Image {
        image, rendered, ..
    } = &chart.pages[0]
    else {
        panic!("expected a raster page");
    };
    assert!(!rendered, "decoded natively, not rendered");
    assert_eq!((image.width, image.height), (640, 480));
    assert_eq!(image.pixels.len(), 640 * 480);
    let dark = image.pixels.iter().filter(|&&p| p < 128).count();
    assert!(
        dark > 1000 && dark < image.pixels.len() / 2,
        "a page of black text on white paper, {dark} dark pixels"
    );
}

/// Every fixture, decoded as every chart type and with the real renderer when poppler is installed, gives
/// a result or a rejection and never a panic.
#[test]
fn no_fixture_panics_any_decoder() {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let renderer = Renderer::detect(72);
    let mut decoded = 0;
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "md") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        for media in [
            MediaType::Pdf,
            MediaType::Tiff,
            MediaType::Png,
            MediaType::Jpeg,
        ] {
            let _ = decode(&name, &bytes, media, &renderer);
            decoded += 1;
        }
    }
    assert!(decoded >= 40, "{decoded} decodes");
}

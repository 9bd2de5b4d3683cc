//! Untrusted chart bytes: content sniffing, then the PDF / TIFF (CCITT) / PNG / JPEG decoders under small limits.
//! Any panic, hang or allocation beyond the limits is a finding; a `Rejection` is the expected answer.
#![no_main]

use him_core::MediaType;
use him_decode::{decode_chart, LimitsConfig, Renderer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = LimitsConfig {
        max_file_bytes: 1 << 20,
        max_pages: 4,
        max_page_pixels: 4_000_000,
        max_ocr_side: 2000,
    };
    let renderer = Renderer::disabled();
    if let Some(media) = MediaType::sniff(data) {
        let _ = decode_chart(data, media, &limits, &renderer);
    }
    // Mislabelled input: every chart decoder must refuse bytes that are not its format.
    for media in [
        MediaType::Pdf,
        MediaType::Tiff,
        MediaType::Png,
        MediaType::Jpeg,
    ] {
        let _ = decode_chart(data, media, &limits, &renderer);
    }
});

//! Reads barcodes from page images the way the batch splitter does (`him_decode::barcode`), for
//! scripts/bench-batch: one JSON line per file, `{"file", "ms", "barcodes": [{"symbology", "text"}]}`.
//!
//! Usage: cargo run --release --example read-barcodes -- PAGE.png...

use std::time::Instant;

use him_decode::barcode::{read_barcodes, Symbology};

fn main() {
    for path in std::env::args().skip(1) {
        let image = match image::open(&path) {
            Ok(image) => image.to_luma8(),
            Err(error) => {
                println!(
                    "{}",
                    serde_json::json!({ "file": path, "error": error.to_string() })
                );
                continue;
            }
        };
        let (width, height) = image.dimensions();
        let Some(page) = him_core::PageImage::new(width, height, image.into_raw()) else {
            continue;
        };
        let started = Instant::now();
        let barcodes = read_barcodes(&page, &Symbology::ALL);
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        println!(
            "{}",
            serde_json::json!({ "file": path, "ms": ms, "barcodes": barcodes })
        );
    }
}

//! Barcodes on a page: cover sheets (DataMatrix, QR) and patient labels (Code 128, Code 39, PDF417,
//! DataMatrix), read with `rxing` (a Rust port of ZXing) from the page's grayscale raster.
//!
//! A scan is hostile input like any other: a decoder panic is contained and reads as "no barcode", never as a
//! failed job. Nothing here logs; a barcode's text is PHI (it carries the MRN) and is returned to the caller
//! only.

use std::collections::HashSet;

use him_core::PageImage;
use rxing::common::HybridBinarizer;
use rxing::multi::{GenericMultipleBarcodeReader, MultipleBarcodeReader};
use rxing::{
    BarcodeFormat, BinaryBitmap, DecodeHints, Luma8LuminanceSource, MultiUseMultiFormatReader,
};
use serde::{Deserialize, Serialize};

/// The symbologies `him` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Symbology {
    DataMatrix,
    Qr,
    Pdf417,
    Code128,
    Code39,
}

impl Symbology {
    fn rxing(self) -> BarcodeFormat {
        match self {
            Symbology::DataMatrix => BarcodeFormat::DATA_MATRIX,
            Symbology::Qr => BarcodeFormat::QR_CODE,
            Symbology::Pdf417 => BarcodeFormat::PDF_417,
            Symbology::Code128 => BarcodeFormat::CODE_128,
            Symbology::Code39 => BarcodeFormat::CODE_39,
        }
    }

    fn from_rxing(format: &BarcodeFormat) -> Option<Symbology> {
        Some(match format {
            BarcodeFormat::DATA_MATRIX => Symbology::DataMatrix,
            BarcodeFormat::QR_CODE => Symbology::Qr,
            BarcodeFormat::PDF_417 => Symbology::Pdf417,
            BarcodeFormat::CODE_128 => Symbology::Code128,
            BarcodeFormat::CODE_39 => Symbology::Code39,
            _ => return None,
        })
    }

    /// Every symbology read.
    pub const ALL: [Symbology; 5] = [
        Symbology::DataMatrix,
        Symbology::Qr,
        Symbology::Pdf417,
        Symbology::Code128,
        Symbology::Code39,
    ];
}

/// One barcode read from a page.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Barcode {
    pub symbology: Symbology,
    /// The decoded text: PHI (an MRN, a date of birth); never logged.
    pub text: String,
}

impl std::fmt::Debug for Barcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Barcode")
            .field("symbology", &self.symbology)
            .field("chars", &self.text.chars().count())
            .finish_non_exhaustive()
    }
}

/// Longest side of the raster handed to the barcode reader: larger pages are read at full size first and,
/// when nothing is found, once more scaled down (a blurred or noisy symbol often reads better smaller).
const SMALL_SIDE: u32 = 1700;

/// Most pixels read at full size (a 300 dpi 11×17 in page).
const MAX_FULL_PIXELS: u64 = 17_000_000;

/// Longest side a larger page is scaled down to.
const LARGE_SIDE: u32 = 5100;

/// Reads every barcode of `symbologies` on a page. Returns them in reading order, without repeats.
pub fn read_barcodes(image: &PageImage, symbologies: &[Symbology]) -> Vec<Barcode> {
    if symbologies.is_empty() || image.width < 16 || image.height < 16 {
        return Vec::new();
    }
    // A page larger than a 300 dpi tabloid scan is read only scaled down: time and memory stay bounded.
    if u64::from(image.width) * u64::from(image.height) > MAX_FULL_PIXELS {
        let small = downscale(image, LARGE_SIDE);
        return read_once(&small.pixels, small.width, small.height, symbologies);
    }
    // Salt-and-pepper noise (a dirty glass, a fax line) breaks the binarizer: a noisy page is read after a
    // 3×3 median filter, which removes specks and keeps modules and bars.
    let cleaned;
    let image = if speckle_share(image) > NOISY_SPECKLE_SHARE {
        cleaned = median3(image);
        &cleaned
    } else {
        image
    };
    let mut found = read_once(&image.pixels, image.width, image.height, symbologies);
    if found.is_empty() && image.width.max(image.height) > SMALL_SIDE {
        let small = downscale(image, SMALL_SIDE);
        found = read_once(&small.pixels, small.width, small.height, symbologies);
    }
    found
}

/// Share of isolated pixels (darker or lighter than all four neighbours by half the range) above which a
/// page is read median-filtered. A clean scan has almost none; 5 % salt-and-pepper noise gives about 5 %.
const NOISY_SPECKLE_SHARE: f32 = 0.002;

/// Share of isolated pixels, sampled on every other row and column.
fn speckle_share(image: &PageImage) -> f32 {
    let (w, h) = (image.width as usize, image.height as usize);
    if w < 3 || h < 3 {
        return 0.0;
    }
    let at = |x: usize, y: usize| i32::from(image.pixels[y * w + x]);
    let (mut isolated, mut sampled) = (0u32, 0u32);
    for y in (1..h - 1).step_by(2) {
        for x in (1..w - 1).step_by(2) {
            sampled += 1;
            let centre = at(x, y);
            let neighbours = [at(x - 1, y), at(x + 1, y), at(x, y - 1), at(x, y + 1)];
            if neighbours.iter().all(|&n| n - centre > 100)
                || neighbours.iter().all(|&n| centre - n > 100)
            {
                isolated += 1;
            }
        }
    }
    isolated as f32 / sampled.max(1) as f32
}

/// A 3×3 median filter (edges kept).
fn median3(image: &PageImage) -> PageImage {
    let (w, h) = (image.width as usize, image.height as usize);
    let mut pixels = image.pixels.clone();
    let mut window = [0u8; 9];
    for y in 1..h.saturating_sub(1) {
        for x in 1..w - 1 {
            let mut k = 0;
            for dy in 0..3 {
                let row = (y + dy - 1) * w;
                window[k..k + 3].copy_from_slice(&image.pixels[row + x - 1..row + x + 2]);
                k += 3;
            }
            let (_, median, _) = window.select_nth_unstable(4);
            pixels[y * w + x] = *median;
        }
    }
    PageImage {
        pixels,
        ..image.clone()
    }
}

fn read_once(pixels: &[u8], width: u32, height: u32, symbologies: &[Symbology]) -> Vec<Barcode> {
    let formats: HashSet<BarcodeFormat> = symbologies.iter().map(|s| s.rxing()).collect();
    let luma = pixels.to_vec();
    // rxing is a large port of ZXing: a panic on a malformed symbol reads as "nothing found".
    let results = std::panic::catch_unwind(move || {
        let source = Luma8LuminanceSource::new(luma, width, height).ok()?;
        let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source));
        let hints = DecodeHints {
            PossibleFormats: Some(formats),
            TryHarder: Some(true),
            ..DecodeHints::default()
        };
        let mut reader = GenericMultipleBarcodeReader::new(MultiUseMultiFormatReader::default());
        reader.decode_multiple_with_hints(&mut bitmap, &hints).ok()
    })
    .ok()
    .flatten()
    .unwrap_or_default();
    let mut barcodes: Vec<Barcode> = Vec::new();
    for result in results {
        let Some(symbology) = Symbology::from_rxing(result.getBarcodeFormat()) else {
            continue;
        };
        let barcode = Barcode {
            symbology,
            text: result.getText().to_string(),
        };
        if !barcode.text.is_empty() && !barcodes.contains(&barcode) {
            barcodes.push(barcode);
        }
    }
    barcodes
}

/// A box-filtered copy whose longest side is at most `max_side`.
pub(crate) fn downscale(image: &PageImage, max_side: u32) -> PageImage {
    let factor = image.width.max(image.height).div_ceil(max_side).max(1);
    let (w, h) = (image.width / factor, image.height / factor);
    let mut pixels = Vec::with_capacity(w as usize * h as usize);
    for y in 0..h {
        for x in 0..w {
            let mut sum = 0u32;
            for dy in 0..factor {
                let row = (y * factor + dy) as usize * image.width as usize;
                for dx in 0..factor {
                    sum += u32::from(image.pixels[row + (x * factor + dx) as usize]);
                }
            }
            pixels.push((sum / (factor * factor)) as u8);
        }
    }
    PageImage::new(w.max(1), h.max(1), pixels)
        .unwrap_or_else(|| image.clone())
        .with_dpi(image.dpi.map(|d| d / factor))
}

/// Encodes `text` as a symbol and returns its modules (`true` = dark), row by row, with its width: what
/// `him coversheet` prints and the tests scan. `None` when the text cannot be encoded in that symbology.
pub fn encode(symbology: Symbology, text: &str) -> Option<(u32, Vec<bool>)> {
    use rxing::Writer;
    let matrix = std::panic::catch_unwind(|| {
        rxing::MultiFormatWriter
            .encode(text, &symbology.rxing(), 0, 0)
            .ok()
    })
    .ok()
    .flatten()?;
    let (width, height) = (matrix.getWidth(), matrix.getHeight());
    let mut modules = Vec::with_capacity(width as usize * height as usize);
    for y in 0..height {
        for x in 0..width {
            modules.push(matrix.get(x, y));
        }
    }
    Some((width, modules))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draws a symbol at `module` pixels per module with a quiet zone, on a white page.
    fn page_with(symbology: Symbology, text: &str, module: u32) -> PageImage {
        let (width, modules) = encode(symbology, text).unwrap();
        let height = modules.len() as u32 / width;
        // 1-D symbols are one row high: draw them 60 modules tall.
        let rows = if height == 1 { 60 } else { height };
        let margin = 40;
        let (pw, ph) = (width * module + 2 * margin, rows * module + 2 * margin);
        let mut pixels = vec![255u8; (pw * ph) as usize];
        for y in 0..rows {
            for x in 0..width {
                let dark = modules[((y.min(height - 1)) * width + x) as usize];
                if dark {
                    for dy in 0..module {
                        for dx in 0..module {
                            let (px, py) = (margin + x * module + dx, margin + y * module + dy);
                            pixels[(py * pw + px) as usize] = 0;
                        }
                    }
                }
            }
        }
        PageImage::new(pw, ph, pixels).unwrap()
    }

    #[test]
    fn every_symbology_reads_back_what_was_encoded() {
        for symbology in Symbology::ALL {
            let text = match symbology {
                Symbology::Code39 => "MRN4081121",
                _ => "HIM1|M=4081121|B=19570314",
            };
            let page = page_with(symbology, text, 4);
            let read = read_barcodes(&page, &Symbology::ALL);
            assert_eq!(
                read,
                vec![Barcode {
                    symbology,
                    text: text.to_string()
                }],
                "{symbology:?}"
            );
        }
    }

    #[test]
    fn a_symbol_under_salt_and_pepper_noise_is_read() {
        let text = "HIM1|M=4081121|B=19570314";
        let mut page = page_with(Symbology::DataMatrix, text, 8);
        // 5 % of the pixels flipped to black or white.
        for (i, pixel) in page.pixels.iter_mut().enumerate() {
            let hash = (i as u32).wrapping_mul(2_654_435_761) >> 16;
            if hash % 100 < 5 {
                *pixel = if hash.is_multiple_of(2) { 0 } else { 255 };
            }
        }
        assert!(speckle_share(&page) > NOISY_SPECKLE_SHARE);
        let read = read_barcodes(&page, &Symbology::ALL);
        assert_eq!(read.first().map(|b| b.text.as_str()), Some(text));
    }

    #[test]
    fn a_blank_or_tiny_page_has_no_barcode() {
        let blank = PageImage::new(300, 300, vec![255; 90_000]).unwrap();
        assert!(read_barcodes(&blank, &Symbology::ALL).is_empty());
        let tiny = PageImage::new(4, 4, vec![0; 16]).unwrap();
        assert!(read_barcodes(&tiny, &Symbology::ALL).is_empty());
        let noise = PageImage::new(
            200,
            200,
            (0..40_000u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
                .collect(),
        )
        .unwrap();
        assert!(read_barcodes(&noise, &Symbology::ALL).is_empty());
    }

    #[test]
    fn only_the_asked_symbologies_are_read() {
        let page = page_with(Symbology::Code128, "MRN4081121", 3);
        assert!(read_barcodes(&page, &[Symbology::DataMatrix]).is_empty());
    }

    #[test]
    fn debug_prints_no_barcode_text() {
        let barcode = Barcode {
            symbology: Symbology::Qr,
            text: "4081121".into(),
        };
        assert!(!format!("{barcode:?}").contains("4081121"));
    }
}

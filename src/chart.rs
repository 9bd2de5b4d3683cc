//! The per-page chart work done on a pool thread: orientation, deskew, OCR with a retry, and the normalised
//! page image for the review UI.

use std::io::Cursor;

use him_core::{
    OcrEngine, OcrPage, OcrWord, Orientation, PageImage, PageInfo, PageSegMode, PageSource,
};
use him_ocr::OcrConfig;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};
use serde::Serialize;

use crate::cleanup;
use crate::decode::DecodedPage;

/// Everything produced for one page.
#[derive(Debug)]
pub struct PageOutput {
    pub info: PageInfo,
    pub text: String,
    pub words: Vec<OcrWord>,
    /// The normalised page raster as PNG, for the review UI.
    pub png: Option<Vec<u8>>,
    /// Seconds spent inside the OCR engine (recognition and orientation detection).
    pub engine_seconds: f64,
}

/// The per-page entry of `ocr.json`.
#[derive(Debug, Serialize)]
pub struct OcrJsonPage<'a> {
    pub number: u32,
    pub width: u32,
    pub height: u32,
    pub source: PageSource,
    pub mean_confidence: Option<f32>,
    pub words: &'a [OcrWord],
}

/// Object key, relative to the document folder, of page `number`'s image.
pub fn page_image_key(number: u32) -> String {
    format!("pages/{number:04}.png")
}

fn blank_info(number: u32, source: PageSource) -> PageInfo {
    PageInfo {
        number,
        source,
        width: 0,
        height: 0,
        rotation_degrees: 0,
        orientation_confidence: None,
        skew_degrees: 0.0,
        ocr_confidence: None,
        ocr_mode: None,
        words: 0,
        image: None,
        note: None,
    }
}

/// Turns one decoded page into text, words and a normalised image.
pub fn process_page(
    engine: &mut dyn OcrEngine,
    number: u32,
    page: DecodedPage,
    config: &OcrConfig,
    max_side: u32,
) -> PageOutput {
    match page {
        DecodedPage::Text { text } => PageOutput {
            info: blank_info(number, PageSource::TextLayer),
            text,
            words: Vec::new(),
            png: None,
            engine_seconds: 0.0,
        },
        DecodedPage::Unrendered { note } => PageOutput {
            info: PageInfo {
                note: Some(note),
                ..blank_info(number, PageSource::Unrendered)
            },
            text: String::new(),
            words: Vec::new(),
            png: None,
            engine_seconds: 0.0,
        },
        DecodedPage::Image {
            image,
            rotation,
            rendered,
        } => ocr_page(engine, number, image, rotation, rendered, config, max_side),
    }
}

fn ocr_page(
    engine: &mut dyn OcrEngine,
    number: u32,
    image: PageImage,
    container_rotation: Orientation,
    rendered: bool,
    config: &OcrConfig,
    max_side: u32,
) -> PageOutput {
    let source = if rendered {
        PageSource::OcrRendered
    } else {
        PageSource::Ocr
    };
    let mut info = blank_info(number, source);
    let mut engine_seconds = 0.0;
    let mut image = cleanup::fit_within(image, max_side);
    if container_rotation != Orientation::Up {
        image = image.rotated(container_rotation);
    }
    let mut rotation = container_rotation;
    if config.detect_orientation {
        let started = std::time::Instant::now();
        let detected = engine.detect_orientation(&image);
        engine_seconds += started.elapsed().as_secs_f64();
        if let Ok(Some((orientation, confidence))) = detected {
            info.orientation_confidence = Some(confidence);
            if orientation != Orientation::Up && confidence >= config.min_orientation_confidence {
                image = image.rotated(orientation);
                rotation = Orientation::from_degrees(
                    i64::from(rotation.degrees()) + i64::from(orientation.degrees()),
                )
                .unwrap_or(Orientation::Up);
            }
        }
    }
    info.rotation_degrees = rotation.degrees();
    let (image, skew) = cleanup::deskew(image, config.max_deskew_degrees);
    info.skew_degrees = skew;
    info.width = image.width;
    info.height = image.height;

    let started = std::time::Instant::now();
    let result = recognize_with_retry(engine, &image, config.retry_below_chars);
    engine_seconds += started.elapsed().as_secs_f64();
    let (text, words) = match result {
        Ok(page) => {
            info.ocr_confidence = Some(page.mean_confidence);
            info.ocr_mode = Some(page.mode);
            info.words = page.words.len();
            (page.text, page.words)
        }
        Err(error) => {
            info.note = Some(format!("ocr failed: {error}"));
            (String::new(), Vec::new())
        }
    };
    let png = encode_png(&image);
    if png.is_some() {
        info.image = Some(page_image_key(number));
    }
    PageOutput {
        info,
        text,
        words,
        png,
        engine_seconds,
    }
}

/// Reads a page; when almost no text comes back, reads it again in sparse-text mode and keeps the better pass.
fn recognize_with_retry(
    engine: &mut dyn OcrEngine,
    image: &PageImage,
    retry_below_chars: usize,
) -> him_core::Result<OcrPage> {
    let first = engine.recognize(image, PageSegMode::Auto)?;
    if first.alphanumeric_count() >= retry_below_chars {
        return Ok(first);
    }
    match engine.recognize(image, PageSegMode::Sparse) {
        Ok(second) if second.alphanumeric_count() > first.alphanumeric_count() => Ok(second),
        _ => Ok(first),
    }
}

fn encode_png(image: &PageImage) -> Option<Vec<u8>> {
    let mut png = Vec::new();
    PngEncoder::new_with_quality(
        Cursor::new(&mut png),
        CompressionType::Fast,
        FilterType::Sub,
    )
    .write_image(
        &image.pixels,
        image.width,
        image.height,
        ExtendedColorType::L8,
    )
    .ok()?;
    Some(png)
}

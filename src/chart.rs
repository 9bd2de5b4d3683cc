//! The per-page chart work done on a pool thread: orientation, deskew, OCR with a retry, and the normalised
//! page image for the review UI; and the chart stage of the pipeline that spreads pages over the OCR pool.

use std::io::Cursor;
use std::sync::Arc;

use him_core::{
    OcrDocument, OcrDocumentPage, OcrEngine, OcrPage, OcrWord, Orientation, PageImage, PageInfo,
    PageSegMode, PageSource,
};
use him_ocr::OcrConfig;
use him_store::Object;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};

use bytes::Bytes;
use him_core::{Kind, MediaType, RejectReason};
use tracing::warn;

use crate::batch::{BatchPlan, PageRole, PageScan};
use crate::cleanup;
use crate::identity::identify;
use crate::pipeline::{mean, Pipeline, Prepared, Stage};
use crate::pool::PoolError;
use him_decode::{open_chart, DecodedPage, Rejection};
use him_extract::PageContent;

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

impl Pipeline {
    /// Decodes a chart and reads its pages on the OCR pool (pages in parallel), then extracts and matches
    /// its identity.
    pub(crate) async fn prepare_chart(
        &self,
        original: Bytes,
        media: MediaType,
    ) -> anyhow::Result<Stage> {
        let limits = self.config.limits.clone();
        let renderer = self.renderer.clone();
        // Pages are decoded one at a time where they are used, never all at once: a 500-page scan holds
        // only the pages the engines are working on (the file and its parsed structure aside).
        let opened = self
            .engines
            .ocr
            .run(move |_engine| open_chart(original, media, &limits, &renderer))
            .await;
        let decoder_failed = || {
            let reason = if media == MediaType::Pdf {
                RejectReason::PdfCorrupt
            } else {
                RejectReason::ImageCorrupt
            };
            Rejection::new(reason, "decoder failed on malformed input")
        };
        let chart = match opened {
            Ok(Ok(chart)) => Arc::new(chart),
            Ok(Err(rejection)) => return Ok(Stage::Rejected(rejection)),
            // A decoder panic is the input's doing: reject it, keep the original, keep running.
            Err(PoolError::Panicked) => return Ok(Stage::Rejected(decoder_failed())),
            // A pool shut down says nothing about the input: the job is retried elsewhere.
            Err(error @ PoolError::Closed) => {
                return Err(anyhow::Error::new(error).context("chart decoding unavailable"))
            }
        };
        let count = chart.page_count();
        let max_side = self.config.limits.max_ocr_side;
        let batch_config = &self.config.batch;
        let label = crate::batch::label_regex(&batch_config.label_pattern)?;
        // Barcodes and ink first, on the pool: a cover sheet is not OCR'd, nor, in a batch, a blank page.
        // Each page is decoded for its scan and dropped; the OCR pass decodes it again (cheap next to OCR).
        let mut scans: Vec<PageScan> = vec![PageScan::default(); count];
        if batch_config.enabled {
            let scan_jobs = (0..count).map(|index| {
                let config = batch_config.clone();
                let label = label.clone();
                let chart = Arc::clone(&chart);
                let pool = &self.engines.ocr;
                async move {
                    pool.run(move |_engine| {
                        let page = chart.page(index)?;
                        Ok(match &page {
                            DecodedPage::Image { image, .. } => {
                                crate::batch::scan_page(image, &config, label.as_ref())
                            }
                            _ => PageScan::default(),
                        })
                    })
                    .await
                }
            });
            for (index, result) in futures::future::join_all(scan_jobs)
                .await
                .into_iter()
                .enumerate()
            {
                match result {
                    Ok(Ok(scan)) => scans[index] = scan,
                    Ok(Err(rejection)) => return Ok(Stage::Rejected(rejection)),
                    Err(error @ PoolError::Closed) => {
                        return Err(anyhow::Error::new(error).context("ocr engine unavailable"))
                    }
                    // A barcode reader panic is contained inside the scan: this is the decoder's.
                    Err(PoolError::Panicked) => return Ok(Stage::Rejected(decoder_failed())),
                }
            }
        }
        let batch_known = scans
            .iter()
            .any(|scan| scan.sheet.is_some() || scan.label.is_some());
        let page_jobs = (0..count).map(|index| {
            let config = self.config.ocr.clone();
            let number = index as u32 + 1;
            let pool = &self.engines.ocr;
            let chart = Arc::clone(&chart);
            let skip = scans[index].cover_sheet().is_some()
                || (batch_known && scans[index].is_blank_back(batch_config));
            async move {
                pool.run(move |engine| {
                    let page = chart.page(index)?;
                    Ok(if skip {
                        skipped_page(number, &page)
                    } else {
                        process_page(engine.as_mut(), number, page, &config, max_side)
                    })
                })
                .await
            }
        });
        let mut pages: Vec<PageOutput> = Vec::new();
        for (index, result) in futures::future::join_all(page_jobs)
            .await
            .into_iter()
            .enumerate()
        {
            match result {
                Ok(Ok(page)) => pages.push(page),
                Ok(Err(rejection)) => return Ok(Stage::Rejected(rejection)),
                Err(error @ PoolError::Closed) => {
                    return Err(anyhow::Error::new(error).context("ocr engine unavailable"))
                }
                Err(error) => {
                    warn!(page = index + 1, error = %error, "page processing failed");
                    return Ok(Stage::Rejected(Rejection::new(
                        RejectReason::EngineFailed,
                        format!("page {} failed: {error}", index + 1),
                    )));
                }
            }
        }
        if pages
            .iter()
            .all(|page| page.info.source == PageSource::Unrendered)
        {
            return Ok(Stage::Rejected(him_decode::no_renderable_page()));
        }
        if batch_config.enabled {
            let in_batch = batch_known
                || pages
                    .iter()
                    .any(|page| crate::batch::reads_as_cover_sheet(&page.text));
            let roles: Vec<PageRole> = pages
                .iter()
                .zip(&scans)
                .map(|(page, scan)| {
                    crate::batch::page_role(scan, &page.text, in_batch, batch_config)
                })
                .collect();
            if crate::batch::is_batch(&roles) {
                let split = crate::batch::split(&roles);
                return Ok(Stage::Batch(Box::new(BatchPlan {
                    engine_seconds: pages.iter().map(|p| p.engine_seconds).sum(),
                    pages,
                    scans,
                    roles,
                    split,
                })));
            }
        }
        let page_texts: Vec<&str> = pages.iter().map(|p| p.text.as_str()).collect();
        let contents: Vec<PageContent<'_>> = pages
            .iter()
            .map(|p| PageContent {
                text: &p.text,
                words: &p.words,
            })
            .collect();
        let index = self.patient_index();
        let identity = identify(
            &contents,
            index.as_deref(),
            &self.config.patients,
            &self.config.matching,
        );
        let text = page_texts.join("\n\u{c}\n");
        // The words are not needed after identification: they move into `ocr.json`.
        let ocr = OcrDocument {
            engine: self.engines.ocr_version.clone(),
            pages: pages
                .iter_mut()
                .map(|p| OcrDocumentPage {
                    number: p.info.number,
                    width: p.info.width,
                    height: p.info.height,
                    source: p.info.source,
                    mean_confidence: p.info.ocr_confidence,
                    words: std::mem::take(&mut p.words),
                })
                .collect(),
        };
        let mut objects = vec![
            (Object::Text, Bytes::from(text)),
            (Object::Ocr, Bytes::from(serde_json::to_vec(&ocr)?)),
        ];
        for page in &mut pages {
            if let Some(png) = page.png.take() {
                objects.push((Object::PageImage(page.info.number), Bytes::from(png)));
            }
        }
        Ok(Stage::Ready(Box::new(Prepared {
            kind: Kind::Chart,
            objects,
            confidence: mean(pages.iter().filter_map(|p| p.info.ocr_confidence)),
            engine_seconds: pages.iter().map(|p| p.engine_seconds).sum(),
            pages: pages.into_iter().map(|p| p.info).collect(),
            identity,
            duration_ms: None,
            risk_flags: Vec::new(),
            batch: None,
        })))
    }
}

/// A page not OCR'd (a cover sheet, or a blank page of a batch): its size, no text, no image.
fn skipped_page(number: u32, page: &DecodedPage) -> PageOutput {
    let (source, width, height) = match page {
        DecodedPage::Image {
            image, rendered, ..
        } => (
            if *rendered {
                PageSource::OcrRendered
            } else {
                PageSource::Ocr
            },
            image.width,
            image.height,
        ),
        DecodedPage::Text { .. } => (PageSource::TextLayer, 0, 0),
        DecodedPage::Unrendered { .. } => (PageSource::Unrendered, 0, 0),
    };
    PageOutput {
        info: PageInfo {
            width,
            height,
            note: Some("not read: a cover sheet or a blank page".to_string()),
            ..blank_info(number, source)
        },
        text: String::new(),
        words: Vec::new(),
        png: None,
        engine_seconds: 0.0,
    }
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
    let mut upright = cleanup::fit_within(image, max_side);
    if container_rotation != Orientation::Up {
        upright = upright.rotated(container_rotation);
    }
    // Most pages arrive upright: read first, and ask for orientation only when the reading is poor. An
    // upright page then costs one recognition, a turned one an extra detection and recognition.
    let (mut image, mut skew) = cleanup::deskew(upright.clone(), config.max_deskew_degrees);
    let mut rotation = container_rotation;
    let started = std::time::Instant::now();
    let mut result = recognize_with_retry(engine, &image, config.retry_below_chars);
    engine_seconds += started.elapsed().as_secs_f64();
    // Tesseract reads a page turned a quarter confidently, as columns of sideways lines: a reading whose
    // words stand taller than wide is not upright, however sure the engine is.
    let sideways = result.as_ref().is_ok_and(reads_sideways);
    let confident = !sideways
        && result.as_ref().is_ok_and(|page| {
            page.mean_confidence >= UPRIGHT_CONFIDENCE
                && page.alphanumeric_count() >= config.retry_below_chars
        });
    if config.detect_orientation && !confident {
        let started = std::time::Instant::now();
        let mut turns = Vec::new();
        if let Ok(Some((orientation, confidence))) = engine.detect_orientation(&upright) {
            info.orientation_confidence = Some(confidence);
            if orientation != Orientation::Up && confidence >= config.min_orientation_confidence {
                turns.push(orientation);
            }
        }
        if sideways {
            // Detection can fail on a sideways page: a quarter turn either way is tried.
            for turn in [Orientation::Right, Orientation::Left] {
                if !turns.contains(&turn) {
                    turns.push(turn);
                }
            }
        }
        for orientation in turns {
            let (turned, turned_skew) =
                cleanup::deskew(upright.rotated(orientation), config.max_deskew_degrees);
            let second = recognize_with_retry(engine, &turned, config.retry_below_chars);
            let second_sideways = second.as_ref().is_ok_and(reads_sideways);
            let first_sideways = result.as_ref().is_ok_and(reads_sideways);
            let better = (first_sideways && !second_sideways)
                || (first_sideways == second_sideways && score(&second) > score(&result));
            if better {
                (image, skew, result) = (turned, turned_skew, second);
                rotation = Orientation::from_degrees(
                    i64::from(container_rotation.degrees()) + i64::from(orientation.degrees()),
                )
                .unwrap_or(Orientation::Up);
            }
            if !result.as_ref().is_ok_and(reads_sideways) && score(&result) > 0.0 && sideways {
                break;
            }
        }
        engine_seconds += started.elapsed().as_secs_f64();
    }
    drop(upright);
    info.rotation_degrees = rotation.degrees();
    info.skew_degrees = skew;
    info.width = image.width;
    info.height = image.height;
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
        info.image = Some(Object::PageImage(number).name());
    }
    PageOutput {
        info,
        text,
        words,
        png,
        engine_seconds,
    }
}

/// Mean word confidence at or above which a first reading is taken as upright, with no orientation check.
const UPRIGHT_CONFIDENCE: f32 = 70.0;

/// Whether most words of a reading (three characters or more) stand taller than wide: the page was read
/// turned a quarter.
fn reads_sideways(page: &OcrPage) -> bool {
    let (mut tall, mut counted) = (0usize, 0usize);
    for word in page.words.iter().filter(|w| w.text.chars().count() >= 3) {
        counted += 1;
        if word.bbox[3] > word.bbox[2] {
            tall += 1;
        }
    }
    counted >= 5 && tall * 2 > counted
}

/// How good a reading is: letters and digits read, weighted by confidence.
fn score(result: &him_core::Result<OcrPage>) -> f32 {
    result.as_ref().map_or(0.0, |page| {
        page.alphanumeric_count() as f32 * page.mean_confidence
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn page(boxes: &[[u32; 4]]) -> OcrPage {
        OcrPage {
            text: String::new(),
            mean_confidence: 95.0,
            words: boxes
                .iter()
                .map(|&bbox| OcrWord {
                    text: "word".to_string(),
                    confidence: 95.0,
                    bbox,
                    line: 1,
                })
                .collect(),
            mode: PageSegMode::Auto,
        }
    }

    /// A page turned a quarter is read as columns of tall words, with high confidence: it is not upright.
    #[test]
    fn tall_words_mean_a_sideways_reading() {
        assert!(reads_sideways(&page(&[[10, 10, 30, 120]; 6])));
        assert!(!reads_sideways(&page(&[[10, 10, 120, 30]; 6])));
        assert!(
            !reads_sideways(&page(&[[10, 10, 30, 120]; 2])),
            "too few words to tell"
        );
    }
}

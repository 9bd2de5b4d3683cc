//! Decoding charts into page rasters: `decode` in `intake → queue → decode → ocr`.
//!
//! Every input is recognised by its content ([`MediaType::sniff`]); every size is checked against
//! [`LimitsConfig`] before any pixel buffer is allocated, so a decompression bomb is rejected, not decoded.

mod gray;
mod pdf;
mod raster;
mod render;
mod tiff;

pub use him_core::Rejection;
use him_core::{MediaType, Orientation, PageImage, RejectReason};
use serde::Deserialize;

pub use render::Renderer;

/// The `[limits]` section of `pipeline.toml`: what the pipeline refuses before doing any work.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest accepted file, in bytes.
    pub max_file_bytes: u64,
    /// Most pages in one chart.
    pub max_pages: u32,
    /// Most pixels in one page image (width × height), checked from the headers before decoding.
    pub max_page_pixels: u64,
    /// Longest side, in pixels, of the raster handed to OCR; larger pages are scaled down first.
    pub max_ocr_side: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_file_bytes: 256 * 1024 * 1024,
            max_pages: 500,
            max_page_pixels: 100_000_000,
            max_ocr_side: 7000,
        }
    }
}

/// One page of a decoded chart.
#[derive(Debug)]
pub enum DecodedPage {
    /// A raster for OCR, with the rotation the container asked for (PDF `/Rotate`).
    Image {
        image: PageImage,
        rotation: Orientation,
        rendered: bool,
    },
    /// A born-digital page's own text.
    Text { text: String },
    /// No raster could be produced: the page is reported, never silently dropped.
    Unrendered { note: String },
}

/// A decoded chart: its pages, in order.
#[derive(Debug)]
pub struct DecodedChart {
    pub pages: Vec<DecodedPage>,
}

/// Decodes a chart's bytes, already recognised as `media`, into pages.
pub fn decode_chart(
    bytes: &[u8],
    media: MediaType,
    limits: &LimitsConfig,
    renderer: &Renderer,
) -> Result<DecodedChart, Rejection> {
    let pages = match media {
        MediaType::Pdf => pdf::decode(bytes, limits, renderer)?,
        MediaType::Tiff => tiff::decode(bytes, limits)?,
        MediaType::Png | MediaType::Jpeg => vec![raster::decode(bytes, media, limits)?],
        other => {
            return Err(Rejection::new(
                RejectReason::UnsupportedType,
                format!("{other} is not a chart media type"),
            ))
        }
    };
    if pages.is_empty() {
        return Err(Rejection::new(
            RejectReason::PdfNoPages,
            "document has no pages",
        ));
    }
    if pages
        .iter()
        .all(|page| matches!(page, DecodedPage::Unrendered { .. }))
    {
        return Err(Rejection::new(
            RejectReason::NoRenderablePage,
            "no page could be decoded or rendered",
        ));
    }
    Ok(DecodedChart { pages })
}

/// Checks declared dimensions against the pixel limit before anything is allocated.
pub(crate) fn check_pixels(
    width: u64,
    height: u64,
    limits: &LimitsConfig,
) -> Result<(), Rejection> {
    if width == 0 || height == 0 {
        return Err(Rejection::new(
            RejectReason::ImageCorrupt,
            "image has a zero dimension",
        ));
    }
    match width.checked_mul(height) {
        Some(pixels) if pixels <= limits.max_page_pixels => Ok(()),
        _ => Err(Rejection::new(
            RejectReason::ImageBomb,
            format!(
                "image declares {width}x{height} pixels, over the limit of {}",
                limits.max_page_pixels
            ),
        )),
    }
}

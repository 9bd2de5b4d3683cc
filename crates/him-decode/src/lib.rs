//! Chart decoding for `him`: `decode` in `intake → queue → decode → ocr`, the chart twin of the audio decoding
//! in `him-asr`.
//!
//! Everything here parses hostile input: scans and exports arrive from stations, fax servers and other
//! hospitals, truncated, encrypted, fuzzed or built to exhaust memory. [`decode_chart`] turns the bytes of a PDF,
//! TIFF, PNG or JPEG (already recognised by content with [`him_core::MediaType::sniff`]) into a
//! [`DecodedChart`]: one [`DecodedPage`] per page, each an 8-bit grayscale [`him_core::PageImage`] for OCR, a
//! born-digital page's own text, or a page reported as unrendered. Every size is checked against
//! [`LimitsConfig`] (the `[limits]` section of `pipeline.toml`) from the headers before any pixel buffer is
//! allocated, so a decompression bomb is rejected, not decoded. Bad input is never an error to retry: it is a
//! [`Rejection`] carrying a [`him_core::RejectReason`] whose stable code (`pdf_corrupt`, `pdf_encrypted`,
//! `image_corrupt`, `image_bomb`, `too_many_pages`, ...) the pipeline files with the original.
//!
//! PDFs are decoded natively where the page is one scanned image (DCT, Flate/LZW raw pixels, CCITT G3/G4);
//! anything else (JBIG2, JPEG 2000, inline images, vector drawings, composite pages) is rendered by poppler's
//! `pdftoppm` through a [`Renderer`], when one is installed.
//!
//! ```
//! use std::io::Cursor;
//!
//! use him_core::{MediaType, RejectReason};
//! use him_decode::{decode_chart, DecodedPage, LimitsConfig, Renderer};
//!
//! let limits = LimitsConfig::default();
//! let renderer = Renderer::disabled();
//!
//! // A white 8×4 page, encoded as a PNG scan would be.
//! let mut png = Vec::new();
//! image::GrayImage::from_pixel(8, 4, image::Luma([255]))
//!     .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)?;
//! let media = MediaType::sniff(&png).expect("a png");
//! let chart = decode_chart(&png, media, &limits, &renderer).expect("a good page");
//! let DecodedPage::Image { image, .. } = &chart.pages[0] else { panic!("a raster page") };
//! assert_eq!((image.width, image.height), (8, 4));
//!
//! // A file that claims to be a PDF and is not one is rejected with its reason code.
//! let garbage = b"%PDF-1.7\nthis is not a pdf";
//! let rejection = decode_chart(garbage, MediaType::Pdf, &limits, &renderer).unwrap_err();
//! assert_eq!(rejection.reason, RejectReason::PdfCorrupt);
//! assert_eq!(rejection.reason.code(), "pdf_corrupt");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Nothing here logs: a rejection's detail names the defect, never document content.

pub mod assemble;
pub mod barcode;
mod config;
mod gray;
pub mod ink;
mod pdf;
mod raster;
mod render;
mod tiff;

pub use config::LimitsConfig;
pub use him_core::Rejection;
pub use render::Renderer;

use him_core::{MediaType, Orientation, PageImage, RejectReason};

/// One page of a decoded chart.
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

impl std::fmt::Debug for DecodedPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodedPage::Image {
                image,
                rotation,
                rendered,
            } => f
                .debug_struct("Image")
                .field("image", image)
                .field("rotation", rotation)
                .field("rendered", rendered)
                .finish(),
            // A text layer is document content: only its size is printed.
            DecodedPage::Text { text } => f
                .debug_struct("Text")
                .field("chars", &text.chars().count())
                .finish_non_exhaustive(),
            DecodedPage::Unrendered { note } => {
                f.debug_struct("Unrendered").field("note", note).finish()
            }
        }
    }
}

/// A decoded chart: its pages, in order.
#[derive(Debug)]
pub struct DecodedChart {
    pub pages: Vec<DecodedPage>,
}

/// Decodes a chart's bytes, already recognised as `media`, into pages: every page at once (see
/// [`open_chart`] for one page at a time).
pub fn decode_chart(
    bytes: &[u8],
    media: MediaType,
    limits: &LimitsConfig,
    renderer: &Renderer,
) -> Result<DecodedChart, Rejection> {
    let chart = open_chart(
        bytes::Bytes::copy_from_slice(bytes),
        media,
        limits,
        renderer,
    )?;
    let pages = (0..chart.page_count())
        .map(|index| chart.page(index))
        .collect::<Result<Vec<_>, _>>()?;
    if pages
        .iter()
        .all(|page| matches!(page, DecodedPage::Unrendered { .. }))
    {
        return Err(no_renderable_page());
    }
    Ok(DecodedChart { pages })
}

/// The rejection of a chart none of whose pages could be decoded or rendered.
pub fn no_renderable_page() -> Rejection {
    Rejection::new(
        RejectReason::NoRenderablePage,
        "no page could be decoded or rendered",
    )
}

/// A chart opened for decoding one page at a time: its container parsed and its page count checked against
/// the limits, no page raster made yet. Memory holds the file, its parsed structure and only the pages
/// being worked on, whatever the page count (a 500-page scan is never decoded whole). `Send + Sync`: the
/// pages of one chart can be decoded on several engine threads at once.
pub struct OpenChart {
    container: Container,
    limits: LimitsConfig,
    renderer: Renderer,
}

enum Container {
    Pdf(Box<pdf::Opened>),
    Tiff {
        bytes: bytes::Bytes,
        pages: usize,
    },
    Raster {
        bytes: bytes::Bytes,
        media: MediaType,
    },
}

/// Opens a chart's bytes, already recognised as `media`, for [`OpenChart::page`].
pub fn open_chart(
    bytes: bytes::Bytes,
    media: MediaType,
    limits: &LimitsConfig,
    renderer: &Renderer,
) -> Result<OpenChart, Rejection> {
    let container = match media {
        MediaType::Pdf => Container::Pdf(Box::new(pdf::open(bytes, limits)?)),
        MediaType::Tiff => {
            let pages = tiff::count(&bytes, limits)?;
            Container::Tiff { bytes, pages }
        }
        MediaType::Png | MediaType::Jpeg => Container::Raster { bytes, media },
        other => {
            return Err(Rejection::new(
                RejectReason::UnsupportedType,
                format!("{other} is not a chart media type"),
            ))
        }
    };
    let chart = OpenChart {
        container,
        limits: limits.clone(),
        renderer: renderer.clone(),
    };
    if chart.page_count() == 0 {
        return Err(Rejection::new(
            RejectReason::PdfNoPages,
            "document has no pages",
        ));
    }
    Ok(chart)
}

impl OpenChart {
    /// Pages in the chart (at least one).
    pub fn page_count(&self) -> usize {
        match &self.container {
            Container::Pdf(opened) => opened.page_count(),
            Container::Tiff { pages, .. } => *pages,
            Container::Raster { .. } => 1,
        }
    }

    /// Decodes page `index` (from 0). A page whose raster breaks the limits, or a corrupt page of a TIFF,
    /// rejects the chart; a PDF page that cannot be decoded natively nor rendered is
    /// [`DecodedPage::Unrendered`].
    pub fn page(&self, index: usize) -> Result<DecodedPage, Rejection> {
        match &self.container {
            Container::Pdf(opened) => opened.page(index, &self.limits, &self.renderer),
            Container::Tiff { bytes, .. } => tiff::page(bytes, index, &self.limits),
            Container::Raster { bytes, media } => raster::decode(bytes, *media, &self.limits),
        }
    }
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

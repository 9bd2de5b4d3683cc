//! PDF charts: page images from image XObjects (DCT, Flate/LZW raw pixels, CCITT fax), the page's `/Rotate`,
//! born-digital text layers, and `pdftoppm` rendering for what cannot be decoded natively.

use bytes::Bytes;
use him_core::{Orientation, PageImage, RejectReason};
use image::ImageFormat;
use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId, Stream};

use crate::gray::{to_luma, unpack_samples};
use crate::raster::decode_to_gray;
use crate::render::Renderer;
use crate::{check_pixels, DecodedPage, LimitsConfig, Rejection};

/// Letters and digits a visible text layer must hold for the page to count as born-digital.
const MIN_TEXT_LAYER_CHARS: usize = 16;
/// An image smaller than this share of the largest on its page is decoration (a logo), not the scan.
const SECONDARY_IMAGE_SHARE: i64 = 10;

fn corrupt(detail: impl Into<String>) -> Rejection {
    Rejection::new(RejectReason::PdfCorrupt, detail)
}

/// A parsed PDF whose pages are decoded one at a time.
pub(crate) struct Opened {
    document: Document,
    bytes: Bytes,
    /// Page numbers (from 1) and their objects, in order.
    pages: Vec<(u32, ObjectId)>,
}

impl Opened {
    pub(crate) fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// Decodes page `index` (from 0).
    pub(crate) fn page(
        &self,
        index: usize,
        limits: &LimitsConfig,
        renderer: &Renderer,
    ) -> Result<DecodedPage, Rejection> {
        let Some(&(number, page_id)) = self.pages.get(index) else {
            return Err(corrupt(format!("pdf has no page {}", index + 1)));
        };
        decode_page(
            &self.document,
            &self.bytes,
            number,
            page_id,
            limits,
            renderer,
        )
    }
}

/// Parses a PDF and checks its page count; no page is decoded.
pub(crate) fn open(bytes: Bytes, limits: &LimitsConfig) -> Result<Opened, Rejection> {
    let options = LoadOptions {
        max_decompressed_size: Some(
            usize::try_from(limits.max_page_pixels.saturating_mul(4)).unwrap_or(usize::MAX),
        ),
        ..LoadOptions::default()
    };
    let document = match Document::load_mem_with_options(&bytes, options) {
        Ok(document) => document,
        Err(error) => {
            if declares_encryption(&bytes) {
                return Err(Rejection::new(
                    RejectReason::PdfEncrypted,
                    format!("encrypted pdf cannot be opened: {error}"),
                ));
            }
            return Err(corrupt(format!("pdf cannot be parsed: {error}")));
        }
    };
    if document.is_encrypted() {
        return Err(Rejection::new(
            RejectReason::PdfEncrypted,
            "pdf is encrypted",
        ));
    }
    let pages = document.get_pages();
    if pages.is_empty() {
        return Err(Rejection::new(RejectReason::PdfNoPages, "pdf has no pages"));
    }
    if pages.len() as u64 > u64::from(limits.max_pages) {
        return Err(Rejection::new(
            RejectReason::TooManyPages,
            format!(
                "pdf has {} pages, over the limit of {}",
                pages.len(),
                limits.max_pages
            ),
        ));
    }
    let pages = pages.into_iter().collect();
    Ok(Opened {
        document,
        bytes,
        pages,
    })
}

/// Whether the trailer of an unparseable PDF names an encryption dictionary.
fn declares_encryption(bytes: &[u8]) -> bool {
    bytes.windows(8).any(|window| window == b"/Encrypt")
}

fn decode_page(
    document: &Document,
    bytes: &[u8],
    number: u32,
    page_id: ObjectId,
    limits: &LimitsConfig,
    renderer: &Renderer,
) -> Result<DecodedPage, Rejection> {
    let page = document
        .get_dictionary(page_id)
        .map_err(|e| corrupt(format!("page {number} is not a dictionary: {e}")))?;
    let rotation = inherited(document, page, b"Rotate")
        .and_then(|rotate| rotate.as_i64().ok())
        .and_then(Orientation::from_degrees)
        .unwrap_or(Orientation::Up);
    let page_points =
        inherited(document, page, b"MediaBox").and_then(|mediabox| media_size(document, mediabox));

    if visible_text_chars(document, page_id) >= MIN_TEXT_LAYER_CHARS {
        if let Ok(text) = document.extract_text(&[number]) {
            if text.chars().filter(|c| c.is_alphanumeric()).count() >= MIN_TEXT_LAYER_CHARS {
                return Ok(DecodedPage::Text { text });
            }
        }
    }

    let mut images = document.get_page_images(page_id).unwrap_or_default();
    images.sort_by_key(|image| std::cmp::Reverse(image.width.saturating_mul(image.height)));
    let render = |why: &str| -> DecodedPage {
        match renderer.render(bytes, number, page_points, limits) {
            Ok(image) => DecodedPage::Image {
                image,
                rotation: Orientation::Up,
                rendered: true,
            },
            Err(error) => DecodedPage::Unrendered {
                note: format!("{why}; {error}"),
            },
        }
    };
    let Some(largest) = images.first() else {
        return Ok(render(
            "page has no image xobject (inline image or vector content)",
        ));
    };
    let largest_area = largest.width.saturating_mul(largest.height);
    let composite = images.get(1).is_some_and(|second| {
        second.width.saturating_mul(second.height) * SECONDARY_IMAGE_SHARE >= largest_area
    });
    if composite && renderer.available() {
        return Ok(render("page is composed of several images"));
    }
    let (width, height) = (largest.width, largest.height);
    if width <= 0 || height <= 0 {
        return Ok(render("page image has no size"));
    }
    check_pixels(width as u64, height as u64, limits)?;
    let stream = match document.get_object(largest.id).and_then(Object::as_stream) {
        Ok(stream) => stream,
        Err(error) => return Ok(render(&format!("page image unreadable: {error}"))),
    };
    match decode_image_stream(document, stream, width as u32, height as u32, limits) {
        Ok(image) => Ok(DecodedPage::Image {
            image,
            rotation,
            rendered: false,
        }),
        Err(ImageDecodeError::Bomb(rejection)) => Err(rejection),
        Err(ImageDecodeError::NotNative(why)) => Ok(render(&why)),
    }
    .map(|page| match page {
        // A rendered page already has /Rotate applied by poppler.
        DecodedPage::Image {
            image,
            rendered: true,
            ..
        } => DecodedPage::Image {
            image,
            rotation: Orientation::Up,
            rendered: true,
        },
        other => other,
    })
}

/// A page attribute, looked up through the page tree (`/Rotate`, `/MediaBox` and `/Resources` inherit).
fn inherited<'a>(document: &'a Document, page: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
    let mut node = page;
    for _ in 0..64 {
        if let Ok(value) = node.get(key) {
            return document.dereference(value).ok().map(|(_, object)| object);
        }
        let parent = node.get(b"Parent").ok()?.as_reference().ok()?;
        node = document.get_dictionary(parent).ok()?;
    }
    None
}

fn media_size(document: &Document, mediabox: &Object) -> Option<(f64, f64)> {
    let values: Vec<f64> = mediabox
        .as_array()
        .ok()?
        .iter()
        .filter_map(|v| document.dereference(v).ok())
        .filter_map(|(_, v)| {
            v.as_float()
                .ok()
                .map(f64::from)
                .or_else(|| v.as_i64().ok().map(|i| i as f64))
        })
        .collect();
    (values.len() == 4).then(|| ((values[2] - values[0]).abs(), (values[3] - values[1]).abs()))
}

/// Bytes of text the page's content stream shows in a visible render mode (mode 3 is the invisible text an
/// OCR tool lays over a scan; such a page is scanned, not born-digital).
fn visible_text_chars(document: &Document, page_id: ObjectId) -> usize {
    let Ok(content) = document.get_and_decode_page_content(page_id) else {
        return 0;
    };
    let mut render_mode = 0i64;
    let mut visible = 0usize;
    for operation in &content.operations {
        match operation.operator.as_str() {
            "Tr" => {
                render_mode = operation
                    .operands
                    .first()
                    .and_then(|o| o.as_i64().ok())
                    .unwrap_or(0)
            }
            "Tj" | "TJ" | "'" | "\"" if render_mode != 3 => {
                visible += operation.operands.iter().map(shown_bytes).sum::<usize>();
            }
            _ => {}
        }
    }
    visible
}

fn shown_bytes(operand: &Object) -> usize {
    match operand {
        Object::String(bytes, _) => bytes.len(),
        Object::Array(items) => items.iter().map(shown_bytes).sum(),
        _ => 0,
    }
}

enum ImageDecodeError {
    /// Over the limits: the whole document is rejected.
    Bomb(Rejection),
    /// Not decodable here; the page is rendered instead.
    NotNative(String),
}

fn decode_image_stream(
    document: &Document,
    stream: &Stream,
    width: u32,
    height: u32,
    limits: &LimitsConfig,
) -> Result<PageImage, ImageDecodeError> {
    let dict = &stream.dict;
    let filters: Vec<Vec<u8>> = stream
        .filters()
        .map(|names| names.into_iter().map(<[u8]>::to_vec).collect())
        .unwrap_or_default();
    let inverted = decode_array_inverted(document, dict);
    let image_mask = dict
        .get(b"ImageMask")
        .and_then(Object::as_bool)
        .unwrap_or(false);
    let not_native = |why: String| ImageDecodeError::NotNative(why);
    let mut image = match filters.last().map(Vec::as_slice) {
        Some(b"DCTDecode") if filters.len() == 1 => {
            let image =
                decode_to_gray(&stream.content, ImageFormat::Jpeg, limits).map_err(|r| match r
                    .reason
                {
                    RejectReason::ImageBomb => ImageDecodeError::Bomb(r),
                    _ => not_native(r.detail),
                })?;
            return Ok(image);
        }
        Some(b"CCITTFaxDecode") if filters.len() == 1 => {
            let params = decode_params(document, dict, 0);
            decode_ccitt(&stream.content, width, height, params).map_err(not_native)?
        }
        Some(name @ (b"JBIG2Decode" | b"JPXDecode" | b"DCTDecode" | b"CCITTFaxDecode")) => {
            return Err(not_native(format!(
                "{} image needs rendering",
                String::from_utf8_lossy(name)
            )))
        }
        _ => {
            let bits = if image_mask {
                1
            } else {
                dict.get(b"BitsPerComponent")
                    .and_then(Object::as_i64)
                    .unwrap_or(8) as usize
            };
            let space = if image_mask {
                ColorSpace::Gray
            } else {
                dict.get(b"ColorSpace")
                    .map(|space| color_space(document, space, 0))
                    .unwrap_or(ColorSpace::Gray)
            };
            let components = space.components();
            let expected = (width as usize * components * bits).div_ceil(8) * height as usize;
            let data = stream
                .decompressed_content_with_limit(expected.saturating_add(4096))
                .map_err(|e| not_native(format!("image stream cannot be decompressed: {e}")))?;
            let samples = unpack_samples(&data, width as usize, height as usize, components, bits)
                .ok_or_else(|| {
                    not_native("image stream is shorter than its dimensions".to_string())
                })?;
            let pixels = space.to_gray(&samples, bits);
            PageImage::new(width, height, pixels).ok_or_else(|| {
                not_native("image samples do not match its dimensions".to_string())
            })?
        }
    };
    if inverted {
        image.pixels.iter_mut().for_each(|p| *p = 255 - *p);
    }
    Ok(image)
}

/// Whether `/Decode` maps the first component the other way round (`[1 0]`).
fn decode_array_inverted(document: &Document, dict: &Dictionary) -> bool {
    let Ok(decode) = dict.get(b"Decode") else {
        return false;
    };
    let Ok((_, Object::Array(values))) = document.dereference(decode) else {
        return false;
    };
    let number = |o: &Object| {
        o.as_float()
            .ok()
            .map(f64::from)
            .or_else(|| o.as_i64().ok().map(|i| i as f64))
    };
    matches!((values.first().and_then(number), values.get(1).and_then(number)), (Some(a), Some(b)) if a > b)
}

/// The `/DecodeParms` dictionary for filter `index`.
fn decode_params<'a>(
    document: &'a Document,
    dict: &'a Dictionary,
    index: usize,
) -> Option<&'a Dictionary> {
    let params = document.dereference(dict.get(b"DecodeParms").ok()?).ok()?.1;
    match params {
        Object::Dictionary(params) => Some(params),
        Object::Array(items) => document
            .dereference(items.get(index)?)
            .ok()?
            .1
            .as_dict()
            .ok(),
        _ => None,
    }
}

/// Decodes CCITT Group 4 (K < 0) or 1-D Group 3 (K = 0) data, honouring `BlackIs1`.
fn decode_ccitt(
    data: &[u8],
    width: u32,
    height: u32,
    params: Option<&Dictionary>,
) -> Result<PageImage, String> {
    let int = |key: &[u8], default: i64| {
        params
            .and_then(|p| p.get(key).ok())
            .and_then(|v| v.as_i64().ok())
            .unwrap_or(default)
    };
    let flag = |key: &[u8]| {
        params
            .and_then(|p| p.get(key).ok())
            .and_then(|v| v.as_bool().ok())
            .unwrap_or(false)
    };
    let k = int(b"K", 0);
    let columns =
        u32::try_from(int(b"Columns", 1728)).map_err(|_| "invalid ccitt columns".to_string())?;
    let black_is_1 = flag(b"BlackIs1");
    if flag(b"EncodedByteAlign") {
        return Err("byte-aligned ccitt data needs rendering".to_string());
    }
    if columns != width {
        return Err(format!(
            "ccitt columns {columns} differ from image width {width}"
        ));
    }
    let mut pixels = Vec::with_capacity(width as usize * height as usize);
    let mut rows = 0u32;
    let mut on_line = |transitions: &[u32]| {
        if rows >= height {
            return;
        }
        rows += 1;
        pixels.extend(fax::decoder::pels(transitions, width).map(|color| {
            // The filter's output bit for this pixel, then DeviceGray / ImageMask: a 1 bit is paper.
            let bit_is_one = (color == fax::Color::Black) == black_is_1;
            if bit_is_one {
                255u8
            } else {
                0u8
            }
        }));
    };
    let decoded = if k < 0 {
        fax::decoder::decode_g4(data.iter().copied(), width, Some(height), &mut on_line)
    } else if k == 0 {
        fax::decoder::decode_g3(data.iter().copied(), &mut on_line)
    } else {
        return Err("mixed 1-D/2-D ccitt (K > 0) needs rendering".to_string());
    };
    if decoded.is_none() && rows == 0 {
        return Err("ccitt data cannot be decoded".to_string());
    }
    // Lines missing at the end of the data are blank paper.
    pixels.resize(width as usize * height as usize, 255);
    PageImage::new(width, height, pixels).ok_or_else(|| "ccitt raster size mismatch".to_string())
}

/// The colour spaces a scanned image uses.
enum ColorSpace {
    Gray,
    Rgb,
    Cmyk,
    /// A separation or DeviceN tint: 1 is full ink.
    Tint(usize),
    Indexed {
        base: Box<ColorSpace>,
        lookup: Vec<u8>,
    },
}

impl ColorSpace {
    fn components(&self) -> usize {
        match self {
            ColorSpace::Gray | ColorSpace::Indexed { .. } => 1,
            ColorSpace::Rgb => 3,
            ColorSpace::Cmyk => 4,
            ColorSpace::Tint(n) => *n,
        }
    }

    /// Converts unpacked samples (scaled to 0–255) to gray.
    fn to_gray(&self, samples: &[u8], bits: usize) -> Vec<u8> {
        match self {
            ColorSpace::Gray | ColorSpace::Rgb | ColorSpace::Cmyk => {
                to_luma(samples, self.components())
            }
            ColorSpace::Tint(n) => samples.chunks_exact(*n).map(|p| 255 - p[0]).collect(),
            ColorSpace::Indexed { base, lookup } => {
                let max = (1usize << bits.min(8)) - 1;
                let width = base.components();
                samples
                    .iter()
                    .map(|&scaled| {
                        let index = usize::from(scaled) * max / 255;
                        match lookup.get(index * width..(index + 1) * width) {
                            Some(entry) => base.to_gray(entry, 8)[0],
                            None => 255,
                        }
                    })
                    .collect()
            }
        }
    }
}

fn color_space(document: &Document, object: &Object, depth: u8) -> ColorSpace {
    let Ok((_, object)) = document.dereference(object) else {
        return ColorSpace::Gray;
    };
    let name_space = |name: &[u8]| match name {
        b"DeviceRGB" | b"CalRGB" | b"RGB" | b"Lab" => ColorSpace::Rgb,
        b"DeviceCMYK" | b"CMYK" => ColorSpace::Cmyk,
        _ => ColorSpace::Gray,
    };
    match object {
        Object::Name(name) => name_space(name),
        Object::Array(items) if depth < 4 => {
            let family = items.first().and_then(|o| o.as_name().ok()).unwrap_or(b"");
            match family {
                b"ICCBased" => {
                    let n = items
                        .get(1)
                        .and_then(|o| document.dereference(o).ok())
                        .and_then(|(_, o)| o.as_stream().ok())
                        .and_then(|s| s.dict.get(b"N").ok()?.as_i64().ok())
                        .unwrap_or(1);
                    match n {
                        3 => ColorSpace::Rgb,
                        4 => ColorSpace::Cmyk,
                        _ => ColorSpace::Gray,
                    }
                }
                b"Indexed" | b"I" => {
                    let base = items
                        .get(1)
                        .map(|o| color_space(document, o, depth + 1))
                        .unwrap_or(ColorSpace::Rgb);
                    let lookup = items
                        .get(3)
                        .and_then(|o| document.dereference(o).ok())
                        .and_then(|(_, o)| match o {
                            Object::String(bytes, _) => Some(bytes.clone()),
                            Object::Stream(stream) => {
                                stream.decompressed_content_with_limit(4 * 256 * 4).ok()
                            }
                            _ => None,
                        })
                        .unwrap_or_default();
                    ColorSpace::Indexed {
                        base: Box::new(base),
                        lookup,
                    }
                }
                b"Separation" => ColorSpace::Tint(1),
                b"DeviceN" => ColorSpace::Tint(
                    items
                        .get(1)
                        .and_then(|o| o.as_array().ok())
                        .map_or(1, Vec::len),
                ),
                b"CalGray" => ColorSpace::Gray,
                b"CalRGB" | b"Lab" => ColorSpace::Rgb,
                other => name_space(other),
            }
        }
        _ => ColorSpace::Gray,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_corrupt_pdf() {
        let error = open(
            Bytes::from_static(b"%PDF-1.4\nnot really"),
            &LimitsConfig::default(),
        )
        .err()
        .unwrap();
        assert_eq!(error.reason, RejectReason::PdfCorrupt);
    }

    #[test]
    fn indexed_lookup_maps_to_gray() {
        let space = ColorSpace::Indexed {
            base: Box::new(ColorSpace::Rgb),
            lookup: vec![0, 0, 0, 255, 255, 255],
        };
        // 1-bit indices, unpacked and scaled: 0 and 255.
        assert_eq!(space.to_gray(&[0, 255], 1), vec![0, 255]);
    }
}

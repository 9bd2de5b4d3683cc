//! TIFF charts, all pages (uncompressed, LZW, PackBits, Deflate, JPEG, CCITT G3/G4).

use std::io::Cursor;

use him_core::{Orientation, PageImage, RejectReason};
use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::tags::{ResolutionUnit, Tag};
use tiff::ColorType;

use crate::gray::{to_luma, unpack_samples};
use crate::{check_pixels, DecodedPage, LimitsConfig, Rejection};

fn corrupt(error: impl std::fmt::Display) -> Rejection {
    Rejection::new(
        RejectReason::ImageCorrupt,
        format!("tiff decode failed: {error}"),
    )
}

/// Decodes every page (image file directory) of a TIFF.
/// A decoder over `bytes` with the memory limits applied.
fn decoder<'a>(
    bytes: &'a [u8],
    limits: &LimitsConfig,
) -> Result<Decoder<Cursor<&'a [u8]>>, Rejection> {
    let decoder = Decoder::new(Cursor::new(bytes)).map_err(corrupt)?;
    let mut tiff_limits = Limits::default();
    tiff_limits.decoding_buffer_size =
        usize::try_from(limits.max_page_pixels.saturating_mul(4)).unwrap_or(usize::MAX);
    tiff_limits.intermediate_buffer_size = tiff_limits.decoding_buffer_size;
    Ok(decoder.with_limits(tiff_limits))
}

/// Counts the pages (image directories) of a TIFF, reading no pixel: a corrupt directory chain or more
/// pages than the limit rejects it.
pub(crate) fn count(bytes: &[u8], limits: &LimitsConfig) -> Result<usize, Rejection> {
    let mut decoder = decoder(bytes, limits)?;
    let mut pages = 1usize;
    while decoder.more_images() {
        if pages as u32 >= limits.max_pages {
            return Err(Rejection::new(
                RejectReason::TooManyPages,
                format!("tiff has more than {} pages", limits.max_pages),
            ));
        }
        decoder.next_image().map_err(corrupt)?;
        pages += 1;
    }
    Ok(pages)
}

/// Decodes page `index` (from 0) of a TIFF.
pub(crate) fn page(
    bytes: &[u8],
    index: usize,
    limits: &LimitsConfig,
) -> Result<DecodedPage, Rejection> {
    let mut decoder = decoder(bytes, limits)?;
    if index > 0 {
        decoder.seek_to_image(index).map_err(corrupt)?;
    }
    decode_page(&mut decoder, limits)
}

fn decode_page(
    decoder: &mut Decoder<Cursor<&[u8]>>,
    limits: &LimitsConfig,
) -> Result<DecodedPage, Rejection> {
    let (width, height) = decoder.dimensions().map_err(corrupt)?;
    check_pixels(u64::from(width), u64::from(height), limits)?;
    let color = decoder.colortype().map_err(corrupt)?;
    let dpi = resolution(decoder, Tag::XResolution);
    let y_dpi = resolution(decoder, Tag::YResolution);
    let (components, bits) = match color {
        ColorType::Gray(bits) | ColorType::Palette(bits) => (1, bits),
        ColorType::GrayA(bits) => (2, bits),
        ColorType::RGB(bits) | ColorType::YCbCr(bits) => (3, bits),
        ColorType::RGBA(bits) | ColorType::CMYK(bits) => (4, bits),
        other => return Err(corrupt(format!("unsupported tiff color type {other:?}"))),
    };
    let samples = match decoder.read_image().map_err(corrupt)? {
        DecodingResult::U8(data) => unpack_samples(
            &data,
            width as usize,
            height as usize,
            components,
            usize::from(bits),
        ),
        DecodingResult::U16(data) => Some(data.iter().map(|v| (v >> 8) as u8).collect()),
        _ => None,
    }
    .ok_or_else(|| corrupt("tiff sample layout does not match its dimensions"))?;
    let pixels = match color {
        ColorType::Palette(bits) => apply_palette(decoder, &samples, bits)?,
        ColorType::GrayA(_) => samples
            .chunks_exact(2)
            .map(|p| {
                ((u32::from(p[0]) * u32::from(p[1]) + 255 * (255 - u32::from(p[1]))) / 255) as u8
            })
            .collect(),
        ColorType::CMYK(_) => to_luma(&samples, 4),
        ColorType::RGBA(_) => samples
            .chunks_exact(4)
            .flat_map(|p| {
                let alpha = u32::from(p[3]);
                p[..3]
                    .iter()
                    .map(move |&c| ((u32::from(c) * alpha + 255 * (255 - alpha)) / 255) as u8)
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<u8>>()
            .chunks_exact(3)
            .flat_map(|p| to_luma(p, 3))
            .collect(),
        _ => to_luma(&samples, components),
    };
    let mut image = PageImage::new(width, height, pixels)
        .ok_or_else(|| corrupt("tiff pixel count does not match its dimensions"))?
        .with_dpi(dpi);
    if let (Some(x), Some(y)) = (dpi, y_dpi) {
        image = square_pixels(image, x, y, limits)?;
    }
    Ok(DecodedPage::Image {
        image,
        rotation: Orientation::Up,
        rendered: false,
    })
}

/// Palette indices (already scaled to 0–255 by unpacking) mapped through the TIFF ColorMap to gray.
fn apply_palette(
    decoder: &mut Decoder<Cursor<&[u8]>>,
    samples: &[u8],
    bits: u8,
) -> Result<Vec<u8>, Rejection> {
    let map = decoder
        .get_tag_u16_vec(Tag::ColorMap)
        .map_err(|_| corrupt("palette tiff without a color map"))?;
    let entries = 1usize << bits;
    if map.len() < entries * 3 {
        return Err(corrupt("tiff color map is too short"));
    }
    let max = (entries - 1).max(1);
    Ok(samples
        .iter()
        .map(|&scaled| {
            let index = usize::from(scaled) * max / 255;
            let rgb = [
                map[index] >> 8,
                map[entries + index] >> 8,
                map[2 * entries + index] >> 8,
            ]
            .map(|v| v as u8);
            to_luma(&rgb, 3)[0]
        })
        .collect())
}

/// A fax page scanned at 204×98 dpi ("standard" fax mode) has pixels twice as tall as wide: text and
/// two-dimensional barcodes read on it only once its rows are repeated to square pixels. Ratios within 20 %
/// of square are left alone.
fn square_pixels(
    image: PageImage,
    x_dpi: u32,
    y_dpi: u32,
    limits: &LimitsConfig,
) -> Result<PageImage, Rejection> {
    let ratio = x_dpi as f32 / y_dpi.max(1) as f32;
    if !(1.2..=8.0).contains(&ratio) {
        return Ok(image);
    }
    let height = (image.height as f32 * ratio).round() as u32;
    check_pixels(u64::from(image.width), u64::from(height), limits)?;
    let width = image.width as usize;
    let mut pixels = Vec::with_capacity(width * height as usize);
    for row in 0..height {
        let source = ((row as f32 / ratio) as usize).min(image.height as usize - 1);
        pixels.extend_from_slice(&image.pixels[source * width..(source + 1) * width]);
    }
    Ok(PageImage::new(image.width, height, pixels)
        .unwrap_or(image)
        .with_dpi(Some(x_dpi)))
}

/// The page's resolution along one axis (`XResolution` or `YResolution`) in dots per inch, when declared.
fn resolution(decoder: &mut Decoder<Cursor<&[u8]>>, tag: Tag) -> Option<u32> {
    // Resolutions are RATIONAL in the specification; some writers use other number types.
    let x = match decoder.get_tag(tag).ok()? {
        tiff::decoder::ifd::Value::Rational(n, d) if d > 0 => f64::from(n) / f64::from(d),
        tiff::decoder::ifd::Value::Unsigned(n) => f64::from(n),
        tiff::decoder::ifd::Value::Short(n) => f64::from(n),
        tiff::decoder::ifd::Value::Float(v) => f64::from(v),
        tiff::decoder::ifd::Value::Double(v) => v,
        _ => return None,
    };
    let unit = decoder
        .get_tag_u32(Tag::ResolutionUnit)
        .ok()
        .and_then(|u| ResolutionUnit::from_u16(u as u16))
        .unwrap_or(ResolutionUnit::Inch);
    let dpi = match unit {
        ResolutionUnit::Centimeter => x * 2.54,
        ResolutionUnit::Inch => x,
        _ => return None,
    };
    (dpi.is_finite() && dpi >= 1.0).then(|| dpi.round() as u32)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use tiff::encoder::{colortype, Rational, TiffEncoder};

    use super::*;

    fn tiff_at(x_dpi: u32, y_dpi: u32) -> Vec<u8> {
        let mut bytes = Cursor::new(Vec::new());
        let mut encoder = TiffEncoder::new(&mut bytes).unwrap();
        let mut image = encoder.new_image::<colortype::Gray8>(20, 10).unwrap();
        image.x_resolution(Rational { n: x_dpi, d: 1 });
        image.y_resolution(Rational { n: y_dpi, d: 1 });
        image.resolution_unit(ResolutionUnit::Inch);
        let pixels: Vec<u8> = (0..200u32).map(|i| (i / 20 * 20) as u8).collect();
        image.write_data(&pixels).unwrap();
        bytes.into_inner()
    }

    /// A fax page in standard mode (204×98 dpi) has its rows repeated to square pixels; a square one is kept.
    #[test]
    fn fax_standard_mode_pages_get_square_pixels() {
        let limits = LimitsConfig::default();
        let DecodedPage::Image { image, .. } = &page(&tiff_at(204, 98), 0, &limits).unwrap() else {
            panic!("a raster page")
        };
        assert_eq!((image.width, image.height, image.dpi), (20, 21, Some(204)));
        // Row 0 of the source is rows 0-1 of the result; the last source row ends the page.
        assert_eq!(image.get(0, 1), 0);
        assert_eq!(image.get(0, 20), 180);
        let DecodedPage::Image { image, .. } = &page(&tiff_at(200, 200), 0, &limits).unwrap()
        else {
            panic!("a raster page")
        };
        assert_eq!((image.width, image.height), (20, 10));
    }
}

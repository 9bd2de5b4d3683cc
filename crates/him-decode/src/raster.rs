//! PNG and JPEG pages, and JPEG streams inside PDFs.

use std::io::Cursor;

use him_core::{MediaType, Orientation, PageImage, RejectReason};
use image::{DynamicImage, ImageFormat, ImageReader};

use crate::{check_pixels, DecodedPage, LimitsConfig, Rejection};

/// Decodes a PNG or JPEG file into one page.
pub(crate) fn decode(
    bytes: &[u8],
    media: MediaType,
    limits: &LimitsConfig,
) -> Result<DecodedPage, Rejection> {
    let format = match media {
        MediaType::Png => ImageFormat::Png,
        _ => ImageFormat::Jpeg,
    };
    let image = decode_to_gray(bytes, format, limits)?;
    Ok(DecodedPage::Image {
        image,
        rotation: Orientation::Up,
        rendered: false,
    })
}

/// Decodes an encoded image to gray, checking its declared size first; transparent pixels become white paper.
pub(crate) fn decode_to_gray(
    bytes: &[u8],
    format: ImageFormat,
    limits: &LimitsConfig,
) -> Result<PageImage, Rejection> {
    if let Some((width, height)) = png_declared_size(bytes).filter(|_| format == ImageFormat::Png) {
        check_pixels(u64::from(width), u64::from(height), limits)?;
    }
    let corrupt = |error: image::ImageError| {
        Rejection::new(
            RejectReason::ImageCorrupt,
            format!("{format:?} decode failed: {error}"),
        )
    };
    let reader = ImageReader::with_format(Cursor::new(bytes), format);
    let (width, height) = reader.into_dimensions().map_err(corrupt)?;
    check_pixels(u64::from(width), u64::from(height), limits)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(width);
    image_limits.max_image_height = Some(height);
    image_limits.max_alloc = Some(limits.max_page_pixels.saturating_mul(8));
    reader.limits(image_limits);
    let decoded = reader.decode().map_err(corrupt)?;
    Ok(flatten_to_gray(decoded))
}

/// The size a PNG's IHDR chunk declares, read straight from the header so a bomb is caught even when the
/// rest of the file is missing.
fn png_declared_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
    let height = u32::from_be_bytes(bytes[20..24].try_into().ok()?);
    Some((width, height))
}

/// Converts any decoded image to 8-bit gray on a white background.
pub(crate) fn flatten_to_gray(decoded: DynamicImage) -> PageImage {
    let (width, height) = (decoded.width(), decoded.height());
    let pixels = if decoded.color().has_alpha() {
        decoded
            .to_luma_alpha8()
            .pixels()
            .map(|p| {
                let [luma, alpha] = p.0;
                let (luma, alpha) = (u32::from(luma), u32::from(alpha));
                ((luma * alpha + 255 * (255 - alpha)) / 255) as u8
            })
            .collect()
    } else {
        decoded.to_luma8().into_raw()
    };
    PageImage {
        width,
        height,
        pixels,
        dpi: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_png_is_rejected_as_corrupt() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10";
        let error = decode(png, MediaType::Png, &LimitsConfig::default()).unwrap_err();
        assert_eq!(error.reason, RejectReason::ImageCorrupt);
    }

    #[test]
    fn oversized_png_header_is_rejected_before_decoding() {
        let mut png = Vec::new();
        let image = image::GrayImage::from_pixel(40, 40, image::Luma([255]));
        image
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        let limits = LimitsConfig {
            max_page_pixels: 1000,
            ..LimitsConfig::default()
        };
        let error = decode(&png, MediaType::Png, &limits).unwrap_err();
        assert_eq!(error.reason, RejectReason::ImageBomb);
    }
}

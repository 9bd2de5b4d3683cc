//! `document.pdf` of a document split out of a scanned batch: the scan's own PDF page objects where the scan
//! is a PDF (so its encoding is kept), or the normalised page images where it is a TIFF or an image.

use lopdf::{dictionary, Document, LoadOptions, Object, Stream};

use crate::LimitsConfig;

/// The pages `keep` (numbered from 1) of a PDF, as a PDF of their own: the other pages are deleted and the
/// objects only they used pruned; nothing kept is re-encoded. `None` when the PDF cannot be read (it was
/// decoded before, so this means a limit or an internal error).
pub fn pdf_pages(bytes: &[u8], keep: &[u32], limits: &LimitsConfig) -> Option<Vec<u8>> {
    let options = LoadOptions {
        max_decompressed_size: Some(
            usize::try_from(limits.max_page_pixels.saturating_mul(4)).unwrap_or(usize::MAX),
        ),
        ..LoadOptions::default()
    };
    let mut document = Document::load_mem_with_options(bytes, options).ok()?;
    let count = document.get_pages().len() as u32;
    if keep.is_empty() || keep.iter().any(|&page| page == 0 || page > count) {
        return None;
    }
    let delete: Vec<u32> = (1..=count).filter(|page| !keep.contains(page)).collect();
    document.delete_pages(&delete);
    document.prune_objects();
    let mut out = Vec::new();
    document.save_to(&mut out).ok()?;
    Some(out)
}

/// One page image for [`images_pdf`]: an 8-bit grayscale, non-interlaced PNG and its resolution.
pub struct PngPage<'a> {
    pub png: &'a [u8],
    pub dpi: u32,
}

/// A PDF with one page per PNG, each page sized by the image's resolution. The PNG's compressed rows are
/// embedded as they are (Flate with PNG predictors), not decoded. `None` when a PNG is not 8-bit grayscale.
pub fn images_pdf(pages: &[PngPage<'_>]) -> Option<Vec<u8>> {
    let mut document = Document::with_version("1.5");
    let pages_id = document.new_object_id();
    let mut kids: Vec<Object> = Vec::new();
    for page in pages {
        let (width, height, data) = gray_png_parts(page.png)?;
        let dpi = page.dpi.clamp(50, 1200) as f32;
        let (w_pt, h_pt) = (width as f32 * 72.0 / dpi, height as f32 * 72.0 / dpi);
        let image = Stream::new(
            dictionary! {
                "Type" => "XObject",
                "Subtype" => "Image",
                "Width" => width as i64,
                "Height" => height as i64,
                "ColorSpace" => "DeviceGray",
                "BitsPerComponent" => 8,
                "Filter" => "FlateDecode",
                "DecodeParms" => dictionary! {
                    "Predictor" => 15, "Colors" => 1, "BitsPerComponent" => 8, "Columns" => width as i64,
                },
            },
            data,
        )
        .with_compression(false);
        let image_id = document.add_object(image);
        let content = format!("q {w_pt:.3} 0 0 {h_pt:.3} 0 0 cm /Im0 Do Q").into_bytes();
        let content_id = document.add_object(Stream::new(dictionary! {}, content));
        let page_id = document.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "MediaBox" => vec![0.into(), 0.into(), w_pt.into(), h_pt.into()],
            "Contents" => content_id,
            "Resources" => dictionary! { "XObject" => dictionary! { "Im0" => image_id } },
        });
        kids.push(page_id.into());
    }
    let count = kids.len() as i64;
    document.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let catalog = document.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    document.trailer.set("Root", catalog);
    let mut out = Vec::new();
    document.save_to(&mut out).ok()?;
    Some(out)
}

/// Width, height and concatenated IDAT data of an 8-bit grayscale, non-interlaced PNG.
fn gray_png_parts(png: &[u8]) -> Option<(u32, u32, Vec<u8>)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    let mut rest = png.strip_prefix(SIGNATURE)?;
    let (mut width, mut height) = (0, 0);
    let mut data = Vec::new();
    while rest.len() >= 12 {
        let length = u32::from_be_bytes(rest[..4].try_into().ok()?) as usize;
        let kind = &rest[4..8];
        let body = rest.get(8..8 + length)?;
        match kind {
            b"IHDR" => {
                if body.len() != 13 || body[8] != 8 || body[9] != 0 || body[12] != 0 {
                    return None;
                }
                width = u32::from_be_bytes(body[..4].try_into().ok()?);
                height = u32::from_be_bytes(body[4..8].try_into().ok()?);
            }
            b"IDAT" => data.extend_from_slice(body),
            b"IEND" => break,
            _ => {}
        }
        rest = rest.get(12 + length..)?;
    }
    (width > 0 && height > 0 && !data.is_empty()).then_some((width, height, data))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn gray_png(width: u32, height: u32) -> Vec<u8> {
        let mut png = Vec::new();
        image::GrayImage::from_fn(width, height, |x, y| {
            image::Luma([((x * 7 + y * 3) % 256) as u8])
        })
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
        png
    }

    #[test]
    fn images_become_pages_that_decode_back() {
        let (a, b) = (gray_png(40, 30), gray_png(20, 50));
        let pdf =
            images_pdf(&[PngPage { png: &a, dpi: 72 }, PngPage { png: &b, dpi: 144 }]).unwrap();
        let pages = crate::decode_chart(
            &pdf,
            him_core::MediaType::Pdf,
            &LimitsConfig::default(),
            &crate::Renderer::disabled(),
        )
        .unwrap()
        .pages;
        assert_eq!(pages.len(), 2);
        let crate::DecodedPage::Image { image, .. } = &pages[0] else {
            panic!("a raster page")
        };
        assert_eq!((image.width, image.height), (40, 30));
        assert_eq!(image.get(5, 2), 5 * 7 + 2 * 3);
    }

    #[test]
    fn pdf_pages_keeps_only_the_asked_pages() {
        let (a, b, c) = (gray_png(10, 10), gray_png(20, 20), gray_png(30, 30));
        let pdf = images_pdf(&[
            PngPage { png: &a, dpi: 72 },
            PngPage { png: &b, dpi: 72 },
            PngPage { png: &c, dpi: 72 },
        ])
        .unwrap();
        let limits = LimitsConfig::default();
        let kept = pdf_pages(&pdf, &[2, 3], &limits).unwrap();
        let document = Document::load_mem(&kept).unwrap();
        assert_eq!(document.get_pages().len(), 2);
        assert!(pdf_pages(&pdf, &[4], &limits).is_none());
        assert!(pdf_pages(&pdf, &[], &limits).is_none());
    }

    #[test]
    fn a_color_png_is_refused() {
        let mut png = Vec::new();
        image::RgbImage::new(4, 4)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert!(images_pdf(&[PngPage { png: &png, dpi: 72 }]).is_none());
    }
}

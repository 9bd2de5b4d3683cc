//! Image cleanup on a derivative: scaling, small-angle deskew. The original bytes are never touched; these
//! functions only ever produce new rasters.

use him_core::PageImage;

/// Pixels darker than this count as ink.
const INK_THRESHOLD: u8 = 128;
/// At most this many ink pixels are sampled to estimate skew.
const MAX_SKEW_SAMPLES: usize = 60_000;
/// Below this angle a correction would only blur the page.
const MIN_CORRECTION_DEGREES: f32 = 0.15;

/// Scales a page down (box filter) so its longest side is at most `max_side`; smaller pages are returned as is.
pub fn fit_within(image: PageImage, max_side: u32) -> PageImage {
    let longest = image.width.max(image.height);
    if max_side == 0 || longest <= max_side {
        return image;
    }
    let factor = longest.div_ceil(max_side);
    let (width, height) = (
        (image.width / factor).max(1),
        (image.height / factor).max(1),
    );
    let mut pixels = Vec::with_capacity(width as usize * height as usize);
    for y in 0..height {
        for x in 0..width {
            let mut sum = 0u32;
            for dy in 0..factor {
                for dx in 0..factor {
                    sum += u32::from(image.get(x * factor + dx, y * factor + dy));
                }
            }
            pixels.push((sum / (factor * factor)) as u8);
        }
    }
    PageImage {
        width,
        height,
        pixels,
        dpi: image.dpi.map(|dpi| dpi / factor),
    }
}

/// Estimates how far text lines are turned clockwise, in degrees within ±`max_degrees`, by maximising the
/// sharpness of the horizontal projection profile of ink pixels.
pub fn estimate_skew(image: &PageImage, max_degrees: f32) -> f32 {
    if max_degrees <= 0.0 {
        return 0.0;
    }
    let ink: Vec<(f32, f32)> = {
        let total = image.pixels.iter().filter(|&&p| p < INK_THRESHOLD).count();
        if total < 50 {
            return 0.0;
        }
        let stride = total.div_ceil(MAX_SKEW_SAMPLES);
        let width = image.width as usize;
        image
            .pixels
            .iter()
            .enumerate()
            .filter(|(_, &p)| p < INK_THRESHOLD)
            .step_by(stride)
            .map(|(i, _)| ((i % width) as f32, (i / width) as f32))
            .collect()
    };
    let score = |degrees: f32| -> f64 {
        let (sin, cos) = degrees.to_radians().sin_cos();
        let diagonal = (image.width + image.height) as usize;
        let mut bins = vec![0u32; diagonal * 2 + 2];
        for &(x, y) in &ink {
            let row = y * cos - x * sin + diagonal as f32 + 0.5;
            if let Some(bin) = bins.get_mut(row.max(0.0) as usize) {
                *bin += 1;
            }
        }
        bins.iter()
            .map(|&count| f64::from(count) * f64::from(count))
            .sum()
    };
    let search = |from: f32, to: f32, step: f32| -> f32 {
        let mut best = (f64::MIN, 0.0f32);
        let mut angle = from;
        while angle <= to + 1e-4 {
            let value = score(angle);
            // Equal scores: prefer the smaller correction.
            if value > best.0 || (value == best.0 && angle.abs() < best.1.abs()) {
                best = (value, angle);
            }
            angle += step;
        }
        best.1
    };
    let coarse = search(-max_degrees, max_degrees, 0.5);
    search(coarse - 0.5, coarse + 0.5, 0.05)
}

/// Rotates a page clockwise by a small angle about its centre (bilinear), filling uncovered corners with white.
pub fn rotate_small(image: &PageImage, degrees: f32) -> PageImage {
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (w, h) = (image.width as usize, image.height as usize);
    let (cx, cy) = ((w as f32 - 1.0) / 2.0, (h as f32 - 1.0) / 2.0);
    let mut pixels = vec![255u8; w * h];
    for y in 0..h {
        let dy = y as f32 - cy;
        for x in 0..w {
            let dx = x as f32 - cx;
            let sx = cx + dx * cos + dy * sin;
            let sy = cy - dx * sin + dy * cos;
            if sx < 0.0 || sy < 0.0 || sx > (w - 1) as f32 || sy > (h - 1) as f32 {
                continue;
            }
            let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
            let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
            let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
            let at = |xx: usize, yy: usize| f32::from(image.pixels[yy * w + xx]);
            let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
            let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
            pixels[y * w + x] = (top * (1.0 - fy) + bottom * fy).round() as u8;
        }
    }
    PageImage {
        width: image.width,
        height: image.height,
        pixels,
        dpi: image.dpi,
    }
}

/// Straightens a page whose skew is within ±`max_degrees`; returns the page and the correction applied
/// (degrees, clockwise), 0 when none was needed.
pub fn deskew(image: PageImage, max_degrees: f32) -> (PageImage, f32) {
    let skew = estimate_skew(&image, max_degrees);
    if skew.abs() < MIN_CORRECTION_DEGREES {
        return (image, 0.0);
    }
    let corrected = rotate_small(&image, -skew);
    (corrected, -skew)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// White page with dark horizontal bars, like lines of text.
    fn lined_page() -> PageImage {
        let (w, h) = (400u32, 300u32);
        let mut pixels = vec![255u8; (w * h) as usize];
        for line in 0..8 {
            let top = 30 + line * 30;
            for y in top..top + 8 {
                for x in 40..360 {
                    if (x / 12) % 5 != 4 {
                        pixels[(y * w + x) as usize] = 0;
                    }
                }
            }
        }
        PageImage::new(w, h, pixels).unwrap()
    }

    #[test]
    fn skew_of_a_straight_page_is_zero() {
        let skew = estimate_skew(&lined_page(), 5.0);
        assert!(skew.abs() < 0.1, "{skew}");
    }

    #[test]
    fn a_page_turned_clockwise_is_measured_and_straightened() {
        let skewed = rotate_small(&lined_page(), 2.0);
        let measured = estimate_skew(&skewed, 5.0);
        assert!((measured - 2.0).abs() < 0.2, "measured {measured}");
        let (straight, correction) = deskew(skewed, 5.0);
        assert!((correction + 2.0).abs() < 0.2);
        assert!(estimate_skew(&straight, 5.0).abs() < 0.2);
    }

    #[test]
    fn large_pages_are_scaled_down() {
        let page = PageImage::new(1000, 500, vec![200; 500_000])
            .unwrap()
            .with_dpi(Some(600));
        let small = fit_within(page, 400);
        assert!(small.width <= 400 && small.height <= 400);
        assert_eq!(small.dpi, Some(200));
        assert!(small.pixels.iter().all(|&p| p == 200));
    }
}

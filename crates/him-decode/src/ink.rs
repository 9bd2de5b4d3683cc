//! How much of a page is ink: what tells a blank page (a duplex scan's empty back side) from a page with
//! content, without OCR.
//!
//! The page is box-filtered to about 75 dpi (at least 2×2 pixels), which dilutes scanner speckle, JPEG noise and faint
//! bleed-through from the other side below the threshold while text strokes, lines and signatures stay dark.
//! The outer margin (scanner edge shadows, punched holes) is ignored. What is left is counted two ways: the
//! dark area and the connected marks big enough to be a character or a stroke.

use him_core::PageImage;
use serde::Serialize;

/// Ink measures of one page.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ink {
    /// Dark share of the page inside its margins, after the box filter (0 to 1).
    pub coverage: f32,
    /// Connected dark marks of at least [`MIN_MARK`] filtered pixels.
    pub marks: u32,
}

/// Filtered pixels a mark must cover to count (about 1.5 mm² at 75 dpi: a small printed character).
pub const MIN_MARK: u32 = 4;

/// Filtered gray level under which a pixel is ink: a one-pixel speck in a 2×2 block stays above it, a
/// stroke as wide as the block does not.
const DARK: u32 = 160;

/// Share of each side ignored as margin.
const MARGIN: f32 = 0.05;

impl Ink {
    /// Whether the page is blank: at most `max_marks` marks and under `max_coverage` dark area.
    pub fn is_blank(&self, max_coverage: f32, max_marks: u32) -> bool {
        self.coverage < max_coverage && self.marks <= max_marks
    }
}

/// Measures the ink of a page.
pub fn measure(image: &PageImage) -> Ink {
    let dpi = image.dpi.unwrap_or_else(|| {
        // Without a declared resolution, assume the page is letter or A4 width.
        (image.width.min(image.height) as f32 / 8.5)
            .round()
            .max(1.0) as u32
    });
    // At least 2×2: a one-pixel speck must never count as ink, whatever the resolution.
    let factor = dpi.div_ceil(75).max(2);
    let (w, h) = (image.width / factor, image.height / factor);
    if w < 8 || h < 8 {
        return Ink {
            coverage: 0.0,
            marks: 0,
        };
    }
    let (x0, y0) = ((w as f32 * MARGIN) as u32, (h as f32 * MARGIN) as u32);
    let (x1, y1) = (w - x0, h - y0);
    let (cw, ch) = ((x1 - x0) as usize, (y1 - y0) as usize);
    let mut dark = vec![false; cw * ch];
    let area = factor * factor;
    for y in y0..y1 {
        for x in x0..x1 {
            let mut sum = 0u32;
            for dy in 0..factor {
                let row = (y * factor + dy) as usize * image.width as usize;
                for dx in 0..factor {
                    sum += u32::from(image.pixels[row + (x * factor + dx) as usize]);
                }
            }
            dark[(y - y0) as usize * cw + (x - x0) as usize] = sum / area < DARK;
        }
    }
    let dark_count = dark.iter().filter(|&&d| d).count();
    Ink {
        coverage: dark_count as f32 / (cw * ch) as f32,
        marks: count_marks(&mut dark, cw, ch),
    }
}

/// Counts 8-connected components of at least [`MIN_MARK`] pixels (clears the mask as it goes).
fn count_marks(dark: &mut [bool], width: usize, height: usize) -> u32 {
    let mut marks = 0;
    let mut stack = Vec::new();
    for start in 0..dark.len() {
        if !dark[start] {
            continue;
        }
        dark[start] = false;
        stack.push(start);
        let mut size = 0u32;
        while let Some(at) = stack.pop() {
            size += 1;
            let (x, y) = (at % width, at / width);
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx < 0 || ny < 0 || nx >= width as i64 || ny >= height as i64 {
                        continue;
                    }
                    let next = ny as usize * width + nx as usize;
                    if dark[next] {
                        dark[next] = false;
                        stack.push(next);
                    }
                }
            }
        }
        if size >= MIN_MARK {
            marks += 1;
        }
    }
    marks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(draw: impl Fn(u32, u32) -> u8) -> PageImage {
        let (w, h) = (850, 1100);
        let pixels = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| draw(x, y));
        PageImage::new(w, h, pixels.collect())
            .unwrap()
            .with_dpi(Some(100))
    }

    /// A cheap deterministic hash for noise.
    fn noise(x: u32, y: u32) -> u32 {
        (x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663)).wrapping_mul(2_654_435_761) >> 24
    }

    #[test]
    fn speckle_and_edge_shadow_are_blank() {
        let speckled = page(|x, y| if x < 20 || noise(x, y) < 3 { 0 } else { 235 });
        let ink = measure(&speckled);
        assert!(ink.is_blank(0.002, 3), "{ink:?}");
    }

    #[test]
    fn a_few_lines_of_text_are_not_blank() {
        // Four "words" of 6 characters: dark blocks 8×12 pixels, 4 apart.
        let text = page(|x, y| {
            let in_line = (200..212).contains(&y) || (240..252).contains(&y);
            let in_char = (100..600).contains(&x) && x % 12 < 8;
            if in_line && in_char {
                0
            } else {
                255
            }
        });
        let ink = measure(&text);
        assert!(!ink.is_blank(0.002, 3), "{ink:?}");
        assert!(ink.marks >= 20, "{ink:?}");
    }
}

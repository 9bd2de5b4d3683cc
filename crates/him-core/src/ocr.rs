//! Page images and the OCR engine trait.

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// An 8-bit grayscale page raster (0 = black, 255 = white), row-major, no padding.
#[derive(Clone, PartialEq, Eq)]
pub struct PageImage {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
    /// Resolution the scan declared, when it declared one.
    pub dpi: Option<u32>,
}

impl std::fmt::Debug for PageImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Pixels are document content: never print them.
        f.debug_struct("PageImage")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("dpi", &self.dpi)
            .finish_non_exhaustive()
    }
}

impl PageImage {
    /// Wraps a raster; `None` when the buffer length does not match the dimensions.
    pub fn new(width: u32, height: u32, pixels: Vec<u8>) -> Option<Self> {
        let expected = (width as usize).checked_mul(height as usize)?;
        (expected == pixels.len() && width > 0 && height > 0).then_some(PageImage {
            width,
            height,
            pixels,
            dpi: None,
        })
    }

    /// Sets the declared resolution.
    pub fn with_dpi(mut self, dpi: Option<u32>) -> Self {
        self.dpi = dpi;
        self
    }

    /// The pixel at column `x`, row `y`.
    pub fn get(&self, x: u32, y: u32) -> u8 {
        self.pixels[y as usize * self.width as usize + x as usize]
    }

    /// Rotates the raster clockwise by a multiple of 90 degrees.
    pub fn rotated(&self, orientation: Orientation) -> PageImage {
        let (w, h) = (self.width as usize, self.height as usize);
        let src = &self.pixels;
        match orientation {
            Orientation::Up => self.clone(),
            Orientation::Down => {
                let mut pixels = src.clone();
                pixels.reverse();
                PageImage {
                    pixels,
                    ..self.clone()
                }
            }
            Orientation::Right | Orientation::Left => {
                let mut pixels = vec![0u8; w * h];
                for y in 0..h {
                    for x in 0..w {
                        // Clockwise: (x, y) -> (h - 1 - y, x) in a raster h wide.
                        let (nx, ny) = if orientation == Orientation::Right {
                            (h - 1 - y, x)
                        } else {
                            (y, w - 1 - x)
                        };
                        pixels[ny * h + nx] = src[y * w + x];
                    }
                }
                PageImage {
                    width: self.height,
                    height: self.width,
                    pixels,
                    dpi: self.dpi,
                }
            }
        }
    }
}

/// A clockwise rotation by a multiple of 90 degrees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Orientation {
    Up,
    Right,
    Down,
    Left,
}

impl Orientation {
    /// The rotation in clockwise degrees (0, 90, 180, 270).
    pub fn degrees(self) -> u16 {
        match self {
            Orientation::Up => 0,
            Orientation::Right => 90,
            Orientation::Down => 180,
            Orientation::Left => 270,
        }
    }

    /// The rotation for a number of clockwise degrees, normalised to 0..360; `None` unless a multiple of 90.
    pub fn from_degrees(degrees: i64) -> Option<Self> {
        match degrees.rem_euclid(360) {
            0 => Some(Orientation::Up),
            90 => Some(Orientation::Right),
            180 => Some(Orientation::Down),
            270 => Some(Orientation::Left),
            _ => None,
        }
    }

    /// The rotation that undoes this one.
    pub fn inverse(self) -> Self {
        Self::from_degrees(360 - i64::from(self.degrees())).unwrap_or(Orientation::Up)
    }
}

/// The page-segmentation strategy asked of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageSegMode {
    /// Fully automatic layout analysis (tesseract PSM 3).
    Auto,
    /// One uniform block of text (PSM 6).
    SingleBlock,
    /// As much text as possible in no particular order (PSM 11).
    Sparse,
}

/// A recognised word with its confidence (0–100) and bounding box in the page raster it was read from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OcrWord {
    pub text: String,
    pub confidence: f32,
    /// Left, top, width, height in pixels.
    pub bbox: [u32; 4],
    /// Line number within the page, counting from 1.
    pub line: u32,
}

/// What the engine read on one page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OcrPage {
    pub text: String,
    /// Mean word confidence, 0–100.
    pub mean_confidence: f32,
    pub words: Vec<OcrWord>,
    pub mode: PageSegMode,
}

impl OcrPage {
    /// Number of letters and digits read, the measure of "almost no text".
    pub fn alphanumeric_count(&self) -> usize {
        self.text.chars().filter(|c| c.is_alphanumeric()).count()
    }
}

/// A synchronous OCR engine. One instance lives on one thread of the CPU pool; it is never shared.
pub trait OcrEngine {
    /// The engine and its version, recorded in every manifest.
    fn version(&self) -> String;

    /// Reads the text of an upright page.
    fn recognize(&mut self, image: &PageImage, mode: PageSegMode) -> Result<OcrPage>;

    /// Detects how the page must be rotated clockwise to be upright, with a confidence; `None` when the
    /// engine cannot tell (too little text).
    fn detect_orientation(&mut self, image: &PageImage) -> Result<Option<(Orientation, f32)>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PageImage {
        // 3 wide, 2 high:
        // 1 2 3
        // 4 5 6
        PageImage::new(3, 2, vec![1, 2, 3, 4, 5, 6]).unwrap()
    }

    #[test]
    fn rotating_right_turns_rows_into_columns() {
        let r = sample().rotated(Orientation::Right);
        assert_eq!((r.width, r.height), (2, 3));
        assert_eq!(r.pixels, vec![4, 1, 5, 2, 6, 3]);
    }

    #[test]
    fn rotating_left_is_the_inverse_of_right() {
        let l = sample().rotated(Orientation::Left);
        assert_eq!(l.pixels, vec![3, 6, 2, 5, 1, 4]);
        assert_eq!(l.rotated(Orientation::Right), sample());
    }

    #[test]
    fn rotating_down_twice_is_identity() {
        assert_eq!(
            sample()
                .rotated(Orientation::Down)
                .rotated(Orientation::Down),
            sample()
        );
        assert_eq!(Orientation::Right.inverse(), Orientation::Left);
    }

    #[test]
    fn mismatched_buffer_is_refused() {
        assert!(PageImage::new(3, 3, vec![0; 8]).is_none());
        assert!(PageImage::new(0, 3, vec![]).is_none());
    }
}

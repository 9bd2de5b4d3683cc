//! The `[limits]` section of `pipeline.toml`.

use serde::Deserialize;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(toml_text: &str) -> Result<LimitsConfig, toml::de::Error> {
        toml::from_str(toml_text)
    }

    /// The shipped `pipeline.toml` shows every default of `[limits]`.
    #[test]
    fn shipped_pipeline_toml_shows_the_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../pipeline.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let table: toml::Table = toml::from_str(&text).unwrap();
        let section = table["limits"].clone();
        let shipped: LimitsConfig = section.try_into().unwrap();
        assert_eq!(shipped, LimitsConfig::default());
    }

    /// Keys left out keep their defaults; unknown keys are refused.
    #[test]
    fn missing_keys_default_and_unknown_keys_are_refused() {
        let partial = limits("max_pages = 3").unwrap();
        assert_eq!(partial.max_pages, 3);
        assert_eq!(
            partial.max_page_pixels,
            LimitsConfig::default().max_page_pixels
        );
        let error = limits("max_pixels = 3").unwrap_err().to_string();
        assert!(error.contains("max_pixels"), "{error}");
    }
}

//! The `[ocr]` section of `pipeline.toml`.

use serde::Deserialize;

/// OCR settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OcrConfig {
    /// Tesseract language(s), `+`-separated (`eng`, `eng+spa`); an engine starts only when every one loads.
    pub language: String,
    /// Folder holding `*.traineddata`; empty uses tesseract's compiled-in default.
    pub tessdata_dir: String,
    /// Engines in the CPU pool, one per thread; 0 means one per CPU core.
    pub workers: usize,
    /// Detect 0/90/180/270 page orientation with tesseract OSD (needs `osd.traineddata`).
    pub detect_orientation: bool,
    /// Minimum OSD confidence to rotate a page.
    pub min_orientation_confidence: f32,
    /// Correct small skew angles up to this many degrees either way; 0 disables deskew.
    pub max_deskew_degrees: f32,
    /// When the first pass reads fewer letters and digits than this, the page is read again in sparse-text mode.
    pub retry_below_chars: usize,
    /// Resolution assumed when a scan declares none.
    pub default_dpi: u32,
}

impl Default for OcrConfig {
    fn default() -> Self {
        OcrConfig {
            language: "eng".to_string(),
            tessdata_dir: String::new(),
            workers: 0,
            detect_orientation: true,
            min_orientation_confidence: 2.0,
            max_deskew_degrees: 5.0,
            retry_below_chars: 20,
            default_dpi: 300,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused() {
        let error = serde_json::from_str::<OcrConfig>(r#"{"langauge": "eng"}"#).unwrap_err();
        assert!(error.to_string().contains("unknown field"));
    }
}

//! Stable reason codes for rejected input.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a document was rejected. The snake_case code is part of the public interface (JSON lines,
/// `rejection.json`, dead-letter headers): codes are added, never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RejectReason {
    /// Zero bytes.
    Empty,
    /// Larger than `limits.max_file_bytes`.
    TooLarge,
    /// The content matches no accepted media type.
    UnsupportedType,
    /// The PDF could not be parsed.
    PdfCorrupt,
    /// The PDF is encrypted; HIM cannot read it without the password.
    PdfEncrypted,
    /// The PDF has no pages.
    PdfNoPages,
    /// An image (TIFF, PNG, JPEG, or an image inside a PDF) could not be decoded.
    ImageCorrupt,
    /// An image declares more pixels than `limits.max_page_pixels` (a decompression bomb).
    ImageBomb,
    /// More pages than `limits.max_pages`.
    TooManyPages,
    /// The document decoded, but no page could be rendered for OCR.
    NoRenderablePage,
    /// Audio that could not be decoded.
    AudioCorrupt,
    /// The engine failed on this input every time it was tried.
    EngineFailed,
    /// Audio shorter than `audio.min_duration_ms` (including audio with no samples at all).
    AudioTooShort,
    /// Audio longer than `audio.max_duration_secs`.
    AudioTooLong,
    /// The audio container is readable but its codec is not supported.
    UnsupportedCodec,
    /// The content contradicts its media type (a WAV header over MP3 data, an MP3 label on a FLAC file).
    Mislabelled,
}

impl RejectReason {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::Empty => "empty",
            RejectReason::TooLarge => "too_large",
            RejectReason::UnsupportedType => "unsupported_type",
            RejectReason::PdfCorrupt => "pdf_corrupt",
            RejectReason::PdfEncrypted => "pdf_encrypted",
            RejectReason::PdfNoPages => "pdf_no_pages",
            RejectReason::ImageCorrupt => "image_corrupt",
            RejectReason::ImageBomb => "image_bomb",
            RejectReason::TooManyPages => "too_many_pages",
            RejectReason::NoRenderablePage => "no_renderable_page",
            RejectReason::AudioCorrupt => "audio_corrupt",
            RejectReason::EngineFailed => "engine_failed",
            RejectReason::AudioTooShort => "audio_too_short",
            RejectReason::AudioTooLong => "audio_too_long",
            RejectReason::UnsupportedCodec => "unsupported_codec",
            RejectReason::Mislabelled => "mislabelled",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A rejection of bad input: the public reason code, and a detail for the operator that never quotes content.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub reason: RejectReason,
    pub detail: String,
}

impl Rejection {
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Rejection {
            reason,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_code_matches_code() {
        for reason in [
            RejectReason::PdfEncrypted,
            RejectReason::ImageBomb,
            RejectReason::Empty,
            RejectReason::AudioTooShort,
            RejectReason::AudioTooLong,
            RejectReason::UnsupportedCodec,
            RejectReason::Mislabelled,
        ] {
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{}\"", reason.code()));
        }
    }
}

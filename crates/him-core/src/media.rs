//! Media types, recognised by content.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a document is: a scanned chart or a dictation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Scanned paper: PDF, TIFF, PNG, JPEG.
    Chart,
    /// Physician audio: WAV, MP3, FLAC, OGG, M4A.
    Dictation,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Chart => "chart",
            Kind::Dictation => "dictation",
        })
    }
}

/// A media type `him` accepts, identified by magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaType {
    Pdf,
    Tiff,
    Png,
    Jpeg,
    Wav,
    Mp3,
    Flac,
    Ogg,
    M4a,
}

/// How far into a file a PDF header may start (the PDF specification tolerates leading junk).
const PDF_HEADER_WINDOW: usize = 1024;

impl MediaType {
    /// Recognises a media type from the first bytes of a file; `None` when nothing matches.
    ///
    /// File names and extensions are never consulted: stations mislabel files, and names carry PHI.
    pub fn sniff(bytes: &[u8]) -> Option<MediaType> {
        let starts = |magic: &[u8]| bytes.starts_with(magic);
        if starts(b"%PDF-") {
            return Some(MediaType::Pdf);
        }
        if starts(b"II*\0") || starts(b"MM\0*") {
            return Some(MediaType::Tiff);
        }
        if starts(b"\x89PNG\r\n\x1a\n") {
            return Some(MediaType::Png);
        }
        if starts(&[0xFF, 0xD8, 0xFF]) {
            return Some(MediaType::Jpeg);
        }
        if starts(b"RIFF") && bytes.len() >= 12 && &bytes[8..12] == b"WAVE" {
            return Some(MediaType::Wav);
        }
        if starts(b"fLaC") {
            return Some(MediaType::Flac);
        }
        if starts(b"OggS") {
            return Some(MediaType::Ogg);
        }
        if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
            let brand = &bytes[8..12];
            if matches!(brand, b"M4A " | b"M4B " | b"mp42" | b"isom" | b"mp41") {
                return Some(MediaType::M4a);
            }
        }
        if starts(b"ID3") || (bytes.len() >= 2 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0) {
            return Some(MediaType::Mp3);
        }
        let window = &bytes[..bytes.len().min(PDF_HEADER_WINDOW)];
        if window.windows(5).any(|w| w == b"%PDF-") {
            return Some(MediaType::Pdf);
        }
        None
    }

    /// The kind of document this media type carries.
    pub fn kind(self) -> Kind {
        match self {
            MediaType::Pdf | MediaType::Tiff | MediaType::Png | MediaType::Jpeg => Kind::Chart,
            _ => Kind::Dictation,
        }
    }

    /// The extension of the stored original (`original.<ext>`).
    pub fn extension(self) -> &'static str {
        match self {
            MediaType::Pdf => "pdf",
            MediaType::Tiff => "tif",
            MediaType::Png => "png",
            MediaType::Jpeg => "jpg",
            MediaType::Wav => "wav",
            MediaType::Mp3 => "mp3",
            MediaType::Flac => "flac",
            MediaType::Ogg => "ogg",
            MediaType::M4a => "m4a",
        }
    }

    /// The IANA media type.
    pub fn mime(self) -> &'static str {
        match self {
            MediaType::Pdf => "application/pdf",
            MediaType::Tiff => "image/tiff",
            MediaType::Png => "image/png",
            MediaType::Jpeg => "image/jpeg",
            MediaType::Wav => "audio/wav",
            MediaType::Mp3 => "audio/mpeg",
            MediaType::Flac => "audio/flac",
            MediaType::Ogg => "audio/ogg",
            MediaType::M4a => "audio/mp4",
        }
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mime())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_each_magic() {
        let cases: [(&[u8], MediaType); 9] = [
            (b"%PDF-1.4", MediaType::Pdf),
            (b"II*\0\x08\0\0\0", MediaType::Tiff),
            (b"MM\0*\0\0\0\x08", MediaType::Tiff),
            (b"\x89PNG\r\n\x1a\n", MediaType::Png),
            (&[0xFF, 0xD8, 0xFF, 0xE0], MediaType::Jpeg),
            (b"RIFF\0\0\0\0WAVEfmt ", MediaType::Wav),
            (b"fLaC\0", MediaType::Flac),
            (b"OggS\0", MediaType::Ogg),
            (b"\0\0\0\x20ftypM4A \0", MediaType::M4a),
        ];
        for (bytes, expected) in cases {
            assert_eq!(MediaType::sniff(bytes), Some(expected));
        }
        assert_eq!(MediaType::sniff(b"ID3\x04"), Some(MediaType::Mp3));
    }

    #[test]
    fn pdf_header_after_junk_is_recognised() {
        assert_eq!(
            MediaType::sniff(b"garbage\n%PDF-1.3\n"),
            Some(MediaType::Pdf)
        );
    }

    #[test]
    fn text_and_empty_input_are_not_recognised() {
        assert_eq!(MediaType::sniff(b""), None);
        assert_eq!(MediaType::sniff(b"PATIENT: DOE, JANE"), None);
    }
}

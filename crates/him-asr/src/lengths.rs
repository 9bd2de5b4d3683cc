//! Declared lengths checked against the bytes that hold them, before symphonia reads a container.
//!
//! symphonia 0.5 allocates a metadata field at the length the file declares before reading it
//! (`vec![0; len]` for a Vorbis comment, a FLAC picture's MIME type, description and data, a WAV INFO value):
//! fuzzing found a 9 KB FLAC that asked for a 4 GiB allocation (`fuzz/artifacts`, now
//! `fixtures/audio/bad-input/flac-comment-4gib.flac`). An allocation that fails aborts the process, which no
//! `catch_unwind` contains. Every such length is checked here to fit inside its block, packet or chunk — and
//! inside the file — so a forged length is a rejection (`audio_corrupt`), never an allocation.

use him_core::MediaType;

/// The first length that does not fit, as a rule broken (no values from the file).
pub(crate) fn check(bytes: &[u8], media: MediaType) -> Result<(), &'static str> {
    match media {
        MediaType::Flac => flac(bytes),
        MediaType::Ogg => ogg(bytes),
        MediaType::Wav => wav(bytes),
        _ => Ok(()),
    }
}

/// A cursor over one block, packet or chunk.
struct Fields<'a> {
    bytes: &'a [u8],
}

impl<'a> Fields<'a> {
    fn u32_le(&mut self) -> Option<u32> {
        let (head, rest) = self.bytes.split_first_chunk::<4>()?;
        self.bytes = rest;
        Some(u32::from_le_bytes(*head))
    }

    fn u32_be(&mut self) -> Option<u32> {
        let (head, rest) = self.bytes.split_first_chunk::<4>()?;
        self.bytes = rest;
        Some(u32::from_be_bytes(*head))
    }

    /// Skips `len` bytes that must all be there.
    fn skip(&mut self, len: u32) -> Option<()> {
        let len = usize::try_from(len).ok()?;
        self.bytes = self.bytes.get(len..)?;
        Some(())
    }
}

/// A Vorbis comment body (vendor string, then counted comments; lengths little-endian), as FLAC's
/// VORBIS_COMMENT block and the Vorbis / Opus comment packets hold it.
fn vorbis_comment(body: &[u8]) -> Result<(), &'static str> {
    const RULE: &str = "a vorbis comment length runs past its block";
    let mut fields = Fields { bytes: body };
    let vendor = fields.u32_le().ok_or(RULE)?;
    fields.skip(vendor).ok_or(RULE)?;
    let count = fields.u32_le().ok_or(RULE)?;
    for _ in 0..count {
        let len = fields.u32_le().ok_or(RULE)?;
        fields.skip(len).ok_or(RULE)?;
    }
    Ok(())
}

/// A FLAC PICTURE block: type, MIME type, description, four sizes, data (lengths big-endian).
fn flac_picture(body: &[u8]) -> Result<(), &'static str> {
    const RULE: &str = "a flac picture length runs past its block";
    let mut fields = Fields { bytes: body };
    fields.u32_be().ok_or(RULE)?;
    for _ in 0..2 {
        let len = fields.u32_be().ok_or(RULE)?;
        fields.skip(len).ok_or(RULE)?;
    }
    for _ in 0..4 {
        fields.u32_be().ok_or(RULE)?;
    }
    let data = fields.u32_be().ok_or(RULE)?;
    fields.skip(data).ok_or(RULE)?;
    Ok(())
}

fn flac(bytes: &[u8]) -> Result<(), &'static str> {
    let mut at = 4; // "fLaC"
    while let Some(header) = bytes.get(at..at + 4) {
        let last = header[0] & 0x80 != 0;
        let kind = header[0] & 0x7f;
        let len = u32::from_be_bytes([0, header[1], header[2], header[3]]) as usize;
        let start = at + 4;
        let body = &bytes[start.min(bytes.len())..(start + len).min(bytes.len())];
        match kind {
            4 => vorbis_comment(body)?,
            6 => flac_picture(body)?,
            _ => {}
        }
        if last {
            break;
        }
        at = start + len;
    }
    Ok(())
}

/// Ogg: the comment header packets (`\x03vorbis`, `OpusTags`) of every logical stream, reassembled from
/// the pages' segments.
fn ogg(bytes: &[u8]) -> Result<(), &'static str> {
    let mut partial: std::collections::HashMap<u32, Vec<u8>> = std::collections::HashMap::new();
    let mut at = 0;
    // Header packets come first: the first pages are enough.
    for _ in 0..256 {
        let Some(page) = bytes.get(at..) else { break };
        if page.len() < 27 || &page[..4] != b"OggS" {
            break;
        }
        let serial = u32::from_le_bytes([page[14], page[15], page[16], page[17]]);
        let segments = usize::from(page[26]);
        let Some(table) = page.get(27..27 + segments) else {
            break;
        };
        let mut data = 27 + segments;
        for &lace in table {
            let Some(segment) = page.get(data..data + usize::from(lace)) else {
                return Ok(()); // truncated: the demuxer reports it
            };
            data += usize::from(lace);
            let packet = partial.entry(serial).or_default();
            packet.extend_from_slice(segment);
            if lace < 255 {
                let packet = partial.remove(&serial).unwrap_or_default();
                if let Some(body) = packet.strip_prefix(b"\x03vorbis") {
                    vorbis_comment(body)?;
                } else if let Some(body) = packet.strip_prefix(b"OpusTags") {
                    vorbis_comment(body)?;
                }
            }
        }
        at += data;
    }
    Ok(())
}

/// WAV: every `LIST`/`INFO` value length fits its list and the file.
fn wav(bytes: &[u8]) -> Result<(), &'static str> {
    const RULE: &str = "a wav info value length runs past its list";
    let mut at = 12; // "RIFF" size "WAVE"
    while let Some(header) = bytes.get(at..at + 8) {
        let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let start = at + 8;
        if &header[..4] == b"LIST" {
            let body = &bytes[start.min(bytes.len())..(start + len).min(bytes.len())];
            if body.starts_with(b"INFO") {
                let mut fields = Fields { bytes: &body[4..] };
                while fields.bytes.len() >= 8 {
                    fields.skip(4).ok_or(RULE)?;
                    let value = fields.u32_le().ok_or(RULE)?;
                    // Values are padded to an even length.
                    fields.skip(value).ok_or(RULE)?;
                    if value % 2 == 1 && !fields.bytes.is_empty() {
                        fields.skip(1).ok_or(RULE)?;
                    }
                }
            }
        }
        if &header[..4] == b"data" {
            break; // the samples follow; a LIST after them is rare and read after decoding
        }
        at = start + len + len % 2;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flac_with_comment(declared: u32, actual: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&4u32.to_le_bytes());
        body.extend_from_slice(b"him!");
        body.extend_from_slice(&1u32.to_le_bytes());
        body.extend_from_slice(&declared.to_le_bytes());
        body.extend_from_slice(actual);
        let mut file = b"fLaC".to_vec();
        let len = body.len() as u32;
        file.push(0x80 | 4);
        file.extend_from_slice(&len.to_be_bytes()[1..]);
        file.extend_from_slice(&body);
        file
    }

    #[test]
    fn a_comment_longer_than_its_block_is_refused() {
        assert!(check(&flac_with_comment(7, b"TITLE=x"), MediaType::Flac).is_ok());
        assert!(check(&flac_with_comment(u32::MAX, b"TITLE=x"), MediaType::Flac).is_err());
    }

    #[test]
    fn the_fuzzer_finding_is_refused() {
        let bytes = include_bytes!("../../../fixtures/audio/bad-input/flac-comment-4gib.flac");
        assert!(check(bytes, MediaType::Flac).is_err());
    }

    #[test]
    fn ogg_comment_packets_are_checked() {
        let mut packet = b"\x03vorbis".to_vec();
        packet.extend_from_slice(&0u32.to_le_bytes());
        packet.extend_from_slice(&1u32.to_le_bytes());
        packet.extend_from_slice(&1_000_000u32.to_le_bytes());
        let mut page = b"OggS\0\0".to_vec();
        page.extend_from_slice(&[0; 8]);
        page.extend_from_slice(&7u32.to_le_bytes());
        page.extend_from_slice(&[0; 8]);
        page.push(1);
        page.push(packet.len() as u8);
        page.extend_from_slice(&packet);
        assert!(check(&page, MediaType::Ogg).is_err());
    }

    #[test]
    fn real_files_pass() {
        for path in [
            "../../fixtures/dictation/dictation-01-en-us.ogg",
            "../../fixtures/dictation/dictation-04-en-us.flac",
            "../../fixtures/dictation/dictation-05-en-m3.wav",
            "../../fixtures/audio/jfk.wav",
        ] {
            let bytes = std::fs::read(path).unwrap();
            let media = MediaType::sniff(&bytes).unwrap();
            assert_eq!(check(&bytes, media), Ok(()), "{path}");
        }
    }
}

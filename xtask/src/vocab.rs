//! GPT-2 byte-level BPE vocabulary: CTranslate2 `vocabulary.txt` to raw token bytes.
//!
//! `vocabulary.txt` holds one token per line, written with GPT-2's `bytes_to_unicode`
//! alphabet (a space is `Ġ`, byte 0 is `Ā`). whisper.cpp wants the raw bytes, so each
//! character is mapped back through the inverse table.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};

/// The end-of-text token; the text vocabulary ends with it.
pub const END_OF_TEXT: &str = "<|endoftext|>";

/// Returns GPT-2's byte-to-character table: printable Latin-1 bytes map to themselves,
/// the remaining bytes to U+0100 onwards, in byte order.
pub fn bytes_to_unicode() -> [char; 256] {
    let printable = |byte: u32| {
        (u32::from(b'!')..=u32::from(b'~')).contains(&byte)
            || (0xA1..=0xAC).contains(&byte)
            || (0xAE..=0xFF).contains(&byte)
    };
    let mut table = ['\0'; 256];
    let mut next_extra = 256u32;
    for byte in 0..256u32 {
        let code = if printable(byte) {
            byte
        } else {
            next_extra += 1;
            next_extra - 1
        };
        table[byte as usize] =
            char::from_u32(code).expect("code points below 0x200 are valid chars");
    }
    table
}

/// Maps byte-level BPE tokens back to the raw bytes they stand for.
pub struct ByteDecoder {
    char_to_byte: HashMap<char, u8>,
}

impl Default for ByteDecoder {
    fn default() -> Self {
        let char_to_byte = bytes_to_unicode()
            .iter()
            .enumerate()
            .map(|(byte, ch)| (*ch, byte as u8))
            .collect();
        Self { char_to_byte }
    }
}

impl ByteDecoder {
    /// Decodes one token, failing on characters outside the byte alphabet.
    pub fn decode(&self, token: &str) -> Result<Vec<u8>> {
        token
            .chars()
            .map(|ch| {
                self.char_to_byte
                    .get(&ch)
                    .copied()
                    .with_context(|| format!("character {ch:?} is not in the gpt-2 byte alphabet"))
            })
            .collect()
    }
}

/// Splits `vocabulary.txt` into tokens, one per `\n`-terminated line.
///
/// Only `\n` separates tokens: `str::lines` would also strip a `\r`, and Unicode-aware
/// splitters break on U+0085/U+2028, which are legitimate token characters.
pub fn split_vocabulary(text: &str) -> Vec<&str> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    if text.is_empty() {
        return Vec::new();
    }
    text.split('\n').collect()
}

/// Decodes the text tokens (ids `0..=id of <|endoftext|>`) of a vocabulary to raw bytes.
///
/// whisper.cpp synthesises the special and timestamp tokens after end-of-text itself,
/// so they are not written to the ggml file.
pub fn text_token_bytes(tokens: &[&str]) -> Result<Vec<Vec<u8>>> {
    let Some(end_of_text) = tokens.iter().position(|token| *token == END_OF_TEXT) else {
        bail!("vocabulary has no {END_OF_TEXT} token");
    };
    let decoder = ByteDecoder::default();
    tokens[..=end_of_text]
        .iter()
        .enumerate()
        .map(|(id, token)| {
            decoder
                .decode(token)
                .with_context(|| format!("failed to decode vocabulary token {id}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table matches GPT-2's: printable bytes are themselves, space is `Ġ`, NUL is `Ā`.
    #[test]
    fn byte_table_matches_gpt2() {
        let table = bytes_to_unicode();
        assert_eq!(table[b'!' as usize], '!');
        assert_eq!(table[b' ' as usize], 'Ġ');
        assert_eq!(table[0], 'Ā');
        assert_eq!(table[b'\n' as usize], 'Ċ');
        assert_eq!(table[0xAD], 'Ń');
        assert_eq!(table[0xA1], '¡');
        let mut unique = table.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 256);
    }

    /// Known tokens of Whisper's English vocabulary decode to the expected bytes.
    #[test]
    fn decodes_known_tokens() {
        let decoder = ByteDecoder::default();
        // Token 220 is a lone space; 50255 is "Ġgazed".
        assert_eq!(decoder.decode("Ġ").unwrap(), b" ");
        assert_eq!(decoder.decode("Ġgazed").unwrap(), b" gazed");
        // Token 188 is byte 0x00, token 94 byte 0xA1.
        assert_eq!(decoder.decode("Ā").unwrap(), vec![0x00]);
        assert_eq!(decoder.decode("¡").unwrap(), vec![0xA1]);
        // Two byte-characters form one UTF-8 sequence: "Ã©" is "é".
        assert_eq!(decoder.decode("Ã©").unwrap(), "é".as_bytes());
        assert_eq!(decoder.decode(END_OF_TEXT).unwrap(), b"<|endoftext|>");
        assert!(decoder.decode("€").is_err());
    }

    /// Splitting honours only `\n`, keeping `\r` and U+2028 inside tokens.
    #[test]
    fn splits_on_newline_only() {
        assert_eq!(
            split_vocabulary("a\nb\u{2028}c\r\nd\n"),
            vec!["a", "b\u{2028}c\r", "d"]
        );
        assert_eq!(split_vocabulary("a\nb"), vec!["a", "b"]);
        assert!(split_vocabulary("").is_empty());
    }

    /// Text tokens end at `<|endoftext|>`, which is included; later specials are not.
    #[test]
    fn text_tokens_stop_at_end_of_text() {
        let vocabulary =
            split_vocabulary("!\nĠ\nĠthe\n<|endoftext|>\n<|startoftranscript|>\n<|0.00|>\n");
        let tokens = text_token_bytes(&vocabulary).unwrap();
        assert_eq!(
            tokens,
            vec![
                b"!".to_vec(),
                b" ".to_vec(),
                b" the".to_vec(),
                b"<|endoftext|>".to_vec()
            ]
        );
        assert!(text_token_bytes(&["a", "b"]).is_err());
    }

    /// A token outside the byte alphabet is reported with its id.
    #[test]
    fn bad_token_names_its_id() {
        let error = format!(
            "{:#}",
            text_token_bytes(&["a", "€", END_OF_TEXT]).unwrap_err()
        );
        assert!(error.contains("token 1"), "{error}");
    }
}

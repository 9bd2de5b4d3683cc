//! GPT-2 byte-level BPE vocabulary: CTranslate2 `vocabulary.txt` to raw token bytes.
//!
//! `vocabulary.txt` holds one token per line, written with GPT-2's `bytes_to_unicode`
//! alphabet (a space is `Ġ`, byte 0 is `Ā`). whisper.cpp wants the raw bytes, so each
//! character is mapped back through the inverse table.

use std::collections::HashMap;

use anyhow::{ensure, Context, Result};

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

/// Entries of GPT-2's byte-level vocabulary (ids `0..=50256`): the most text tokens a ggml Whisper file holds.
pub const GPT2_TOKENS: usize = 50257;

/// Returns the id of `<|endoftext|>`, which follows the text tokens.
pub fn end_of_text(tokens: &[&str]) -> Result<usize> {
    tokens
        .iter()
        .position(|token| *token == END_OF_TEXT)
        .with_context(|| format!("vocabulary has no {END_OF_TEXT} token"))
}

/// Decodes the text tokens of a vocabulary to raw bytes: ids up to and including `<|endoftext|>`, at most the
/// [`GPT2_TOKENS`] that whisper.cpp's own files carry.
///
/// whisper.cpp synthesises the special and timestamp tokens after end-of-text itself, so they are not written.
/// An English-only (`.en`) vocabulary ends its text at `<|endoftext|>` = 50256, which is written, as in the
/// official `ggml-*.en.bin`; a multilingual one has one more entry (50256 is an empty token) and puts
/// `<|endoftext|>` at 50257, which is not, as in the official multilingual files.
pub fn text_token_bytes(tokens: &[&str]) -> Result<Vec<Vec<u8>>> {
    let count = (end_of_text(tokens)? + 1).min(GPT2_TOKENS);
    let decoder = ByteDecoder::default();
    tokens[..count]
        .iter()
        .enumerate()
        .map(|(id, token)| {
            decoder
                .decode(token)
                .with_context(|| format!("failed to decode vocabulary token {id}"))
        })
        .collect()
}

/// Vocabulary size of the English-only (`.en`) Whisper models; multilingual ones have more (51865, large-v3
/// 51866).
pub const ENGLISH_VOCAB: usize = 51864;

/// Timestamp tokens after `<|0.00|>`: 0.02 s steps up to `<|30.00|>`.
const TIMESTAMP_STEPS: usize = 1500;

/// The ids whisper.cpp gives Whisper's special tokens. It derives them from the vocabulary size alone
/// (`whisper_model_load`): a vocabulary of [`ENGLISH_VOCAB`] is English-only; a larger one is multilingual,
/// end-of-text and start-of-transcript move up by one and the ids after the language tokens by the languages
/// beyond 98 (by one for 51865 with 99 languages, by two for large-v3's 100). The converter checks the vocabulary puts the same tokens there, so the language
/// (`<|en|>` = start-of-transcript + 1), task and timestamp tokens whisper.cpp emits mean what it thinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialTokens {
    /// More than one language (`n_vocab` above [`ENGLISH_VOCAB`]).
    pub multilingual: bool,
    /// Language tokens, `<|en|>` first, right after start-of-transcript.
    pub languages: usize,
    /// `<|endoftext|>`.
    pub end_of_text: usize,
    /// `<|startoftranscript|>`.
    pub start_of_transcript: usize,
    /// `<|translate|>`; `<|transcribe|>`, `<|startoflm|>`, `<|startofprev|>`, `<|nocaptions|>` and
    /// `<|notimestamps|>` follow it.
    pub translate: usize,
    /// `<|0.00|>`, the first of the timestamp tokens that end the vocabulary.
    pub timestamp_begin: usize,
}

impl SpecialTokens {
    /// whisper.cpp's layout for a vocabulary of `n_vocab` tokens; `None` below [`ENGLISH_VOCAB`], which is no
    /// Whisper vocabulary.
    pub fn for_vocab_size(n_vocab: usize) -> Option<Self> {
        if n_vocab < ENGLISH_VOCAB {
            return None;
        }
        let multilingual = n_vocab > ENGLISH_VOCAB;
        let shift = usize::from(multilingual);
        // whisper.cpp: num_languages = n_vocab - 51765 - multilingual; in a multilingual vocabulary the ids after
        // the languages move by num_languages - 98 (English-only ones keep 99 language tokens and the base ids).
        let languages = n_vocab - 51765 - shift;
        let after_languages = if multilingual { languages - 98 } else { 0 };
        Some(Self {
            multilingual,
            languages,
            end_of_text: 50256 + shift,
            start_of_transcript: 50257 + shift,
            translate: 50357 + after_languages,
            timestamp_begin: 50363 + after_languages,
        })
    }

    /// The names whisper.cpp's ids stand for, id first.
    fn expected_names(&self) -> Vec<(usize, &'static str)> {
        vec![
            (self.end_of_text, END_OF_TEXT),
            (self.start_of_transcript, "<|startoftranscript|>"),
            (self.start_of_transcript + 1, "<|en|>"),
            (self.translate, "<|translate|>"),
            (self.translate + 1, "<|transcribe|>"),
            (self.translate + 2, "<|startoflm|>"),
            (self.translate + 3, "<|startofprev|>"),
            (self.translate + 4, "<|nocaptions|>"),
            (self.translate + 5, "<|notimestamps|>"),
            (self.timestamp_begin, "<|0.00|>"),
            (self.timestamp_begin + TIMESTAMP_STEPS, "<|30.00|>"),
        ]
    }

    /// Whether `id` is one of the language tokens.
    pub fn is_language(&self, id: usize) -> bool {
        (self.start_of_transcript + 1..self.translate).contains(&id)
    }
}

/// Checks a Whisper-sized vocabulary puts its special tokens where whisper.cpp expects them, and returns that
/// layout; `None` for a vocabulary smaller than Whisper's (the converter's synthetic test models).
pub fn check_special_tokens(tokens: &[&str]) -> Result<Option<SpecialTokens>> {
    let Some(layout) = SpecialTokens::for_vocab_size(tokens.len()) else {
        return Ok(None);
    };
    let kind = if layout.multilingual {
        "multilingual"
    } else {
        "English-only"
    };
    ensure!(
        tokens.len() == layout.timestamp_begin + TIMESTAMP_STEPS + 1,
        "vocabulary has {} tokens, but whisper.cpp reads that as {kind} with timestamps ending at {}",
        tokens.len(),
        layout.timestamp_begin + TIMESTAMP_STEPS
    );
    for (id, name) in layout.expected_names() {
        // Older exports call the no-speech token <|nospeech|>.
        let ok = tokens[id] == name || (name == "<|nocaptions|>" && tokens[id] == "<|nospeech|>");
        ensure!(
            ok,
            "vocabulary token {id} is {:?}, but whisper.cpp reads a {}-token vocabulary as {kind} with {name} there",
            tokens[id],
            tokens.len()
        );
    }
    let first_language = layout.start_of_transcript + 1;
    for (offset, token) in tokens[first_language..layout.translate].iter().enumerate() {
        let id = first_language + offset;
        ensure!(
            token.len() > 4 && token.starts_with("<|") && token.ends_with("|>"),
            "vocabulary token {id} is {token:?}, expected a language token such as <|en|>"
        );
    }
    Ok(Some(layout))
}

#[cfg(test)]
pub(crate) mod tests {
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

    /// A Whisper vocabulary as CTranslate2 exports it: text tokens (multilingual ones end with an empty token),
    /// end-of-text, start-of-transcript, `languages` language tokens, the task tokens and 1501 timestamps.
    pub(crate) fn whisper_vocabulary(multilingual: bool, languages: usize) -> Vec<String> {
        let mut tokens: Vec<String> = (0..50256).map(|id| format!("t{id}")).collect();
        if multilingual {
            tokens.push(String::new());
        }
        tokens.push(END_OF_TEXT.into());
        tokens.push("<|startoftranscript|>".into());
        tokens.push("<|en|>".into());
        tokens.extend((1..languages).map(|id| format!("<|l{id}|>")));
        for task in [
            "translate",
            "transcribe",
            "startoflm",
            "startofprev",
            "nocaptions",
            "notimestamps",
        ] {
            tokens.push(format!("<|{task}|>"));
        }
        tokens.extend((0..=1500).map(|step| format!("<|{}.{:02}|>", step / 50, step % 50 * 2)));
        tokens
    }

    fn refs(tokens: &[String]) -> Vec<&str> {
        tokens.iter().map(String::as_str).collect()
    }

    /// whisper.cpp's ids: tiny.en's 51864 tokens are English-only, base's 51865 multilingual with 99 languages,
    /// large-v3's 51866 with 100; smaller vocabularies are not Whisper's.
    #[test]
    fn special_token_layout_follows_whisper_cpp() {
        let english = SpecialTokens::for_vocab_size(51864).unwrap();
        assert_eq!(
            english,
            SpecialTokens {
                multilingual: false,
                languages: 99,
                end_of_text: 50256,
                start_of_transcript: 50257,
                translate: 50357,
                timestamp_begin: 50363,
            }
        );
        let base = SpecialTokens::for_vocab_size(51865).unwrap();
        assert_eq!(
            base,
            SpecialTokens {
                multilingual: true,
                languages: 99,
                end_of_text: 50257,
                start_of_transcript: 50258,
                translate: 50358,
                timestamp_begin: 50364,
            }
        );
        let large_v3 = SpecialTokens::for_vocab_size(51866).unwrap();
        assert_eq!(
            (
                large_v3.languages,
                large_v3.translate,
                large_v3.timestamp_begin
            ),
            (100, 50359, 50365)
        );
        assert!(base.is_language(50259) && base.is_language(50357));
        assert!(!base.is_language(50258) && !base.is_language(50358));
        assert_eq!(SpecialTokens::for_vocab_size(51863), None);
        assert_eq!(SpecialTokens::for_vocab_size(5), None);
    }

    /// The English-only and multilingual vocabularies CTranslate2 exports match whisper.cpp's layout.
    #[test]
    fn checks_english_and_multilingual_vocabularies() {
        let english = whisper_vocabulary(false, 99);
        assert_eq!(english.len(), 51864);
        let layout = check_special_tokens(&refs(&english)).unwrap().unwrap();
        assert!(!layout.multilingual);
        let multilingual = whisper_vocabulary(true, 99);
        assert_eq!(multilingual.len(), 51865);
        let layout = check_special_tokens(&refs(&multilingual)).unwrap().unwrap();
        assert!(layout.multilingual);
        let large_v3 = whisper_vocabulary(true, 100);
        assert_eq!(
            check_special_tokens(&refs(&large_v3))
                .unwrap()
                .unwrap()
                .languages,
            100
        );
        // Older exports name the no-speech token <|nospeech|>.
        let mut older = multilingual.clone();
        older[50362] = "<|nospeech|>".into();
        assert!(check_special_tokens(&refs(&older)).is_ok());
        // The synthetic test models' vocabularies are too small to be Whisper's: not checked.
        assert_eq!(check_special_tokens(&["a", END_OF_TEXT]).unwrap(), None);
    }

    /// A vocabulary whose special tokens are not where whisper.cpp derives them is refused, naming the token:
    /// a multilingual one short of a language reads as English-only, shifting every special token.
    #[test]
    fn refuses_special_tokens_whisper_cpp_would_misplace() {
        let short = whisper_vocabulary(true, 98);
        assert_eq!(short.len(), 51864);
        let error = format!("{:#}", check_special_tokens(&refs(&short)).unwrap_err());
        assert!(
            error.contains("token 50256") && error.contains("English-only"),
            "{error}"
        );

        let mut swapped = whisper_vocabulary(true, 99);
        swapped.swap(50358, 50359);
        let error = format!("{:#}", check_special_tokens(&refs(&swapped)).unwrap_err());
        assert!(
            error.contains("token 50358") && error.contains("<|translate|>"),
            "{error}"
        );

        let mut not_a_language = whisper_vocabulary(false, 99);
        not_a_language[50300] = "Ġthe".into();
        let error = format!(
            "{:#}",
            check_special_tokens(&refs(&not_a_language)).unwrap_err()
        );
        assert!(
            error.contains("token 50300") && error.contains("language token"),
            "{error}"
        );

        let mut no_end = whisper_vocabulary(false, 99);
        no_end.pop();
        no_end.push("<|1.00|>".into());
        let error = format!("{:#}", check_special_tokens(&refs(&no_end)).unwrap_err());
        assert!(error.contains("<|30.00|>"), "{error}");
    }

    /// Both kinds write GPT-2's 50257 text tokens: `.en` ends with `<|endoftext|>`, multilingual with its empty
    /// token 50256, end-of-text (50257) being whisper.cpp's own.
    #[test]
    fn text_tokens_are_gpt2_sized_for_both_kinds() {
        let english = whisper_vocabulary(false, 99);
        let tokens = text_token_bytes(&refs(&english)).unwrap();
        assert_eq!(tokens.len(), GPT2_TOKENS);
        assert_eq!(tokens.last().unwrap(), b"<|endoftext|>");
        let multilingual = whisper_vocabulary(true, 99);
        let tokens = text_token_bytes(&refs(&multilingual)).unwrap();
        assert_eq!(tokens.len(), GPT2_TOKENS);
        assert_eq!(tokens.last().unwrap(), b"");
        assert_eq!(tokens[50255], b"t50255");
        assert_eq!(end_of_text(&refs(&multilingual)).unwrap(), 50257);
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

//! From Whisper's sub-word tokens to words with timings and probabilities.

use him_core::TranscriptWord;

/// One decoded text token, times in milliseconds from the start of the clip.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub id: i32,
    /// Raw bytes: byte-level tokens may split a UTF-8 character.
    pub bytes: Vec<u8>,
    pub probability: f32,
    pub logprob: f32,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// Joins tokens into words: a token starting with a space starts a new word. A word's probability is that of its
/// least probable token; its span runs from its first token's start to its last token's end.
pub(crate) fn words_from_tokens(tokens: &[Token]) -> Vec<TranscriptWord> {
    let mut groups: Vec<Vec<&Token>> = Vec::new();
    for token in tokens {
        let starts_word = token.bytes.first().is_some_and(|b| b.is_ascii_whitespace());
        match groups.last_mut() {
            Some(group) if !starts_word => group.push(token),
            _ => groups.push(vec![token]),
        }
    }
    groups
        .into_iter()
        .filter_map(|group| {
            let bytes: Vec<u8> = group.iter().flat_map(|t| t.bytes.iter().copied()).collect();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if text.trim().is_empty() {
                return None;
            }
            Some(TranscriptWord {
                text,
                start_ms: group.first()?.start_ms,
                end_ms: group.iter().map(|t| t.end_ms).max()?,
                probability: group.iter().map(|t| t.probability).fold(1.0, f32::min),
            })
        })
        .collect()
}

/// Mean log-probability of the tokens; 0 when there are none.
pub(crate) fn average_logprob(tokens: &[Token]) -> f32 {
    if tokens.is_empty() {
        return 0.0;
    }
    tokens.iter().map(|t| t.logprob).sum::<f32>() / tokens.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(id: i32, text: &str, probability: f32, start_ms: u64, end_ms: u64) -> Token {
        Token {
            id,
            bytes: text.as_bytes().to_vec(),
            probability,
            logprob: probability.ln(),
            start_ms,
            end_ms,
        }
    }

    #[test]
    fn sub_word_tokens_join_into_words() {
        let tokens = [
            token(1, " Metro", 0.9, 0, 200),
            token(2, "pro", 0.5, 200, 300),
            token(3, "lol", 0.8, 300, 500),
            token(4, " 50", 0.95, 600, 800),
            token(5, ".", 0.99, 800, 820),
        ];
        let words = words_from_tokens(&tokens);
        assert_eq!(words.len(), 2);
        assert_eq!(words[0].text, " Metroprolol");
        assert_eq!((words[0].start_ms, words[0].end_ms), (0, 500));
        assert!((words[0].probability - 0.5).abs() < 1e-6);
        assert_eq!(words[1].text, " 50.");
    }

    #[test]
    fn split_utf8_characters_are_rejoined() {
        let e_acute = "é".as_bytes();
        let mut first = token(1, " caf", 0.9, 0, 100);
        first.bytes.push(e_acute[0]);
        let second = Token {
            bytes: vec![e_acute[1]],
            ..token(2, "", 0.9, 100, 200)
        };
        assert_eq!(words_from_tokens(&[first, second])[0].text, " café");
    }

    #[test]
    fn no_tokens_average_to_zero() {
        assert_eq!(average_logprob(&[]), 0.0);
    }
}

//! Risk flags: which transcript segments a human must check.
//!
//! Pure functions over the decoded segments and the clip's samples; no whisper calls. Each check names one way
//! Whisper is known to fail on dictation: hallucinated text over silence, repetition loops, low-confidence
//! decoding, misheard numbers and doses, and windows that needed temperature fallback.

use std::collections::BTreeSet;

use him_core::{RiskFlag, Transcript, TranscriptSegment, TranscriptWord};

use crate::config::RiskConfig;
use crate::vad::{self, Silence};

/// Longest n-gram checked for back-to-back repetition.
const MAX_NGRAM: usize = 4;

/// Words that make a span a number or a dose.
pub const NUMBER_WORDS: &[&str] = &[
    "zero",
    "oh",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "sixty",
    "seventy",
    "eighty",
    "ninety",
    "hundred",
    "thousand",
    "million",
    "half",
    "point",
    "first",
    "second",
    "third",
    "mg",
    "mcg",
    "milligram",
    "milligrams",
    "microgram",
    "micrograms",
    "gram",
    "grams",
    "ml",
    "milliliter",
    "milliliters",
    "cc",
    "unit",
    "units",
    "tablet",
    "tablets",
    "percent",
];

/// Sets the flags of every segment. `samples` is the whole clip the segment timestamps refer to;
/// `first_temperature` is the configured temperature of the first decoding pass.
pub fn flag_segments(
    segments: &mut [TranscriptSegment],
    samples: &[f32],
    config: &RiskConfig,
    first_temperature: f32,
) {
    let silences = vad::silences(
        samples,
        config.vad_frame_ms,
        config.vad_margin_db,
        config.min_silence_ms,
    );
    let mut previous: Option<Vec<String>> = None;
    for segment in segments.iter_mut() {
        let words = normalized_words(&segment.text);
        let mut flags = BTreeSet::new();
        if text_in_silence(segment, &silences, u64::from(config.silence_edge_ms)) {
            flags.insert(RiskFlag::TextInSilence);
        }
        let repeats_previous = !words.is_empty() && previous.as_ref() == Some(&words);
        if repeats_previous || has_repetition_loop(&words, config.max_ngram_repeats as usize) {
            flags.insert(RiskFlag::RepetitionLoop);
        }
        if segment.avg_logprob < config.min_avg_logprob {
            flags.insert(RiskFlag::LowLogprob);
        }
        if segment
            .words
            .iter()
            .any(|w| w.probability < config.min_word_probability)
        {
            flags.insert(RiskFlag::LowConfidenceWords);
        }
        if has_low_confidence_number(&segment.words, config) {
            flags.insert(RiskFlag::LowConfidenceNumber);
        }
        if segment.temperature > first_temperature + f32::EPSILON {
            flags.insert(RiskFlag::TemperatureFallback);
        }
        segment.flags.extend(flags);
        segment.flags.sort();
        segment.flags.dedup();
        previous = Some(words);
    }
}

/// Every flag raised anywhere in a transcript.
pub fn transcript_flags(transcript: &Transcript) -> BTreeSet<RiskFlag> {
    transcript
        .segments
        .iter()
        .flat_map(|segment| segment.flags.iter().copied())
        .collect()
}

/// The roll-up: any flag on any segment sends the transcript to human review.
pub fn needs_review(transcript: &Transcript) -> bool {
    transcript
        .segments
        .iter()
        .any(|segment| !segment.flags.is_empty())
}

/// Lower-case words with punctuation stripped.
fn normalized_words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|word| {
            word.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|word| !word.is_empty())
        .collect()
}

/// Whether text was produced over a silence: a word whose midpoint lies in a silence, or a segment without word
/// timings that lies mostly in one.
fn text_in_silence(segment: &TranscriptSegment, silences: &[Silence], edge_ms: u64) -> bool {
    if normalized_words(&segment.text).is_empty() {
        return false;
    }
    let with_text: Vec<&TranscriptWord> = segment
        .words
        .iter()
        .filter(|w| w.text.chars().any(char::is_alphanumeric))
        .collect();
    if !with_text.is_empty() {
        return with_text.iter().any(|word| {
            let middle = (word.start_ms + word.end_ms) / 2;
            silences.iter().any(|s| s.contains(middle, edge_ms))
        });
    }
    let length = segment.end_ms.saturating_sub(segment.start_ms);
    silences.iter().any(|s| {
        let overlap = segment
            .end_ms
            .min(s.end_ms)
            .saturating_sub(segment.start_ms.max(s.start_ms));
        length > 0 && overlap * 2 >= length
    })
}

/// Whether an n-gram of 1 to 4 words occurs more than `max_repeats` times back to back.
fn has_repetition_loop(words: &[String], max_repeats: usize) -> bool {
    (1..=MAX_NGRAM).any(|n| {
        (0..words.len().saturating_sub(n)).any(|start| {
            let gram = &words[start..start + n];
            let copies = words[start..]
                .chunks_exact(n)
                .take_while(|chunk| *chunk == gram)
                .count();
            copies > max_repeats
        })
    })
}

/// Whether a word is a number, a dose or a unit.
fn is_numeric(word: &str) -> bool {
    let word = word.trim().to_lowercase();
    let bare: String = word.chars().filter(|c| c.is_alphanumeric()).collect();
    bare.chars().any(|c| c.is_ascii_digit()) || NUMBER_WORDS.contains(&bare.as_str())
}

/// Whether a number or dose is uncertain itself, or sits next to an uncertain word.
fn has_low_confidence_number(words: &[TranscriptWord], config: &RiskConfig) -> bool {
    words.iter().enumerate().any(|(index, word)| {
        if !is_numeric(&word.text) {
            return false;
        }
        let neighbours = &words[index.saturating_sub(1)..(index + 2).min(words.len())];
        word.probability < config.min_number_probability
            || neighbours
                .iter()
                .any(|n| n.probability < config.min_word_probability)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: usize = him_core::ASR_SAMPLE_RATE as usize;

    fn word(text: &str, start_ms: u64, end_ms: u64, probability: f32) -> TranscriptWord {
        TranscriptWord {
            text: text.to_string(),
            start_ms,
            end_ms,
            probability,
        }
    }

    fn segment(words: Vec<TranscriptWord>) -> TranscriptSegment {
        TranscriptSegment {
            text: words.iter().map(|w| w.text.as_str()).collect::<String>(),
            start_ms: words.first().map_or(0, |w| w.start_ms),
            end_ms: words.last().map_or(0, |w| w.end_ms),
            avg_logprob: -0.2,
            no_speech_prob: 0.0,
            temperature: 0.0,
            words,
            flags: Vec::new(),
        }
    }

    /// Loud tone for `speech` seconds, then digital silence for `quiet` seconds, then tone again.
    fn clip(speech: f32, quiet: f32) -> Vec<f32> {
        let tone = |seconds: f32| {
            (0..(seconds * RATE as f32) as usize)
                .map(|i| 0.3 * (i as f32 * 0.1).sin())
                .collect::<Vec<f32>>()
        };
        [
            tone(speech),
            vec![0.0; (quiet * RATE as f32) as usize],
            tone(speech),
        ]
        .concat()
    }

    fn flags_of(mut segments: Vec<TranscriptSegment>, samples: &[f32]) -> Vec<Vec<RiskFlag>> {
        flag_segments(&mut segments, samples, &RiskConfig::default(), 0.0);
        segments.into_iter().map(|s| s.flags).collect()
    }

    #[test]
    fn clean_segment_has_no_flags() {
        let samples = clip(3.0, 0.0);
        let flags = flags_of(
            vec![segment(vec![
                word(" Patient", 0, 500, 0.9),
                word(" is", 500, 900, 0.95),
            ])],
            &samples,
        );
        assert_eq!(flags, vec![Vec::<RiskFlag>::new()]);
    }

    #[test]
    fn words_over_silence_are_flagged() {
        let samples = clip(2.0, 10.0);
        let flags = flags_of(
            vec![
                segment(vec![word(" Hello", 500, 1500, 0.9)]),
                segment(vec![
                    word(" Thank", 6000, 6400, 0.9),
                    word(" you.", 6400, 7000, 0.9),
                ]),
            ],
            &samples,
        );
        assert!(!flags[0].contains(&RiskFlag::TextInSilence));
        assert!(flags[1].contains(&RiskFlag::TextInSilence));
    }

    #[test]
    fn segment_without_words_over_silence_is_flagged() {
        let samples = clip(2.0, 10.0);
        let mut silent = segment(Vec::new());
        silent.text = " you".into();
        silent.start_ms = 3000;
        silent.end_ms = 9000;
        assert_eq!(
            flags_of(vec![silent], &samples)[0],
            vec![RiskFlag::TextInSilence]
        );
    }

    #[test]
    fn repetition_loops_are_found() {
        let words = |text: &str| normalized_words(text);
        assert!(has_repetition_loop(&words("the the the the"), 3));
        assert!(has_repetition_loop(
            &words("I see. I see. I see. I see. I see."),
            3
        ));
        assert!(!has_repetition_loop(
            &words("four zero eight one one two three"),
            3
        ));
        assert!(!has_repetition_loop(&words("no no no"), 3));
    }

    #[test]
    fn repeated_segment_is_a_loop() {
        let samples = clip(3.0, 0.0);
        let one = segment(vec![
            word(" Thank", 0, 300, 0.9),
            word(" you.", 300, 600, 0.9),
        ]);
        let flags = flags_of(vec![one.clone(), one], &samples);
        assert!(flags[0].is_empty());
        assert_eq!(flags[1], vec![RiskFlag::RepetitionLoop]);
    }

    #[test]
    fn low_confidence_and_fallback_are_flagged() {
        let samples = clip(3.0, 0.0);
        let mut uncertain = segment(vec![
            word(" take", 0, 300, 0.2),
            word(" aspirin", 300, 900, 0.9),
        ]);
        uncertain.avg_logprob = -1.5;
        uncertain.temperature = 0.4;
        let flags = flags_of(vec![uncertain], &samples);
        assert_eq!(
            flags[0],
            vec![
                RiskFlag::LowLogprob,
                RiskFlag::LowConfidenceWords,
                RiskFlag::TemperatureFallback
            ]
        );
    }

    #[test]
    fn doses_near_doubt_are_flagged() {
        let config = RiskConfig::default();
        let sure = [word(" 50", 0, 300, 0.9), word(" mg", 300, 600, 0.9)];
        let doubtful_number = [word(" fifty", 0, 300, 0.5), word(" mg", 300, 600, 0.9)];
        let doubtful_neighbour = [
            word(" 50", 0, 300, 0.9),
            word(" mg", 300, 600, 0.9),
            word(" daly", 600, 900, 0.1),
        ];
        assert!(!has_low_confidence_number(&sure, &config));
        assert!(has_low_confidence_number(&doubtful_number, &config));
        assert!(has_low_confidence_number(&doubtful_neighbour, &config));
        assert!(!has_low_confidence_number(
            &[word(" daly", 0, 300, 0.1)],
            &config
        ));
    }

    #[test]
    fn roll_up_reports_any_flag() {
        let samples = clip(3.0, 0.0);
        let mut segments = vec![segment(vec![word(" ok", 0, 300, 0.9)])];
        let mut transcript = Transcript {
            language: "en".into(),
            segments: segments.clone(),
        };
        assert!(!needs_review(&transcript));
        segments[0].temperature = 0.2;
        flag_segments(&mut segments, &samples, &RiskConfig::default(), 0.0);
        transcript.segments = segments;
        assert!(needs_review(&transcript));
        assert_eq!(
            transcript_flags(&transcript),
            BTreeSet::from([RiskFlag::TemperatureFallback])
        );
    }
}

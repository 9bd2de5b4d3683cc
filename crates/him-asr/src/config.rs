//! The `[asr]` section of `pipeline.toml`.

use std::path::PathBuf;

use serde::Deserialize;

/// Speech-to-text settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AsrConfig {
    /// The ggml Whisper model file (see `models/README.md`).
    pub model_path: PathBuf,
    /// Spoken language, pinned: dictations are never language-detected.
    pub language: String,
    /// How tokens are chosen.
    pub strategy: Strategy,
    /// Beam width when `strategy = "beam"`.
    pub beam_size: u32,
    /// Candidates sampled per pass when a greedy pass falls back to a temperature above zero.
    pub best_of: u32,
    /// whisper.cpp threads per engine; the pool runs one engine per thread, so threads multiply.
    pub threads: u32,
    /// Engines (decoding states) in the speech-to-text pool; 0 means one per CPU core. On a small machine
    /// one engine per core with one thread each transcribes fastest.
    pub workers: usize,
    /// A window whose last tokens have less entropy than this is decoded again hotter (a repetition loop).
    pub entropy_threshold: f32,
    /// A window whose average token log-probability is below this is decoded again hotter.
    pub logprob_threshold: f32,
    /// Above this no-speech probability (and below `logprob_threshold`) a window is treated as silence.
    pub no_speech_threshold: f32,
    /// Temperature of the first pass; 0 is deterministic.
    pub temperature: f32,
    /// Step added to the temperature on each fallback pass, up to 1.0; 0 disables fallback.
    pub temperature_increment: f32,
    /// Longest stretch of audio decoded in one call; longer clips are cut at the quietest point near the end.
    pub window_secs: u32,
    /// A silence at least this long (milliseconds) ends a window: the clip is cut in its middle, nothing is
    /// dropped. 0 cuts only at `window_secs`.
    pub split_silence_ms: u32,
    /// How much audio the encoder sees per window.
    pub encoder_context: EncoderContext,
    /// With `encoder_context = "fit"`, silence kept after the window's end, in milliseconds.
    pub fit_margin_ms: u32,
    /// With `encoder_context = "fit"`, the shortest context, in seconds: on a context of a few seconds Whisper
    /// invents words (a 2 s clip came back with 8 errors in 4 words).
    pub fit_min_secs: u32,
    /// Text given to the decoder as if it preceded each window (Whisper's initial prompt): a dictated
    /// header in the words of the site steers the recogniser toward its labels ("date of birth", not
    /// "Datamer from") and toward writing digits. Empty for none.
    pub initial_prompt: String,
    /// Thresholds for the per-segment risk flags.
    pub risk: RiskConfig,
}

impl Default for AsrConfig {
    fn default() -> Self {
        AsrConfig {
            model_path: PathBuf::from("models/ggml-base-q8_0.bin"),
            language: "en".to_string(),
            strategy: Strategy::Greedy,
            beam_size: 5,
            best_of: 5,
            threads: 1,
            workers: 0,
            entropy_threshold: 2.4,
            logprob_threshold: -1.0,
            no_speech_threshold: 0.6,
            temperature: 0.0,
            temperature_increment: 0.2,
            window_secs: 30,
            split_silence_ms: 3000,
            encoder_context: EncoderContext::Fit,
            fit_margin_ms: 1000,
            fit_min_secs: 10,
            initial_prompt: String::new(),
            risk: RiskConfig::default(),
        }
    }
}

/// Decoding strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Most probable token at each step (fast).
    Greedy,
    /// Beam search of width `beam_size` (slower, sometimes more accurate).
    Beam,
}

/// How much audio the Whisper encoder sees per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncoderContext {
    /// 30 s, as Whisper was trained: a shorter window is padded with silence and the encoder pays for all of it.
    Full,
    /// The window plus `fit_margin_ms`, at least `fit_min_secs` (whisper.cpp's `audio_ctx`): the encoder's cost
    /// falls with the window's length (a 15 s window costs about half of a 30 s one).
    Fit,
}

/// Thresholds of the risk flags (`[asr.risk]`); a flagged segment sends the transcript to review.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskConfig {
    /// Length of a voice-activity frame, in milliseconds.
    pub vad_frame_ms: u32,
    /// A frame is speech when it is this many decibels above the clip's noise floor.
    pub vad_margin_db: f32,
    /// Shortest stretch of non-speech frames reported as a silence, in milliseconds.
    pub min_silence_ms: u32,
    /// Slack at each edge of a silence, in milliseconds, absorbing imprecise word timestamps.
    pub silence_edge_ms: u32,
    /// An n-gram (1 to 4 words) repeated back to back more than this many times is a repetition loop.
    pub max_ngram_repeats: u32,
    /// A segment whose average token log-probability is below this is flagged.
    pub min_avg_logprob: f32,
    /// A word whose probability is below this is a low-confidence word.
    pub min_word_probability: f32,
    /// A number, dose or unit whose probability is below this, or that sits next to a low-confidence word, is
    /// flagged: a misheard dose is the costliest error.
    pub min_number_probability: f32,
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            vad_frame_ms: 30,
            vad_margin_db: 12.0,
            min_silence_ms: 1000,
            silence_edge_ms: 250,
            max_ngram_repeats: 3,
            min_avg_logprob: -1.0,
            min_word_probability: 0.35,
            min_number_probability: 0.6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused() {
        let error = serde_json::from_str::<AsrConfig>(r#"{"modle_path": "x"}"#).unwrap_err();
        assert!(error.to_string().contains("unknown field"));
    }

    #[test]
    fn partial_sections_keep_defaults() {
        let config: AsrConfig =
            serde_json::from_str(r#"{"strategy": "beam", "risk": {"min_silence_ms": 500}}"#)
                .unwrap();
        assert_eq!(config.strategy, Strategy::Beam);
        assert_eq!(config.risk.min_silence_ms, 500);
        assert_eq!(config.threads, 1);
        assert_eq!(
            config.model_path,
            PathBuf::from("models/ggml-base-q8_0.bin")
        );
    }
}

//! Audio clips and the speech-to-text engine trait.

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Sample rate every clip is resampled to before transcription.
pub const ASR_SAMPLE_RATE: u32 = 16_000;

/// Mono audio at [`ASR_SAMPLE_RATE`], samples in -1.0..=1.0.
#[derive(Clone, PartialEq)]
pub struct AudioClip {
    pub samples: Vec<f32>,
}

impl std::fmt::Debug for AudioClip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Samples are dictated content: never print them.
        f.debug_struct("AudioClip")
            .field("duration_ms", &self.duration_ms())
            .finish_non_exhaustive()
    }
}

impl AudioClip {
    /// Length in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        self.samples.len() as u64 * 1000 / u64::from(ASR_SAMPLE_RATE)
    }
}

/// A risk that forces human review of a transcript segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskFlag {
    /// Text was produced over audio the voice-activity detector found silent (possible hallucination).
    TextInSilence,
    /// The segment repeats n-grams in a loop.
    RepetitionLoop,
    /// The decoder's average log-probability is low.
    LowLogprob,
    /// Words below the confidence threshold.
    LowConfidenceWords,
    /// A number or dose inside a low-confidence span.
    LowConfidenceNumber,
    /// The decoder needed temperature fallback.
    TemperatureFallback,
    /// The keyed MRN (job demographics) is contradicted: the spoken MRN belongs to another patient.
    DemographicsMismatchMrn,
    /// The spoken date of birth is not the keyed patient's.
    DemographicsMismatchDob,
    /// The spoken name is not the keyed patient's (or fits another patient).
    DemographicsMismatchName,
    /// A document split out of a scanned batch has another number of pages than its cover sheet announced.
    PageCountMismatch,
}

/// A word with its timing and probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptWord {
    pub text: String,
    pub start_ms: u64,
    pub end_ms: u64,
    /// Token probability, 0–1 (the lowest over the word's tokens).
    pub probability: f32,
}

/// A decoded segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptSegment {
    pub text: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub avg_logprob: f32,
    pub no_speech_prob: f32,
    /// Sampling temperature of the pass that was kept (0 = greedy first pass).
    pub temperature: f32,
    pub words: Vec<TranscriptWord>,
    pub flags: Vec<RiskFlag>,
}

/// The whole transcript of a clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    pub language: String,
    pub segments: Vec<TranscriptSegment>,
}

impl Transcript {
    /// The plain text, segments joined by single spaces.
    pub fn text(&self) -> String {
        self.segments
            .iter()
            .map(|s| s.text.trim())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A synchronous speech-to-text engine; one instance (or one decoding state) per pool thread.
pub trait AsrEngine {
    /// The engine, model and version, recorded in every manifest.
    fn version(&self) -> String;

    /// Transcribes a clip. Implementations never receive an empty clip.
    fn transcribe(&mut self, clip: &AudioClip) -> Result<Transcript>;
}

//! Whisper speech-to-text engine for `him`.
//!
//! This crate exists to isolate the native whisper.cpp dependency (through `whisper-rs`): everything above it
//! talks to the [`him_core::AsrEngine`] trait. [`decode_audio`] turns dictation files into the 16 kHz mono
//! clips the engine takes, rejecting bad audio with a reason code. [`WhisperModel`] loads the ggml model once per process and is
//! shared; [`WhisperModel::engine`] gives each thread of the worker's CPU pool a [`WhisperEngine`] with its own
//! decoding state. Long clips are decoded in windows cut at pauses, never conditioned on earlier text; words come
//! with timings and probabilities, and every segment carries the [`him_core::RiskFlag`]s of the pure [`risk`]
//! checks ([`needs_review`] rolls them up).
//!
//! ```no_run
//! use him_asr::{needs_review, AsrConfig, WhisperModel};
//! use him_core::{AsrEngine, AudioClip};
//!
//! let model = WhisperModel::load(&AsrConfig::default())?;
//! let mut engine = model.engine()?;
//! let clip = AudioClip { samples: vec![0.0; 16_000] };
//! let transcript = engine.transcribe(&clip)?;
//! println!("{} segments, review: {}", transcript.segments.len(), needs_review(&transcript));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! whisper.cpp's own log output is dropped, so nothing reaches stderr but this process's tracing, and no
//! transcript text is ever logged.

mod audio;
mod config;
mod engine;
mod error;
mod lengths;
pub mod risk;
mod vad;
mod words;

pub use audio::{decode_audio, AudioLimits};
pub use config::{AsrConfig, EncoderContext, RiskConfig, Strategy};
pub use engine::{WhisperEngine, WhisperModel};
pub use error::{Error, Result};
pub use risk::{needs_review, transcript_flags};
pub use vad::{silences, Silence};

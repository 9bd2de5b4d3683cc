//! Tests of the whisper engine against the real converted model (`models/fetch-whisper.sh`), and of the app's
//! audio decoder, which this crate's tests borrow to read the fixtures.

/// The app's audio decoder (`src/decode/audio.rs`), so the real decoder (and its unit tests) build here
/// without the app; its `super` is this file, which provides the app's `Rejection`.
#[path = "../../../src/decode/audio.rs"]
pub mod audio;

/// Where the app keeps the decoder.
mod decode {
    pub use super::audio;
}

/// The app's rejection type (`src/decode/mod.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub reason: him_core::RejectReason,
    pub detail: String,
}

impl Rejection {
    pub fn new(reason: him_core::RejectReason, detail: impl Into<String>) -> Self {
        Rejection {
            reason,
            detail: detail.into(),
        }
    }
}

#[path = "integration/accuracy.rs"]
mod accuracy;
#[path = "integration/dictation.rs"]
mod dictation;
#[path = "integration/support.rs"]
mod support;

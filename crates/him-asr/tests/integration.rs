//! Tests of the whisper engine against the real converted model (`models/fetch-whisper.sh`), reading the
//! fixtures through this crate's audio decoder.

#[path = "integration/accuracy.rs"]
mod accuracy;
#[path = "integration/dictation.rs"]
mod dictation;
#[path = "integration/support.rs"]
mod support;
#[path = "integration/word_errors.rs"]
mod word_errors;

//! Errors of the whisper.cpp adapter.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can fail when loading or running Whisper.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The model file is missing or whisper.cpp refused it.
    #[error("failed to load whisper model {path:?} (run models/fetch-whisper.sh): {detail}")]
    ModelLoad { path: PathBuf, detail: String },
    /// The configuration asks for something this engine cannot do.
    #[error("invalid asr setting {name}: {detail}")]
    InvalidSetting { name: &'static str, detail: String },
    /// whisper.cpp could not allocate a decoding state (out of memory).
    #[error("failed to create whisper decoding state: {detail}")]
    State { detail: String },
    /// whisper.cpp failed while decoding a clip.
    #[error("whisper failed to transcribe a window at {offset_ms} ms: {detail}")]
    Decode { offset_ms: u64, detail: String },
}

impl Error {
    /// Whether retrying may help: a model being installed or memory being freed can fix loading and state
    /// creation; a decode failure or a bad setting repeats.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::ModelLoad { .. } | Error::State { .. })
    }
}

impl From<Error> for him_core::EngineError {
    fn from(error: Error) -> Self {
        let detail = error.to_string();
        match error {
            Error::Decode { .. } => him_core::EngineError::Failed {
                engine: "whisper",
                detail,
            },
            _ => him_core::EngineError::Init {
                engine: "whisper",
                detail,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_environmental_failures_are_transient() {
        let load = Error::ModelLoad {
            path: PathBuf::from("m.bin"),
            detail: "missing".into(),
        };
        assert!(load.is_transient());
        assert!(load.to_string().contains("models/fetch-whisper.sh"));
        let decode = Error::Decode {
            offset_ms: 0,
            detail: "x".into(),
        };
        assert!(!decode.is_transient());
        assert!(!him_core::EngineError::from(decode).is_transient());
    }
}

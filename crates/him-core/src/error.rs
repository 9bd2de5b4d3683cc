//! Errors raised by engines (OCR, ASR) behind the traits of this crate.

/// Result alias for engine calls.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// What went wrong inside an engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The engine could not be initialised (missing language data, model file).
    #[error("failed to initialise engine {engine}: {detail}")]
    Init {
        engine: &'static str,
        detail: String,
    },
    /// The engine rejected this input (too small, unsupported pixel layout).
    #[error("engine {engine} rejected the input: {detail}")]
    Input {
        engine: &'static str,
        detail: String,
    },
    /// The engine failed while recognising.
    #[error("engine {engine} failed: {detail}")]
    Failed {
        engine: &'static str,
        detail: String,
    },
}

impl EngineError {
    /// Whether retrying the same input later may succeed.
    ///
    /// Initialisation failures are environmental (a model file being installed, say); input and recognition
    /// failures repeat for the same bytes.
    pub fn is_transient(&self) -> bool {
        matches!(self, EngineError::Init { .. })
    }
}

//! Errors of the tesseract adapter.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can fail when starting tesseract.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Tesseract could not load the language data.
    #[error("failed to load tesseract language data {language:?} from {tessdata:?}")]
    LanguageData { language: String, tessdata: String },
    /// A setting contained an interior NUL byte.
    #[error("invalid tesseract setting {name}")]
    InvalidSetting { name: &'static str },
}

impl Error {
    /// Whether retrying may help: missing language data can be installed without touching the input.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::LanguageData { .. })
    }
}

impl From<Error> for him_core::EngineError {
    fn from(error: Error) -> Self {
        him_core::EngineError::Init {
            engine: "tesseract",
            detail: error.to_string(),
        }
    }
}

//! Tesseract OCR engine for `him`.
//!
//! This crate exists to isolate the native `libtesseract` dependency: everything above it talks to the
//! [`him_core::OcrEngine`] trait. [`TesseractEngine`] owns one tesseract instance for recognition and one
//! for orientation detection (OSD); it is created on, and never leaves, one thread of the worker's CPU pool.
//!
//! ```no_run
//! use him_core::{OcrEngine, PageImage, PageSegMode};
//! use him_ocr::{OcrConfig, TesseractEngine};
//!
//! let mut engine = TesseractEngine::new(&OcrConfig::default())?;
//! let page = PageImage::new(2, 1, vec![255, 0]).unwrap();
//! let result = engine.recognize(&page, PageSegMode::Auto)?;
//! println!("{} words", result.words.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Tesseract uses OpenMP. With more than one engine per process it must run with `OMP_THREAD_LIMIT=1`, set in
//! the environment **before the process starts** (the OpenMP runtime reads it once at load time);
//! [`omp_thread_limit_is_one`] lets the binary check that and re-execute itself otherwise.

mod config;
mod engine;
mod error;
mod tsv;

pub use config::OcrConfig;
pub use engine::{tesseract_version, TesseractEngine};
pub use error::{Error, Result};

/// Whether the process environment pins OpenMP to one thread, as tesseract needs when one engine runs per core.
pub fn omp_thread_limit_is_one() -> bool {
    std::env::var("OMP_THREAD_LIMIT").is_ok_and(|value| value.trim() == "1")
}

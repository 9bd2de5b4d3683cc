//! Domain nouns of `him` and the engine traits the worker drives.
//!
//! The pipeline reads `intake → queue → decode → ocr | asr → extract → match → file → review`. This crate holds
//! what every stage agrees on, with no IO and no native dependency, so the worker loop can be unit-tested
//! without compiling tesseract or whisper.cpp:
//!
//! - [`DocumentId`] and [`Sha256`]: a document is named by the SHA-256 of its original bytes.
//! - [`Mrn`]: a medical record number that passed the one rule for naming a patient folder.
//! - [`MediaType`] sniffed from magic bytes (never from a file name), and the [`Kind`] it implies.
//! - [`RejectReason`] and [`Rejection`]: the stable reason codes for bad input.
//! - [`AudioClip`] and the [`AsrEngine`] trait with its [`Transcript`] and [`RiskFlag`]s.
//! - [`PageImage`] and the [`OcrEngine`] trait with its result types ([`OcrPage`], [`OcrWord`]).
//! - [`DocumentManifest`]: the `document.json` filed beside every document.
//! - [`OcrDocument`]: the `ocr.json` filed beside a chart's text, the words of each page with their boxes.
//! - [`JobDemographics`]: what a dictation device sends with the audio (a claim to corroborate).
//!
//! ```
//! use him_core::{DocumentId, MediaType};
//! let bytes = b"%PDF-1.7\n...";
//! assert_eq!(MediaType::sniff(bytes), Some(MediaType::Pdf));
//! let id = DocumentId::for_bytes(bytes);
//! assert_eq!(id.as_str().len(), 32);
//! ```

mod asr;
mod demographics;
mod error;
mod id;
mod manifest;
mod media;
mod mrn;
mod ocr;
mod ocr_document;
mod reason;
#[cfg(feature = "testsuite")]
pub mod testsuite;

pub use asr::{
    AsrEngine, AudioClip, RiskFlag, Transcript, TranscriptSegment, TranscriptWord, ASR_SAMPLE_RATE,
};
pub use demographics::{is_loinc_code, is_rfc3339_shaped, DemographicsError, JobDemographics};
pub use error::{EngineError, Result};
pub use id::{sha1_hex, ContentHasher, DocumentId, Sha256};
pub use manifest::{
    BatchSource, DocumentManifest, EngineVersions, FiledPatient, JobContext, PageInfo, PageSource,
    Status,
};
pub use media::{Kind, MediaType};
pub use mrn::Mrn;
pub use ocr::{OcrEngine, OcrPage, OcrWord, Orientation, PageImage, PageSegMode};
pub use ocr_document::{OcrDocument, OcrDocumentPage};
pub use reason::{RejectReason, Rejection};

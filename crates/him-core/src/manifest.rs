//! The manifest (`document.json`) filed beside every document.

use serde::{Deserialize, Serialize};

use crate::{DocumentId, JobDemographics, Kind, Mrn, PageSegMode, RejectReason, RiskFlag, Sha256};

/// What the submitter said about a job: carried from `him submit`, the intake API and the drop folder
/// through the queue into the manifest and the index entry, so the review queue orders STAT work first,
/// filters by station and counts waiting time from submission.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobContext {
    /// Urgent (STAT) work.
    #[serde(default)]
    pub stat: bool,
    /// Id of the submitting station or drop (a device id, never a person).
    #[serde(default)]
    pub station: Option<String>,
    /// When the document was submitted, RFC 3339; `None` for `him process`, which submits nothing.
    #[serde(default)]
    pub submitted_at: Option<String>,
    /// The dictation device's job demographics, when it sent any. Never serialised with the context (the
    /// context goes into index entries and markers): the manifest and `demographics.json` carry it.
    #[serde(skip)]
    pub demographics: Option<JobDemographics>,
}

/// The patient a document was filed to, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FiledPatient {
    pub mrn: Mrn,
    /// Match score, 0 to 1.
    pub score: f32,
    /// The matching rule that fired (`mrn+dob+name`, …).
    pub rule: String,
}

/// Where a document ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Filed into a patient's folder.
    Filed,
    /// Filed into the unmatched (indexing) area for a human to assign.
    Unmatched,
    /// The same bytes were filed before; nothing new was written.
    Duplicate,
    /// Bad input; the original is kept under `rejected/`.
    Rejected,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Filed => "filed",
            Status::Unmatched => "unmatched",
            Status::Duplicate => "duplicate",
            Status::Rejected => "rejected",
        })
    }
}

/// How a page's text was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageSource {
    /// OCR over an image decoded natively.
    Ocr,
    /// OCR over a raster rendered by poppler's `pdftoppm` (JBIG2, JPX, inline images).
    OcrRendered,
    /// The PDF page's own text layer (born-digital).
    TextLayer,
    /// No raster could be produced for this page; it is listed, not dropped.
    Unrendered,
}

/// What was done to one page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageInfo {
    /// Page number, counting from 1.
    pub number: u32,
    pub source: PageSource,
    /// Size of the normalised raster (after rotation), in pixels.
    pub width: u32,
    pub height: u32,
    /// Clockwise rotation in degrees (0, 90, 180, 270) applied to make the page upright (PDF `/Rotate` and
    /// detected orientation).
    pub rotation_degrees: u16,
    /// Confidence of the orientation detection, when it ran.
    pub orientation_confidence: Option<f32>,
    /// Small-angle correction applied, in degrees (positive = clockwise).
    pub skew_degrees: f32,
    /// Mean word confidence (0–100) of the OCR pass kept.
    pub ocr_confidence: Option<f32>,
    /// Segmentation mode of the OCR pass kept.
    pub ocr_mode: Option<PageSegMode>,
    /// Words read.
    pub words: usize,
    /// Object key of the normalised page image, relative to the document folder.
    pub image: Option<String>,
    /// Why the page has no text, when it has none.
    pub note: Option<String>,
}

/// Versions of everything that shaped the result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineVersions {
    pub him: String,
    pub ocr: Option<String>,
    pub asr: Option<String>,
}

/// `document.json`: everything known about a filed document except its content.
///
/// The extracted fields and the match decision are typed by the extraction stage (`him_extract::Manifest`
/// names them); the defaults read them as plain JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentManifest<Fields = serde_json::Value, Matching = serde_json::Value> {
    /// Version of this schema.
    pub schema: u32,
    pub document_id: DocumentId,
    pub sha256: Sha256,
    /// SHA-1 (lowercase hex) of the stored original object (for a document split out of a batch, its
    /// `document.pdf`): FHIR `Attachment.hash`, recorded once here so that an approval never reads the
    /// original. Absent on documents filed before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    pub kind: Kind,
    pub media_type: String,
    /// Size of the stored original object, in bytes.
    pub bytes: u64,
    /// RFC 3339 time the pipeline received the bytes.
    pub received_at: String,
    /// STAT, station and submission time, as submitted.
    #[serde(flatten)]
    pub job: JobContext,
    pub status: Status,
    pub reason: Option<RejectReason>,
    pub page_count: u32,
    pub pages: Vec<PageInfo>,
    pub engines: EngineVersions,
    /// Extracted fields (filled by the identity stage).
    pub fields: Fields,
    /// The matched patient, when one matched.
    pub patient: Option<FiledPatient>,
    /// The matching decision with its candidates and the rule that fired.
    pub matching: Option<Matching>,
    /// Length of a dictation, in milliseconds.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// Risk flags raised anywhere in a transcript (rolled up from its segments).
    #[serde(default)]
    pub risk_flags: Vec<RiskFlag>,
    /// Whether a human must review before the document can be approved (any risk flag).
    #[serde(default)]
    pub needs_review: bool,
    /// The job demographics the dictation device sent (a claim the spoken header had to corroborate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demographics: Option<JobDemographics>,
    /// The scanned batch this document was split out of, with its pages there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchSource>,
}

/// Where a document split out of a scanned batch came from: the batch's id (`batches/<id>/`) and the
/// document's pages in the scan, numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSource {
    pub document_id: DocumentId,
    pub pages: Vec<u32>,
}

impl<F, M> DocumentManifest<F, M> {
    /// Current schema version.
    pub const SCHEMA: u32 = 1;

    /// When the document's wait started: its submission, else its arrival in the pipeline.
    pub fn waiting_since(&self) -> &str {
        self.job
            .submitted_at
            .as_deref()
            .unwrap_or(&self.received_at)
    }
}

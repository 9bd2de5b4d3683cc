//! Scanned batches: one upload holding several documents, split at `him` cover sheets and patient-label
//! barcodes, with blank pages (duplex back sides) left out.
//!
//! The chart stage ([`crate::chart`]) reads barcodes and measures ink on every page before OCR
//! ([`scan_page`]); cover-sheet pages and, in a batch, blank pages are not OCR'd. [`page_role`] then says
//! what each page is and [`split`] cuts the scan into [`Segment`]s, deterministically. Each segment becomes a
//! document of its own ([`Pipeline::file_batch`]):
//!
//! ```text
//! batches/<batch id>/original.<ext>   the scan, byte for byte (written first)
//!                   /batch.json       documents and their scan pages, sheets, blank pages, barcode reads
//! patients/<mrn>/<doc id>/document.pdf, source.json, pages/, text.txt, ocr.json, document.json
//! unmatched/<doc id>/…                the same, when the identity is not certain
//! index/<doc id>.json                 per document, then index/<batch id>.json last: the batch is done
//! ```
//!
//! A document's id is the SHA-256 of the batch id and its page numbers, so processing the same scan again
//! finds every document filed and writes nothing. Identity per document:
//! - after a cover sheet: the sheet's MRN and date of birth, unless the document's own header names another
//!   patient (`cover_sheet_conflict`; [`him_extract::match_cover_sheet`]);
//! - after a page printed as a cover sheet whose barcode cannot be read: unmatched `separator_unreadable`,
//!   never appended to the previous document;
//! - with a patient label: the label's MRN as a claim the page's own date of birth or name must corroborate;
//!   pages whose labels name different patients are never one document;
//! - otherwise: what the pages say, as for any chart.

use bytes::Bytes;
use him_core::{
    BatchSource, DocumentId, MediaType, OcrDocument, OcrDocumentPage, PageImage, RiskFlag, Sha256,
    Status,
};
use him_decode::barcode::{read_barcodes, Barcode};
use him_decode::ink::{measure, Ink};
use him_extract::{
    match_cover_sheet, match_dictation, match_patient, Fields, MatchDecision, MatchOutcome,
    PageContent, PatientIndex, UnmatchedReason,
};
use him_store::{Folder, Object};
use regex::Regex;
use serde::Serialize;
use tracing::info;

use crate::chart::PageOutput;
use crate::config::BatchConfig;
use crate::coversheet::{CoverSheet, PayloadError, TITLE};
use crate::identity::Identity;
use crate::pipeline::{mean, Outcome, Pipeline, Prepared, Received};

/// Compiles `[batch] label_pattern`; `None` when it is empty. The pattern must hold a capture group.
pub fn label_regex(pattern: &str) -> anyhow::Result<Option<Regex>> {
    if pattern.is_empty() {
        return Ok(None);
    }
    let regex = Regex::new(pattern).map_err(|error| {
        anyhow::anyhow!("batch.label_pattern is not a regular expression: {error}")
    })?;
    anyhow::ensure!(
        regex.captures_len() >= 2,
        "batch.label_pattern must capture the MRN in a group"
    );
    Ok(Some(regex))
}

/// What was found on a page before OCR.
#[derive(Debug, Clone, Default)]
pub struct PageScan {
    pub barcodes: Vec<Barcode>,
    pub ink: Option<Ink>,
    /// A barcode in the cover-sheet format: the sheet, or why its payload is invalid.
    pub sheet: Option<Result<CoverSheet, PayloadError>>,
    /// The MRN of a patient-label barcode.
    pub label: Option<String>,
    /// The page's resolution, when declared.
    pub dpi: Option<u32>,
}

impl PageScan {
    /// Whether the page is blank by `cfg`'s thresholds.
    pub fn is_blank(&self, cfg: &BatchConfig) -> bool {
        self.ink
            .is_some_and(|ink| ink.is_blank(cfg.blank_max_coverage, cfg.blank_max_marks))
    }

    /// Whether the page is a blank back side: blank by `cfg`'s thresholds and without a patient label.
    pub fn is_blank_back(&self, cfg: &BatchConfig) -> bool {
        self.is_blank(cfg) && self.label.is_none()
    }

    /// A valid cover sheet on the page.
    pub fn cover_sheet(&self) -> Option<&CoverSheet> {
        self.sheet.as_ref().and_then(|sheet| sheet.as_ref().ok())
    }
}

/// Reads a page's barcodes and measures its ink (on the OCR pool).
pub fn scan_page(image: &PageImage, cfg: &BatchConfig, label: Option<&Regex>) -> PageScan {
    let barcodes = read_barcodes(image, &cfg.symbologies);
    let mut sheet = None;
    let mut found_label = None;
    for barcode in &barcodes {
        match CoverSheet::parse(&barcode.text) {
            Ok(parsed) => sheet = Some(Ok(parsed)),
            Err(PayloadError::NotACoverSheet) => {
                if found_label.is_none() {
                    found_label = label
                        .and_then(|regex| regex.captures(barcode.text.trim()))
                        .filter(|captures| captures[0].len() == barcode.text.trim().len())
                        .and_then(|captures| captures.get(1))
                        .map(|mrn| mrn.as_str().to_string());
                }
            }
            Err(error) => {
                if !matches!(sheet, Some(Ok(_))) {
                    sheet = Some(Err(error));
                }
            }
        }
    }
    PageScan {
        barcodes,
        ink: Some(measure(image)),
        sheet,
        label: found_label,
        dpi: image.dpi,
    }
}

/// Whether OCR'd text is a `him` cover sheet's printed title (one letter misread at most): how a sheet whose
/// barcode is unreadable is still recognised. A fax cover sheet is not one.
pub fn reads_as_cover_sheet(text: &str) -> bool {
    // Digits OCR reads for letters count as those letters.
    let letters: Vec<u8> = text
        .bytes()
        .map(|b| match b {
            b'0' => b'O',
            b'1' => b'I',
            b'5' => b'S',
            b'8' => b'B',
            other => other,
        })
        .filter(u8::is_ascii_alphabetic)
        .map(|b| b.to_ascii_uppercase())
        .collect();
    let title: Vec<u8> = TITLE.bytes().filter(u8::is_ascii_alphabetic).collect();
    letters
        .windows(title.len())
        .any(|window| window.iter().zip(&title).filter(|(a, b)| a != b).count() <= 1)
}

/// What a page is to the splitter.
#[derive(Debug, Clone, PartialEq)]
pub enum PageRole {
    /// A cover sheet whose barcode was read: starts a document.
    CoverSheet(Box<CoverSheet>),
    /// A page printed as a cover sheet whose barcode could not be read or is invalid: starts a document
    /// that no patient is assigned to.
    UnreadableSheet,
    /// A blank page, left out of the documents.
    Blank,
    /// A page of a document, with the MRN of its patient label if it has one.
    Content { label: Option<String> },
}

/// The role of a page from its scan and its OCR'd text.
pub fn page_role(scan: &PageScan, text: &str, in_batch: bool, cfg: &BatchConfig) -> PageRole {
    match &scan.sheet {
        Some(Ok(sheet)) => return PageRole::CoverSheet(Box::new(sheet.clone())),
        Some(Err(_)) => return PageRole::UnreadableSheet,
        None => {}
    }
    if reads_as_cover_sheet(text) {
        return PageRole::UnreadableSheet;
    }
    if in_batch && scan.is_blank_back(cfg) {
        return PageRole::Blank;
    }
    PageRole::Content {
        label: scan.label.clone(),
    }
}

/// How a document of a batch starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// Pages before the first separator.
    Scan,
    /// A cover sheet on this scan page.
    Sheet { page: u32, sheet: Box<CoverSheet> },
    /// An unreadable cover sheet on this scan page.
    Unreadable { page: u32 },
    /// A patient label naming another patient than the pages before.
    Label,
}

impl Start {
    /// The scan page of the separator that starts the document, if one does.
    pub fn separator_page(&self) -> Option<u32> {
        match self {
            Start::Sheet { page, .. } | Start::Unreadable { page } => Some(*page),
            Start::Scan | Start::Label => None,
        }
    }
}

/// One document of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub start: Start,
    /// Its pages in the scan, numbered from 1 (sheets and blank pages left out).
    pub pages: Vec<u32>,
    /// The MRN its patient labels name (all the same, by construction).
    pub label: Option<String>,
}

/// A batch cut into documents.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub segments: Vec<Segment>,
    pub blank: Vec<u32>,
}

/// Two MRNs as the same number: case, spaces and dashes ignored.
fn same_mrn(a: &str, b: &str) -> bool {
    let key = |s: &str| -> String {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect()
    };
    key(a) == key(b)
}

/// Cuts the pages into documents: a new one at every cover sheet (readable or not) and wherever a patient
/// label names another patient than the document's labels or sheet so far. Blank pages are left out. Every
/// separator starts a segment, even one with no pages after it (reported, not filed).
pub fn split(roles: &[PageRole]) -> Split {
    let mut segments = vec![Segment {
        start: Start::Scan,
        pages: Vec::new(),
        label: None,
    }];
    let mut blank = Vec::new();
    for (index, role) in roles.iter().enumerate() {
        let number = index as u32 + 1;
        match role {
            PageRole::CoverSheet(sheet) => segments.push(Segment {
                start: Start::Sheet {
                    page: number,
                    sheet: sheet.clone(),
                },
                pages: Vec::new(),
                label: None,
            }),
            PageRole::UnreadableSheet => segments.push(Segment {
                start: Start::Unreadable { page: number },
                pages: Vec::new(),
                label: None,
            }),
            PageRole::Blank => blank.push(number),
            PageRole::Content { label } => {
                let current = segments.last_mut().expect("one segment at least");
                if let Some(label) = label {
                    let conflicts = match (&current.label, &current.start) {
                        (Some(existing), _) => !same_mrn(existing, label),
                        (None, Start::Sheet { sheet, .. }) => !same_mrn(&sheet.mrn, label),
                        _ => false,
                    };
                    if conflicts {
                        segments.push(Segment {
                            start: Start::Label,
                            pages: Vec::new(),
                            label: Some(label.clone()),
                        });
                    } else if current.label.is_none() {
                        current.label = Some(label.clone());
                    }
                }
                segments
                    .last_mut()
                    .expect("one segment at least")
                    .pages
                    .push(number);
            }
        }
    }
    if segments[0].start == Start::Scan && segments[0].pages.is_empty() {
        segments.remove(0);
    }
    Split { segments, blank }
}

/// Whether the scan is a batch: any cover sheet (readable or not) or patient label.
pub fn is_batch(roles: &[PageRole]) -> bool {
    roles.iter().any(|role| {
        matches!(
            role,
            PageRole::CoverSheet(_)
                | PageRole::UnreadableSheet
                | PageRole::Content { label: Some(_) }
        )
    })
}

/// The id of a document split out of a batch: fixed by the batch and its pages.
pub fn segment_id(batch: &DocumentId, pages: &[u32]) -> (DocumentId, Sha256) {
    let pages: Vec<String> = pages.iter().map(u32::to_string).collect();
    let sha = Sha256::of(format!("him-batch:{batch}:pages:{}", pages.join(",")).as_bytes());
    (DocumentId::from_sha256(&sha), sha)
}

/// The matching decision of one segment (`None` without a patient index).
pub fn decide(
    segment: &Segment,
    fields: &Fields,
    index: Option<&PatientIndex>,
    cfg: &BatchConfig,
    matching: &him_extract::MatchConfig,
) -> Option<MatchDecision> {
    let index = index?;
    let unmatched = |reason, candidates| MatchDecision {
        outcome: MatchOutcome::Unmatched { reason },
        candidates,
        corrected_mrn: None,
        disagreements: Vec::new(),
    };
    Some(match &segment.start {
        Start::Sheet { sheet, .. } => {
            if !cfg.authority.is_empty() && !sheet.authority.eq_ignore_ascii_case(&cfg.authority) {
                let read = match_patient(fields, index, matching);
                unmatched(UnmatchedReason::CoverSheetUnknownPatient, read.candidates)
            } else {
                match_cover_sheet(fields, &sheet.mrn, sheet.date_of_birth, index, matching)
            }
        }
        Start::Unreadable { .. } => {
            let read = match_patient(fields, index, matching);
            unmatched(UnmatchedReason::SeparatorUnreadable, read.candidates)
        }
        Start::Scan | Start::Label => match &segment.label {
            Some(label) => match_dictation(fields, Some(label), None, index, matching),
            None => match_patient(fields, index, matching),
        },
    })
}

/// The per-page entry of `batch.json`.
#[derive(Debug, Serialize)]
struct BatchPage<'a> {
    number: u32,
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ink: Option<Ink>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    barcodes: &'a [Barcode],
    #[serde(skip_serializing_if = "Option::is_none")]
    sheet_error: Option<String>,
}

/// One document of `batch.json`.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct BatchDocument {
    pub document_id: DocumentId,
    pub pages: Vec<u32>,
    pub start: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator_page: Option<u32>,
}

/// `batch.json`, as much of it as a later run reads back.
#[derive(Debug, serde::Deserialize)]
pub struct BatchRecord {
    pub documents: Vec<BatchDocument>,
}

fn start_name(start: &Start) -> &'static str {
    match start {
        Start::Scan => "scan",
        Start::Sheet { .. } => "cover_sheet",
        Start::Unreadable { .. } => "unreadable_cover_sheet",
        Start::Label => "patient_label",
    }
}

/// The scanned batch, read and split, ready to file.
pub(crate) struct BatchPlan {
    pub pages: Vec<PageOutput>,
    pub scans: Vec<PageScan>,
    pub roles: Vec<PageRole>,
    pub split: Split,
    pub engine_seconds: f64,
}

impl Pipeline {
    /// Files a batch: the scan under `batches/<id>/`, then every document split out of it, then
    /// `batch.json` and the batch's index entry. Returns the batch's outcome with one outcome per document.
    pub(crate) async fn file_batch(
        &self,
        original: Bytes,
        sha256: Sha256,
        id: DocumentId,
        media: MediaType,
        plan: BatchPlan,
        received: Received,
    ) -> anyhow::Result<Outcome> {
        let bytes = original.len() as u64;
        let folder = Folder::Batch(id.clone());
        self.store
            .put_new(&folder.original(media.extension()), original.clone())
            .await?;
        let BatchPlan {
            mut pages,
            scans,
            roles,
            split,
            engine_seconds,
        } = plan;
        let mut documents = Vec::new();
        let mut listed = Vec::new();
        for segment in split.segments.iter().filter(|s| !s.pages.is_empty()) {
            let (doc_id, _) = segment_id(&id, &segment.pages);
            let outcome = self
                .file_segment(
                    &original,
                    &id,
                    media,
                    segment,
                    &mut pages,
                    &scans,
                    &received,
                    doc_id.clone(),
                )
                .await?;
            listed.push(BatchDocument {
                document_id: doc_id,
                pages: segment.pages.clone(),
                start: start_name(&segment.start).to_string(),
                separator_page: segment.start.separator_page(),
            });
            documents.push(outcome);
        }
        let page_entries: Vec<BatchPage<'_>> = roles
            .iter()
            .zip(&scans)
            .enumerate()
            .map(|(index, (role, scan))| BatchPage {
                number: index as u32 + 1,
                role: match role {
                    PageRole::CoverSheet(_) => "cover_sheet",
                    PageRole::UnreadableSheet => "unreadable_cover_sheet",
                    PageRole::Blank => "blank",
                    PageRole::Content { .. } => "content",
                },
                ink: scan.ink,
                barcodes: &scan.barcodes,
                sheet_error: scan
                    .sheet
                    .as_ref()
                    .and_then(|s| s.as_ref().err())
                    .map(|e| e.to_string()),
            })
            .collect();
        let empty_separators: Vec<u32> = split
            .segments
            .iter()
            .filter(|s| s.pages.is_empty())
            .filter_map(|s| s.start.separator_page())
            .collect();
        let record = serde_json::json!({
            "schema": 1,
            "batch_id": id,
            "sha256": sha256,
            "media_type": media.mime(),
            "bytes": bytes,
            "received_at": received.at,
            "page_count": roles.len(),
            "documents": listed,
            "blank_pages": split.blank,
            "empty_separators": empty_separators,
            "pages": page_entries,
        });
        self.store
            .put_new(
                &folder.object("batch.json").expect("a plain name"),
                Bytes::from(serde_json::to_vec_pretty(&record)?),
            )
            .await?;
        let entry = crate::filing::IndexEntry {
            document_id: id.clone(),
            sha256: sha256.clone(),
            status: Status::Filed,
            location: folder.clone(),
            filed_at: crate::pipeline::now(),
            job: received.job.clone(),
        };
        crate::filing::file(&self.store, &entry, Vec::new()).await?;
        info!(
            pages = roles.len(),
            documents = documents.len(),
            blank = split.blank.len(),
            sheets = roles
                .iter()
                .filter(|r| matches!(r, PageRole::CoverSheet(_)))
                .count(),
            unreadable_sheets = roles
                .iter()
                .filter(|r| **r == PageRole::UnreadableSheet)
                .count(),
            bytes,
            engine_ms = (engine_seconds * 1000.0).round() as u64,
            duration_ms = received.started.elapsed().as_millis() as u64,
            "batch split and filed"
        );
        Ok(Outcome {
            pages: roles.len() as u32,
            engine_ms: (engine_seconds * 1000.0).round() as u64,
            documents,
            ..Outcome::new(
                id,
                sha256,
                Some(him_core::Kind::Chart),
                Status::Filed,
                folder,
                bytes,
            )
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn file_segment(
        &self,
        original: &Bytes,
        batch_id: &DocumentId,
        media: MediaType,
        segment: &Segment,
        pages: &mut [PageOutput],
        scans: &[PageScan],
        received: &Received,
        doc_id: DocumentId,
    ) -> anyhow::Result<Outcome> {
        let members: Vec<usize> = segment.pages.iter().map(|&n| n as usize - 1).collect();
        let contents: Vec<PageContent<'_>> = members
            .iter()
            .map(|&i| PageContent {
                text: &pages[i].text,
                words: &pages[i].words,
            })
            .collect();
        let index = self.patient_index();
        let identity =
            if matches!(segment.start, Start::Scan | Start::Label) && segment.label.is_none() {
                // No sheet and no label: the document's own pages decide, as for a chart of its own (the label
                // reader, then the evidence search of docs/MATCHING.md rows E1-E6).
                crate::identity::identify(
                    &contents,
                    index.as_deref(),
                    &self.config.patients,
                    &self.config.matching,
                )
            } else {
                let fields = crate::identity::extract_chart(&contents, &self.config.patients);
                let decision = decide(
                    segment,
                    &fields,
                    index.as_deref(),
                    &self.config.batch,
                    &self.config.matching,
                );
                Identity { fields, decision }
            };
        let text = members
            .iter()
            .map(|&i| pages[i].text.as_str())
            .collect::<Vec<_>>()
            .join("\n\u{c}\n");
        let ocr = OcrDocument {
            engine: self.engines.ocr_version.clone(),
            pages: members
                .iter()
                .enumerate()
                .map(|(k, &i)| OcrDocumentPage {
                    number: k as u32 + 1,
                    width: pages[i].info.width,
                    height: pages[i].info.height,
                    source: pages[i].info.source,
                    mean_confidence: pages[i].info.ocr_confidence,
                    words: pages[i].words.clone(),
                })
                .collect(),
        };
        let pdf = if media == MediaType::Pdf {
            him_decode::assemble::pdf_pages(original, &segment.pages, &self.config.limits)
        } else {
            None
        };
        let pdf = match pdf {
            Some(pdf) => pdf,
            None => {
                let images: Vec<him_decode::assemble::PngPage<'_>> = members
                    .iter()
                    .filter_map(|&i| {
                        pages[i]
                            .png
                            .as_deref()
                            .map(|png| him_decode::assemble::PngPage {
                                png,
                                dpi: scans[i].dpi.unwrap_or(200),
                            })
                    })
                    .collect();
                him_decode::assemble::images_pdf(&images).ok_or_else(|| {
                    anyhow::anyhow!("cannot assemble document.pdf of a batch document")
                })?
            }
        };
        let mut objects = vec![
            (Object::Text, Bytes::from(text)),
            (Object::Ocr, Bytes::from(serde_json::to_vec(&ocr)?)),
        ];
        let mut infos = Vec::new();
        for (k, &i) in members.iter().enumerate() {
            let number = k as u32 + 1;
            let mut info = pages[i].info.clone();
            info.number = number;
            if let Some(png) = &pages[i].png {
                info.image = Some(Object::PageImage(number).name());
                objects.push((Object::PageImage(number), Bytes::from(png.clone())));
            }
            infos.push(info);
        }
        let source = BatchSource {
            document_id: batch_id.clone(),
            pages: segment.pages.clone(),
        };
        let source_json = serde_json::json!({
            "batch_id": batch_id,
            "pages": segment.pages,
            "start": start_name(&segment.start),
            "separator_page": segment.start.separator_page(),
            "cover_sheet": match &segment.start {
                Start::Sheet { sheet, .. } => sheet.payload().ok(),
                _ => None,
            },
            "label_mrn": segment.label,
        });
        objects.push((
            Object::Source,
            Bytes::from(serde_json::to_vec_pretty(&source_json)?),
        ));
        let mut risk_flags = Vec::new();
        if let Start::Sheet { sheet, .. } = &segment.start {
            if sheet
                .pages
                .is_some_and(|n| n as usize != segment.pages.len())
            {
                risk_flags.push(RiskFlag::PageCountMismatch);
            }
        }
        let confidence = mean(members.iter().filter_map(|&i| pages[i].info.ocr_confidence));
        let prepared = Prepared {
            kind: him_core::Kind::Chart,
            objects,
            pages: infos,
            identity,
            engine_seconds: members.iter().map(|&i| pages[i].engine_seconds).sum(),
            duration_ms: None,
            risk_flags,
            confidence,
            batch: Some(source.clone()),
        };
        let pdf = Bytes::from(pdf);
        let sha = Sha256::of(&pdf);
        let received = Received {
            at: received.at.clone(),
            job: received.job.clone(),
            started: received.started,
        };
        let mut outcome = self
            .file_prepared(pdf, sha, doc_id, MediaType::Pdf, prepared, received)
            .await?;
        outcome.batch = Some(source);
        Ok(outcome)
    }

    /// The outcome of a batch processed before: every document it was split into, as `duplicate`.
    pub(crate) async fn batch_duplicate(
        &self,
        id: DocumentId,
        sha256: Sha256,
        bytes: u64,
    ) -> anyhow::Result<Outcome> {
        let folder = Folder::Batch(id.clone());
        let record: BatchRecord = match self
            .store
            .get_opt(&folder.object("batch.json").expect("a plain name"))
            .await?
        {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|error| anyhow::anyhow!("batch record of {id} is unreadable: {error}"))?,
            None => anyhow::bail!("batch {id} is indexed but its batch.json is missing"),
        };
        let mut documents = Vec::new();
        for document in record.documents {
            let Some(entry) = crate::filing::lookup(&self.store, &document.document_id).await?
            else {
                anyhow::bail!("a document of batch {id} is listed but not filed");
            };
            let mut outcome = Outcome::new(
                document.document_id,
                entry.sha256,
                Some(him_core::Kind::Chart),
                Status::Duplicate,
                entry.location,
                0,
            );
            outcome.batch = Some(BatchSource {
                document_id: id.clone(),
                pages: document.pages,
            });
            documents.push(outcome);
        }
        info!(
            documents = documents.len(),
            bytes, "batch already filed; nothing written"
        );
        Ok(Outcome {
            documents,
            ..Outcome::new(
                id,
                sha256,
                Some(him_core::Kind::Chart),
                Status::Duplicate,
                folder,
                bytes,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use him_extract::Date;

    fn sheet(mrn: &str) -> PageRole {
        PageRole::CoverSheet(Box::new(CoverSheet {
            mrn: mrn.into(),
            authority: "GENERAL".into(),
            date_of_birth: Date::new(1957, 3, 14).unwrap(),
            encounter: None,
            document_type: None,
            date_of_service: None,
            sheet_id: None,
            pages: None,
        }))
    }

    fn content() -> PageRole {
        PageRole::Content { label: None }
    }

    fn labelled(mrn: &str) -> PageRole {
        PageRole::Content {
            label: Some(mrn.into()),
        }
    }

    fn pages(split: &Split) -> Vec<Vec<u32>> {
        split.segments.iter().map(|s| s.pages.clone()).collect()
    }

    #[test]
    fn sheets_start_documents_and_blank_pages_are_left_out() {
        let roles = [
            sheet("4081121"),
            content(),
            PageRole::Blank,
            content(),
            sheet("4081139"),
            content(),
            PageRole::Blank,
        ];
        let split = split(&roles);
        assert_eq!(pages(&split), vec![vec![2, 4], vec![6]]);
        assert_eq!(split.blank, vec![3, 7]);
        assert!(matches!(
            split.segments[1].start,
            Start::Sheet { page: 5, .. }
        ));
    }

    #[test]
    fn an_unreadable_sheet_is_never_appended_to_the_previous_document() {
        let roles = [
            sheet("4081121"),
            content(),
            PageRole::UnreadableSheet,
            content(),
            content(),
        ];
        let split = split(&roles);
        assert_eq!(pages(&split), vec![vec![2], vec![4, 5]]);
        assert_eq!(split.segments[1].start, Start::Unreadable { page: 3 });
    }

    #[test]
    fn labels_of_different_patients_are_never_one_document() {
        let roles = [
            labelled("4081121"),
            content(),
            labelled("408-112-1"),
            labelled("4081139"),
        ];
        let split = split(&roles);
        assert_eq!(pages(&split), vec![vec![1, 2, 3], vec![4]]);
        assert_eq!(split.segments[1].label.as_deref(), Some("4081139"));
        // A label naming another patient than the cover sheet splits too.
        let split = super::split(&[sheet("4081121"), content(), labelled("4081139")]);
        assert_eq!(pages(&split), vec![vec![2], vec![3]]);
    }

    #[test]
    fn pages_before_the_first_sheet_are_a_document_and_empty_sheets_file_nothing() {
        let split = split(&[content(), sheet("4081121"), sheet("4081139"), content()]);
        assert_eq!(pages(&split), vec![vec![1], vec![], vec![4]]);
        assert!(!is_batch(&[content(), PageRole::Blank]));
        assert!(is_batch(&[content(), labelled("1")]));
    }

    #[test]
    fn the_printed_title_tells_a_sheet_and_a_fax_cover_sheet_does_not() {
        assert!(reads_as_cover_sheet("xx\nHIM C0VER SHEET\nMRN"));
        assert!(reads_as_cover_sheet("HlM COVER SHEET"));
        assert!(!reads_as_cover_sheet("FAX COVER SHEET\nTo: Records"));
        assert!(!reads_as_cover_sheet("discharge summary"));
    }

    #[test]
    fn segment_ids_are_fixed_by_batch_and_pages() {
        let batch = DocumentId::from_sha256(&Sha256::of(b"scan"));
        assert_eq!(segment_id(&batch, &[2, 3]), segment_id(&batch, &[2, 3]));
        assert_ne!(segment_id(&batch, &[2, 3]).0, segment_id(&batch, &[2]).0);
    }
}

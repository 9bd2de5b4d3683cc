//! One document through the pipeline: `decode → ocr → extract → match → file`.
//!
//! The same function serves `him process` (in-process) and, later, the queue worker, so both behave alike.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use him_core::{
    DocumentId, DocumentManifest, EngineVersions, Kind, MediaType, OcrEngine, PageInfo,
    RejectReason, Sha256, Status,
};
use him_extract::PatientIndex;
use him_store::{Store, Written};
use serde::Serialize;
use tracing::{info, info_span, warn, Instrument};

use crate::chart::{page_image_key, process_page, OcrJsonPage, PageOutput};
use crate::config::PipelineConfig;
use crate::decode::{decode_chart, Rejection, Renderer};
use crate::filing::{self, IndexEntry};
use crate::identity::identify;
use crate::pool::CpuPool;

/// The OCR pool: one boxed engine per thread.
pub type OcrPool = CpuPool<Box<dyn OcrEngine>>;

/// What happened to one document; `him process` prints it as a JSON line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub document_id: DocumentId,
    pub sha256: Sha256,
    pub kind: Option<Kind>,
    pub status: Status,
    pub reason: Option<RejectReason>,
    pub location: String,
    pub pages: u32,
    pub fields: serde_json::Value,
    pub patient: Option<serde_json::Value>,
    /// Why an unmatched document was not filed into a patient folder (`no_candidate`, `mrn_conflict`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmatched_reason: Option<String>,
    pub bytes: u64,
    /// Milliseconds spent inside the OCR engine, summed over pages.
    pub engine_ms: u64,
    /// Milliseconds from receiving the bytes to the result being filed.
    pub duration_ms: u64,
}

/// The pipeline with its store and engine pool.
pub struct Pipeline {
    store: Store,
    pool: Arc<OcrPool>,
    config: Arc<PipelineConfig>,
    renderer: Renderer,
    versions: EngineVersions,
    /// Documents being processed in this process, so the same bytes submitted twice at once are processed
    /// once and reported once as `duplicate`.
    in_flight: Mutex<HashMap<DocumentId, Arc<tokio::sync::Mutex<()>>>>,
    /// The hospital's patient index; `None` sends every document to the unmatched queue.
    patients: Option<Arc<PatientIndex>>,
}

impl Pipeline {
    pub fn new(
        config: PipelineConfig,
        store: Store,
        pool: Arc<OcrPool>,
        ocr_version: String,
        patients: Option<Arc<PatientIndex>>,
    ) -> Self {
        let renderer = if config.render.enabled {
            Renderer::detect(config.render.dpi)
        } else {
            Renderer::disabled()
        };
        Pipeline {
            store,
            pool,
            config: Arc::new(config),
            renderer,
            versions: EngineVersions {
                him: env!("CARGO_PKG_VERSION").to_string(),
                ocr: Some(ocr_version),
                asr: None,
            },
            in_flight: Mutex::new(HashMap::new()),
            patients,
        }
    }

    /// The store documents are filed into.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Processes one original. Bad input is an `Ok` outcome with status `rejected`; an `Err` means the
    /// document could not be filed (store unavailable) and the same call should be retried later.
    pub async fn process(&self, original: Bytes) -> anyhow::Result<Outcome> {
        let sha256 = Sha256::of(&original);
        let id = DocumentId::from_sha256(&sha256);
        let media = MediaType::sniff(&original);
        let span = info_span!("job", job.id = %id, media.kind = %media.map_or("unknown".to_string(), |m| m.kind().to_string()));
        let started = Instant::now();
        let gate = {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            Arc::clone(in_flight.entry(id.clone()).or_default())
        };
        let result = {
            let _turn = gate.lock().await;
            self.process_inner(original, sha256, id.clone(), media)
                .instrument(span)
                .await
        };
        let result = result.map(|mut outcome| {
            outcome.duration_ms = started.elapsed().as_millis() as u64;
            outcome
        });
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Two references left (the map's and ours) means nobody else waits for this document.
        if Arc::strong_count(&gate) == 2 {
            in_flight.remove(&id);
        }
        result
    }

    fn duplicate(
        id: DocumentId,
        sha256: Sha256,
        kind: Option<Kind>,
        location: String,
        bytes: u64,
    ) -> Outcome {
        Outcome {
            document_id: id,
            sha256,
            kind,
            status: Status::Duplicate,
            reason: None,
            location,
            pages: 0,
            fields: serde_json::json!({}),
            patient: None,
            unmatched_reason: None,
            bytes,
            engine_ms: 0,
            duration_ms: 0,
        }
    }

    async fn process_inner(
        &self,
        original: Bytes,
        sha256: Sha256,
        id: DocumentId,
        media: Option<MediaType>,
    ) -> anyhow::Result<Outcome> {
        let started = Instant::now();
        let bytes = original.len() as u64;
        let kind = media.map(MediaType::kind);
        if let Some(entry) = filing::lookup(&self.store, &id).await? {
            info!(bytes, "document already filed; nothing written");
            return Ok(Self::duplicate(id, sha256, kind, entry.location, bytes));
        }
        let received_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let limits = &self.config.limits;
        let rejection = if original.is_empty() {
            Some(Rejection::new(RejectReason::Empty, "file is empty"))
        } else if bytes > limits.max_file_bytes {
            Some(Rejection::new(
                RejectReason::TooLarge,
                format!("{bytes} bytes, over the limit of {}", limits.max_file_bytes),
            ))
        } else {
            match media {
                None => Some(Rejection::new(
                    RejectReason::UnsupportedType,
                    "content matches no accepted media type",
                )),
                Some(media) if media.kind() == Kind::Dictation => Some(Rejection::new(
                    RejectReason::UnsupportedType,
                    "dictation audio is not processed by this version",
                )),
                Some(_) => None,
            }
        };
        if let Some(rejection) = rejection {
            return self
                .reject(original, sha256, id, media, rejection, received_at, started)
                .await;
        }
        let media = media.unwrap_or(MediaType::Pdf);

        let decode_input = original.clone();
        let decode_limits = limits.clone();
        let renderer = self.renderer.clone();
        let decoded = self
            .pool
            .run(move |_engine| decode_chart(&decode_input, media, &decode_limits, &renderer))
            .await
            .unwrap_or_else(|_| {
                let reason = if media == MediaType::Pdf {
                    RejectReason::PdfCorrupt
                } else {
                    RejectReason::ImageCorrupt
                };
                Err(Rejection::new(reason, "decoder failed on malformed input"))
            });
        let decoded = match decoded {
            Ok(decoded) => decoded,
            Err(rejection) => {
                return self
                    .reject(
                        original,
                        sha256,
                        id,
                        Some(media),
                        rejection,
                        received_at,
                        started,
                    )
                    .await
            }
        };

        let page_jobs = decoded.pages.into_iter().enumerate().map(|(index, page)| {
            let config = self.config.ocr.clone();
            let max_side = limits.max_ocr_side;
            let number = index as u32 + 1;
            async move {
                self.pool
                    .run(move |engine| {
                        process_page(engine.as_mut(), number, page, &config, max_side)
                    })
                    .await
            }
        });
        let mut pages: Vec<PageOutput> = Vec::new();
        for (index, result) in futures::future::join_all(page_jobs)
            .await
            .into_iter()
            .enumerate()
        {
            match result {
                Ok(page) => pages.push(page),
                Err(error) => {
                    warn!(page = index + 1, error = %error, "page processing failed");
                    let rejection = Rejection::new(
                        RejectReason::EngineFailed,
                        format!("page {} failed: {error}", index + 1),
                    );
                    return self
                        .reject(
                            original,
                            sha256,
                            id,
                            Some(media),
                            rejection,
                            received_at,
                            started,
                        )
                        .await;
                }
            }
        }
        let engine_seconds: f64 = pages.iter().map(|p| p.engine_seconds).sum();

        let page_texts: Vec<&str> = pages.iter().map(|p| p.text.as_str()).collect();
        let identity = identify(
            &page_texts,
            self.patients.as_deref(),
            &self.config.patients,
            &self.config.matching,
        );
        let (location, status) = match identity.filing_mrn() {
            Some(mrn) => (filing::patient_prefix(mrn, &id), Status::Filed),
            None => (filing::unmatched_prefix(&id), Status::Unmatched),
        };
        let text = pages
            .iter()
            .map(|p| p.text.as_str())
            .collect::<Vec<_>>()
            .join("\n\u{c}\n");
        let ocr_json = serde_json::json!({
            "document_id": id,
            "engine": self.versions.ocr,
            "pages": pages.iter().map(|p| OcrJsonPage {
                number: p.info.number,
                width: p.info.width,
                height: p.info.height,
                source: p.info.source,
                mean_confidence: p.info.ocr_confidence,
                words: &p.words,
            }).collect::<Vec<_>>(),
        });
        let page_infos: Vec<PageInfo> = pages.iter().map(|p| p.info.clone()).collect();
        let manifest = DocumentManifest {
            schema: DocumentManifest::SCHEMA,
            document_id: id.clone(),
            sha256: sha256.clone(),
            kind: Kind::Chart,
            media_type: media.mime().to_string(),
            bytes,
            received_at,
            status,
            reason: None,
            page_count: page_infos.len() as u32,
            pages: page_infos,
            engines: self.versions.clone(),
            fields: serde_json::to_value(&identity.fields)?,
            patient: identity.patient(),
            matching: identity
                .decision
                .as_ref()
                .map(serde_json::to_value)
                .transpose()?,
        };
        let mut objects: Vec<(String, Bytes)> = vec![
            (format!("original.{}", media.extension()), original),
            ("text.txt".to_string(), Bytes::from(text)),
            (
                "ocr.json".to_string(),
                Bytes::from(serde_json::to_vec(&ocr_json)?),
            ),
        ];
        for page in &mut pages {
            if let Some(png) = page.png.take() {
                objects.push((page_image_key(page.info.number), Bytes::from(png)));
            }
        }
        objects.push((
            "document.json".to_string(),
            Bytes::from(serde_json::to_vec_pretty(&manifest)?),
        ));
        let entry = IndexEntry {
            document_id: id.clone(),
            sha256: sha256.clone(),
            status,
            location: location.clone(),
            filed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        if filing::file(&self.store, &entry, objects).await? == Written::AlreadyExisted {
            info!(
                bytes,
                "document filed concurrently by another run; nothing replaced"
            );
            return Ok(Self::duplicate(
                id,
                sha256,
                Some(Kind::Chart),
                location,
                bytes,
            ));
        }
        let mean_confidence = mean(manifest.pages.iter().filter_map(|p| p.ocr_confidence));
        let (rule, match_score) = identity.log_summary();
        info!(
            status = %status,
            rule = %rule,
            match_score,
            fields = identity.fields.summary().len(),
            pages = manifest.page_count,
            bytes,
            ocr_confidence = mean_confidence,
            engine_ms = (engine_seconds * 1000.0) as u64,
            duration_ms = started.elapsed().as_millis() as u64,
            "document filed"
        );
        Ok(Outcome {
            document_id: id,
            sha256,
            kind: Some(Kind::Chart),
            status,
            reason: None,
            location,
            pages: manifest.page_count,
            fields: identity.fields_summary(),
            patient: identity.patient(),
            unmatched_reason: (status == Status::Unmatched).then(|| identity.unmatched_reason()),
            bytes,
            engine_ms: (engine_seconds * 1000.0).round() as u64,
            duration_ms: 0,
        })
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call site per rejection path, all fields needed"
    )]
    async fn reject(
        &self,
        original: Bytes,
        sha256: Sha256,
        id: DocumentId,
        media: Option<MediaType>,
        rejection: Rejection,
        received_at: String,
        started: Instant,
    ) -> anyhow::Result<Outcome> {
        let bytes = original.len() as u64;
        let location = filing::rejected_prefix(&id);
        let extension = media.map_or("bin", MediaType::extension);
        let record = serde_json::json!({
            "document_id": id,
            "sha256": sha256,
            "media_type": media.map(MediaType::mime),
            "bytes": bytes,
            "received_at": received_at,
            "status": Status::Rejected,
            "reason": rejection.reason,
            "detail": rejection.detail,
        });
        let objects = vec![
            (format!("original.{extension}"), original),
            (
                "rejection.json".to_string(),
                Bytes::from(serde_json::to_vec_pretty(&record)?),
            ),
        ];
        let entry = IndexEntry {
            document_id: id.clone(),
            sha256: sha256.clone(),
            status: Status::Rejected,
            location: location.clone(),
            filed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        if filing::file(&self.store, &entry, objects).await? == Written::AlreadyExisted {
            return Ok(Self::duplicate(
                id,
                sha256,
                media.map(MediaType::kind),
                location,
                bytes,
            ));
        }
        warn!(
            reason = %rejection.reason,
            bytes,
            duration_ms = started.elapsed().as_millis() as u64,
            "document rejected; original kept"
        );
        Ok(Outcome {
            document_id: id,
            sha256,
            kind: media.map(MediaType::kind),
            status: Status::Rejected,
            reason: Some(rejection.reason),
            location,
            pages: 0,
            fields: serde_json::json!({}),
            patient: None,
            unmatched_reason: None,
            bytes,
            engine_ms: 0,
            duration_ms: 0,
        })
    }
}

fn mean(values: impl Iterator<Item = f32>) -> Option<f32> {
    let (sum, count) = values.fold((0.0f32, 0u32), |(s, c), v| (s + v, c + 1));
    (count > 0).then(|| sum / count as f32)
}

//! One document through the pipeline: `decode → ocr | asr → extract → match → file`.
//!
//! The same code serves `him process` (in-process) and the queue worker, so both behave alike. The kind-specific
//! stages live in `chart.rs` and `dictation.rs`; this file holds what every document goes through: the
//! duplicate check, intake validation, rejection, and filing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use him_core::{
    AsrEngine, DocumentId, EngineVersions, FiledPatient, JobContext, Kind, MediaType, OcrEngine,
    PageInfo, RejectReason, RiskFlag, Sha256, Status,
};
use him_extract::{Manifest, PatientIndex};
use him_patients::LiveIndex;
use him_store::{Folder, Object, Store, Written};
use serde::Serialize;
use tracing::{info, info_span, warn, Instrument};

use crate::config::PipelineConfig;
use crate::filing::{self, IndexEntry};
use crate::identity::Identity;
use crate::pool::CpuPool;
use him_decode::{Rejection, Renderer};

/// The OCR pool: one boxed engine per thread.
pub type OcrPool = CpuPool<Box<dyn OcrEngine>>;
/// The speech-to-text pool: one decoding state per thread over a shared model.
pub type AsrPool = CpuPool<Box<dyn AsrEngine>>;

/// What happened to one document; `him process` prints it as a JSON line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub document_id: DocumentId,
    pub sha256: Sha256,
    pub kind: Option<Kind>,
    pub status: Status,
    pub reason: Option<RejectReason>,
    pub location: Folder,
    pub pages: u32,
    pub fields: serde_json::Value,
    pub patient: Option<FiledPatient>,
    /// Why an unmatched document was not filed into a patient folder (`no_candidate`, `mrn_conflict`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmatched_reason: Option<String>,
    /// Length of a dictation in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Risk flags of a transcript; any flag means it needs review.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub risk_flags: Vec<RiskFlag>,
    pub bytes: u64,
    /// Milliseconds spent inside the engines (OCR or speech-to-text).
    pub engine_ms: u64,
    /// Milliseconds from receiving the bytes to the result being filed.
    pub elapsed_ms: u64,
    /// For a document split out of a scanned batch: the batch's id and the document's pages in the scan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<him_core::BatchSource>,
    /// For a scanned batch: the outcome of every document split out of it (`him process` prints these).
    #[serde(skip)]
    pub documents: Vec<Outcome>,
    /// The same bytes were rejected before: this is their document, and `reason` the first rejection's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<DocumentId>,
}

/// The reason code of a rejected document's `rejection.json`.
pub(crate) async fn rejection_reason(
    store: &Store,
    location: &Folder,
) -> anyhow::Result<Option<RejectReason>> {
    let Some(bytes) = store.get_opt(&location.rejection()).await? else {
        return Ok(None);
    };
    let record: serde_json::Value = serde_json::from_slice(&bytes)?;
    Ok(serde_json::from_value(record["reason"].clone()).ok())
}

impl Outcome {
    pub(crate) fn new(
        id: DocumentId,
        sha256: Sha256,
        kind: Option<Kind>,
        status: Status,
        location: Folder,
        bytes: u64,
    ) -> Self {
        Outcome {
            document_id: id,
            sha256,
            kind,
            status,
            reason: None,
            location,
            pages: 0,
            fields: serde_json::json!({}),
            patient: None,
            unmatched_reason: None,
            duration_ms: None,
            risk_flags: Vec::new(),
            bytes,
            engine_ms: 0,
            elapsed_ms: 0,
            batch: None,
            documents: Vec::new(),
            duplicate_of: None,
        }
    }
}

/// What a kind-specific stage produced, ready to file.
pub(crate) struct Prepared {
    pub kind: Kind,
    /// Objects besides the original and `document.json`.
    pub objects: Vec<(Object, Bytes)>,
    pub pages: Vec<PageInfo>,
    pub identity: Identity,
    pub engine_seconds: f64,
    pub duration_ms: Option<u64>,
    pub risk_flags: Vec<RiskFlag>,
    /// Mean OCR confidence or mean word probability ×100, for the log.
    pub confidence: Option<f32>,
    /// Set for a document split out of a scanned batch: its original is `document.pdf`, not the scan.
    pub batch: Option<him_core::BatchSource>,
}

/// The result of a kind-specific stage.
pub(crate) enum Stage {
    Ready(Box<Prepared>),
    /// A scanned batch to split into documents.
    Batch(Box<crate::batch::BatchPlan>),
    Rejected(Rejection),
}

/// An engine the job needs is not running in this worker (a dictation reached a worker started without
/// the speech model): another worker, or this one restarted, can do it.
#[derive(Debug, thiserror::Error)]
#[error("{0} engine is not running in this worker")]
pub struct EngineUnavailable(pub &'static str);

/// The engines the pipeline drives.
pub struct Engines {
    pub ocr: Arc<OcrPool>,
    pub ocr_version: String,
    /// Absent when no dictation is expected (the model is then never loaded).
    pub asr: Option<Arc<AsrPool>>,
    pub asr_version: Option<String>,
}

/// The pipeline with its store and engine pools.
pub struct Pipeline {
    pub(crate) store: Store,
    pub(crate) engines: Engines,
    pub(crate) config: Arc<PipelineConfig>,
    pub(crate) renderer: Renderer,
    versions: EngineVersions,
    /// Documents being processed in this process, so the same bytes submitted twice at once are processed
    /// once and reported once as `duplicate`.
    in_flight: Mutex<HashMap<DocumentId, Arc<tokio::sync::Mutex<()>>>>,
    /// The hospital's patient index with the ADT changes of the store; `None` sends every document to the
    /// unmatched queue.
    patients: Option<Arc<LiveIndex>>,
}

impl Pipeline {
    pub fn new(
        config: PipelineConfig,
        store: Store,
        engines: Engines,
        patients: Option<Arc<PatientIndex>>,
    ) -> Self {
        let store_for_index = store.clone();
        let renderer = if config.render.enabled {
            Renderer::detect(config.render.dpi)
        } else {
            Renderer::disabled()
        };
        let versions = EngineVersions {
            him: env!("CARGO_PKG_VERSION").to_string(),
            ocr: Some(engines.ocr_version.clone()),
            asr: engines.asr_version.clone(),
        };
        Pipeline {
            store,
            engines,
            config: Arc::new(config),
            renderer,
            versions,
            in_flight: Mutex::new(HashMap::new()),
            patients: patients.map(|index| Arc::new(LiveIndex::new(store_for_index, index))),
        }
    }

    /// The patient index as it is now (export plus the ADT changes read at the last refresh).
    pub(crate) fn patient_index(&self) -> Option<Arc<PatientIndex>> {
        self.patients.as_ref().map(|live| live.current())
    }

    /// Reads the patient index changes of the store now, then every `every` in the background (services).
    pub async fn follow_patient_changes(
        &self,
        every: Option<std::time::Duration>,
    ) -> anyhow::Result<()> {
        if let Some(live) = &self.patients {
            live.refresh().await?;
            if let Some(every) = every {
                live.spawn_refresh(every);
            }
        }
        Ok(())
    }

    /// The store documents are filed into.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Processes one original submitted as `job` says. Bad input is an `Ok` outcome with status
    /// `rejected`; an `Err` means the document could not be filed (store or engine unavailable) and the
    /// same call should be retried later.
    pub async fn process(&self, original: Bytes, job: &JobContext) -> anyhow::Result<Outcome> {
        let started = Instant::now();
        let sha256 = Sha256::of(&original);
        let id = DocumentId::from_sha256(&sha256);
        let media = MediaType::sniff(&original);
        let kind = media.map_or("unknown".to_string(), |m| m.kind().to_string());
        let span = info_span!("job", job.id = %id, media.kind = %kind);
        let gate = {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            Arc::clone(in_flight.entry(id.clone()).or_default())
        };
        let result = {
            let _turn = gate.lock().await;
            self.process_inner(original, sha256, id.clone(), media, job)
                .instrument(span)
                .await
        };
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Two references left (the map's and ours) means nobody else waits for this document.
        if Arc::strong_count(&gate) == 2 {
            in_flight.remove(&id);
        }
        result.map(|mut outcome| {
            outcome.elapsed_ms = started.elapsed().as_millis() as u64;
            for document in &mut outcome.documents {
                document.elapsed_ms = outcome.elapsed_ms;
            }
            outcome
        })
    }

    async fn process_inner(
        &self,
        original: Bytes,
        sha256: Sha256,
        id: DocumentId,
        media: Option<MediaType>,
        job: &JobContext,
    ) -> anyhow::Result<Outcome> {
        let started = Instant::now();
        let bytes = original.len() as u64;
        let kind = media.map(MediaType::kind);
        if let Some(entry) = filing::lookup(&self.store, &id).await? {
            if matches!(entry.location, Folder::Batch(_)) {
                return self.batch_duplicate(id, sha256, bytes).await;
            }
            if let Folder::Rejected(_) = &entry.location {
                // The sender learns why, again: a resubmitted bad file is rejected with its first reason.
                let reason = rejection_reason(&self.store, &entry.location).await?;
                info!(bytes, "rejected before; nothing written");
                return Ok(Outcome {
                    reason,
                    duplicate_of: Some(id.clone()),
                    ..Outcome::new(id, sha256, kind, Status::Rejected, entry.location, bytes)
                });
            }
            info!(bytes, "document already filed; nothing written");
            return Ok(Outcome::new(
                id,
                sha256,
                kind,
                Status::Duplicate,
                entry.location,
                bytes,
            ));
        }
        let received = Received {
            at: now(),
            job: job.clone(),
            started,
        };
        let limits = &self.config.limits;
        let rejection = if original.is_empty() {
            Some(Rejection::new(RejectReason::Empty, "file is empty"))
        } else if bytes > limits.max_file_bytes {
            Some(Rejection::new(
                RejectReason::TooLarge,
                format!("{bytes} bytes, over the limit of {}", limits.max_file_bytes),
            ))
        } else if media.is_none() {
            Some(Rejection::new(
                RejectReason::UnsupportedType,
                "content matches no accepted media type",
            ))
        } else {
            None
        };
        let Some(media) = media.filter(|_| rejection.is_none()) else {
            let rejection = rejection
                .unwrap_or_else(|| Rejection::new(RejectReason::UnsupportedType, "unknown"));
            return self
                .reject(original, sha256, id, media, rejection, received)
                .await;
        };
        let stage = match media.kind() {
            Kind::Chart => self.prepare_chart(original.clone(), media).await?,
            Kind::Dictation => {
                self.prepare_dictation(original.clone(), media, job.demographics.as_ref())
                    .await?
            }
        };
        match stage {
            Stage::Rejected(rejection) => {
                self.reject(original, sha256, id, Some(media), rejection, received)
                    .await
            }
            Stage::Ready(prepared) => {
                self.file_prepared(original, sha256, id, media, *prepared, received)
                    .await
            }
            Stage::Batch(plan) => {
                self.file_batch(original, sha256, id, media, *plan, received)
                    .await
            }
        }
    }

    pub(crate) async fn file_prepared(
        &self,
        original: Bytes,
        sha256: Sha256,
        id: DocumentId,
        media: MediaType,
        prepared: Prepared,
        received: Received,
    ) -> anyhow::Result<Outcome> {
        let Received { at, job, started } = received;
        let bytes = original.len() as u64;
        let identity = &prepared.identity;
        let (location, status) = match identity.filing_mrn() {
            Some(mrn) => (Folder::Patient(mrn, id.clone()), Status::Filed),
            None => (Folder::Unmatched(id.clone()), Status::Unmatched),
        };
        let manifest = Manifest {
            schema: Manifest::SCHEMA,
            document_id: id.clone(),
            sha256: sha256.clone(),
            sha1: Some(him_core::sha1_hex(&original)),
            kind: prepared.kind,
            media_type: media.mime().to_string(),
            bytes,
            received_at: at,
            job: job.clone(),
            status,
            reason: None,
            page_count: prepared.pages.len() as u32,
            pages: prepared.pages,
            engines: self.versions.clone(),
            fields: identity.fields.clone(),
            patient: identity.patient(),
            matching: identity.decision.clone(),
            duration_ms: prepared.duration_ms,
            risk_flags: prepared.risk_flags.clone(),
            needs_review: !prepared.risk_flags.is_empty(),
            demographics: job.demographics.clone(),
            batch: prepared.batch.clone(),
        };
        // A document split out of a batch keeps its pages as `document.pdf`; the legal original is the scan,
        // under `batches/`.
        let original_key = match &prepared.batch {
            Some(_) => location
                .object("document.pdf")
                .expect("a plain object name"),
            None => location.original(media.extension()),
        };
        let mut objects = vec![(original_key, original)];
        if let Some(demographics) = &job.demographics {
            objects.push((
                location.key(Object::Demographics),
                Bytes::from(serde_json::to_vec_pretty(demographics)?),
            ));
        }
        objects.extend(
            prepared
                .objects
                .into_iter()
                .map(|(object, bytes)| (location.key(object), bytes)),
        );
        objects.push((
            location.manifest(),
            Bytes::from(serde_json::to_vec_pretty(&manifest)?),
        ));
        let entry = IndexEntry {
            document_id: id.clone(),
            sha256: sha256.clone(),
            status,
            location: location.clone(),
            filed_at: now(),
            job,
        };
        if filing::file(&self.store, &entry, objects).await? == Written::AlreadyExisted {
            info!(
                bytes,
                "document filed concurrently by another run; nothing replaced"
            );
            return Ok(Outcome::new(
                id,
                sha256,
                Some(prepared.kind),
                Status::Duplicate,
                location,
                bytes,
            ));
        }
        let (rule, match_score) = identity.log_summary();
        let engine_ms = (prepared.engine_seconds * 1000.0).round() as u64;
        info!(
            status = %status,
            rule = %rule,
            match_score,
            fields = identity.fields.summary().len(),
            pages = manifest.page_count,
            audio_ms = prepared.duration_ms,
            risk_flags = prepared.risk_flags.len(),
            bytes,
            confidence = prepared.confidence,
            engine_ms,
            duration_ms = started.elapsed().as_millis() as u64,
            "document filed"
        );
        Ok(Outcome {
            reason: None,
            pages: manifest.page_count,
            fields: identity.fields_summary(),
            patient: identity.patient(),
            unmatched_reason: (status == Status::Unmatched).then(|| identity.unmatched_reason()),
            duration_ms: prepared.duration_ms,
            risk_flags: prepared.risk_flags,
            engine_ms,
            ..Outcome::new(id, sha256, Some(prepared.kind), status, location, bytes)
        })
    }

    async fn reject(
        &self,
        original: Bytes,
        sha256: Sha256,
        id: DocumentId,
        media: Option<MediaType>,
        rejection: Rejection,
        received: Received,
    ) -> anyhow::Result<Outcome> {
        let Received { at, job, started } = received;
        let bytes = original.len() as u64;
        let location = Folder::Rejected(id.clone());
        let extension = media.map_or("bin", MediaType::extension);
        let record = serde_json::json!({
            "document_id": id,
            "sha256": sha256,
            "media_type": media.map(MediaType::mime),
            "bytes": bytes,
            "received_at": at,
            "status": Status::Rejected,
            "reason": rejection.reason,
            "detail": rejection.detail,
        });
        let objects = vec![
            (location.original(extension), original),
            (
                location.rejection(),
                Bytes::from(serde_json::to_vec_pretty(&record)?),
            ),
        ];
        let entry = IndexEntry {
            document_id: id.clone(),
            sha256: sha256.clone(),
            status: Status::Rejected,
            location: location.clone(),
            filed_at: now(),
            job,
        };
        let kind = media.map(MediaType::kind);
        if filing::file(&self.store, &entry, objects).await? == Written::AlreadyExisted {
            // Rejected meanwhile by another run: the same answer, marked as the duplicate it is.
            return Ok(Outcome {
                reason: Some(rejection.reason),
                duplicate_of: Some(id.clone()),
                ..Outcome::new(id, sha256, kind, Status::Rejected, location, bytes)
            });
        }
        warn!(
            reason = %rejection.reason,
            bytes,
            duration_ms = started.elapsed().as_millis() as u64,
            "document rejected; original kept"
        );
        Ok(Outcome {
            reason: Some(rejection.reason),
            ..Outcome::new(id, sha256, kind, Status::Rejected, location, bytes)
        })
    }
}

/// When and how a document arrived: the job it came with and the time the pipeline took it.
pub(crate) struct Received {
    pub at: String,
    pub job: JobContext,
    pub started: Instant,
}

/// The current time in RFC 3339 with milliseconds.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The mean of some values, `None` when there are none.
pub(crate) fn mean(values: impl Iterator<Item = f32>) -> Option<f32> {
    let (sum, count) = values.fold((0.0f32, 0u32), |(s, c), v| (s + v, c + 1));
    (count > 0).then(|| sum / count as f32)
}

//! `intake → queue`: keep the original under `intake/<document_id>/` and publish a job for the workers.
//!
//! Shared by `him submit`, the scanning-station API and the drop-folder watcher, so all three treat the same
//! bytes the same way: a document already queued or filed is reported as `duplicate` and not queued again.

use bytes::Bytes;
use him_core::{DocumentId, JobDemographics, MediaType, Sha256};
use him_queue::{JobMessage, Queue, WorkKind, SCHEMA_VERSION};
use him_store::{Folder, Object, Store, Written};
use serde::Serialize;

use crate::filing;

/// The result of submitting one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Submitted {
    pub document_id: DocumentId,
    pub sha256: Sha256,
    /// `queued`, `duplicate` (queued or filed before) or `rejected` (the same bytes were rejected before).
    pub status: &'static str,
    pub bytes: u64,
    /// For `rejected`: the first rejection's reason code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<him_core::RejectReason>,
    /// For `duplicate` and `rejected`: the document these bytes already are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<DocumentId>,
}

/// An original to submit: in memory, or spooled to a local temporary file as it arrived (a large upload),
/// so that a 250 MB scan batch never sits whole in the intake server's memory.
#[derive(Debug)]
pub enum Original {
    Bytes(Bytes),
    Spooled(Spooled),
}

/// An upload written to a temporary file (deleted on drop), hashed on the way.
#[derive(Debug)]
pub struct Spooled {
    file: tempfile::NamedTempFile,
    sha256: Sha256,
    len: u64,
    /// The first bytes, for content sniffing.
    head: Vec<u8>,
}

impl From<Bytes> for Original {
    fn from(bytes: Bytes) -> Self {
        Original::Bytes(bytes)
    }
}

impl Original {
    pub fn len(&self) -> u64 {
        match self {
            Original::Bytes(bytes) => bytes.len() as u64,
            Original::Spooled(spooled) => spooled.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn sha256(&self) -> Sha256 {
        match self {
            Original::Bytes(bytes) => Sha256::of(bytes),
            Original::Spooled(spooled) => spooled.sha256.clone(),
        }
    }

    /// The first bytes (at least [`SNIFF_BYTES`] when the file has them).
    fn head(&self) -> &[u8] {
        match self {
            Original::Bytes(bytes) => bytes,
            Original::Spooled(spooled) => &spooled.head,
        }
    }

    async fn store(self, store: &Store, key: &him_store::Key) -> him_store::Result<Written> {
        match self {
            Original::Bytes(bytes) => store.put_new(key, bytes).await,
            Original::Spooled(spooled) => {
                store
                    .put_new_file(key, spooled.file.path(), spooled.len)
                    .await
            }
        }
    }
}

/// Bytes kept for content sniffing of a spooled upload.
const SNIFF_BYTES: usize = 4096;

/// Collects an upload as it arrives: in memory up to `in_memory` bytes, then in a temporary file; hashing as
/// it goes.
#[derive(Debug)]
pub struct Spooler {
    in_memory: usize,
    buffer: bytes::BytesMut,
    file: Option<(tempfile::NamedTempFile, tokio::fs::File)>,
    hasher: him_core::ContentHasher,
    len: u64,
    head: Vec<u8>,
}

impl Spooler {
    /// Keeps at most `in_memory` bytes in memory (then spools the whole upload to a file).
    pub fn new(in_memory: usize) -> Self {
        Spooler {
            in_memory,
            buffer: bytes::BytesMut::new(),
            file: None,
            hasher: him_core::ContentHasher::default(),
            len: 0,
            head: Vec::new(),
        }
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds the next piece of the upload.
    pub async fn push(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.hasher.update(chunk);
        self.len += chunk.len() as u64;
        if self.head.len() < SNIFF_BYTES {
            let take = (SNIFF_BYTES - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        if self.file.is_none() && self.buffer.len() + chunk.len() <= self.in_memory {
            self.buffer.extend_from_slice(chunk);
            return Ok(());
        }
        if self.file.is_none() {
            let named = tempfile::Builder::new().prefix("him-upload-").tempfile()?;
            let mut writer = tokio::fs::File::from_std(named.reopen()?);
            writer.write_all(&self.buffer).await?;
            self.buffer = bytes::BytesMut::new();
            self.file = Some((named, writer));
        }
        if let Some((_, writer)) = &mut self.file {
            writer.write_all(chunk).await?;
        }
        Ok(())
    }

    /// The whole upload.
    pub async fn finish(self) -> std::io::Result<Original> {
        use tokio::io::AsyncWriteExt;
        match self.file {
            None => Ok(Original::Bytes(self.buffer.freeze())),
            Some((file, mut writer)) => {
                writer.flush().await?;
                writer.sync_all().await?;
                Ok(Original::Spooled(Spooled {
                    file,
                    sha256: self.hasher.finish(),
                    len: self.len,
                    head: self.head,
                }))
            }
        }
    }
}

/// A station id: letters, digits, `-`, `_`, `.`, at most 64 (a device id, never a person's name).
pub fn valid_station(station: &str) -> bool {
    !station.is_empty()
        && station.len() <= 64
        && station
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// What came with a file: urgency, the submitting station and a dictation device's job demographics.
#[derive(Debug, Clone, Copy, Default)]
pub struct JobRequest<'a> {
    /// Urgent (STAT) work; also set by `"stat": true` in the demographics.
    pub stat: bool,
    /// The station id; without one, the demographics' `station`.
    pub station: Option<&'a str>,
    /// Job demographics (already validated), stored beside the original.
    pub demographics: Option<&'a JobDemographics>,
}

/// Reads and checks a job demographics file, reading no more than [`JobDemographics::MAX_BYTES`] and one byte
/// (a larger file is refused as too large without being read whole).
pub fn read_demographics(path: &std::path::Path) -> anyhow::Result<JobDemographics> {
    use std::io::Read;
    let limit = JobDemographics::MAX_BYTES as u64 + 1;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit)
        .read_to_end(&mut bytes)?;
    Ok(JobDemographics::parse(&bytes)?)
}

/// Reads the job demographics sidecar of `path` (`<file name>.json` beside it), when there is one.
pub fn read_sidecar(path: &std::path::Path) -> anyhow::Result<Option<JobDemographics>> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".json");
    let sidecar = path.with_file_name(name);
    match read_demographics(&sidecar) {
        Ok(demographics) => Ok(Some(demographics)),
        Err(error)
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound) =>
        {
            Ok(None)
        }
        Err(error) => Err(error.context("cannot use the job demographics sidecar")),
    }
}

/// The documents among `files`: a job demographics sidecar listed with its file (`a.wav.json` beside `a.wav`,
/// as a shell glob gives them) is read with that file by `him process` and `him submit`, not taken as a
/// document of its own. One pass over a set of the names, whatever the number of files.
pub fn documents(files: &[std::path::PathBuf]) -> Vec<std::path::PathBuf> {
    let listed: std::collections::HashSet<&std::path::Path> =
        files.iter().map(std::path::PathBuf::as_path).collect();
    let sidecar_of_listed = |path: &std::path::Path| {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        name.strip_suffix(".json")
            .is_some_and(|stem| listed.contains(path.with_file_name(stem).as_path()))
    };
    files
        .iter()
        .filter(|path| !sidecar_of_listed(path))
        .cloned()
        .collect()
}

/// Stores the original (create-only), publishes the job with publisher confirms, then marks it queued.
///
/// Order matters for "nothing lost": the original (and its job demographics) are stored before the job
/// exists, and the queued marker only after the broker confirmed, so a crash in between leaves a document that
/// a second submission queues again (the worker is idempotent on the document id). The message says only
/// *that* demographics exist; their values stay in the store.
pub async fn submit(
    store: &Store,
    queue: &Queue,
    original: impl Into<Original>,
    request: JobRequest<'_>,
) -> anyhow::Result<Submitted> {
    let original = original.into();
    let demographics = request.demographics;
    let stat = request.stat || demographics.and_then(|d| d.stat).unwrap_or(false);
    let station = request
        .station
        .or_else(|| demographics.and_then(|d| d.station.as_deref()));
    if let Some(station) = station {
        anyhow::ensure!(
            valid_station(station),
            "invalid station id (letters, digits, - _ . only)"
        );
    }
    let sha256 = original.sha256();
    let id = DocumentId::from_sha256(&sha256);
    let bytes = original.len();
    let duplicate = |id: DocumentId, sha256: Sha256| Submitted {
        duplicate_of: Some(id.clone()),
        document_id: id,
        sha256,
        status: "duplicate",
        bytes,
        reason: None,
    };
    let folder = Folder::Intake(id.clone());
    if let Some(entry) = filing::lookup(store, &id).await? {
        if let Folder::Rejected(_) = &entry.location {
            // A resubmitted bad file: the sender learns why, not a bare `duplicate`.
            let reason = crate::pipeline::rejection_reason(store, &entry.location).await?;
            return Ok(Submitted {
                status: "rejected",
                reason,
                ..duplicate(id, sha256)
            });
        }
        return Ok(duplicate(id, sha256));
    }
    if store.exists(&folder.queued()).await? {
        return Ok(duplicate(id, sha256));
    }
    let media = MediaType::sniff(original.head());
    // Unknown content still goes through the pipeline, which rejects it with a reason and keeps it.
    let kind = match media.map(MediaType::kind) {
        Some(him_core::Kind::Dictation) => WorkKind::Dictations,
        _ => WorkKind::Charts,
    };
    let original_key = folder.original(media.map_or("bin", MediaType::extension));
    if let Some(demographics) = demographics {
        let key = folder.key(Object::Demographics);
        let bytes = Bytes::from(serde_json::to_vec_pretty(demographics)?);
        if store.put_new(&key, bytes.clone()).await? == Written::AlreadyExisted
            && store.get(&key).await? != bytes
        {
            // An earlier submission of the same audio came with other demographics and was never queued:
            // which is right is a question for a human, not a silent overwrite.
            anyhow::bail!("this audio was submitted before with other job demographics");
        }
    }
    original.store(store, &original_key).await?;
    let job = JobMessage {
        schema: SCHEMA_VERSION,
        document_id: id.to_string(),
        sha256: sha256.to_string(),
        kind,
        original_key: original_key.path(),
        media_type: media
            .map_or("application/octet-stream", MediaType::mime)
            .to_string(),
        bytes,
        stat,
        station: station.map(str::to_string),
        submitted_at: crate::pipeline::now(),
        demographics: demographics.is_some(),
    };
    queue.publish_job(&job).await?;
    let marker = serde_json::to_vec(&serde_json::json!({
        "document_id": id,
        "kind": kind,
        "stat": stat,
        "station": station,
        "queued_at": job.submitted_at,
    }))?;
    store.put_new(&folder.queued(), marker.into()).await?;
    Ok(Submitted {
        document_id: id,
        sha256,
        status: "queued",
        bytes,
        reason: None,
        duplicate_of: None,
    })
}

/// Helpers for tests of the modules that submit.
#[cfg(test)]
pub(crate) mod test_support {
    use std::time::Duration;

    use futures::StreamExt;
    use him_queue::{JobMessage, Queue, WorkKind};

    /// Every job published so far (acknowledged, so they leave the twin).
    pub(crate) async fn published(queue: &Queue) -> Vec<JobMessage> {
        let mut consumer = queue.consume(&WorkKind::ALL, 8).await.unwrap();
        let mut jobs = Vec::new();
        while let Ok(Some(delivery)) =
            tokio::time::timeout(Duration::from_millis(100), consumer.next()).await
        {
            jobs.push(delivery.message.clone());
            delivery.ack().await.unwrap();
        }
        jobs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes rejected before are answered `rejected` with the first reason, not a bare `duplicate`.
    #[tokio::test]
    async fn bytes_rejected_before_are_answered_with_their_reason() {
        let store = Store::in_memory();
        let queue = Queue::in_memory(&him_queue::QueueConfig::default());
        let bytes = Bytes::new();
        let id = DocumentId::from_sha256(&Sha256::of(&bytes));
        let location = Folder::Rejected(id.clone());
        let record = serde_json::json!({"reason": "empty", "detail": "file is empty"});
        store
            .put_new(&location.rejection(), Bytes::from(record.to_string()))
            .await
            .unwrap();
        let entry = filing::IndexEntry {
            document_id: id.clone(),
            sha256: Sha256::of(&bytes),
            status: him_core::Status::Rejected,
            location,
            filed_at: "2026-12-01T00:00:00Z".to_string(),
            job: Default::default(),
        };
        filing::file(&store, &entry, Vec::new()).await.unwrap();
        let answer = submit(&store, &queue, bytes, JobRequest::default())
            .await
            .unwrap();
        assert_eq!(answer.status, "rejected");
        assert_eq!(answer.reason, Some(him_core::RejectReason::Empty));
        assert_eq!(answer.duplicate_of, Some(id));
        assert!(test_support::published(&queue).await.is_empty());
    }

    #[tokio::test]
    async fn the_same_bytes_are_queued_once() {
        let store = Store::in_memory();
        let queue = Queue::in_memory(&him_queue::QueueConfig::default());
        let bytes = Bytes::from_static(b"%PDF-1.4 not a real chart");
        let request = |stat, station| JobRequest {
            stat,
            station: Some(station),
            demographics: None,
        };
        let first = submit(&store, &queue, bytes.clone(), request(false, "scan-01"))
            .await
            .unwrap();
        let second = submit(&store, &queue, bytes, request(true, "scan-02"))
            .await
            .unwrap();
        assert_eq!((first.status, second.status), ("queued", "duplicate"));
        assert!(store
            .exists(&Folder::Intake(first.document_id.clone()).original("pdf"))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn demographics_are_stored_beside_the_original_and_only_flagged_in_the_message() {
        let store = Store::in_memory();
        let queue = Queue::in_memory(&him_queue::QueueConfig::default());
        let demographics =
            JobDemographics::parse(br#"{"mrn":"4081123","stat":true,"station":"dict-7"}"#).unwrap();
        let request = JobRequest {
            demographics: Some(&demographics),
            ..JobRequest::default()
        };
        let submitted = submit(
            &store,
            &queue,
            Bytes::from_static(b"RIFF....WAVEfmt "),
            request,
        )
        .await
        .unwrap();
        let folder = Folder::Intake(submitted.document_id.clone());
        let stored = store.get(&folder.key(Object::Demographics)).await.unwrap();
        assert_eq!(JobDemographics::parse(&stored).unwrap(), demographics);
        let jobs = test_support::published(&queue).await;
        assert_eq!(jobs.len(), 1);
        assert!(jobs[0].demographics && jobs[0].stat);
        assert_eq!(jobs[0].station.as_deref(), Some("dict-7"));
        let body = serde_json::to_string(&jobs[0]).unwrap();
        assert!(!body.contains("4081123"), "{body}");
    }

    #[test]
    fn station_ids_cannot_carry_names_with_spaces_or_paths() {
        assert!(valid_station("scan-3F.east_1"));
        assert!(!valid_station("Jane Doe"));
        assert!(!valid_station("../x"));
        assert!(!valid_station(""));
    }
}

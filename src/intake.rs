//! `intake → queue`: keep the original under `intake/<document_id>/` and publish a job for the workers.
//!
//! Shared by `him submit`, the scanning-station API and the drop-folder watcher, so all three treat the same
//! bytes the same way: a document already queued or filed is reported as `duplicate` and not queued again.

use bytes::Bytes;
use him_core::{DocumentId, MediaType, Sha256};
use him_queue::{JobMessage, Queue, WorkKind, SCHEMA_VERSION};
use him_store::{Folder, Store};
use serde::Serialize;

use crate::filing;

/// The result of submitting one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Submitted {
    pub document_id: DocumentId,
    pub sha256: Sha256,
    /// `queued` or `duplicate`.
    pub status: &'static str,
    pub bytes: u64,
}

/// A station id: letters, digits, `-`, `_`, `.`, at most 64 (a device id, never a person's name).
pub fn valid_station(station: &str) -> bool {
    !station.is_empty()
        && station.len() <= 64
        && station
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Stores the original (create-only), publishes the job with publisher confirms, then marks it queued.
///
/// Order matters for "nothing lost": the original is stored before the job exists, and the queued marker only
/// after the broker confirmed, so a crash in between leaves a document that a second submission queues again
/// (the worker is idempotent on the document id).
pub async fn submit(
    store: &Store,
    queue: &Queue,
    original: Bytes,
    stat: bool,
    station: Option<&str>,
) -> anyhow::Result<Submitted> {
    if let Some(station) = station {
        anyhow::ensure!(
            valid_station(station),
            "invalid station id (letters, digits, - _ . only)"
        );
    }
    let sha256 = Sha256::of(&original);
    let id = DocumentId::from_sha256(&sha256);
    let bytes = original.len() as u64;
    let duplicate = |id: DocumentId, sha256: Sha256| Submitted {
        document_id: id,
        sha256,
        status: "duplicate",
        bytes,
    };
    let folder = Folder::Intake(id.clone());
    if store.exists(&folder.queued()).await? || filing::lookup(store, &id).await?.is_some() {
        return Ok(duplicate(id, sha256));
    }
    let media = MediaType::sniff(&original);
    // Unknown content still goes through the pipeline, which rejects it with a reason and keeps it.
    let kind = match media.map(MediaType::kind) {
        Some(him_core::Kind::Dictation) => WorkKind::Dictations,
        _ => WorkKind::Charts,
    };
    let original_key = folder.original(media.map_or("bin", MediaType::extension));
    store.put_new(&original_key, original).await?;
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

    #[tokio::test]
    async fn the_same_bytes_are_queued_once() {
        let store = Store::in_memory();
        let queue = Queue::in_memory(&him_queue::QueueConfig::default());
        let bytes = Bytes::from_static(b"%PDF-1.4 not a real chart");
        let first = submit(&store, &queue, bytes.clone(), false, Some("scan-01"))
            .await
            .unwrap();
        let second = submit(&store, &queue, bytes, true, Some("scan-02"))
            .await
            .unwrap();
        assert_eq!((first.status, second.status), ("queued", "duplicate"));
        assert!(store
            .exists(&Folder::Intake(first.document_id.clone()).original("pdf"))
            .await
            .unwrap());
    }

    #[test]
    fn station_ids_cannot_carry_names_with_spaces_or_paths() {
        assert!(valid_station("scan-3F.east_1"));
        assert!(!valid_station("Jane Doe"));
        assert!(!valid_station("../x"));
        assert!(!valid_station(""));
    }
}

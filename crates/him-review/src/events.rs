//! Keeping the queue index current from the pipeline's events (`<prefix>.events`): a document appears in
//! the review queue as soon as the worker announced it. The periodic store listing stays as a backstop and
//! `him review --reindex` still rebuilds everything.

use him_queue::{Queue, QueueConfig};
use him_store::Store;
use tracing::{debug, info, warn};

use crate::db::Db;

/// The name of the review's subscription queue (`<prefix>.events.review`).
pub const SUBSCRIBER: &str = "review";

/// Applies every event of `queue` to the index until the process ends, subscribing again after a broker
/// loss with the backoff of `config`. A failing event is logged and skipped: the periodic refresh picks it
/// up.
pub async fn follow_events(queue: Queue, config: QueueConfig, store: Store, db: Db) {
    let mut attempt: u32 = 0;
    loop {
        match queue.subscribe_events(SUBSCRIBER).await {
            Ok(mut subscription) => {
                if attempt > 0 {
                    info!(attempt, "review subscribed to pipeline events again");
                }
                attempt = 0;
                while let Some(event) = subscription.next().await {
                    match event {
                        Ok(event) => match crate::queue::apply_event(&store, &db, &event).await {
                            Ok(()) => {
                                debug!(document.id = %event.document_id, "queue event applied")
                            }
                            Err(error) => warn!(
                                document.id = %event.document_id,
                                error = %error,
                                "queue event not applied; the periodic refresh will pick the document up"
                            ),
                        },
                        Err(error) => {
                            warn!(error = %error, "event subscription failed");
                            break;
                        }
                    }
                }
            }
            Err(error) => warn!(error = %error, attempt, "cannot subscribe to pipeline events"),
        }
        tokio::time::sleep(config.backoff(attempt)).await;
        attempt = attempt.saturating_add(1);
    }
}

/// Connects to the broker of `config` (retrying in the background) and follows its events.
pub async fn connect_and_follow(config: QueueConfig, store: Store, db: Db) {
    let mut attempt: u32 = 0;
    let queue = loop {
        match Queue::connect(&config).await {
            Ok(queue) => break queue,
            Err(error) => {
                warn!(error = %error, attempt, "review cannot reach the queue broker; the periodic refresh keeps the queue current");
                tokio::time::sleep(config.backoff(attempt)).await;
                attempt = attempt.saturating_add(1);
            }
        }
    };
    follow_events(queue, config, store, db).await;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use him_core::{DocumentId, DocumentManifest, EngineVersions, JobContext, Kind, Status};
    use him_extract::Manifest;
    use him_queue::{EventKind, EventMessage, SCHEMA_VERSION};
    use him_store::{Folder, IndexEntry, Key};

    /// A document filed by the pipeline's own types: manifest and index entry.
    async fn file_unmatched(store: &Store, n: u8, job: JobContext) -> DocumentId {
        let id = DocumentId::for_bytes(&[n; 8]);
        let folder = Folder::Unmatched(id.clone());
        let sha256 = him_core::Sha256::of(&[n; 8]);
        let manifest: Manifest = DocumentManifest {
            schema: Manifest::SCHEMA,
            document_id: id.clone(),
            sha256: sha256.clone(),
            sha1: None,
            kind: Kind::Chart,
            media_type: "image/png".to_string(),
            bytes: 8,
            received_at: "2026-11-30T10:00:00.000Z".to_string(),
            job: job.clone(),
            status: Status::Unmatched,
            reason: None,
            page_count: 0,
            pages: Vec::new(),
            engines: EngineVersions::default(),
            fields: him_extract::Fields::default(),
            patient: None,
            matching: None,
            demographics: None,
            batch: None,
            duration_ms: None,
            risk_flags: Vec::new(),
            needs_review: false,
        };
        store
            .put_new(
                &folder.manifest(),
                serde_json::to_vec(&manifest).unwrap().into(),
            )
            .await
            .unwrap();
        let entry = IndexEntry {
            document_id: id.clone(),
            sha256,
            status: Status::Unmatched,
            location: folder,
            filed_at: "2026-11-30T10:00:01.000Z".to_string(),
            job,
        };
        store
            .put_new(
                &Key::Index(id.clone()),
                serde_json::to_vec(&entry).unwrap().into(),
            )
            .await
            .unwrap();
        id
    }

    fn event(id: &DocumentId) -> EventMessage {
        EventMessage {
            schema: SCHEMA_VERSION,
            event: EventKind::Unmatched,
            document_id: id.to_string(),
            status: "unmatched".to_string(),
            location: Key::Index(id.clone()).path(),
            reason: None,
        }
    }

    /// Events put documents in the queue, STAT first, with their station, waiting since submission.
    #[tokio::test]
    async fn events_feed_the_queue_stat_first_with_station() {
        let store = Store::in_memory();
        let db = Db::in_memory().unwrap();
        let queue = Queue::in_memory(&QueueConfig::default());
        tokio::spawn(follow_events(
            queue.clone(),
            QueueConfig::default(),
            store.clone(),
            db.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let routine = file_unmatched(&store, 1, JobContext::default()).await;
        let stat = file_unmatched(
            &store,
            2,
            JobContext {
                stat: true,
                station: Some("ED-2".to_string()),
                submitted_at: Some("2026-11-30T09:59:00.000Z".to_string()),
                demographics: None,
            },
        )
        .await;
        queue.publish_event(&event(&routine)).await.unwrap();
        queue.publish_event(&event(&stat)).await.unwrap();
        let filter = crate::QueueFilter::default();
        let mut listed = Vec::new();
        for _ in 0..100 {
            listed = crate::list_queue(&db, crate::QueueList::Unmatched, &filter).unwrap();
            if listed.len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(listed.len(), 2, "both events applied");
        assert_eq!(listed[0].document_id, stat.to_string());
        assert!(listed[0].stat);
        assert_eq!(listed[0].station.as_deref(), Some("ED-2"));
        assert_eq!(listed[0].received_at, "2026-11-30T09:59:00.000Z");
        assert_eq!(listed[1].received_at, "2026-11-30T10:00:00.000Z");
    }
}

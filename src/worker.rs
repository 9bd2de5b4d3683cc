//! `him worker`: consume jobs from RabbitMQ, run the same pipeline as `him process`, file, publish an event,
//! and only then acknowledge.
//!
//! | what happened | what the worker does |
//! |---|---|
//! | filed / unmatched / rejected / duplicate | publish `document.*` event, then ack |
//! | store, engine or broker unavailable; job timed out | requeue (the quorum queue's delivery limit bounds it) |
//! | original missing or not matching its checksum | dead-letter with the reason |
//! | panic while processing | dead-letter with `worker_panic`; the worker keeps running |

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use him_core::{DocumentId, Sha256, Status};
use him_queue::{Delivery, EventKind, EventMessage, Queue, WorkKind, SCHEMA_VERSION};
use serde::Deserialize;
use tracing::{info, info_span, warn, Instrument};

use crate::metrics::Metrics;
use crate::pipeline::{Outcome, Pipeline};

/// The `[worker]` section of `pipeline.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// A job still running after this many seconds is abandoned and requeued (bounded by the delivery limit,
    /// after which it is dead-lettered).
    pub job_timeout_secs: u64,
    /// Address of the Prometheus `/metrics`, `/healthz` and `/readyz` endpoints; empty disables them.
    pub metrics_listen: String,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            job_timeout_secs: 600,
            metrics_listen: "127.0.0.1:9464".to_string(),
        }
    }
}

/// Consumes `kinds` until `shutdown` resolves, then finishes the jobs in flight and returns.
pub async fn run(
    pipeline: Arc<Pipeline>,
    queue: Queue,
    kinds: &[WorkKind],
    concurrency: usize,
    config: &WorkerConfig,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let prefetch = u16::try_from(concurrency.max(1)).unwrap_or(u16::MAX);
    let consumer = queue.consume(kinds, prefetch).await?;
    metrics.set_ready(true);
    info!(kinds = ?kinds, concurrency, "worker consuming");
    let timeout = Duration::from_secs(config.job_timeout_secs.max(1));
    let mut shutdown = std::pin::pin!(shutdown.fuse());
    let mut in_flight = futures::stream::FuturesUnordered::new();
    let mut consumer = consumer;
    loop {
        tokio::select! {
            _ = &mut shutdown => {
                consumer.cancel();
                break;
            }
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            delivery = consumer.next(), if in_flight.len() < concurrency.max(1) => {
                let Some(delivery) = delivery else { break };
                in_flight.push(handle(Arc::clone(&pipeline), queue.clone(), delivery, timeout, Arc::clone(&metrics)));
            }
        }
    }
    metrics.set_ready(false);
    info!(
        in_flight = in_flight.len(),
        "worker stopping; finishing jobs in flight"
    );
    while in_flight.next().await.is_some() {}
    consumer.close().await;
    queue.close().await;
    Ok(())
}

/// Processes one delivery and settles it exactly once.
async fn handle(
    pipeline: Arc<Pipeline>,
    queue: Queue,
    delivery: Delivery,
    timeout: Duration,
    metrics: Arc<Metrics>,
) {
    let job = delivery.message.clone();
    let span = info_span!("job", job.id = %job.document_id, media.kind = %job.kind.as_str());
    async move {
        let started = Instant::now();
        let in_flight = metrics.in_flight();
        if let Some(lag) = crate::metrics::seconds_since(&job.submitted_at) {
            metrics.queue_lag(lag);
        }
        let (outcome, engine_seconds) = settle(&pipeline, &queue, delivery, timeout).await;
        drop(in_flight);
        metrics.job_finished(
            job.kind.as_str(),
            outcome,
            engine_seconds,
            started.elapsed().as_secs_f64(),
        );
    }
    .instrument(span)
    .await
}

/// Runs the job and acks, requeues or dead-letters it; returns the outcome label and engine seconds.
async fn settle(
    pipeline: &Pipeline,
    queue: &Queue,
    delivery: Delivery,
    timeout: Duration,
) -> (&'static str, f64) {
    let job = delivery.message.clone();
    if DocumentId::parse(&job.document_id).is_none() {
        return dead_letter(delivery, "malformed_message").await;
    }
    let original = match pipeline.store().get(&job.original_key).await {
        Ok(bytes) => bytes,
        Err(him_store::Error::NotFound { .. }) => {
            return dead_letter(delivery, "original_missing").await
        }
        Err(error) => {
            warn!(
                transient = error.is_transient(),
                "store unavailable reading the original; requeued"
            );
            return requeue(delivery).await;
        }
    };
    if Sha256::of(&original).as_str() != job.sha256 {
        return dead_letter(delivery, "checksum_mismatch").await;
    }
    let result = tokio::time::timeout(
        timeout,
        AssertUnwindSafe(pipeline.process(original)).catch_unwind(),
    )
    .await;
    let outcome = match result {
        Err(_elapsed) => {
            warn!(timeout_secs = timeout.as_secs(), "job timed out; requeued");
            return requeue(delivery).await;
        }
        Ok(Err(_panic)) => return dead_letter(delivery, "worker_panic").await,
        Ok(Ok(Err(error))) => {
            // The top-level context only: deeper causes can quote object keys that carry MRNs.
            warn!(error = %error, "job failed before its results were stored; requeued");
            return requeue(delivery).await;
        }
        Ok(Ok(Ok(outcome))) => outcome,
    };
    if let Err(error) = queue.publish_event(&event_for(&outcome)).await {
        // The results are stored; redelivery finds them (duplicate) and publishes the event again.
        warn!(error = %error, "failed to publish event; requeued");
        return requeue(delivery).await;
    }
    let label = status_label(outcome.status);
    let engine_seconds = outcome.engine_ms as f64 / 1000.0;
    if let Err(error) = delivery.ack().await {
        warn!(error = %error, "ack failed after the results were stored; redelivery will find them filed");
    }
    (label, engine_seconds)
}

async fn dead_letter(delivery: Delivery, reason: &'static str) -> (&'static str, f64) {
    warn!(
        reason,
        deliveries = delivery.delivery_count,
        "job dead-lettered"
    );
    if let Err(error) = delivery.dead_letter(reason).await {
        warn!(error = %error, "failed to dead-letter job; it returns to the queue");
    }
    ("dead_lettered", 0.0)
}

async fn requeue(delivery: Delivery) -> (&'static str, f64) {
    if let Err(error) = delivery.requeue().await {
        warn!(error = %error, "requeue failed; the broker returns the job when the channel closes");
    }
    ("requeued", 0.0)
}

fn status_label(status: Status) -> &'static str {
    match status {
        Status::Filed => "filed",
        Status::Unmatched => "unmatched",
        Status::Duplicate => "duplicate",
        Status::Rejected => "rejected",
    }
}

/// The event announcing where a document went. A duplicate re-announces its first filing, so an event lost
/// to a crash between filing and publishing is published on redelivery. The location given is the
/// document's index entry (`index/<id>.json`), never its folder: a patient folder's key holds the MRN, and
/// queue messages carry no PHI.
pub fn event_for(outcome: &Outcome) -> EventMessage {
    let status = match outcome.status {
        Status::Duplicate if outcome.location.starts_with("patients/") => Status::Filed,
        Status::Duplicate if outcome.location.starts_with("rejected/") => Status::Rejected,
        Status::Duplicate => Status::Unmatched,
        other => other,
    };
    let event = match status {
        Status::Filed => EventKind::Filed,
        Status::Rejected => EventKind::Rejected,
        _ => EventKind::Unmatched,
    };
    EventMessage {
        schema: SCHEMA_VERSION,
        event,
        document_id: outcome.document_id.to_string(),
        status: status_label(status).to_string(),
        location: crate::filing::index_key(&outcome.document_id),
        reason: outcome.reason.map(|r| r.code().to_string()),
    }
}

//! `him worker`: consume jobs from RabbitMQ, run the same pipeline as `him process`, file, publish an event,
//! and only then acknowledge.
//!
//! [`disposition`] is the one place an outcome becomes ack, requeue or dead-letter:
//!
//! | what happened | what the worker does |
//! |---|---|
//! | filed / unmatched / rejected / duplicate | publish `document.*` event, then ack |
//! | store unavailable (`is_transient`) | retried in place with backoff (1 s doubling to 30 s) for up to `[worker] outage_retry_secs`, then requeued |
//! | engine pool, engine or broker unavailable; job timed out | requeue (the quorum queue's delivery limit bounds it) |
//! | original missing or not matching its checksum | dead-letter: `original_missing`, `checksum_mismatch` |
//! | store refused a write or key (permanent) | dead-letter: `store_refused`, `store_invalid_key`, `store_permissions` |
//! | panic while processing | dead-letter with `worker_panic`; the worker keeps running |
//! | any other error | dead-letter: `processing_failed` (never requeued by default) |

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use him_core::{DocumentId, JobContext, Sha256, Status};
use him_queue::{Delivery, EventKind, EventMessage, JobMessage, Queue, WorkKind, SCHEMA_VERSION};
use him_store::Folder;
use tracing::{info, info_span, warn, Instrument};

use crate::config::WorkerConfig;
use crate::metrics::Metrics;
use crate::pipeline::{EngineUnavailable, Outcome, Pipeline};
use crate::pool::PoolError;

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
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let settling = Settling {
        timeout: Duration::from_secs(config.job_timeout_secs.max(1)),
        outage_retry: Duration::from_secs(config.outage_retry_secs),
        first_wait: Duration::from_secs(1),
        stop,
    };
    let mut shutdown = std::pin::pin!(shutdown.fuse());
    let mut in_flight = futures::stream::FuturesUnordered::new();
    let mut consumer = consumer;
    loop {
        tokio::select! {
            _ = &mut shutdown => {
                consumer.cancel();
                // Jobs waiting out a store outage give up waiting and are requeued.
                let _ = stopping.send(true);
                break;
            }
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            delivery = consumer.next(), if in_flight.len() < concurrency.max(1) => {
                let Some(delivery) = delivery else { break };
                in_flight.push(handle(Arc::clone(&pipeline), queue.clone(), delivery, settling.clone(), Arc::clone(&metrics)));
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
    settling: Settling,
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
        let (outcome, engine_seconds) = settle(&pipeline, &queue, delivery, &settling).await;
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

/// Why a job did not end in a filed result.
#[derive(Debug)]
pub enum Failure {
    /// The message's document id is not one (the queue validates messages; this is the last guard).
    MalformedMessage,
    /// The intake original is not in the store.
    OriginalMissing,
    /// The intake original's bytes do not hash to the job's checksum.
    ChecksumMismatch,
    /// Reading the intake original failed.
    ReadOriginal(him_store::Error),
    /// The job says job demographics were stored, and they are missing or unreadable.
    DemographicsUnreadable,
    /// The pipeline could not file the document (store, engine pool or engine unavailable, or refused).
    Pipeline(anyhow::Error),
    /// The job ran past `job_timeout_secs`.
    TimedOut,
    /// The job panicked; the panic was contained.
    Panicked,
    /// The results are stored but the event could not be published.
    Publish(him_queue::Error),
}

/// What to do with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Done: remove it from the queue.
    Ack,
    /// Try again later (the quorum queue's delivery limit bounds the retries).
    Requeue,
    /// Will never succeed: park it in the dead-letter queue with this reason code.
    DeadLetter(&'static str),
}

/// The one place a job's result becomes ack, requeue or dead-letter: a stored result is acked; for an
/// error, what every library error says about retrying (`is_transient`) decides, and nothing is requeued by
/// default.
pub fn disposition(result: &Result<Outcome, Failure>) -> Disposition {
    let failure = match result {
        Ok(_) => return Disposition::Ack,
        Err(failure) => failure,
    };
    match failure {
        Failure::MalformedMessage => Disposition::DeadLetter("malformed_message"),
        Failure::OriginalMissing => Disposition::DeadLetter("original_missing"),
        Failure::ChecksumMismatch => Disposition::DeadLetter("checksum_mismatch"),
        Failure::DemographicsUnreadable => Disposition::DeadLetter("demographics_unreadable"),
        Failure::ReadOriginal(error) => store_disposition(error),
        Failure::TimedOut => Disposition::Requeue,
        Failure::Panicked => Disposition::DeadLetter("worker_panic"),
        Failure::Publish(error) if error.is_transient() => Disposition::Requeue,
        Failure::Publish(_) => Disposition::DeadLetter("event_refused"),
        Failure::Pipeline(error) => {
            for cause in error.chain() {
                if let Some(error) = cause.downcast_ref::<him_store::Error>() {
                    return store_disposition(error);
                }
                if let Some(error) = cause.downcast_ref::<PoolError>() {
                    return match error {
                        PoolError::Closed => Disposition::Requeue,
                        PoolError::Panicked => Disposition::DeadLetter("worker_panic"),
                    };
                }
                if let Some(error) = cause.downcast_ref::<him_core::EngineError>() {
                    return if error.is_transient() {
                        Disposition::Requeue
                    } else {
                        Disposition::DeadLetter("engine_failed")
                    };
                }
                if cause.is::<EngineUnavailable>() {
                    return Disposition::Requeue;
                }
            }
            Disposition::DeadLetter("processing_failed")
        }
    }
}

fn store_disposition(error: &him_store::Error) -> Disposition {
    if error.is_transient() {
        return Disposition::Requeue;
    }
    match error {
        him_store::Error::NotFound { .. } => Disposition::DeadLetter("store_object_missing"),
        him_store::Error::InvalidKey { .. } => Disposition::DeadLetter("store_invalid_key"),
        him_store::Error::Permissions { .. } => Disposition::DeadLetter("store_permissions"),
        _ => Disposition::DeadLetter("store_refused"),
    }
}

/// How a worker settles its deliveries.
#[derive(Debug, Clone)]
pub(crate) struct Settling {
    /// A job still running after this long is abandoned and requeued.
    pub timeout: Duration,
    /// How long a job that met a store outage is retried in place before it is requeued.
    pub outage_retry: Duration,
    /// The first wait before such a retry (doubling to [`OUTAGE_WAIT_MAX`]).
    pub first_wait: Duration,
    /// Becomes `true` when the worker stops: waiting jobs are requeued at once.
    pub stop: tokio::sync::watch::Receiver<bool>,
}

/// The longest wait between two in-place retries of a job during a store outage.
const OUTAGE_WAIT_MAX: Duration = Duration::from_secs(30);

/// Whether the job failed because the store is unreachable or failing, which says nothing about the job.
fn is_store_outage(result: &Result<Outcome, Failure>) -> bool {
    match result {
        Err(Failure::ReadOriginal(error)) => error.is_transient(),
        Err(Failure::Pipeline(error)) => error
            .chain()
            .find_map(|cause| cause.downcast_ref::<him_store::Error>())
            .is_some_and(him_store::Error::is_transient),
        _ => false,
    }
}

/// Runs the job and acks, requeues or dead-letters it; returns the outcome label and engine seconds.
///
/// A store outage is waited out here, holding the delivery, rather than requeued at once: every requeue
/// counts against the queue's delivery limit, and an outage of a minute would otherwise dead-letter good
/// jobs (found by `scripts/chaos`, fault `s3_down`).
pub(crate) async fn settle(
    pipeline: &Pipeline,
    queue: &Queue,
    delivery: Delivery,
    settling: &Settling,
) -> (&'static str, f64) {
    let mut result = run_job(pipeline, queue, &delivery.message, settling.timeout).await;
    let outage_started = Instant::now();
    let mut wait = settling.first_wait;
    let mut stop = settling.stop.clone();
    while is_store_outage(&result)
        && !*stop.borrow()
        && outage_started.elapsed() + wait <= settling.outage_retry
    {
        warn!(
            wait_ms = wait.as_millis() as u64,
            deliveries = delivery.delivery_count,
            "store unavailable; retrying the job in place"
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            changed = stop.changed() => match changed {
                Ok(()) => break,
                // Nobody can stop this worker any more (tests): only the wait remains.
                Err(_) => tokio::time::sleep(wait).await,
            },
        }
        wait = (wait * 2).min(OUTAGE_WAIT_MAX);
        result = run_job(pipeline, queue, &delivery.message, settling.timeout).await;
    }
    // The top-level context only: deeper causes can quote object keys (redacted) and engine detail.
    let error = match &result {
        Ok(_) => String::new(),
        Err(Failure::Pipeline(error)) => error.to_string(),
        Err(Failure::ReadOriginal(error)) => error.to_string(),
        Err(Failure::Publish(error)) => error.to_string(),
        Err(other) => format!("{other:?}"),
    };
    match disposition(&result) {
        Disposition::Ack => {
            if let Err(error) = delivery.ack().await {
                warn!(error = %error, "ack failed after the results were stored; redelivery will find them filed");
            }
            match &result {
                Ok(outcome) => (
                    status_label(outcome.status),
                    outcome.engine_ms as f64 / 1000.0,
                ),
                Err(_) => ("acked", 0.0),
            }
        }
        Disposition::Requeue => {
            warn!(error = %error, deliveries = delivery.delivery_count, "job failed; requeued");
            if let Err(error) = delivery.requeue().await {
                warn!(error = %error, "requeue failed; the broker returns the job when the channel closes");
            }
            ("requeued", 0.0)
        }
        Disposition::DeadLetter(reason) => {
            warn!(reason, error = %error, deliveries = delivery.delivery_count, "job dead-lettered");
            if let Err(error) = delivery.dead_letter(reason).await {
                warn!(error = %error, "failed to dead-letter job; it returns to the queue");
            }
            ("dead_lettered", 0.0)
        }
    }
}

/// Reads the original, runs the pipeline and publishes the event; the outcome is stored when this
/// returns `Ok`.
async fn run_job(
    pipeline: &Pipeline,
    queue: &Queue,
    job: &JobMessage,
    timeout: Duration,
) -> Result<Outcome, Failure> {
    if DocumentId::parse(&job.document_id).is_none() {
        return Err(Failure::MalformedMessage);
    }
    let Some(key) = him_store::Key::parse(&job.original_key) else {
        return Err(Failure::MalformedMessage);
    };
    let original = match pipeline.store().get(&key).await {
        Ok(bytes) => bytes,
        Err(him_store::Error::NotFound { .. }) => return Err(Failure::OriginalMissing),
        Err(error) => return Err(Failure::ReadOriginal(error)),
    };
    if Sha256::of(&original).as_str() != job.sha256 {
        return Err(Failure::ChecksumMismatch);
    }
    let demographics = if job.demographics {
        let key = key
            .folder()
            .map(|folder| folder.key(him_store::Object::Demographics))
            .ok_or(Failure::MalformedMessage)?;
        match pipeline.store().get(&key).await {
            Ok(bytes) => Some(
                him_core::JobDemographics::parse(&bytes)
                    .map_err(|_| Failure::DemographicsUnreadable)?,
            ),
            Err(him_store::Error::NotFound { .. }) => return Err(Failure::DemographicsUnreadable),
            Err(error) => return Err(Failure::ReadOriginal(error)),
        }
    } else {
        None
    };
    let context = JobContext {
        stat: job.stat,
        station: job.station.clone(),
        submitted_at: Some(job.submitted_at.clone()),
        demographics,
    };
    let result = tokio::time::timeout(
        timeout,
        AssertUnwindSafe(pipeline.process(original, &context)).catch_unwind(),
    )
    .await;
    let outcome = match result {
        Err(_elapsed) => return Err(Failure::TimedOut),
        Ok(Err(_panic)) => return Err(Failure::Panicked),
        Ok(Ok(Err(error))) => return Err(Failure::Pipeline(error)),
        Ok(Ok(Ok(outcome))) => outcome,
    };
    // The results are stored; if publishing fails, redelivery finds them (duplicate) and publishes again.
    // A scanned batch announces every document split out of it (the batch itself is no document).
    if outcome.documents.is_empty() {
        queue
            .publish_event(&event_for(&outcome))
            .await
            .map_err(Failure::Publish)?;
    }
    for document in &outcome.documents {
        queue
            .publish_event(&event_for(document))
            .await
            .map_err(Failure::Publish)?;
    }
    Ok(outcome)
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
    let status = match (&outcome.status, &outcome.location) {
        (Status::Duplicate, Folder::Patient(..)) => Status::Filed,
        (Status::Duplicate, Folder::Rejected(_)) => Status::Rejected,
        (Status::Duplicate, _) => Status::Unmatched,
        (other, _) => *other,
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
        location: him_store::Key::Index(outcome.document_id.clone()).path(),
        reason: outcome.reason.map(|r| r.code().to_string()),
    }
}

#[cfg(test)]
mod tests {
    //! The worker loop against the in-memory queue and store with fake engines: one test per disposition.

    use std::io::Cursor;

    use bytes::Bytes;
    use futures::StreamExt;
    use him_core::testsuite::{FakeBehaviour, FakeOcr};
    use him_core::OcrEngine;
    use him_queue::QueueConfig;
    use him_store::{Fault, Faults, Prefix, Store};

    use super::*;
    use crate::pipeline::{Engines, OcrPool};
    use crate::pool::CpuPool;

    const TIMEOUT: Duration = Duration::from_secs(60);

    /// A blank page as PNG; `seed` makes the bytes (and so the document id) differ.
    fn chart(seed: u8) -> Bytes {
        let page = image::GrayImage::from_fn(400, 300, |x, y| {
            image::Luma([if (x + y) % 97 == u32::from(seed) {
                0
            } else {
                255
            }])
        });
        let mut png = Vec::new();
        page.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        Bytes::from(png)
    }

    fn pipeline(store: Store, behaviour: FakeBehaviour) -> (Arc<Pipeline>, Arc<OcrPool>) {
        let pool: Arc<OcrPool> = Arc::new(
            CpuPool::start(1, "fake-ocr", move || {
                Ok(Box::new(FakeOcr {
                    behaviour: behaviour.clone(),
                }) as Box<dyn OcrEngine>)
            })
            .unwrap(),
        );
        let engines = Engines {
            ocr: Arc::clone(&pool),
            ocr_version: "fake-ocr 1".to_string(),
            asr: None,
            asr_version: None,
        };
        let pipeline = Pipeline::new(Default::default(), store, engines, None);
        (Arc::new(pipeline), pool)
    }

    fn reading() -> FakeBehaviour {
        FakeBehaviour::Read("PROGRESS NOTE\nPatient: Doe, John MRN: 123456\n".to_string())
    }

    /// Submits `bytes` as a STAT job from station `ED-2` and returns the job.
    async fn submit(store: &Store, queue: &Queue, bytes: Bytes) -> JobMessage {
        let request = crate::intake::JobRequest {
            stat: true,
            station: Some("ED-2"),
            demographics: None,
        };
        crate::intake::submit(store, queue, bytes, request)
            .await
            .unwrap();
        let mut consumer = queue.consume(&WorkKind::ALL, 1).await.unwrap();
        let delivery = consumer.next().await.unwrap();
        let job = delivery.message.clone();
        delivery.requeue().await.unwrap();
        job
    }

    /// Takes the next delivery and settles it.
    async fn settle_next(pipeline: &Pipeline, queue: &Queue) -> &'static str {
        let mut consumer = queue.consume(&WorkKind::ALL, 1).await.unwrap();
        let delivery = tokio::time::timeout(Duration::from_secs(5), consumer.next())
            .await
            .expect("a job is waiting")
            .unwrap();
        settle(pipeline, queue, delivery, &settling(Duration::ZERO))
            .await
            .0
    }

    /// Settling with `outage_retry` and short waits.
    fn settling(outage_retry: Duration) -> Settling {
        let (_, stop) = tokio::sync::watch::channel(false);
        Settling {
            timeout: TIMEOUT,
            outage_retry,
            first_wait: Duration::from_millis(10),
            stop,
        }
    }

    async fn keys(store: &Store) -> Vec<String> {
        let listed = store.list(&Prefix::All).await.unwrap();
        listed.iter().map(him_store::Key::path).collect()
    }

    /// A redelivered job is filed once: the second run writes nothing and re-announces the first filing.
    #[tokio::test]
    async fn redelivered_job_is_filed_once() {
        let store = Store::in_memory();
        let queue = Queue::in_memory(&QueueConfig::default());
        let (pipeline, _pool) = pipeline(store.clone(), reading());
        let job = submit(&store, &queue, chart(1)).await;
        assert_eq!(settle_next(&pipeline, &queue).await, "unmatched");
        let filed = keys(&store).await;
        queue.publish_job(&job).await.unwrap();
        assert_eq!(settle_next(&pipeline, &queue).await, "duplicate");
        assert_eq!(keys(&store).await, filed, "nothing written twice");
        let Queue::Memory(memory) = &queue else {
            unreachable!()
        };
        let events = memory.events();
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.event == EventKind::Unmatched));
        // The job's context reached the manifest and the index entry.
        let id = DocumentId::parse(&job.document_id).unwrap();
        let entry = crate::filing::lookup(&store, &id).await.unwrap().unwrap();
        assert!(entry.job.stat);
        assert_eq!(entry.job.station.as_deref(), Some("ED-2"));
        assert_eq!(
            entry.job.submitted_at.as_deref(),
            Some(job.submitted_at.as_str())
        );
        let manifest: him_extract::Manifest =
            serde_json::from_slice(&store.get(&entry.location.manifest()).await.unwrap()).unwrap();
        assert_eq!(manifest.job, entry.job);
        assert_eq!(manifest.waiting_since(), job.submitted_at);
    }

    /// A store that refuses the write dead-letters the job with the reason, instead of cycling it.
    #[tokio::test]
    async fn store_refusal_is_dead_lettered_with_its_reason() {
        let faults = Arc::new(Faults::default());
        let store = Store::in_memory_with_faults(Arc::clone(&faults));
        let queue = Queue::in_memory(&QueueConfig::default());
        let (pipeline, _pool) = pipeline(store.clone(), reading());
        submit(&store, &queue, chart(2)).await;
        faults.fail_writes(Fault::Refused, 1000);
        assert_eq!(settle_next(&pipeline, &queue).await, "dead_lettered");
        let dead = queue.list_dead_letters(10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].reason, "store_refused");
    }

    /// A store outage shorter than `outage_retry_secs` is waited out holding the delivery: filed, never
    /// requeued (a requeue counts against the delivery limit).
    #[tokio::test]
    async fn store_outage_is_waited_out_in_place() {
        let faults = Arc::new(Faults::default());
        let store = Store::in_memory_with_faults(Arc::clone(&faults));
        let queue = Queue::in_memory(&QueueConfig::default());
        let (pipeline, _pool) = pipeline(store.clone(), reading());
        submit(&store, &queue, chart(5)).await;
        faults.fail_writes(Fault::Unavailable, 4);
        let mut consumer = queue.consume(&WorkKind::ALL, 1).await.unwrap();
        let delivery = consumer.next().await.unwrap();
        let settled = settle(
            &pipeline,
            &queue,
            delivery,
            &settling(Duration::from_secs(5)),
        )
        .await;
        assert_eq!(settled.0, "unmatched");
        assert!(queue.list_dead_letters(10).await.unwrap().is_empty());
        // Stopping the worker ends the wait: the job is requeued at once.
        submit(&store, &queue, chart(6)).await;
        faults.fail_writes(Fault::Unavailable, 1000);
        let (stopping, stop) = tokio::sync::watch::channel(false);
        let waiting = Settling {
            stop,
            ..settling(Duration::from_secs(3600))
        };
        let delivery = consumer.next().await.unwrap();
        let started = Instant::now();
        let (settled, _) = tokio::join!(settle(&pipeline, &queue, delivery, &waiting), async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            stopping.send(true).unwrap();
        });
        assert_eq!(settled.0, "requeued");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    /// Without an outage window, a store outage requeues the job; once the store is back, the job is filed.
    #[tokio::test]
    async fn transient_store_error_is_requeued() {
        let faults = Arc::new(Faults::default());
        let store = Store::in_memory_with_faults(Arc::clone(&faults));
        let queue = Queue::in_memory(&QueueConfig::default());
        let (pipeline, _pool) = pipeline(store.clone(), reading());
        submit(&store, &queue, chart(3)).await;
        faults.fail_writes(Fault::Unavailable, 1);
        assert_eq!(settle_next(&pipeline, &queue).await, "requeued");
        assert!(queue.list_dead_letters(10).await.unwrap().is_empty());
        assert_eq!(settle_next(&pipeline, &queue).await, "unmatched");
    }

    /// An OCR pool shut down says nothing about the input: requeued, never filed as a rejection.
    #[tokio::test]
    async fn closed_pool_is_not_a_rejection() {
        let store = Store::in_memory();
        let queue = Queue::in_memory(&QueueConfig::default());
        let (pipeline, pool) = pipeline(store.clone(), reading());
        submit(&store, &queue, chart(4)).await;
        pool.shutdown();
        assert_eq!(settle_next(&pipeline, &queue).await, "requeued");
        let listed = store.list(&Prefix::All).await.unwrap();
        assert!(
            !listed
                .iter()
                .any(|key| matches!(key.folder(), Some(Folder::Rejected(_)))),
            "no rejection filed"
        );
        assert!(queue.list_dead_letters(10).await.unwrap().is_empty());
    }

    /// An engine panic is contained: the document is rejected with a reason code, the original kept, and
    /// the pool keeps serving.
    #[tokio::test]
    async fn engine_panic_is_contained() {
        let store = Store::in_memory();
        let queue = Queue::in_memory(&QueueConfig::default());
        let (pipeline, pool) = pipeline(store.clone(), FakeBehaviour::Panic);
        let job = submit(&store, &queue, chart(5)).await;
        assert_eq!(settle_next(&pipeline, &queue).await, "rejected");
        let folder = Folder::Rejected(DocumentId::parse(&job.document_id).unwrap());
        let rejection: serde_json::Value =
            serde_json::from_slice(&store.get(&folder.rejection()).await.unwrap()).unwrap();
        assert_eq!(rejection["reason"], "engine_failed");
        assert!(store.exists(&folder.original("png")).await.unwrap());
        assert_eq!(pool.run(|_| 7).await.unwrap(), 7, "the pool survived");
    }

    /// Each error has exactly one disposition.
    #[test]
    fn errors_map_to_one_disposition() {
        let invalid = him_store::Error::InvalidKey {
            key: "k".to_string(),
        };
        assert_eq!(
            disposition(&Err(Failure::Pipeline(
                anyhow::Error::new(invalid).context("failed to store")
            ))),
            Disposition::DeadLetter("store_invalid_key")
        );
        assert_eq!(
            disposition(&Err(Failure::Pipeline(
                anyhow::Error::new(PoolError::Closed).context("ocr engine unavailable")
            ))),
            Disposition::Requeue
        );
        assert_eq!(
            disposition(&Err(Failure::Pipeline(anyhow::anyhow!("a bug")))),
            Disposition::DeadLetter("processing_failed")
        );
        assert_eq!(
            disposition(&Err(Failure::Pipeline(anyhow::Error::new(
                EngineUnavailable("speech-to-text")
            )))),
            Disposition::Requeue
        );
        assert_eq!(disposition(&Err(Failure::TimedOut)), Disposition::Requeue);
        assert_eq!(
            disposition(&Err(Failure::Panicked)),
            Disposition::DeadLetter("worker_panic")
        );
        assert_eq!(
            disposition(&Err(Failure::OriginalMissing)),
            Disposition::DeadLetter("original_missing")
        );
    }
}

//! One conformance suite, run against the in-memory twin and a real RabbitMQ.
//!
//! The RabbitMQ tests fail, never skip, when the broker at 127.0.0.1:5672 is unreachable. Each test uses a
//! queue prefix of its own and deletes its queues and exchanges at the end, even when it fails.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{FutureExt, StreamExt};
use him_queue::{
    Consumer, Delivery, EventKind, EventMessage, JobMessage, Queue, QueueConfig, WorkKind,
    SCHEMA_VERSION,
};

const UNREACHABLE: &str =
    "RabbitMQ not reachable at 127.0.0.1:5672: start it with `rabbitmq-server -detached`";

/// A valid job for document number `n`.
fn job(n: u8, kind: WorkKind, stat: bool) -> JobMessage {
    let sha256 = format!("{n:02x}").repeat(32);
    JobMessage {
        schema: SCHEMA_VERSION,
        document_id: sha256[..32].to_string(),
        original_key: him_store::Folder::Intake(
            him_core::DocumentId::parse(&sha256[..32]).unwrap(),
        )
        .original("pdf")
        .path(),
        sha256,
        kind,
        media_type: "application/pdf".to_string(),
        bytes: 2048,
        stat,
        station: Some("scan-01".to_string()),
        submitted_at: "2025-03-01T08:30:00Z".to_string(),
        demographics: false,
    }
}

fn config(test: &str) -> QueueConfig {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    QueueConfig {
        prefix: format!("test-{test}-{}-{nanos}", std::process::id()),
        delivery_limit: 2,
        reconnect_min_ms: 100,
        reconnect_max_ms: 1000,
        ..QueueConfig::default()
    }
}

async fn next(consumer: &mut Consumer) -> Delivery {
    tokio::time::timeout(Duration::from_secs(15), consumer.next())
        .await
        .expect("no delivery within 15 s")
        .expect("consumer stream ended")
}

/// Runs every check against `queue` (configured with `delivery_limit = 2`).
async fn conformance(queue: &Queue, prefix: &str) {
    let charts = [WorkKind::Charts];

    // publish → consume → ack
    let first = job(1, WorkKind::Charts, false);
    queue.publish_job(&first).await.unwrap();
    let mut consumer = queue.consume(&charts, 4).await.unwrap();
    let delivery = next(&mut consumer).await;
    assert_eq!(delivery.message, first);
    assert_eq!(delivery.delivery_count, 0);
    assert!(!delivery.redelivered);
    delivery.ack().await.unwrap();

    // requeue increments delivery_count
    let second = job(2, WorkKind::Charts, false);
    queue.publish_job(&second).await.unwrap();
    next(&mut consumer).await.requeue().await.unwrap();
    let again = next(&mut consumer).await;
    assert_eq!(again.message, second);
    assert_eq!(again.delivery_count, 1, "requeue must count a delivery");
    assert!(again.redelivered);
    again.ack().await.unwrap();

    // dead_letter lands in the DLQ with its reason, and listing does not remove it
    let third = job(3, WorkKind::Charts, false);
    queue.publish_job(&third).await.unwrap();
    next(&mut consumer)
        .await
        .dead_letter("unreadable_pdf")
        .await
        .unwrap();
    for _ in 0..2 {
        let dead = queue.list_dead_letters(10).await.unwrap();
        assert_eq!(dead.len(), 1, "{dead:?}");
        assert_eq!(dead[0].document_id, third.document_id);
        assert_eq!(dead[0].reason, "unreadable_pdf");
        assert_eq!(dead[0].kind, Some(WorkKind::Charts));
        assert_eq!(dead[0].first_death_queue, format!("{prefix}.charts"));
        assert_eq!(dead[0].count, 1);
    }

    // replay brings it back
    assert_eq!(queue.replay(&third.document_id).await.unwrap(), 1);
    let replayed = next(&mut consumer).await;
    assert_eq!(replayed.message, third);
    replayed.ack().await.unwrap();
    assert!(queue.list_dead_letters(10).await.unwrap().is_empty());

    // the delivery limit dead-letters a job that keeps failing
    let fourth = job(4, WorkKind::Charts, false);
    queue.publish_job(&fourth).await.unwrap();
    for attempt in 0..3 {
        let delivery = next(&mut consumer).await;
        assert_eq!(delivery.delivery_count, attempt);
        delivery.requeue().await.unwrap();
    }
    let dead = wait_for_dead_letters(queue, 1).await;
    assert_eq!(dead[0].document_id, fourth.document_id);
    assert_eq!(dead[0].reason, "delivery_limit");
    assert_eq!(dead[0].count, 3);
    assert_eq!(queue.replay_all().await.unwrap(), 1);
    let back = next(&mut consumer).await;
    assert_eq!((back.message.clone(), back.delivery_count), (fourth, 0));
    back.ack().await.unwrap();
    consumer.close().await;

    // STAT is consumed before normal work
    let normal = job(5, WorkKind::Charts, false);
    let urgent = job(6, WorkKind::Charts, true);
    queue.publish_job(&normal).await.unwrap();
    queue.publish_job(&urgent).await.unwrap();
    let mut consumer = queue.consume(&charts, 4).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivery = next(&mut consumer).await;
    assert_eq!(delivery.message, urgent, "STAT first");
    delivery.ack().await.unwrap();
    let delivery = next(&mut consumer).await;
    assert_eq!(delivery.message, normal);
    delivery.ack().await.unwrap();

    // a job survives a consumer dropped without ack
    let seventh = job(7, WorkKind::Charts, false);
    queue.publish_job(&seventh).await.unwrap();
    let unsettled = next(&mut consumer).await;
    assert_eq!(unsettled.message, seventh);
    drop(consumer);
    let mut consumer = queue.consume(&charts, 4).await.unwrap();
    let redelivered = next(&mut consumer).await;
    assert_eq!(redelivered.message, seventh);
    assert!(redelivered.redelivered);
    redelivered.ack().await.unwrap();
    assert!(
        unsettled.ack().await.is_err(),
        "a delivery of a dropped consumer cannot be acked"
    );

    // dictations are separate queues; events publish
    let dictation = job(8, WorkKind::Dictations, true);
    queue.publish_job(&dictation).await.unwrap();
    let mut dictations = queue.consume(&[WorkKind::Dictations], 1).await.unwrap();
    next(&mut dictations).await.ack().await.unwrap();
    dictations.close().await;

    // graceful close waits for a delivery still being worked on, which can then be acked
    let ninth = job(9, WorkKind::Charts, false);
    queue.publish_job(&ninth).await.unwrap();
    let in_progress = next(&mut consumer).await;
    let worker = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        in_progress.ack().await
    });
    tokio::time::timeout(Duration::from_secs(10), consumer.close())
        .await
        .expect("close must finish once the in-flight delivery is settled");
    worker.await.unwrap().expect("ack during graceful close");
    let mut consumer = queue.consume(&charts, 4).await.unwrap();
    let nothing = tokio::time::timeout(Duration::from_millis(300), consumer.next()).await;
    assert!(nothing.is_err(), "the acked job must not come back");
    consumer.close().await;
    let event = EventMessage {
        schema: SCHEMA_VERSION,
        event: EventKind::Filed,
        document_id: dictation.document_id.clone(),
        status: "filed".to_string(),
        location: him_store::Key::Index(
            him_core::DocumentId::parse(&dictation.document_id).unwrap(),
        )
        .path(),
        reason: None,
    };
    queue.publish_event(&event).await.unwrap();
}

/// The broker dead-letters asynchronously: poll until `count` letters are listed.
async fn wait_for_dead_letters(queue: &Queue, count: usize) -> Vec<him_queue::DeadLetter> {
    for _ in 0..100 {
        let dead = queue.list_dead_letters(10).await.unwrap();
        if dead.len() >= count {
            return dead;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("expected {count} dead letters within 5 s");
}

/// Runs `body` and deletes the queue's topology afterwards, even if `body` panicked.
async fn with_cleanup(queue: &Queue, body: impl std::future::Future<Output = ()>) {
    let outcome = AssertUnwindSafe(body).catch_unwind().await;
    queue.delete_topology().await.unwrap();
    queue.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The in-memory twin passes the suite.
#[tokio::test]
async fn memory_queue_conforms() {
    let config = config("memory");
    let queue = Queue::in_memory(&config);
    with_cleanup(&queue, conformance(&queue, &config.prefix)).await;
}

/// RabbitMQ passes the suite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_queue_conforms() {
    let config = config("amqp");
    let queue = Queue::connect(&config).await.expect(UNREACHABLE);
    with_cleanup(&queue, conformance(&queue, &config.prefix)).await;
}

/// A body that is not a job is dead-lettered as `malformed_message` and never reaches the worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_malformed_message_is_dead_lettered() {
    use lapin::options::BasicPublishOptions;
    use lapin::{BasicProperties, Connection, ConnectionProperties};

    let config = config("malformed");
    let queue = Queue::connect(&config).await.expect(UNREACHABLE);
    let prefix = config.prefix.clone();
    with_cleanup(&queue, async {
        let connection = Connection::connect(&config.url, ConnectionProperties::default())
            .await
            .expect(UNREACHABLE);
        let channel = connection.create_channel().await.unwrap();
        channel
            .basic_publish(
                "".into(),
                format!("{prefix}.charts").into(),
                BasicPublishOptions::default(),
                b"{\"not\": \"a job\"}",
                BasicProperties::default().with_message_id("ff".repeat(16).into()),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        connection.close(200, "done".into()).await.unwrap();
        let good = job(9, WorkKind::Charts, false);
        queue.publish_job(&good).await.unwrap();
        let mut consumer = queue.consume(&[WorkKind::Charts], 2).await.unwrap();
        let delivery = next(&mut consumer).await;
        assert_eq!(delivery.message, good);
        delivery.ack().await.unwrap();
        let dead = wait_for_dead_letters(&queue, 1).await;
        assert_eq!(dead[0].reason, "malformed_message");
        assert_eq!(dead[0].document_id, "ff".repeat(16));
        assert_eq!(dead[0].first_death_queue, format!("{prefix}.charts"));
        consumer.close().await;
    })
    .await;
}

/// A job that no queue can take is an error, not a silent loss.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_unroutable_job_is_an_error() {
    let config = config("unroutable");
    let queue = Queue::connect(&config).await.expect(UNREACHABLE);
    let Queue::Amqp(amqp) = &queue else {
        unreachable!()
    };
    amqp.delete_topology().await.unwrap();
    // Deleting dropped the publisher session: the next publish re-declares, so delete the queue directly.
    let result = async {
        let connection =
            lapin::Connection::connect(&config.url, lapin::ConnectionProperties::default())
                .await
                .expect(UNREACHABLE);
        let channel = connection.create_channel().await.unwrap();
        queue
            .publish_job(&job(1, WorkKind::Charts, false))
            .await
            .unwrap();
        channel
            .queue_delete(
                format!("{}.charts", config.prefix).into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await
            .unwrap();
        let error = queue
            .publish_job(&job(2, WorkKind::Charts, false))
            .await
            .unwrap_err();
        connection.close(200, "done".into()).await.unwrap();
        error
    }
    .await;
    assert!(
        matches!(result, him_queue::Error::Unroutable { .. }),
        "{result:?}"
    );
    assert!(!result.is_transient());
    queue.delete_topology().await.unwrap();
}

/// An unreachable broker is a transient error at connect time, not a hang.
#[tokio::test]
async fn unreachable_broker_is_a_transient_error() {
    let config = QueueConfig {
        url: "amqp://guest:guest@127.0.0.1:1/%2f".to_string(),
        ..config("unreachable")
    };
    let error = Queue::connect(&config).await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    assert!(!format!("{error:?}").contains("guest:guest"));
}

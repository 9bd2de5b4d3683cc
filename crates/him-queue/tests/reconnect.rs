//! Broker loss: the consumer and the publisher reconnect with backoff and carry on.
//!
//! Its own test binary, so closing connections on the broker cannot disturb other tests. Needs `rabbitmqctl`
//! (run as root) and fails, never skips, when RabbitMQ is unreachable.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use him_queue::{Consumer, Delivery, JobMessage, Queue, QueueConfig, WorkKind, SCHEMA_VERSION};

const UNREACHABLE: &str =
    "RabbitMQ not reachable at 127.0.0.1:5672: start it with `rabbitmq-server -detached`";

fn job(n: u8) -> JobMessage {
    let sha256 = format!("{n:02x}").repeat(32);
    JobMessage {
        schema: SCHEMA_VERSION,
        document_id: sha256[..32].to_string(),
        original_key: him_store::Folder::Intake(
            him_core::DocumentId::parse(&sha256[..32]).unwrap(),
        )
        .original("wav")
        .path(),
        sha256,
        kind: WorkKind::Dictations,
        media_type: "audio/wav".to_string(),
        bytes: 4096,
        stat: false,
        station: None,
        submitted_at: "2025-03-01T08:30:00+01:00".to_string(),
        demographics: false,
    }
}

async fn next(consumer: &mut Consumer) -> Delivery {
    tokio::time::timeout(Duration::from_secs(20), consumer.next())
        .await
        .expect("no delivery within 20 s")
        .expect("consumer stream ended")
}

/// Closes, on the broker side, every connection whose name contains `prefix`; returns how many.
fn close_connections_of(prefix: &str) -> usize {
    let listing = Command::new("rabbitmqctl")
        .args(["-q", "list_connections", "pid", "client_properties"])
        .output()
        .expect("rabbitmqctl must be installed (it ships with rabbitmq-server)");
    assert!(
        listing.status.success(),
        "rabbitmqctl list_connections failed (run the tests as root): {}",
        String::from_utf8_lossy(&listing.stderr)
    );
    let mut closed = 0;
    for line in String::from_utf8_lossy(&listing.stdout).lines() {
        if !line.contains(prefix) {
            continue;
        }
        let pid = line.split_whitespace().next().unwrap();
        let status = Command::new("rabbitmqctl")
            .args(["-q", "close_connection", pid, "test"])
            .status()
            .unwrap();
        assert!(status.success(), "rabbitmqctl close_connection failed");
        closed += 1;
    }
    closed
}

/// After the broker drops every connection, an unacked job comes back and new jobs flow again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_resumes_after_broker_closes_connections() {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let config = QueueConfig {
        prefix: format!("test-reconnect-{}-{nanos}", std::process::id()),
        reconnect_min_ms: 100,
        reconnect_max_ms: 1000,
        ..QueueConfig::default()
    };
    let queue = Queue::connect(&config).await.expect(UNREACHABLE);
    let mut consumer = queue.consume(&[WorkKind::Dictations], 2).await.unwrap();

    queue.publish_job(&job(1)).await.unwrap();
    next(&mut consumer).await.ack().await.unwrap();
    queue.publish_job(&job(2)).await.unwrap();
    let unacked = next(&mut consumer).await;
    assert_eq!(unacked.message, job(2));

    assert!(
        close_connections_of(&config.prefix) >= 2,
        "publisher and consumer connections must be listed"
    );

    tokio::time::sleep(Duration::from_millis(1000)).await;
    let error = unacked
        .ack()
        .await
        .expect_err("a delivery of a closed connection cannot be acked");
    assert!(error.is_transient(), "{error:?}");

    // The unacked job returns on the new connection; a job published after the loss flows too.
    let redelivered = next(&mut consumer).await;
    assert_eq!(redelivered.message, job(2));
    assert!(redelivered.redelivered);
    redelivered.ack().await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), queue.publish_job(&job(3)))
        .await
        .expect("publisher must reconnect within 20 s")
        .unwrap();
    let fresh = next(&mut consumer).await;
    assert_eq!(fresh.message, job(3));
    fresh.ack().await.unwrap();

    tokio::time::timeout(Duration::from_secs(10), consumer.close())
        .await
        .expect("graceful close must finish");
    queue.delete_topology().await.unwrap();
    queue.close().await;
}

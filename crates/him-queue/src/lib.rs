//! The durable work queue of `him`.
//!
//! Scanning stations and dictation drops publish a [`JobMessage`]; stateless workers consume them, process
//! the document and settle each [`Delivery`] exactly once: `ack` after the result was stored, `requeue` after
//! a transient failure, `dead_letter(reason)` after a permanent one. Outcomes go out as [`EventMessage`]s.
//!
//! [`Queue`] is either RabbitMQ ([`AmqpQueue`], over lapin) or the in-memory twin ([`MemoryQueue`]); the
//! worker code is the same for both, and one conformance suite runs against both.
//!
//! Topology (declared idempotently on every connect, names under a configurable prefix, default `him`):
//! - durable quorum queues `him.charts`, `him.dictations` and their STAT variants `him.charts.stat`,
//!   `him.dictations.stat`, with `x-delivery-limit` and the dead-letter exchange `him.dlx`;
//! - `him.dlx` (fanout) into the quorum queue `him.dead-letter` (jobs over the delivery limit; the worker's own dead letters are confirmed copies);
//! - the topic exchange `him.events` for `document.filed`, `document.unmatched`, `document.rejected`.
//!
//! STAT first: quorum queues have no priorities, so a [`Consumer`] holds a broker consumer on every STAT and
//! normal queue and always yields a received STAT job before any received normal job.
//!
//! Dead-letter reasons: `basic.reject` cannot carry a reason, so [`Delivery::dead_letter`] publishes a copy
//! to the dead-letter queue with an `x-him-reason` header (confirmed) and then acks the original. Jobs the
//! broker dead-letters itself (past the delivery limit) keep RabbitMQ's `x-first-death-reason`.
//!
//! Messages hold ids and object keys only, never names, MRNs or document text.
//!
//! ```
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! # rt.block_on(async {
//! use futures::StreamExt;
//! use him_queue::{JobMessage, Queue, QueueConfig, WorkKind, SCHEMA_VERSION};
//!
//! let queue = Queue::in_memory(&QueueConfig::default()); // Queue::connect(&config).await? for RabbitMQ
//! let sha256 = "ab".repeat(32);
//! let job = JobMessage {
//!     schema: SCHEMA_VERSION,
//!     document_id: sha256[..32].to_string(),
//!     original_key: him_store::Folder::Intake(him_core::DocumentId::parse(&sha256[..32]).unwrap())
//!         .original("pdf")
//!         .path(),
//!     sha256,
//!     kind: WorkKind::Charts,
//!     media_type: "application/pdf".to_string(),
//!     bytes: 52_311,
//!     stat: false,
//!     station: Some("scan-03".to_string()),
//!     submitted_at: "2025-03-01T08:30:00Z".to_string(),
//!     demographics: false,
//! };
//! queue.publish_job(&job).await?;
//!
//! let mut consumer = queue.consume(&[WorkKind::Charts], 4).await?;
//! let delivery = consumer.next().await.expect("a job");
//! assert_eq!(delivery.message, job);
//! delivery.ack().await?;
//! consumer.close().await;
//! # Ok::<(), him_queue::Error>(())
//! # }).unwrap();
//! ```

mod amqp;
mod amqp_consumer;
mod config;
mod dead_letters;
mod delivery;
mod error;
mod events;
mod memory;
mod message;
mod queue;
mod topology;

pub use amqp::AmqpQueue;
pub use config::QueueConfig;
pub use delivery::{Consumer, Delivery};
pub use error::{Error, Result};
pub use events::EventSubscription;
pub use memory::MemoryQueue;
pub use message::{DeadLetter, EventKind, EventMessage, JobMessage, WorkKind, SCHEMA_VERSION};
pub use queue::Queue;

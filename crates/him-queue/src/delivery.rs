//! Deliveries handed to the worker, and the consumer stream that yields them.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::Acker;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::warn;

use crate::amqp::Shared;
use crate::memory::{MemoryConsumer, MemoryQueue};
use crate::message::is_identifier;
use crate::{Error, JobMessage, Result};

/// Reason recorded when `dead_letter` is given something that is not a reason code.
const UNSPECIFIED_REASON: &str = "unspecified";

/// One job handed to a worker. It must be settled exactly once: [`ack`](Delivery::ack) after the result
/// was stored, [`requeue`](Delivery::requeue) after a transient failure, or
/// [`dead_letter`](Delivery::dead_letter) after a permanent one. A delivery dropped unsettled returns to the
/// queue when its consumer closes.
#[derive(Debug)]
pub struct Delivery {
    /// The job.
    pub message: JobMessage,
    /// Earlier deliveries of this job that ended without an ack (the quorum queue's `x-delivery-count`);
    /// 0 on the first delivery.
    pub delivery_count: u32,
    /// Whether the broker delivered this job before.
    pub redelivered: bool,
    pub(crate) settle: Settle,
    /// Counts the deliveries not yet settled, so a graceful close can wait for them.
    #[expect(
        dead_code,
        reason = "held only so its reference count tracks unsettled deliveries"
    )]
    pub(crate) in_flight: Arc<()>,
}

#[derive(Debug)]
pub(crate) enum Settle {
    Amqp {
        acker: Acker,
        shared: Arc<Shared>,
        queue: String,
        body: Vec<u8>,
    },
    Memory {
        queue: MemoryQueue,
        tag: u64,
    },
}

impl Delivery {
    /// Acknowledges the job: it leaves the queue for good.
    pub async fn ack(self) -> Result<()> {
        let document_id = self.message.document_id.clone();
        match self.settle {
            Settle::Amqp { acker, .. } => {
                amqp_settled(&document_id, acker.ack(BasicAckOptions::default()).await)
            }
            Settle::Memory { queue, tag } => queue.settle_ack(tag, &document_id),
        }
    }

    /// Returns the job to its queue for another attempt; the queue's delivery limit dead-letters it after
    /// too many.
    pub async fn requeue(self) -> Result<()> {
        let document_id = self.message.document_id.clone();
        warn!(document.id = %document_id, delivery_count = self.delivery_count, "job requeued");
        match self.settle {
            Settle::Amqp { acker, .. } => {
                let options = BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                };
                amqp_settled(&document_id, acker.nack(options).await)
            }
            Settle::Memory { queue, tag } => queue.settle_requeue(tag, &document_id),
        }
    }

    /// Moves the job to the dead-letter queue with `reason`, a reason code such as `unreadable_pdf`
    /// (anything else is recorded as `unspecified`, so no free text reaches the queue).
    pub async fn dead_letter(self, reason: &str) -> Result<()> {
        let reason = if is_identifier(reason) {
            reason
        } else {
            UNSPECIFIED_REASON
        };
        let document_id = self.message.document_id.clone();
        warn!(document.id = %document_id, reason, "job dead-lettered");
        match self.settle {
            Settle::Amqp {
                acker,
                shared,
                queue,
                body,
            } => {
                let deliveries = self.delivery_count.saturating_add(1);
                crate::amqp_consumer::dead_letter(
                    &shared,
                    &acker,
                    &queue,
                    &body,
                    &document_id,
                    reason,
                    deliveries,
                )
                .await
            }
            Settle::Memory { queue, tag } => queue.settle_dead_letter(tag, &document_id, reason),
        }
    }
}

pub(crate) fn amqp_settled(document_id: &str, outcome: lapin::Result<bool>) -> Result<()> {
    match outcome {
        Ok(true) => Ok(()),
        Ok(false) | Err(_) => Err(Error::DeliveryGone {
            document_id: document_id.to_string(),
        }),
    }
}

/// A stream of [`Delivery`], STAT work first. It survives broker restarts (reconnecting with backoff) and
/// ends only after [`cancel`](Consumer::cancel).
///
/// STAT preference: each kind has a STAT and a normal queue, each with its own broker consumer. Deliveries
/// that have arrived wait in two buffers and the stream always takes from the STAT buffer first, so a STAT
/// job overtakes every normal job not yet handed to the worker.
#[derive(Debug)]
pub struct Consumer {
    pub(crate) inner: ConsumerInner,
}

#[derive(Debug)]
pub(crate) enum ConsumerInner {
    Amqp {
        stat: mpsc::UnboundedReceiver<Delivery>,
        normal: mpsc::UnboundedReceiver<Delivery>,
        stop: watch::Sender<bool>,
        task: Option<JoinHandle<()>>,
    },
    Memory(MemoryConsumer),
}

impl Consumer {
    /// Stops taking new jobs (basic.cancel). Jobs already received are still yielded, then the stream ends.
    pub fn cancel(&self) {
        match &self.inner {
            ConsumerInner::Amqp { stop, .. } => {
                let _ = stop.send(true);
            }
            ConsumerInner::Memory(consumer) => consumer.cancel(),
        }
    }

    /// Graceful shutdown: cancels, drops jobs not yet yielded (they return to the queue), waits until every
    /// yielded delivery was settled or dropped, then closes the connection.
    pub async fn close(mut self) {
        self.cancel();
        match &mut self.inner {
            ConsumerInner::Amqp {
                stat, normal, task, ..
            } => {
                stat.close();
                normal.close();
                while stat.try_recv().is_ok() || normal.try_recv().is_ok() {}
                if let Some(task) = task.take() {
                    let _ = task.await;
                }
            }
            ConsumerInner::Memory(consumer) => consumer.wait_settled().await,
        }
    }
}

impl Stream for Consumer {
    type Item = Delivery;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        match &mut self.get_mut().inner {
            ConsumerInner::Amqp { stat, normal, .. } => {
                let stat_state = stat.poll_recv(cx);
                if let Poll::Ready(Some(delivery)) = stat_state {
                    return Poll::Ready(Some(delivery));
                }
                match normal.poll_recv(cx) {
                    Poll::Ready(Some(delivery)) => Poll::Ready(Some(delivery)),
                    Poll::Ready(None) if stat_state.is_ready() => Poll::Ready(None),
                    _ => Poll::Pending,
                }
            }
            ConsumerInner::Memory(consumer) => consumer.poll_next(cx),
        }
    }
}

/// Waits until only `token` itself holds the in-flight counter.
pub(crate) async fn wait_until_settled(token: &Arc<()>) {
    while Arc::strong_count(token) > 1 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

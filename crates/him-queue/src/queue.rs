//! [`Queue`]: one type for the worker, over RabbitMQ or the in-memory twin.

use crate::{
    AmqpQueue, Consumer, DeadLetter, EventMessage, EventSubscription, JobMessage, MemoryQueue,
    QueueConfig, Result, WorkKind,
};

/// The work queue, whichever backend is behind it; the worker loop is written once against this.
#[derive(Debug, Clone)]
pub enum Queue {
    /// RabbitMQ.
    Amqp(AmqpQueue),
    /// The in-memory twin.
    Memory(MemoryQueue),
}

macro_rules! both {
    ($self:ident, $queue:ident => $call:expr) => {
        match $self {
            Queue::Amqp($queue) => $call,
            Queue::Memory($queue) => $call,
        }
    };
}

impl Queue {
    /// Connects to RabbitMQ and declares the topology; fails at once when the broker is unreachable.
    pub async fn connect(config: &QueueConfig) -> Result<Self> {
        Ok(Queue::Amqp(AmqpQueue::connect(config).await?))
    }

    /// A fresh in-memory queue with the names and delivery limit of `config`.
    pub fn in_memory(config: &QueueConfig) -> Self {
        Queue::Memory(MemoryQueue::new(config))
    }

    /// Publishes a job and returns once it is safely queued (broker confirm).
    pub async fn publish_job(&self, job: &JobMessage) -> Result<()> {
        both!(self, queue => queue.publish_job(job).await)
    }

    /// Publishes an outcome event.
    pub async fn publish_event(&self, event: &EventMessage) -> Result<()> {
        both!(self, queue => queue.publish_event(event).await)
    }

    /// Subscribes to the outcome events under the name `subscriber` (an identifier: `review`).
    pub async fn subscribe_events(&self, subscriber: &str) -> Result<EventSubscription> {
        match self {
            Queue::Amqp(queue) => EventSubscription::amqp(&queue.shared, subscriber).await,
            Queue::Memory(queue) => Ok(queue.subscribe_events()),
        }
    }

    /// Consumes the work queues of `kinds`, STAT first, with `prefetch` unacknowledged jobs per queue
    /// (see [`QueueConfig::prefetch_for`]).
    pub async fn consume(&self, kinds: &[WorkKind], prefetch: u16) -> Result<Consumer> {
        both!(self, queue => queue.consume(kinds, prefetch).await)
    }

    /// Up to `limit` dead letters, oldest first, without removing them.
    pub async fn list_dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        both!(self, queue => queue.list_dead_letters(limit).await)
    }

    /// Puts the dead letters of `document_id` back on their work queue; returns how many.
    pub async fn replay(&self, document_id: &str) -> Result<usize> {
        both!(self, queue => queue.replay(document_id).await)
    }

    /// Puts every dead letter whose body is a valid job back on its work queue; returns how many.
    pub async fn replay_all(&self) -> Result<usize> {
        both!(self, queue => queue.replay_all().await)
    }

    /// Deletes every queue and exchange of the prefix with their messages (tests, decommissioning).
    pub async fn delete_topology(&self) -> Result<()> {
        both!(self, queue => queue.delete_topology().await)
    }

    /// Closes the publishing side after in-flight publishes were confirmed.
    pub async fn close(&self) {
        both!(self, queue => queue.close().await)
    }
}

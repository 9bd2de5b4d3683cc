//! The in-memory twin of the RabbitMQ backend, for fast tests of the worker loop.
//!
//! It keeps the broker's observable rules: STAT before normal, a delivery count that grows on every return,
//! dead-lettering past the delivery limit, unsettled deliveries returning when their consumer goes away.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tracing::warn;

use crate::amqp_consumer::MALFORMED_REASON;
use crate::delivery::{wait_until_settled, ConsumerInner, Settle};
use crate::topology::Names;
use crate::{
    Consumer, DeadLetter, Delivery, Error, EventMessage, JobMessage, QueueConfig, Result, WorkKind,
};

/// Work queues in memory, shared by clones.
#[derive(Debug, Clone)]
pub struct MemoryQueue {
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    names: Names,
    delivery_limit: u32,
    queues: HashMap<String, VecDeque<Stored>>,
    dead: VecDeque<DeadStored>,
    events: Vec<EventMessage>,
    subscribers: Vec<tokio::sync::mpsc::UnboundedSender<EventMessage>>,
    unacked: HashMap<u64, Unacked>,
    cancelled: Vec<u64>,
    next_tag: u64,
    next_consumer: u64,
    wakers: Vec<Waker>,
}

#[derive(Debug, Clone)]
struct Stored {
    body: Vec<u8>,
    document_id: String,
    delivery_count: u32,
    redelivered: bool,
}

#[derive(Debug)]
struct Unacked {
    queue: String,
    consumer: u64,
    stored: Stored,
}

#[derive(Debug)]
struct DeadStored {
    body: Vec<u8>,
    letter: DeadLetter,
}

/// The consuming side of [`MemoryQueue`].
#[derive(Debug)]
pub(crate) struct MemoryConsumer {
    queue: MemoryQueue,
    id: u64,
    /// Queues in preference order: STAT queues first.
    queues: Vec<String>,
    in_flight: Arc<()>,
}

impl MemoryQueue {
    /// An empty set of queues named and limited as `config` says.
    pub fn new(config: &QueueConfig) -> Self {
        let names = Names::new(&config.prefix);
        let queues = names
            .work_queues()
            .into_iter()
            .map(|queue| (queue, VecDeque::new()))
            .collect();
        let state = State {
            names,
            delivery_limit: config.delivery_limit,
            queues,
            dead: VecDeque::new(),
            events: Vec::new(),
            subscribers: Vec::new(),
            unacked: HashMap::new(),
            cancelled: Vec::new(),
            next_tag: 0,
            next_consumer: 0,
            wakers: Vec::new(),
        };
        MemoryQueue {
            state: Arc::new(Mutex::new(state)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a job (validated like the real publisher).
    pub async fn publish_job(&self, job: &JobMessage) -> Result<()> {
        let body = job.to_body()?;
        self.publish_raw(job.kind, job.stat, &job.document_id, body);
        Ok(())
    }

    /// Queues any body, bypassing validation: lets tests feed the consumer a malformed message.
    pub fn publish_raw(&self, kind: WorkKind, stat: bool, message_id: &str, body: Vec<u8>) {
        let mut state = self.lock();
        let queue = state.names.work_queue(kind, stat);
        let stored = Stored {
            body,
            document_id: message_id.to_string(),
            delivery_count: 0,
            redelivered: false,
        };
        state.queues.entry(queue).or_default().push_back(stored);
        state.wake_all();
    }

    /// Records an event; see [`MemoryQueue::events`].
    pub async fn publish_event(&self, event: &EventMessage) -> Result<()> {
        event.validate()?;
        let mut state = self.lock();
        state.events.push(event.clone());
        state
            .subscribers
            .retain(|subscriber| subscriber.send(event.clone()).is_ok());
        Ok(())
    }

    /// Receives every event published from now on.
    pub fn subscribe_events(&self) -> crate::EventSubscription {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        self.lock().subscribers.push(sender);
        crate::EventSubscription::memory(receiver)
    }

    /// Every event published so far.
    pub fn events(&self) -> Vec<EventMessage> {
        self.lock().events.clone()
    }

    /// Consumes the work queues of `kinds`, STAT first. `prefetch` is accepted for symmetry; the twin hands
    /// out one job per poll.
    pub async fn consume(&self, kinds: &[WorkKind], _prefetch: u16) -> Result<Consumer> {
        if kinds.is_empty() {
            return Err(Error::Config {
                detail: "consume needs at least one work kind".to_string(),
            });
        }
        let mut state = self.lock();
        let mut queues = Vec::new();
        for stat in [true, false] {
            for &kind in kinds {
                let queue = state.names.work_queue(kind, stat);
                if !queues.contains(&queue) {
                    queues.push(queue);
                }
            }
        }
        state.next_consumer += 1;
        let consumer = MemoryConsumer {
            queue: self.clone(),
            id: state.next_consumer,
            queues,
            in_flight: Arc::new(()),
        };
        Ok(Consumer {
            inner: ConsumerInner::Memory(consumer),
        })
    }

    /// Up to `limit` dead letters, oldest first.
    pub async fn list_dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        let state = self.lock();
        Ok(state
            .dead
            .iter()
            .take(limit)
            .map(|dead| dead.letter.clone())
            .collect())
    }

    /// Puts the dead letters of `document_id` back on their work queue; returns how many.
    pub async fn replay(&self, document_id: &str) -> Result<usize> {
        Ok(self.replay_matching(Some(document_id)))
    }

    /// Puts every dead letter back on its work queue; returns how many.
    pub async fn replay_all(&self) -> Result<usize> {
        Ok(self.replay_matching(None))
    }

    /// Deletes every message (the twin's counterpart of dropping the broker topology).
    pub async fn delete_topology(&self) -> Result<()> {
        let mut state = self.lock();
        state.queues.values_mut().for_each(VecDeque::clear);
        state.dead.clear();
        state.unacked.clear();
        Ok(())
    }

    /// Nothing to close; present for symmetry with the broker backend.
    pub async fn close(&self) {}

    fn replay_matching(&self, document_id: Option<&str>) -> usize {
        let mut state = self.lock();
        let mut kept = VecDeque::new();
        let mut replayed = 0;
        while let Some(dead) = state.dead.pop_front() {
            let wanted = document_id.is_none_or(|id| id == dead.letter.document_id);
            let target_known = state.queues.contains_key(&dead.letter.first_death_queue);
            if !wanted || !target_known || JobMessage::from_body(&dead.body).is_err() {
                kept.push_back(dead);
                continue;
            }
            let stored = Stored {
                body: dead.body,
                document_id: dead.letter.document_id,
                delivery_count: 0,
                redelivered: false,
            };
            let queue = dead.letter.first_death_queue;
            state.queues.entry(queue).or_default().push_back(stored);
            replayed += 1;
        }
        state.dead = kept;
        state.wake_all();
        replayed
    }

    fn take_unacked(&self, state: &mut State, tag: u64, document_id: &str) -> Result<Unacked> {
        state
            .unacked
            .remove(&tag)
            .ok_or_else(|| Error::DeliveryGone {
                document_id: document_id.to_string(),
            })
    }

    pub(crate) fn settle_ack(&self, tag: u64, document_id: &str) -> Result<()> {
        let mut state = self.lock();
        self.take_unacked(&mut state, tag, document_id).map(drop)
    }

    pub(crate) fn settle_requeue(&self, tag: u64, document_id: &str) -> Result<()> {
        let mut state = self.lock();
        let unacked = self.take_unacked(&mut state, tag, document_id)?;
        state.return_message(unacked);
        Ok(())
    }

    pub(crate) fn settle_dead_letter(
        &self,
        tag: u64,
        document_id: &str,
        reason: &str,
    ) -> Result<()> {
        let mut state = self.lock();
        let unacked = self.take_unacked(&mut state, tag, document_id)?;
        let deliveries = unacked.stored.delivery_count + 1;
        state.kill(unacked.queue, unacked.stored, reason, deliveries);
        Ok(())
    }
}

impl State {
    fn wake_all(&mut self) {
        for waker in self.wakers.drain(..) {
            waker.wake();
        }
    }

    /// Returns a message to the head of its queue, like a quorum queue: the delivery count grows and past
    /// the limit the message is dead-lettered instead.
    fn return_message(&mut self, unacked: Unacked) {
        let Unacked {
            queue, mut stored, ..
        } = unacked;
        stored.delivery_count += 1;
        stored.redelivered = true;
        if stored.delivery_count > self.delivery_limit {
            let deliveries = self.delivery_limit + 1;
            self.kill(queue, stored, "delivery_limit", deliveries);
        } else {
            self.queues.entry(queue).or_default().push_front(stored);
        }
        self.wake_all();
    }

    fn kill(&mut self, queue: String, stored: Stored, reason: &str, deliveries: u32) {
        let letter = DeadLetter {
            document_id: stored.document_id,
            kind: self.names.kind_of(&queue),
            reason: reason.to_string(),
            count: deliveries,
            first_death_queue: queue,
        };
        self.dead.push_back(DeadStored {
            body: stored.body,
            letter,
        });
    }
}

impl MemoryConsumer {
    pub(crate) fn cancel(&self) {
        let mut state = self.queue.lock();
        state.cancelled.push(self.id);
        state.wake_all();
    }

    pub(crate) async fn wait_settled(&self) {
        wait_until_settled(&self.in_flight).await;
    }

    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        let mut state = self.queue.lock();
        if state.cancelled.contains(&self.id) {
            return Poll::Ready(None);
        }
        for queue in &self.queues {
            while let Some(stored) = state.queues.get_mut(queue).and_then(VecDeque::pop_front) {
                let message = match JobMessage::from_body(&stored.body) {
                    Ok(message) => message,
                    Err(_) => {
                        warn!(queue = %queue, "malformed job message dead-lettered");
                        let deliveries = stored.delivery_count + 1;
                        state.kill(queue.clone(), stored, MALFORMED_REASON, deliveries);
                        continue;
                    }
                };
                state.next_tag += 1;
                let tag = state.next_tag;
                let delivery = Delivery {
                    message,
                    delivery_count: stored.delivery_count,
                    redelivered: stored.redelivered,
                    settle: Settle::Memory {
                        queue: self.queue.clone(),
                        tag,
                    },
                    in_flight: self.in_flight.clone(),
                };
                let unacked = Unacked {
                    queue: queue.clone(),
                    consumer: self.id,
                    stored,
                };
                state.unacked.insert(tag, unacked);
                return Poll::Ready(Some(delivery));
            }
        }
        state.wakers.push(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for MemoryConsumer {
    /// Like a closed channel: every unsettled delivery of this consumer returns to its queue.
    fn drop(&mut self) {
        let mut state = self.queue.lock();
        let mut tags: Vec<u64> = state
            .unacked
            .iter()
            .filter(|(_, unacked)| unacked.consumer == self.id)
            .map(|(&tag, _)| tag)
            .collect();
        // Latest first, so that pushing each to the head restores the original order.
        tags.sort_unstable_by(|a, b| b.cmp(a));
        for tag in tags {
            if let Some(unacked) = state.unacked.remove(&tag) {
                state.return_message(unacked);
            }
        }
        state.cancelled.retain(|&id| id != self.id);
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::message::tests::job;

    fn queue(delivery_limit: u32) -> MemoryQueue {
        MemoryQueue::new(&QueueConfig {
            delivery_limit,
            ..QueueConfig::default()
        })
    }

    /// A job requeued past the delivery limit is dead-lettered with reason `delivery_limit`.
    #[tokio::test]
    async fn requeue_past_the_limit_dead_letters() {
        let queue = queue(1);
        queue
            .publish_job(&job(1, WorkKind::Charts, false))
            .await
            .unwrap();
        let mut consumer = queue.consume(&[WorkKind::Charts], 1).await.unwrap();
        consumer.next().await.unwrap().requeue().await.unwrap();
        let second = consumer.next().await.unwrap();
        assert_eq!(second.delivery_count, 1);
        second.requeue().await.unwrap();
        let dead = queue.list_dead_letters(10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].reason, "delivery_limit");
        assert_eq!(dead[0].count, 2);
        assert_eq!(dead[0].first_death_queue, "him.charts");
    }

    /// A body that is not a job never reaches the worker and is dead-lettered as `malformed_message`.
    #[tokio::test]
    async fn malformed_message_is_dead_lettered() {
        let queue = queue(5);
        queue.publish_raw(WorkKind::Dictations, false, "", b"{not json".to_vec());
        queue
            .publish_job(&job(2, WorkKind::Dictations, false))
            .await
            .unwrap();
        let mut consumer = queue.consume(&[WorkKind::Dictations], 1).await.unwrap();
        let delivery = consumer.next().await.unwrap();
        assert_eq!(
            delivery.message.document_id,
            job(2, WorkKind::Dictations, false).document_id
        );
        delivery.ack().await.unwrap();
        let dead = queue.list_dead_letters(10).await.unwrap();
        assert_eq!(dead[0].reason, MALFORMED_REASON);
        assert_eq!(dead[0].kind, Some(WorkKind::Dictations));
        assert_eq!(queue.replay_all().await.unwrap(), 0, "malformed stays dead");
    }

    /// Settling twice is an error, not a silent double ack.
    #[tokio::test]
    async fn a_delivery_settles_once() {
        let queue = queue(5);
        queue
            .publish_job(&job(3, WorkKind::Charts, true))
            .await
            .unwrap();
        let mut consumer = queue.consume(&[WorkKind::Charts], 1).await.unwrap();
        let delivery = consumer.next().await.unwrap();
        let tag = match &delivery.settle {
            Settle::Memory { tag, .. } => *tag,
            Settle::Amqp { .. } => unreachable!(),
        };
        delivery.ack().await.unwrap();
        let error = queue.settle_ack(tag, "x").unwrap_err();
        assert!(matches!(error, Error::DeliveryGone { .. }));
    }

    /// Cancel ends the stream; close waits for nothing when all is settled.
    #[tokio::test]
    async fn cancel_ends_the_stream() {
        let queue = queue(5);
        let mut consumer = queue.consume(&[WorkKind::Charts], 1).await.unwrap();
        consumer.cancel();
        assert!(consumer.next().await.is_none());
        consumer.close().await;
    }
}

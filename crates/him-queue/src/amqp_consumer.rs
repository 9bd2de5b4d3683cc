//! The RabbitMQ consumer: a background task that owns its own connection, forwards deliveries to the
//! [`Consumer`] stream and reconnects with backoff after a broker loss.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::stream::{self, BoxStream, SelectAll, StreamExt};
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Acker, Channel, Connection};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::amqp::{header_number, text_value, Outgoing, Shared};
use crate::delivery::{amqp_settled, wait_until_settled, ConsumerInner, Settle};
use crate::topology;
use crate::{Consumer, Delivery, Error, JobMessage, Result, WorkKind};

/// Reason recorded for a message whose body is not a valid job.
pub(crate) const MALFORMED_REASON: &str = "malformed_message";

/// One item of a broker consumer: its queue and the delivery, or `None` when that consumer ended.
type Item = (String, Option<lapin::Result<lapin::message::Delivery>>);

/// The connection of one consumer and its broker consumers, STAT and normal apart.
struct Session {
    connection: Connection,
    channel: Channel,
    tags: Vec<String>,
    stat: SelectAll<BoxStream<'static, Item>>,
    normal: SelectAll<BoxStream<'static, Item>>,
}

/// Everything the background task needs besides its session.
struct Task {
    shared: Arc<Shared>,
    kinds: Vec<WorkKind>,
    prefetch: u16,
    stat_tx: mpsc::UnboundedSender<Delivery>,
    normal_tx: mpsc::UnboundedSender<Delivery>,
    stop: watch::Receiver<bool>,
    in_flight: Arc<()>,
}

/// Connects (once: an unreachable broker is an error here), then hands over to the background task.
pub(crate) async fn start(
    shared: Arc<Shared>,
    kinds: &[WorkKind],
    prefetch: u16,
) -> Result<Consumer> {
    let mut unique = Vec::new();
    for kind in kinds {
        if !unique.contains(kind) {
            unique.push(*kind);
        }
    }
    if unique.is_empty() {
        return Err(Error::Config {
            detail: "consume needs at least one work kind".to_string(),
        });
    }
    let prefetch = prefetch.max(1);
    let session = open_session(&shared, &unique, prefetch).await?;
    let (stat_tx, stat) = mpsc::unbounded_channel();
    let (normal_tx, normal) = mpsc::unbounded_channel();
    let (stop_tx, stop) = watch::channel(false);
    let task = Task {
        shared,
        kinds: unique,
        prefetch,
        stat_tx,
        normal_tx,
        stop,
        in_flight: Arc::new(()),
    };
    let handle = tokio::spawn(task.run(session));
    Ok(Consumer {
        inner: ConsumerInner::Amqp {
            stat,
            normal,
            stop: stop_tx,
            task: Some(handle),
        },
    })
}

async fn open_session(shared: &Shared, kinds: &[WorkKind], prefetch: u16) -> Result<Session> {
    static NEXT_TAG: AtomicU64 = AtomicU64::new(0);
    let connection = shared.connect("consumer").await?;
    let channel = connection
        .create_channel()
        .await
        .map_err(|error| Error::from_lapin("open channel", error))?;
    topology::declare(&channel, &shared.names, shared.config.delivery_limit).await?;
    // Per-consumer prefetch: quorum queues do not support a channel-wide (global) limit.
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await
        .map_err(|error| Error::from_lapin("basic.qos", error))?;
    let mut session = Session {
        connection,
        channel,
        tags: Vec::new(),
        stat: SelectAll::new(),
        normal: SelectAll::new(),
    };
    for stat in [true, false] {
        for &kind in kinds {
            let queue = shared.names.work_queue(kind, stat);
            let tag = format!(
                "him-{}-{}-{}",
                queue,
                std::process::id(),
                NEXT_TAG.fetch_add(1, Ordering::Relaxed)
            );
            let consumer = session
                .channel
                .basic_consume(
                    queue.clone().into(),
                    tag.clone().into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|error| Error::from_lapin("basic.consume", error))?;
            session.tags.push(tag);
            let ended_queue = queue.clone();
            let items = consumer
                .map(move |item| (queue.clone(), Some(item)))
                .chain(stream::once(async move { (ended_queue, None) }))
                .boxed();
            if stat {
                session.stat.push(items);
            } else {
                session.normal.push(items);
            }
        }
    }
    Ok(session)
}

enum Next {
    Stop { graceful: bool },
    Item(bool, Box<Item>),
}

impl Task {
    async fn run(mut self, first: Session) {
        let mut session = first;
        loop {
            let next = tokio::select! {
                biased;
                changed = self.stop.changed() => match changed {
                    Ok(()) if *self.stop.borrow() => Next::Stop { graceful: true },
                    Ok(()) => continue,
                    Err(_) => Next::Stop { graceful: false },
                },
                Some(item) = session.stat.next() => Next::Item(true, Box::new(item)),
                Some(item) = session.normal.next() => Next::Item(false, Box::new(item)),
            };
            match next {
                Next::Stop { graceful: true } => return self.shut_down(session).await,
                Next::Stop { graceful: false } => {
                    let _ = session
                        .connection
                        .close(200, "consumer dropped".into())
                        .await;
                    return;
                }
                Next::Item(stat, item) => match *item {
                    (queue, Some(Ok(delivery))) => {
                        if !self.forward(stat, &queue, delivery).await {
                            let _ = session
                                .connection
                                .close(200, "consumer dropped".into())
                                .await;
                            return;
                        }
                    }
                    (queue, _) => {
                        warn!(queue = %queue, "queue consumer lost the broker, reconnecting");
                        // Closing returns whatever the old channel still holds unacknowledged.
                        let _ = session.connection.close(200, "reconnecting".into()).await;
                        drop(session);
                        match self.reconnect().await {
                            Some(fresh) => session = fresh,
                            None => return,
                        }
                    }
                },
            }
        }
    }

    /// Turns a broker delivery into a [`Delivery`]; malformed bodies go to the dead letters at once.
    /// Returns false when the consumer stream is gone.
    async fn forward(&self, stat: bool, queue: &str, raw: lapin::message::Delivery) -> bool {
        let headers = raw.properties.headers().clone().unwrap_or_default();
        let delivery_count = header_number(&headers, "x-delivery-count")
            .and_then(|count| u32::try_from(count).ok())
            .unwrap_or(0);
        let message = match JobMessage::from_body(&raw.data) {
            Ok(message) => message,
            Err(error) => {
                let document_id = raw
                    .properties
                    .message_id()
                    .as_ref()
                    .map(|id| id.as_str().to_string())
                    .filter(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
                    .unwrap_or_default();
                warn!(queue, document.id = %document_id, %error, "malformed job message dead-lettered");
                let deliveries = delivery_count.saturating_add(1);
                let outcome = dead_letter(
                    &self.shared,
                    &raw.acker,
                    queue,
                    &raw.data,
                    &document_id,
                    MALFORMED_REASON,
                    deliveries,
                )
                .await;
                if let Err(error) = outcome {
                    warn!(queue, %error, "malformed message not dead-lettered, it will return");
                }
                return true;
            }
        };
        let delivery = Delivery {
            message,
            delivery_count,
            redelivered: raw.redelivered,
            settle: Settle::Amqp {
                acker: raw.acker,
                shared: self.shared.clone(),
                queue: queue.to_string(),
                body: raw.data,
            },
            in_flight: self.in_flight.clone(),
        };
        let sender = if stat { &self.stat_tx } else { &self.normal_tx };
        sender.send(delivery).is_ok()
    }

    /// Reconnects with exponential backoff until it succeeds or the consumer is stopped.
    async fn reconnect(&mut self) -> Option<Session> {
        let mut attempt = 0;
        loop {
            let wait = self.shared.config.backoff(attempt);
            tokio::select! {
                biased;
                _ = self.stop.changed() => return None,
                () = tokio::time::sleep(wait) => {}
            }
            tokio::select! {
                biased;
                _ = self.stop.changed() => return None,
                opened = open_session(&self.shared, &self.kinds, self.prefetch) => match opened {
                    Ok(session) => {
                        info!(broker = %self.shared.config.redacted_url(), attempt, "queue consumer reconnected");
                        return Some(session);
                    }
                    Err(error @ Error::Refused { .. }) => {
                        error!(%error, attempt, "queue broker refuses the consumer, retrying");
                    }
                    Err(error) => warn!(%error, attempt, "queue consumer reconnect failed"),
                },
            }
            attempt = attempt.saturating_add(1);
        }
    }

    /// Cancels the broker consumers, waits for yielded deliveries to be settled, then closes.
    async fn shut_down(self, session: Session) {
        for tag in &session.tags {
            let cancel = session
                .channel
                .basic_cancel(tag.as_str().into(), BasicCancelOptions::default());
            if let Err(error) = cancel.await {
                warn!(%error, "basic.cancel failed during shutdown");
            }
        }
        let Task {
            stat_tx,
            normal_tx,
            in_flight,
            ..
        } = self;
        drop((stat_tx, normal_tx));
        wait_until_settled(&in_flight).await;
        let _ = session
            .connection
            .close(200, "consumer closed".into())
            .await;
    }
}

/// Dead-letters a delivery while keeping its reason: publishes a copy to the dead-letter queue (default
/// exchange, confirmed) with `x-him-reason`, `x-him-queue` and `x-him-deliveries` headers, then acks the
/// original. A crash between the two leaves a duplicate dead letter, never a lost one.
pub(crate) async fn dead_letter(
    shared: &Shared,
    acker: &Acker,
    queue: &str,
    body: &[u8],
    document_id: &str,
    reason: &str,
    deliveries: u32,
) -> Result<()> {
    let mut headers = FieldTable::default();
    headers.insert("x-him-reason".into(), text_value(reason));
    headers.insert("x-him-queue".into(), text_value(queue));
    headers.insert(
        "x-him-deliveries".into(),
        AMQPValue::LongLongInt(i64::from(deliveries)),
    );
    shared
        .publish(Outgoing {
            exchange: "",
            routing_key: &shared.names.dead_letter_queue(),
            body,
            message_id: document_id,
            headers,
            mandatory: true,
        })
        .await?;
    amqp_settled(document_id, acker.ack(BasicAckOptions::default()).await)
}

//! Listening to the outcome events (`<prefix>.events`): the review queue is fed by them.
//!
//! Each subscriber has a durable queue of its own, `<prefix>.events.<subscriber>`, bound to every
//! `document.*` routing key, so events published while it is down wait for it (the queue expires after a day
//! unused). An event is acknowledged when the subscriber asks for the next one, that is after it was
//! applied: at-least-once, and applying an event is idempotent.

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection};
use tokio::sync::mpsc;
use tracing::warn;

use crate::amqp::Shared;
use crate::{Error, EventMessage, Result};

/// How long an unused subscriber queue is kept, in milliseconds.
const SUBSCRIBER_QUEUE_EXPIRES_MS: i64 = 24 * 60 * 60 * 1000;

/// A stream of outcome events for one subscriber.
pub struct EventSubscription {
    inner: Inner,
}

impl std::fmt::Debug for EventSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventSubscription")
    }
}

enum Inner {
    Amqp(Box<AmqpSubscription>),
    Memory(mpsc::UnboundedReceiver<EventMessage>),
}

struct AmqpSubscription {
    connection: Connection,
    _channel: Channel,
    consumer: lapin::Consumer,
    /// The event returned last, acknowledged when the next one is asked for.
    pending: Option<lapin::Acker>,
}

impl EventSubscription {
    pub(crate) fn memory(receiver: mpsc::UnboundedReceiver<EventMessage>) -> Self {
        EventSubscription {
            inner: Inner::Memory(receiver),
        }
    }

    pub(crate) async fn amqp(shared: &Shared, subscriber: &str) -> Result<Self> {
        if !crate::message::is_identifier(subscriber) {
            return Err(Error::Config {
                detail: "event subscriber name is not an identifier".to_string(),
            });
        }
        let op = "event subscription";
        let lapin_error = |error| Error::from_lapin(op, error);
        let connection = shared.connect("events").await?;
        let channel = connection.create_channel().await.map_err(lapin_error)?;
        crate::topology::declare(&channel, &shared.names, shared.config.delivery_limit).await?;
        let queue = format!("{}.{subscriber}", shared.names.events_exchange());
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        arguments.insert(
            "x-expires".into(),
            AMQPValue::LongLongInt(SUBSCRIBER_QUEUE_EXPIRES_MS),
        );
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                arguments,
            )
            .await
            .map_err(lapin_error)?;
        channel
            .queue_bind(
                queue.as_str().into(),
                shared.names.events_exchange().as_str().into(),
                "document.#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(lapin_error)?;
        channel
            .basic_qos(64, BasicQosOptions::default())
            .await
            .map_err(lapin_error)?;
        let consumer = channel
            .basic_consume(
                queue.as_str().into(),
                format!("him-events-{subscriber}").as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(lapin_error)?;
        Ok(EventSubscription {
            inner: Inner::Amqp(Box::new(AmqpSubscription {
                connection,
                _channel: channel,
                consumer,
                pending: None,
            })),
        })
    }

    /// The next event, after acknowledging the one returned before (the caller has applied it). `None`
    /// when the subscription ended (broker connection lost): subscribe again. A message that is not a
    /// valid event is dropped with a warning.
    pub async fn next(&mut self) -> Option<Result<EventMessage>> {
        match &mut self.inner {
            Inner::Memory(receiver) => receiver.recv().await.map(Ok),
            Inner::Amqp(amqp) => {
                let AmqpSubscription {
                    consumer, pending, ..
                } = amqp.as_mut();
                if let Some(acker) = pending.take() {
                    if let Err(error) = acker.ack(BasicAckOptions::default()).await {
                        return Some(Err(Error::from_lapin("event ack", error)));
                    }
                }
                loop {
                    let delivery = match consumer.next().await? {
                        Ok(delivery) => delivery,
                        Err(error) => return Some(Err(Error::from_lapin("event delivery", error))),
                    };
                    match serde_json::from_slice::<EventMessage>(&delivery.data)
                        .ok()
                        .filter(|event| event.validate().is_ok())
                    {
                        Some(event) => {
                            *pending = Some(delivery.acker);
                            return Some(Ok(event));
                        }
                        None => {
                            warn!("event message is not a valid event; dropped");
                            let options = BasicNackOptions {
                                requeue: false,
                                ..BasicNackOptions::default()
                            };
                            if let Err(error) = delivery.acker.nack(options).await {
                                return Some(Err(Error::from_lapin("event nack", error)));
                            }
                        }
                    }
                }
            }
        }
    }

    /// Acknowledges the last event and closes the subscription.
    pub async fn close(mut self) {
        if let Inner::Amqp(amqp) = &mut self.inner {
            let AmqpSubscription {
                connection,
                pending,
                ..
            } = amqp.as_mut();
            if let Some(acker) = pending.take() {
                let _ = acker.ack(BasicAckOptions::default()).await;
            }
            let _ = connection.close(200, "closing".into()).await;
        }
    }
}

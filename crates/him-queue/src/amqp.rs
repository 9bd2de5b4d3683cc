//! The RabbitMQ backend: connections, topology and confirmed publishing.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::uri::AMQPUri;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::sync::{Mutex, Semaphore};
use tracing::{debug, warn};

use crate::topology::{self, Names};
use crate::{Consumer, DeadLetter, Error, EventMessage, JobMessage, QueueConfig, Result, WorkKind};

/// Longest wait for the TCP and AMQP handshake of one connection attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Connection attempts a publish makes before it reports the broker unavailable.
const PUBLISH_CONNECT_ATTEMPTS: u32 = 5;

/// Work queues on RabbitMQ: see the crate documentation for the topology.
#[derive(Debug, Clone)]
pub struct AmqpQueue {
    pub(crate) shared: Arc<Shared>,
}

/// State shared by the publisher, consumers and deliveries of one [`AmqpQueue`].
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: QueueConfig,
    pub(crate) names: Names,
    /// The publishing connection and its confirm-mode channel, opened lazily and again after a loss.
    session: Mutex<Option<Session>>,
    /// Bounds the publishes awaiting a confirm.
    window: Semaphore,
}

#[derive(Debug)]
struct Session {
    connection: Connection,
    channel: Channel,
}

/// One message to publish with confirms.
pub(crate) struct Outgoing<'a> {
    pub(crate) exchange: &'a str,
    pub(crate) routing_key: &'a str,
    pub(crate) body: &'a [u8],
    pub(crate) message_id: &'a str,
    pub(crate) headers: FieldTable,
    pub(crate) mandatory: bool,
}

impl AmqpQueue {
    /// Connects to the broker and declares the topology; fails at once when the broker is unreachable.
    pub async fn connect(config: &QueueConfig) -> Result<Self> {
        if config.confirm_window == 0 {
            return Err(Error::Config {
                detail: "confirm_window must be at least 1".to_string(),
            });
        }
        parse_uri(config)?;
        let shared = Arc::new(Shared {
            config: config.clone(),
            names: Names::new(&config.prefix),
            session: Mutex::new(None),
            window: Semaphore::new(config.confirm_window),
        });
        shared.publish_channel(1).await?;
        Ok(AmqpQueue { shared })
    }

    /// Publishes a job to its work queue and returns once the broker confirmed it.
    pub async fn publish_job(&self, job: &JobMessage) -> Result<()> {
        let body = job.to_body()?;
        let queue = self.shared.names.work_queue(job.kind, job.stat);
        self.shared
            .publish(Outgoing {
                exchange: "",
                routing_key: &queue,
                body: &body,
                message_id: &job.document_id,
                headers: FieldTable::default(),
                mandatory: true,
            })
            .await
    }

    /// Publishes an event on the events exchange (routing key `document.filed` ...), confirmed. An event no
    /// one listens to is not an error.
    pub async fn publish_event(&self, event: &EventMessage) -> Result<()> {
        let body = event.to_body()?;
        self.shared
            .publish(Outgoing {
                exchange: &self.shared.names.events_exchange(),
                routing_key: event.event.routing_key(),
                body: &body,
                message_id: &event.document_id,
                headers: FieldTable::default(),
                mandatory: false,
            })
            .await
    }

    /// Consumes the work queues of `kinds`, STAT queues first, with `prefetch` unacknowledged deliveries
    /// per queue. The consumer reconnects by itself after a broker loss.
    pub async fn consume(&self, kinds: &[WorkKind], prefetch: u16) -> Result<Consumer> {
        crate::amqp_consumer::start(self.shared.clone(), kinds, prefetch).await
    }

    /// Up to `limit` dead letters, oldest first, left in the dead-letter queue.
    pub async fn list_dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        crate::dead_letters::list(&self.shared, limit).await
    }

    /// Puts the dead letters of `document_id` back on their work queue; returns how many.
    pub async fn replay(&self, document_id: &str) -> Result<usize> {
        crate::dead_letters::replay(&self.shared, Some(document_id)).await
    }

    /// Puts every dead letter back on its work queue; returns how many.
    pub async fn replay_all(&self) -> Result<usize> {
        crate::dead_letters::replay(&self.shared, None).await
    }

    /// Deletes every queue and exchange of the configured prefix, with their messages. For tests and
    /// decommissioning only.
    pub async fn delete_topology(&self) -> Result<()> {
        let channel = self.shared.fresh_channel().await?;
        let result = topology::delete(&channel, &self.shared.names).await;
        let _ = channel.close(200, "done".into()).await;
        *self.shared.session.lock().await = None;
        result
    }

    /// Closes the publishing connection after in-flight publishes were confirmed.
    pub async fn close(&self) {
        let _all = self
            .shared
            .window
            .acquire_many(self.shared.config.confirm_window as u32)
            .await;
        if let Some(session) = self.shared.session.lock().await.take() {
            let _ = session.connection.close(200, "closing".into()).await;
        }
    }
}

impl Shared {
    /// Opens one connection; `role` names it in the broker's connection list.
    pub(crate) async fn connect(&self, role: &str) -> Result<Connection> {
        let uri = parse_uri(&self.config)?;
        let name = format!("him-queue {} {role}", self.config.prefix);
        let properties = ConnectionProperties::default().with_connection_name(name.into());
        let connecting = Connection::connect_uri(uri, properties);
        match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(connection)) => Ok(connection),
            Ok(Err(error)) => Err(Error::from_lapin("connect", error)),
            Err(_) => Err(Error::Unavailable {
                operation: "connect",
                source: None,
            }),
        }
    }

    /// Connects with exponential backoff, at most `attempts` times (`None`: until it succeeds).
    pub(crate) async fn connect_with_backoff(
        &self,
        role: &str,
        attempts: Option<u32>,
    ) -> Result<Connection> {
        let mut attempt = 0;
        loop {
            match self.connect(role).await {
                Ok(connection) => return Ok(connection),
                Err(error) if !error.is_transient() => return Err(error),
                Err(error) => {
                    if attempts.is_some_and(|limit| attempt + 1 >= limit) {
                        return Err(error);
                    }
                    let wait = self.config.backoff(attempt);
                    warn!(
                        broker = %self.config.redacted_url(),
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "queue broker unreachable, retrying"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    /// The confirm-mode publishing channel, (re)connecting and declaring the topology when needed.
    async fn publish_channel(&self, attempts: u32) -> Result<Channel> {
        let mut session = self.session.lock().await;
        if let Some(current) = session.as_ref() {
            if current.channel.status().connected() {
                return Ok(current.channel.clone());
            }
            if current.connection.status().connected() {
                let channel = confirm_channel(&current.connection).await?;
                session.as_mut().expect("checked above").channel = channel.clone();
                return Ok(channel);
            }
        }
        *session = None;
        let connection = self
            .connect_with_backoff("publisher", Some(attempts))
            .await?;
        let channel = confirm_channel(&connection).await?;
        topology::declare(&channel, &self.names, self.config.delivery_limit).await?;
        debug!(broker = %self.config.redacted_url(), "queue publisher connected");
        *session = Some(Session {
            connection,
            channel: channel.clone(),
        });
        Ok(channel)
    }

    /// A new confirm-mode channel on the publishing connection, for one dead-letter operation.
    pub(crate) async fn fresh_channel(&self) -> Result<Channel> {
        self.publish_channel(PUBLISH_CONNECT_ATTEMPTS).await?;
        let session = self.session.lock().await;
        let session = session.as_ref().ok_or(Error::Unavailable {
            operation: "open channel",
            source: None,
        })?;
        confirm_channel(&session.connection).await
    }

    /// Publishes persistently and waits for the broker's confirm; a publish cut by a connection loss is
    /// retried once on a new connection (consumers are idempotent on the message id).
    pub(crate) async fn publish(&self, message: Outgoing<'_>) -> Result<()> {
        let _permit = self
            .window
            .acquire()
            .await
            .map_err(|_| Error::Unavailable {
                operation: "publish",
                source: None,
            })?;
        let mut retried = false;
        loop {
            let channel = self.publish_channel(PUBLISH_CONNECT_ATTEMPTS).await?;
            match publish_on(&channel, &message).await {
                Err(error @ Error::Unavailable { .. }) if !retried => {
                    warn!(document.id = %message.message_id, error = %error, "publish interrupted, retrying");
                    retried = true;
                }
                result => return result,
            }
        }
    }
}

/// Publishes `message` on `channel` (confirm mode) and interprets the confirm.
pub(crate) async fn publish_on(channel: &Channel, message: &Outgoing<'_>) -> Result<()> {
    let op = "publish";
    let properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_message_id(message.message_id.into())
        .with_headers(message.headers.clone());
    let options = BasicPublishOptions {
        mandatory: message.mandatory,
        ..BasicPublishOptions::default()
    };
    let confirm = channel
        .basic_publish(
            message.exchange.into(),
            message.routing_key.into(),
            options,
            message.body,
            properties,
        )
        .await
        .map_err(|error| Error::from_lapin(op, error))?
        .await
        .map_err(|error| Error::from_lapin(op, error))?;
    match confirm {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(_)) => Err(Error::Unroutable {
            document_id: message.message_id.to_string(),
            queue: message.routing_key.to_string(),
        }),
        Confirmation::Nack(_) | Confirmation::NotRequested => Err(Error::Nacked {
            document_id: message.message_id.to_string(),
        }),
    }
}

async fn confirm_channel(connection: &Connection) -> Result<Channel> {
    let channel = connection
        .create_channel()
        .await
        .map_err(|error| Error::from_lapin("open channel", error))?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|error| Error::from_lapin("confirm select", error))?;
    Ok(channel)
}

/// Parses the URL and applies the configured heartbeat unless the URL sets one.
fn parse_uri(config: &QueueConfig) -> Result<AMQPUri> {
    let mut uri = AMQPUri::from_str(&config.url).map_err(|_| Error::Config {
        detail: format!("invalid AMQP URL {}", config.redacted_url()),
    })?;
    if uri.query.heartbeat.is_none() {
        uri.query.heartbeat = Some(config.heartbeat_secs);
    }
    Ok(uri)
}

/// A header value as text, for the string-like AMQP types.
pub(crate) fn header_text(headers: &FieldTable, key: &str) -> Option<String> {
    match headers.inner().get(key)? {
        AMQPValue::LongString(text) => Some(String::from_utf8_lossy(text.as_bytes()).into_owned()),
        AMQPValue::ShortString(text) => Some(text.as_str().to_string()),
        _ => None,
    }
}

/// A header value as a number, for the integer AMQP types.
pub(crate) fn header_number(headers: &FieldTable, key: &str) -> Option<u64> {
    let number = match headers.inner().get(key)? {
        AMQPValue::ShortShortInt(n) => i64::from(*n),
        AMQPValue::ShortShortUInt(n) => i64::from(*n),
        AMQPValue::ShortInt(n) => i64::from(*n),
        AMQPValue::ShortUInt(n) => i64::from(*n),
        AMQPValue::LongInt(n) => i64::from(*n),
        AMQPValue::LongUInt(n) => i64::from(*n),
        AMQPValue::LongLongInt(n) => *n,
        _ => return None,
    };
    u64::try_from(number).ok()
}

pub(crate) fn text_value(text: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(text.as_bytes().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_comes_from_config_unless_in_url() {
        let config = QueueConfig::default();
        assert_eq!(parse_uri(&config).unwrap().query.heartbeat, Some(30));
        let config = QueueConfig {
            url: "amqp://127.0.0.1:5672/%2f?heartbeat=5".to_string(),
            ..QueueConfig::default()
        };
        assert_eq!(parse_uri(&config).unwrap().query.heartbeat, Some(5));
    }

    #[test]
    fn bad_url_error_is_redacted() {
        let config = QueueConfig {
            url: "amqp://user:hunter2@host:notaport/".to_string(),
            ..QueueConfig::default()
        };
        let error = parse_uri(&config).unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn headers_read_as_text_and_numbers() {
        let mut headers = FieldTable::default();
        headers.insert("a".into(), text_value("reason_code"));
        headers.insert("n".into(), AMQPValue::LongInt(3));
        assert_eq!(header_text(&headers, "a").as_deref(), Some("reason_code"));
        assert_eq!(header_number(&headers, "n"), Some(3));
        assert_eq!(header_number(&headers, "a"), None);
    }
}

//! Queue and exchange names, and their idempotent declaration on the broker.
//!
//! Work queues are durable quorum queues (replicated, and the only RabbitMQ queue type with a delivery
//! limit). Jobs that exceed `x-delivery-limit` or are rejected go through the fanout exchange `<prefix>.dlx`
//! to the quorum queue `<prefix>.dead-letter` (the broker's at-most-once dead-lettering; see
//! `work_queue_arguments`); the source queues refuse publishes when full (`x-overflow = reject-publish`)
//! rather than drop the oldest job.

use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

use crate::{Error, Result, WorkKind};

/// The names of every queue and exchange under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Names {
    prefix: String,
}

impl Names {
    pub(crate) fn new(prefix: &str) -> Self {
        Names {
            prefix: prefix.to_string(),
        }
    }

    /// `<prefix>.<kind>` or `<prefix>.<kind>.stat`.
    pub(crate) fn work_queue(&self, kind: WorkKind, stat: bool) -> String {
        let suffix = if stat { ".stat" } else { "" };
        format!("{}.{}{suffix}", self.prefix, kind.as_str())
    }

    /// Every work queue, STAT first.
    pub(crate) fn work_queues(&self) -> Vec<String> {
        let mut queues = Vec::new();
        for stat in [true, false] {
            for kind in WorkKind::ALL {
                queues.push(self.work_queue(kind, stat));
            }
        }
        queues
    }

    /// The kind whose work queue is `queue`, if it is one of ours.
    pub(crate) fn kind_of(&self, queue: &str) -> Option<WorkKind> {
        WorkKind::ALL.into_iter().find(|&kind| {
            queue == self.work_queue(kind, false) || queue == self.work_queue(kind, true)
        })
    }

    pub(crate) fn dead_letter_queue(&self) -> String {
        format!("{}.dead-letter", self.prefix)
    }

    pub(crate) fn dead_letter_exchange(&self) -> String {
        format!("{}.dlx", self.prefix)
    }

    pub(crate) fn events_exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

fn long_string(text: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(text.as_bytes().to_vec()))
}

/// Arguments of a work queue. Must stay identical between versions: RabbitMQ refuses a re-declaration with
/// different arguments (PRECONDITION_FAILED).
fn work_queue_arguments(names: &Names, delivery_limit: u32) -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert("x-queue-type".into(), long_string("quorum"));
    arguments.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongLongInt(i64::from(delivery_limit)),
    );
    arguments.insert(
        "x-dead-letter-exchange".into(),
        long_string(&names.dead_letter_exchange()),
    );
    // The broker's default at-most-once dead-lettering: RabbitMQ 3.10's at-least-once strategy needs a
    // supervisor that is missing after a node restart, after which no queue using it can be declared. Jobs
    // the worker gives up on are dead-lettered at least once by `Delivery::dead_letter` (a confirmed publish
    // before the ack); only jobs over the delivery limit take this path.
    arguments.insert("x-overflow".into(), long_string("reject-publish"));
    arguments
}

/// Declares every exchange and queue; safe to repeat on every connect.
pub(crate) async fn declare(channel: &Channel, names: &Names, delivery_limit: u32) -> Result<()> {
    let durable_exchange = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    let op = "topology declaration";
    let lapin_error = |error| Error::from_lapin(op, error);
    channel
        .exchange_declare(
            names.dead_letter_exchange().into(),
            ExchangeKind::Fanout,
            durable_exchange,
            FieldTable::default(),
        )
        .await
        .map_err(lapin_error)?;
    channel
        .exchange_declare(
            names.events_exchange().into(),
            ExchangeKind::Topic,
            durable_exchange,
            FieldTable::default(),
        )
        .await
        .map_err(lapin_error)?;
    let mut dead_letter_arguments = FieldTable::default();
    dead_letter_arguments.insert("x-queue-type".into(), long_string("quorum"));
    channel
        .queue_declare(
            names.dead_letter_queue().into(),
            durable_queue(),
            dead_letter_arguments,
        )
        .await
        .map_err(lapin_error)?;
    channel
        .queue_bind(
            names.dead_letter_queue().into(),
            names.dead_letter_exchange().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(lapin_error)?;
    for queue in names.work_queues() {
        channel
            .queue_declare(
                queue.into(),
                durable_queue(),
                work_queue_arguments(names, delivery_limit),
            )
            .await
            .map_err(lapin_error)?;
    }
    Ok(())
}

/// Deletes every queue and exchange of the prefix, with their messages (tests and decommissioning).
pub(crate) async fn delete(channel: &Channel, names: &Names) -> Result<()> {
    let op = "topology deletion";
    let mut queues = names.work_queues();
    queues.push(names.dead_letter_queue());
    for queue in queues {
        channel
            .queue_delete(queue.into(), QueueDeleteOptions::default())
            .await
            .map_err(|error| Error::from_lapin(op, error))?;
    }
    for exchange in [names.dead_letter_exchange(), names.events_exchange()] {
        channel
            .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
            .await
            .map_err(|error| Error::from_lapin(op, error))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prefix() {
        let names = Names::new("him");
        assert_eq!(names.work_queue(WorkKind::Charts, false), "him.charts");
        assert_eq!(
            names.work_queue(WorkKind::Dictations, true),
            "him.dictations.stat"
        );
        assert_eq!(
            names.work_queues(),
            [
                "him.charts.stat",
                "him.dictations.stat",
                "him.charts",
                "him.dictations"
            ]
        );
        assert_eq!(names.dead_letter_queue(), "him.dead-letter");
        assert_eq!(
            names.kind_of("him.dictations.stat"),
            Some(WorkKind::Dictations)
        );
        assert_eq!(names.kind_of("him.dead-letter"), None);
    }

    #[test]
    fn work_queues_are_quorum_with_a_delivery_limit() {
        let arguments = work_queue_arguments(&Names::new("t"), 5);
        let inner = arguments.inner();
        assert_eq!(
            inner.get("x-delivery-limit"),
            Some(&AMQPValue::LongLongInt(5))
        );
        assert_eq!(inner.get("x-queue-type"), Some(&long_string("quorum")));
        assert_eq!(
            inner.get("x-dead-letter-exchange"),
            Some(&long_string("t.dlx"))
        );
    }
}

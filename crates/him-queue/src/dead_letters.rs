//! Dead-letter tools on RabbitMQ: list without losing, replay with confirms.
//!
//! Both browse the dead-letter queue with basic.get on a channel of their own, holding every message they
//! look at unacknowledged, and return the ones they keep with basic.nack(requeue). The dead-letter queue has
//! no delivery limit, so returning messages there is harmless.

use lapin::message::Delivery as RawDelivery;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::Channel;
use tracing::{info, warn};

use crate::amqp::{header_number, header_text, Outgoing, Shared};
use crate::{DeadLetter, Error, JobMessage, Result};

/// Reads what `dlq list` shows from a dead-lettered message's headers.
///
/// Two paths lead here: `Delivery::dead_letter` (our copy, with `x-him-*` headers) and the broker's own
/// dead-lettering through the DLX (delivery limit exceeded, `x-first-death-*` and `x-death` headers).
pub(crate) fn describe(shared: &Shared, raw: &RawDelivery) -> DeadLetter {
    let headers = raw.properties.headers().clone().unwrap_or_default();
    let document_id = raw
        .properties
        .message_id()
        .as_ref()
        .map(|id| id.as_str().to_string())
        .unwrap_or_default();
    let first_death_queue = header_text(&headers, "x-him-queue")
        .or_else(|| header_text(&headers, "x-first-death-queue"))
        .unwrap_or_default();
    let reason = header_text(&headers, "x-him-reason")
        .or_else(|| header_text(&headers, "x-first-death-reason"))
        .unwrap_or_else(|| "unknown".to_string());
    let count = header_number(&headers, "x-him-deliveries")
        .or_else(|| broker_deliveries(shared, &headers, &reason))
        .and_then(|count| u32::try_from(count).ok())
        .unwrap_or(1);
    DeadLetter {
        document_id,
        kind: shared.names.kind_of(&first_death_queue),
        reason,
        count,
        first_death_queue,
    }
}

/// Deliveries of a job the broker dead-lettered: past the delivery limit that is the limit plus one;
/// otherwise the `x-death` count.
fn broker_deliveries(shared: &Shared, headers: &FieldTable, reason: &str) -> Option<u64> {
    if reason == "delivery_limit" {
        return Some(u64::from(shared.config.delivery_limit) + 1);
    }
    let AMQPValue::FieldArray(deaths) = headers.inner().get("x-death")? else {
        return None;
    };
    match deaths.as_slice().first()? {
        AMQPValue::FieldTable(death) => header_number(death, "count"),
        _ => None,
    }
}

/// Takes up to `limit` messages from the dead-letter queue, unacknowledged.
async fn browse(shared: &Shared, channel: &Channel, limit: usize) -> Result<Vec<RawDelivery>> {
    let queue = shared.names.dead_letter_queue();
    let mut taken = Vec::new();
    while taken.len() < limit {
        let got = channel
            .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false })
            .await
            .map_err(|error| Error::from_lapin("basic.get", error))?;
        let Some(message) = got else { break };
        let remaining = message.message_count;
        taken.push(message.delivery);
        if remaining == 0 {
            break;
        }
    }
    Ok(taken)
}

async fn give_back(kept: &[RawDelivery]) {
    let requeue = BasicNackOptions {
        requeue: true,
        ..BasicNackOptions::default()
    };
    for raw in kept {
        if let Err(error) = raw.acker.nack(requeue).await {
            warn!(%error, "dead letter not returned now; it returns when the channel closes");
        }
    }
}

pub(crate) async fn list(shared: &Shared, limit: usize) -> Result<Vec<DeadLetter>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let channel = shared.fresh_channel().await?;
    let browsed = browse(shared, &channel, limit).await;
    let listed = match &browsed {
        Ok(taken) => taken.iter().map(|raw| describe(shared, raw)).collect(),
        Err(_) => Vec::new(),
    };
    if let Ok(taken) = &browsed {
        give_back(taken).await;
    }
    // Closing also returns anything a failed nack left behind.
    let _ = channel.close(200, "dead letters listed".into()).await;
    browsed.map(|_| listed)
}

/// Replays the dead letters of `document_id` (all when `None`) to the work queue they died in.
/// Messages whose body is not a valid job stay in the dead-letter queue: replaying them cannot help.
pub(crate) async fn replay(shared: &Shared, document_id: Option<&str>) -> Result<usize> {
    let channel = shared.fresh_channel().await?;
    let result = replay_on(shared, &channel, document_id).await;
    let _ = channel.close(200, "dead letters replayed".into()).await;
    result
}

async fn replay_on(shared: &Shared, channel: &Channel, document_id: Option<&str>) -> Result<usize> {
    let taken = browse(shared, channel, usize::MAX).await?;
    let mut kept = Vec::new();
    let mut replayed = 0;
    let mut failure = None;
    for raw in taken {
        let letter = describe(shared, &raw);
        let wanted = document_id.is_none_or(|id| id == letter.document_id);
        let target = shared
            .names
            .kind_of(&letter.first_death_queue)
            .map(|_| letter.first_death_queue.clone());
        let valid = JobMessage::from_body(&raw.data).is_ok();
        let (true, Some(queue), true, None) = (wanted, target, valid, &failure) else {
            kept.push(raw);
            continue;
        };
        let published = shared
            .publish(Outgoing {
                exchange: "",
                routing_key: &queue,
                body: &raw.data,
                message_id: &letter.document_id,
                headers: FieldTable::default(),
                mandatory: true,
            })
            .await;
        match published {
            Ok(()) => {
                raw.acker
                    .ack(BasicAckOptions::default())
                    .await
                    .map_err(|error| Error::from_lapin("basic.ack", error))?;
                info!(document.id = %letter.document_id, queue = %queue, "dead letter replayed");
                replayed += 1;
            }
            Err(error) => {
                failure = Some(error);
                kept.push(raw);
            }
        }
    }
    give_back(&kept).await;
    match failure {
        Some(error) => Err(error),
        None => Ok(replayed),
    }
}

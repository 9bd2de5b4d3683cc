//! `him adt`: the ADT listener. Patient registrations and updates (A01, A04, A08, A28, A31), merges (A40)
//! and identifier changes (A47) arrive over MLLP; each becomes one create-only change record in the store
//! ([`him_patients`]) and is acknowledged (AA) only after that write succeeded. A message received twice
//! (same MSH-10 from the same MSH-3/MSH-4) is acknowledged again and changes nothing. Other ADT events are
//! acknowledged and ignored; anything unreadable or incomplete is answered AE with the rule it broke (never a
//! value). Workers, the review server and the deliverer pick the changes up within seconds.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;
use tracing::{info, warn};

use him_patients::{self as mpi, ChangeRecord, MpiChange, PatientRow};
use him_store::{Store, Written};

use crate::config::Hl7Config;
use crate::hex;
use crate::hl7::{self, AckCode, Message, MllpCodec};

/// What one ADT message asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Interpreted {
    Change(MpiChange),
    /// An event the index does not follow (A03 discharge, …): acknowledged, nothing written.
    Ignored,
}

/// Reads an ADT message; the error is the rule broken (no values).
pub fn interpret(message: &Message) -> Result<Interpreted, &'static str> {
    let Some((kind, trigger)) = message.message_type() else {
        return Err("MSH-9 has no message type");
    };
    if kind != "ADT" {
        return Err("not an ADT message");
    }
    let mrn = || pid_mrn(message).ok_or("PID-3 has no usable MRN");
    match trigger {
        "A01" | "A04" | "A08" | "A28" | "A31" => {
            let mrn = mrn()?;
            let family = message
                .component("PID", 5, 1)
                .map(|v| hl7::unescape(v, &message.encoding))
                .unwrap_or_default();
            if family.trim().is_empty() {
                return Err("PID-5 has no family name");
            }
            let given: Vec<String> = [2, 3]
                .iter()
                .filter_map(|n| message.component("PID", 5, *n))
                .map(|v| hl7::unescape(v, &message.encoding))
                .flat_map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                .collect();
            let birth_date = match message
                .field("PID", 7)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
            {
                Some(value) => Some(hl7_date(value).ok_or("PID-7 is not a date")?),
                None => None,
            };
            let sex = message
                .field("PID", 8)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string);
            Ok(Interpreted::Change(MpiChange::Upsert {
                patient: PatientRow {
                    mrn,
                    family: family.trim().to_string(),
                    given,
                    birth_date,
                    sex,
                },
                encounter: pv1_visit_number(message),
            }))
        }
        "A40" | "A47" => {
            let survivor = mrn()?;
            let old = message
                .component("MRG", 1, 1)
                .map(|v| hl7::unescape(v, &message.encoding))
                .map(|v| v.trim().to_string())
                .filter(|v| him_core::Mrn::parse(v).is_some())
                .ok_or("MRG-1 has no usable MRN")?;
            if trigger == "A40" {
                Ok(Interpreted::Change(MpiChange::Merge {
                    survivor,
                    merged: old,
                }))
            } else {
                Ok(Interpreted::Change(MpiChange::ChangeId {
                    from: old,
                    to: survivor,
                }))
            }
        }
        _ => Ok(Interpreted::Ignored),
    }
}

/// The MRN of PID-3: the repetition whose identifier type (component 5) is `MR`, else the first.
fn pid_mrn(message: &Message) -> Option<String> {
    let field = message.field("PID", 3)?;
    let encoding = &message.encoding;
    let repetitions: Vec<&str> = field.split(encoding.repetition).collect();
    let pick = repetitions
        .iter()
        .find(|rep| rep.split(encoding.component).nth(4) == Some("MR"))
        .or(repetitions.first())?;
    let value = hl7::unescape(pick.split(encoding.component).next()?, encoding);
    let value = value.trim().to_string();
    him_core::Mrn::parse(&value).map(|_| value)
}

/// The visit number of PV1-19 (first repetition, ID component), when it is a usable identifier (letters,
/// digits, `- _ .` or spaces, 1 to 64). A registration with an unusable one is still taken, without it.
fn pv1_visit_number(message: &Message) -> Option<String> {
    let field = message.field("PV1", 19)?;
    let encoding = &message.encoding;
    let first = field.split(encoding.repetition).next()?;
    let value = hl7::unescape(first.split(encoding.component).next()?, encoding);
    let value = value.trim();
    let usable = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
    usable.then(|| value.to_string())
}

/// `YYYYMMDD[HHMM…]` → `YYYY-MM-DD`.
fn hl7_date(value: &str) -> Option<String> {
    let digits = value.get(..8)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let iso = format!("{}-{}-{}", &digits[..4], &digits[4..6], &digits[6..8]);
    him_extract::Date::parse_iso(&iso).map(|_| iso)
}

/// MSH-10 of a message too broken to parse, when its first segment still reads as an MSH: the field separator
/// after `MSH`, the tenth field. Only printable ASCII without the encoding characters is echoed.
fn readable_control_id(text: &str) -> Option<&str> {
    let rest = text
        .trim_start_matches(['\r', '\n', ' ', '\u{feff}'])
        .strip_prefix("MSH")?;
    let separator = rest.chars().next().filter(|c| c.is_ascii_punctuation())?;
    let first = rest.split(['\r', '\n']).next()?;
    let id = first.split(separator).nth(9)?;
    let plain = !id.is_empty()
        && id.len() <= 199
        && id
            .chars()
            .all(|c| c.is_ascii_graphic() && !"^~\\&|".contains(c));
    plain.then_some(id)
}

/// Handles one received message: the ACK to send back.
pub async fn handle(store: &Store, payload: &[u8]) -> Message {
    let timestamp = chrono::Utc::now().format("%Y%m%d%H%M%S").to_string();
    let ack_id = format!("A{}", &hex(&Sha256::digest(payload))[..19]);
    let text = match std::str::from_utf8(payload) {
        Ok(text) => text.to_string(),
        Err(_) => String::from_utf8_lossy(payload).into_owned(),
    };
    let message = match Message::parse(&text) {
        Ok(message) => message,
        Err(_) => {
            // An AR that echoes the sender's control id when its MSH can still be read, else an empty MSA-2
            // (never an id nobody sent).
            warn!(bytes = payload.len(), "adt: unreadable message");
            let control_id = readable_control_id(&text).unwrap_or_default();
            let stub = Message {
                encoding: Default::default(),
                segments: vec![hl7::Segment {
                    id: "MSH".to_string(),
                    fields: [
                        "|", "^~\\&", "", "", "", "", "", "", "ACK", control_id, "P", "2.5.1",
                    ]
                    .map(String::from)
                    .to_vec(),
                }],
            };
            return hl7::ack(
                &stub,
                AckCode::Reject,
                &ack_id,
                &timestamp,
                Some("unreadable HL7"),
            );
        }
    };
    let control_id = message.control_id().unwrap_or_default().to_string();
    if control_id.is_empty() {
        return hl7::ack(
            &message,
            AckCode::Error,
            &ack_id,
            &timestamp,
            Some("MSH-10 is empty"),
        );
    }
    let message_type = message
        .message_type()
        .map(|(kind, trigger)| format!("{kind}^{trigger}"))
        .unwrap_or_default();
    let change = match interpret(&message) {
        Ok(Interpreted::Change(change)) => change,
        Ok(Interpreted::Ignored) => {
            info!(message_type = %message_type, "adt: event not followed; acknowledged");
            return hl7::ack(&message, AckCode::Accept, &ack_id, &timestamp, None);
        }
        Err(rule) => {
            warn!(message_type = %message_type, rule, "adt: refused");
            return hl7::ack(&message, AckCode::Error, &ack_id, &timestamp, Some(rule));
        }
    };
    let sender = format!(
        "{}^{}",
        message.field("MSH", 3).unwrap_or_default(),
        message.field("MSH", 4).unwrap_or_default()
    );
    let id = hex(&Sha256::digest(format!("{sender}|{control_id}").as_bytes()))[..32].to_string();
    let record = ChangeRecord {
        id,
        received_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        sender,
        control_id,
        message_type: message_type.clone(),
        change,
    };
    match mpi::record_change(store, &record).await {
        Ok(Written::Created) => {
            info!(message_type = %message_type, change = %record.id, "adt: change committed");
            hl7::ack(&message, AckCode::Accept, &ack_id, &timestamp, None)
        }
        Ok(Written::AlreadyExisted) => {
            info!(message_type = %message_type, change = %record.id, "adt: duplicate message; acknowledged, ignored");
            hl7::ack(&message, AckCode::Accept, &ack_id, &timestamp, None)
        }
        Err(error) => {
            // Not committed: the sender must send it again.
            warn!(error = %error, "adt: store write failed; answering AR");
            hl7::ack(
                &message,
                AckCode::Reject,
                &ack_id,
                &timestamp,
                Some("store unavailable; send again"),
            )
        }
    }
}

async fn connection(store: Store, stream: TcpStream, max_frame: usize) {
    let mut framed = Framed::new(stream, MllpCodec::new(max_frame));
    loop {
        // An idle connection is closed after 10 minutes.
        let next = tokio::time::timeout(Duration::from_secs(600), framed.next()).await;
        let payload = match next {
            Ok(Some(Ok(payload))) => payload,
            Ok(Some(Err(error))) => {
                warn!(error = %error, "adt: connection dropped");
                return;
            }
            Ok(None) | Err(_) => return,
        };
        let ack = handle(&store, &payload).await;
        if let Err(error) = framed.send(ack.encode().as_bytes()).await {
            warn!(error = %error, "adt: cannot send the acknowledgement");
            return;
        }
    }
}

/// Listens on `[hl7] listen` until `shutdown` resolves.
pub async fn listen(
    store: Store,
    config: &Hl7Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen.trim())
        .await
        .with_context(|| format!("cannot listen on {}", config.listen.trim()))?;
    info!(address = %listener.local_addr()?, "adt: listening");
    let max_frame = config.max_frame_bytes;
    let connections = Arc::new(tokio::sync::Semaphore::new(64));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        warn!(error = %error, "adt: accept failed");
                        continue;
                    }
                };
                let Ok(permit) = Arc::clone(&connections).acquire_owned().await else { continue };
                let store = store.clone();
                tokio::spawn(async move {
                    connection(store, stream, max_frame).await;
                    drop(permit);
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adt(trigger: &str, rest: &str) -> Message {
        Message::parse(&format!(
            "MSH|^~\\&|REG|HOSP|HIM|HOSP|20261201120000||ADT^{trigger}^ADT_A01|m-1|P|2.5.1\r{rest}"
        ))
        .unwrap()
    }

    #[test]
    fn registrations_merges_and_identifier_changes_are_read() {
        let message = adt(
            "A04",
            "EVN|A04\rPID|1||X9^^^OTHER^PI~4081121^^^HOSP^MR||O'Keefe^Karena^Lou||19570314|F\r",
        );
        assert_eq!(
            interpret(&message),
            Ok(Interpreted::Change(MpiChange::Upsert {
                patient: PatientRow {
                    mrn: "4081121".into(),
                    family: "O'Keefe".into(),
                    given: vec!["Karena".into(), "Lou".into()],
                    birth_date: Some("1957-03-14".into()),
                    sex: Some("F".into()),
                },
                encounter: None,
            }))
        );
        // The visit number of PV1-19 comes with the registration.
        let admit = adt(
            "A01",
            "PID|1||4081121^^^HOSP^MR||O'Keefe^Karena||19570314|F\rPV1|1|I|W^1^1||||||||||||||||V-9001^^^HOSP^VN~X^^^OTHER\r",
        );
        assert!(matches!(
            interpret(&admit),
            Ok(Interpreted::Change(MpiChange::Upsert { encounter: Some(ref e), .. })) if e == "V-9001"
        ));
        let garbled = adt(
            "A08",
            "PID|1||4081121||O'Keefe^Karena\rPV1|1|I|||||||||||||||||V\\F\\1\r",
        );
        assert!(matches!(
            interpret(&garbled),
            Ok(Interpreted::Change(MpiChange::Upsert {
                encounter: None,
                ..
            }))
        ));
        let merge = adt(
            "A40",
            "PID|1||1001^^^HOSP^MR||Doe^Ann\rMRG|1002^^^HOSP^MR\r",
        );
        assert_eq!(
            interpret(&merge),
            Ok(Interpreted::Change(MpiChange::Merge {
                survivor: "1001".into(),
                merged: "1002".into()
            }))
        );
        let change = adt("A47", "PID|1||2001^^^HOSP^MR||Doe^Ann\rMRG|1001\r");
        assert_eq!(
            interpret(&change),
            Ok(Interpreted::Change(MpiChange::ChangeId {
                from: "1001".into(),
                to: "2001".into()
            }))
        );
        assert_eq!(
            interpret(&adt("A03", "PID|1||1001\r")),
            Ok(Interpreted::Ignored)
        );
        assert!(interpret(&adt("A40", "PID|1||1001\r")).is_err());
        assert!(interpret(&adt("A01", "PID|1||1001||Doe||1957-99\r")).is_err());
        assert!(interpret(&adt("A01", "PID|1||||Doe\r")).is_err());
    }

    #[tokio::test]
    async fn a_change_is_acknowledged_once_written_and_a_duplicate_changes_nothing() {
        let store = Store::in_memory();
        let text = "MSH|^~\\&|REG|HOSP|HIM|HOSP|20261201120000||ADT^A40^ADT_A39|m-7|P|2.5.1\rPID|1||1001^^^HOSP^MR||Doe^Ann\rMRG|1002\r";
        let first = handle(&store, text.as_bytes()).await;
        assert_eq!(hl7::check_ack(&first, "m-7"), Ok(AckCode::Accept));
        let second = handle(&store, text.as_bytes()).await;
        assert_eq!(hl7::check_ack(&second, "m-7"), Ok(AckCode::Accept));
        assert_eq!(mpi::changes(&store).await.unwrap().len(), 1);
        let bad = handle(
            &store,
            b"MSH|^~\\&|REG|HOSP|HIM|HOSP|1||ADT^A40|m-8|P|2.5.1\rPID|1||1001\r",
        )
        .await;
        assert_eq!(hl7::check_ack(&bad, "m-8"), Ok(AckCode::Error));
        assert_eq!(mpi::changes(&store).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_unreadable_message_is_rejected_naming_its_own_control_id_or_none() {
        // Regression: the AR named the control id `x`, which nobody sent.
        let store = Store::in_memory();
        let broken = handle(
            &store,
            b"MSH|^~\\&|REG|HOSP|HIM|HOSP|1||ADT^A01|m-5|P|2.5.1\rp!d|1\r",
        )
        .await;
        assert_eq!(hl7::check_ack(&broken, "m-5"), Ok(AckCode::Reject));
        for garbage in [&b"\x00\xff not hl7"[..], b"MSH", b"MSH|^~\\&|a|b\rzz"] {
            let answer = handle(&store, garbage).await;
            let msa = answer.segment("MSA").expect("an MSA");
            assert_eq!(msa.fields[0], "AR");
            assert_eq!(msa.fields[1], "", "MSA-2 for {garbage:?}");
            assert_eq!(answer.control_id().map(str::len), Some(20));
        }
        assert!(mpi::changes(&store).await.unwrap().is_empty());
    }
}

//! Untrusted HL7 v2 from the EHR side: MLLP framing, message parsing, ACK reading, and the whole ADT intake
//! (`him adt`: interpret, record the change in a store, answer an ACK) over an in-memory store.
#![no_main]

use him_interfaces::hl7::{self, Message, MllpDecoder};
use libfuzzer_sys::fuzz_target;

#[path = "support.rs"]
mod support;
use support::runtime;

fuzz_target!(|data: &[u8]| {
    let mut decoder = MllpDecoder::new(64 * 1024);
    let _ = decoder.push(data);
    let text = String::from_utf8_lossy(data);
    if let Ok(message) = Message::parse(&text) {
        let _ = message.encode();
        let _ = hl7::ack_detail(&message);
        let _ = hl7::check_ack(&message, "CTRL-1");
        let _ = him_interfaces::adt::interpret(&message);
        if let Some(value) = message.field("PID", 5) {
            let _ = hl7::unescape(value, &message.encoding);
        }
    }
    let store = him_store::Store::in_memory();
    let ack = runtime().block_on(him_interfaces::adt::handle(&store, data));
    let _ = ack.encode();
});

//! Untrusted queue messages: a job or an event as JSON, then its validation.
#![no_main]

use him_queue::{EventMessage, JobMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(job) = serde_json::from_slice::<JobMessage>(data) {
        let _ = job.validate();
    }
    if let Ok(event) = serde_json::from_slice::<EventMessage>(data) {
        let _ = event.validate();
    }
});

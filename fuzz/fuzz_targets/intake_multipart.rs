//! Untrusted station uploads: the intake API's multipart form (file, stat, job demographics) as a station
//! would send it, through the real router into an in-memory store and queue. Any answer is fine; a panic, a
//! hang or a 5xx on a body that is merely malformed is a finding.
#![no_main]

use std::collections::HashMap;

use axum::body::Body;
use axum::http::Request;
use him::config::IntakeConfig;
use him::intake_api::{intake_router, station_tokens, IntakeState};
use libfuzzer_sys::fuzz_target;

#[path = "support.rs"]
mod support;
use support::runtime;
use tower::ServiceExt;

const TOKEN: &str = "fuzz-station-token-0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    // The first byte picks the framing: the fuzzer's bytes as the whole body, or as the file part of a
    // well-formed form (so hashing, sniffing, storing and queueing behind it are reached too).
    let (mode, rest) = data.split_first().unwrap_or((&0, &[]));
    let boundary = "him-fuzz-boundary";
    let body = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(rest);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        body
    };
    let env = HashMap::from([("HIM_STATION_TOKENS".to_string(), format!("scan-01:{TOKEN}"))]);
    let state = IntakeState {
        store: him_store::Store::in_memory(),
        queue: him_queue::Queue::in_memory(&him_queue::QueueConfig::default()),
        tokens: station_tokens(&env, &IntakeConfig::default()).expect("tokens"),
        max_upload_bytes: 64 * 1024,
    };
    let request = Request::post("/api/v1/intake")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .expect("a request");
    let response = runtime()
        .block_on(intake_router(state).oneshot(request))
        .expect("infallible");
    assert!(
        !response.status().is_server_error(),
        "a malformed upload answered {}",
        response.status()
    );
});

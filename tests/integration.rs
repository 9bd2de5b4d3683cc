//! Integration tests: the real `him` binary against real tesseract and a real store.
//!
//! One test binary with a module per area (ripgrep's layout). Nothing here skips: a missing engine, language
//! pack or fixture fails the test with a message that says what to install.

#[path = "integration/bad_input.rs"]
mod bad_input;
#[path = "integration/batch.rs"]
mod batch;
#[path = "integration/charts.rs"]
mod charts;
#[path = "integration/dictation.rs"]
mod dictation;
#[path = "integration/doctor.rs"]
mod doctor;
#[path = "integration/filing.rs"]
mod filing;
#[path = "integration/identity.rs"]
mod identity;
#[path = "integration/interfaces.rs"]
mod interfaces;
#[path = "integration/logs.rs"]
mod logs;
#[path = "integration/service.rs"]
mod service;
#[path = "integration/support.rs"]
mod support;

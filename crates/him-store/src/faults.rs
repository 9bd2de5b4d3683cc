//! Fault injection for tests of the callers' error handling (feature `testsuite`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use crate::{Error, Result};

/// How injected writes fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The store is unreachable: retrying later may succeed.
    Unavailable,
    /// The store refuses the write (permissions): retrying will not help.
    Refused,
}

/// The next `count` writes fail with `fault`; later writes succeed.
#[derive(Debug, Default)]
pub struct Faults {
    remaining: AtomicU32,
    fault: Mutex<Option<Fault>>,
}

impl Faults {
    /// Makes the next `count` writes fail with `fault`.
    pub fn fail_writes(&self, fault: Fault, count: u32) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = Some(fault);
        self.remaining.store(count, Ordering::SeqCst);
    }

    pub(crate) fn next_write(&self, shown: &str) -> Result<()> {
        let taken = self
            .remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if taken.is_err() {
            return Ok(());
        }
        let fault = *self.fault.lock().unwrap_or_else(|p| p.into_inner());
        let key = shown.to_string();
        Err(match fault {
            Some(Fault::Refused) => Error::Refused {
                key,
                source: object_store::Error::PermissionDenied {
                    path: "injected".to_string(),
                    source: "injected refusal".into(),
                },
            },
            _ => Error::Unavailable {
                key,
                source: object_store::Error::Generic {
                    store: "injected",
                    source: "injected outage".into(),
                },
            },
        })
    }
}

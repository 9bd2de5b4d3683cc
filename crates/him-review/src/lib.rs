//! The HIM review web UI of `him`: the last stage of `… → match → file → review`.
//!
//! Health Information Management staff work a queue of filed documents here: they check OCR'd charts
//! against their page images (low-confidence words and the sources of extracted fields are boxed), listen
//! to dictations beside their transcripts, correct fields and text, assign unmatched charts to patients,
//! and approve, return or reject. Every decision is written to the record store create-only, beside the
//! document, and every view and action to an append-only audit log.
//!
//! - [`router`] and [`serve`]: the axum application over an [`AppState`].
//! - [`Db`]: the review database of accounts, sessions, the queue index and the audit index, an SQLite
//!   file or a PostgreSQL server shared by several review servers;
//!   [`add_user`], [`set_password`], [`set_disabled`], [`list_users`], and [`unlock`] / [`locked_out`] of
//!   the login throttling, for the CLI; [`probe_database`] looks at it without changing it (`him doctor`).
//! - [`reindex`] rebuilds the queue index from the store (the store stays the source of truth);
//!   [`apply_event`] applies a pipeline event.
//! - [`authorize`]: the review state machine, in one place ([`Decision`], [`ReviewStatus`]): every
//!   decision needs the caller's live claim; an approved document takes only new linked versions.
//! - [`decide`]: every decision ([`Command`]) over a [`ReviewContext`] (store, database, patient index,
//!   configuration, clock), apart from the web layer: the store writes, create-only, each checked by
//!   [`authorize`] under one write lock. [`approve`], [`correct`], [`return_document`], [`add_addendum`],
//!   [`sign`], [`save_edit`] and [`move_to_patient`] are its wrappers over an [`AppState`].
//! - [`Patients`]: the patient index documents are (re)assigned to.
//! - [`follow_events`]: keeps the queue index current from the pipeline's `document.*` events.
//!
//! The outbox each decision writes to and the FHIR `DocumentReference` beside each approved version are
//! [`him_interfaces`]'; the patient index with its ADT changes is [`him_patients`].
//!
//! ```no_run
//! # async fn run() -> him_review::Result<()> {
//! use him_review::{add_user, serve, Db, ReviewConfig, Role};
//! use him_store::Store;
//! let config = ReviewConfig::default();
//! let db = Db::connect(&config.database, config.database_connections)?;
//! add_user(&db, "ana", Role::Supervisor, "a long passphrase", None)?;
//! let store = Store::local(std::path::Path::new("store"))?;
//! // The queue index follows the pipeline's events on this broker; `None` relies on the periodic refresh.
//! let queue = Some(him_queue::QueueConfig::default());
//! serve(config, store, him_review::Patients::default(), queue).await
//! # }
//! ```

mod accounts;
mod audit;
pub mod clocks;
mod config;
mod context;
mod db;
mod decide;
mod document;
mod error;
mod events;
mod filed_check;
mod password;
mod patients;
mod probe;
mod queue;
mod reassign;
mod review;
mod sessions;
mod summary;
mod throttle;
mod web;
mod workflow;

pub use accounts::{add_user, list_users, set_disabled, set_password, Role, User};
pub use audit::{record_audit, search_audit, AuditEvent, AuditQuery};
pub use config::ReviewConfig;
pub use context::{Clock, ReviewContext};
pub use db::{create_test_database, drop_test_database, is_postgres_url, Db, Dialect};
pub use decide::{decide, Command, Outcome};
pub use error::{Error, Result};
pub use events::{connect_and_follow, follow_events};
pub use patients::{PatientView, Patients};
pub use probe::{probe_database, DatabaseProbe};
pub use queue::{
    apply_event, awaiting_signature, break_claim, catch_up, claim, filed_cursor, find_document,
    follow_filed, list_page, list_queue, rebuild, reindex, reindex_search_words, release,
    QueueFilter, QueueItem, QueueList, QueuePage, PAGE_SIZE,
};
pub use reassign::{move_to_patient, Moved};
pub use review::{
    add_addendum, approve, correct, return_document, save_edit, sign, Approval, ReturnKind,
    ReviewInput,
};
pub use summary::rebuild_turnaround_counters;
pub use throttle::{locked_out, unlock, Lockout};
pub use web::{metrics_router, router, serve, AppState};
pub use workflow::{authorize, normalize_author, Actor, Decision, ReviewStatus, Situation};

//! `him deliver`: sends the outbox's events ([`crate::outbox`]) to every configured destination —
//! HL7 v2.5.1 MDM over MLLP (`[hl7] send_to`) and FHIR R4 (`[fhir] base_url`) — exactly once in effect.
//!
//! Everything it does is a create-only record in the store, under `outbox/<destination>/`:
//!
//! ```text
//! prepared/<event>.json     the messages of one event, rendered once (HL7 text with its control id; FHIR
//!                           operations); a resend after a crash sends these same bytes, same control id
//! acks/<event>.<k>.json     message k acknowledged (AA, or the FHIR status and resource id)
//! done/<event>.json         every message of the event acknowledged
//! dead/<event>.<n>.json     dead letter n: a permanent failure (AE, HTTP 4xx) with its reason
//! replays/<event>.<n>.json  a supervisor's replay of dead letter n (`him interfaces replay`)
//! ```
//!
//! Killed at any point, it starts again from these records: a message sent but not yet recorded as
//! acknowledged is sent again with the same control id (the receiver can drop it); FHIR writes are
//! idempotent (PUT with a fixed id, create conditional on the masterIdentifier). Events of one document go
//! out in order: while one waits for a retry or sits in the dead letters, the later ones of its document
//! wait too. Logs name event ids, destinations, codes and durations, never patient data.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine as _;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use him_patients::LiveIndex;

use crate::hex;
use crate::outbox::{self, OutboxAction, OutboxEvent};
use him_store::{
    Folder, Follower, IndexEntry, Key, Prefix, RecordState, Stamp, Store, Stream, Written,
};

use crate::config::{DeliverConfig, FhirConfig, Hl7Config};
use crate::fhir::{self, DocumentReference, FhirReference, Identifier};
use crate::hl7::{self, AckCode, Endpoints, MdmDocument, MdmEvent};

/// Why a message did not go through.
#[derive(Debug)]
pub enum Failure {
    /// Try again later (receiver down, timeout, AR, HTTP 5xx).
    Transient(String),
    /// Never going through as it is (AE, HTTP 4xx, content missing): a dead letter.
    Permanent(String),
}

/// One message of an event, as rendered for a destination.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// An HL7 MDM message, sent byte for byte as rendered.
    Mdm {
        control_id: String,
        trigger: String,
        message: String,
    },
    /// PUT `Binary/<id>` with the document's original.
    Binary { id: String, location: Folder },
    /// Create (conditional on `identifier`) or update the DocumentReference of one version to its newest
    /// state in the store.
    Reference {
        location: Folder,
        version: u32,
        /// The masterIdentifier value.
        identifier: String,
        /// Appended to the identifiers of the versions it relates to (same folder).
        suffix: String,
        binary_id: String,
    },
}

/// `prepared/<event>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Prepared {
    event_id: String,
    ops: Vec<Op>,
}

/// `acks/<event>.<k>.json`: one message of an event acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
enum Ack {
    /// An MDM message the receiver accepted (AA), with the round trip in milliseconds.
    Mdm {
        ack: String,
        at: String,
        control_id: String,
        ms: u64,
    },
    /// A FHIR write: the HTTP status and the server's id of the resource; `unchanged` when the server held
    /// it as it is already, `updated` when it was brought up to date.
    Fhir {
        at: String,
        id: String,
        op: FhirOp,
        status: u16,
        #[serde(default, skip_serializing_if = "is_false")]
        unchanged: bool,
        #[serde(default, skip_serializing_if = "is_false")]
        updated: bool,
    },
}

/// What a FHIR acknowledgement is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FhirOp {
    Binary,
    Reference,
}

/// What a FHIR write did to the server's resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// Written (created, or put with our id).
    Written,
    /// The server held it as it is already.
    Unchanged,
    /// The server held an older state; it was brought up to date.
    Updated,
}

impl Ack {
    /// A FHIR write acknowledged now.
    fn fhir(op: FhirOp, status: u16, id: &str, change: Change) -> Self {
        Ack::Fhir {
            at: now(),
            id: id.to_string(),
            op,
            status,
            unchanged: change == Change::Unchanged,
            updated: change == Change::Updated,
        }
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// `done/<event>.json`: every message of the event acknowledged. Fields default when absent: `him
/// interfaces` reads only `at`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Done {
    #[serde(default)]
    at: String,
    #[serde(default)]
    event_id: String,
    #[serde(default)]
    messages: usize,
}

/// `dead/<event>.<n>.json`: dead letter n of an event, with the permanent failure's reason (which may
/// quote the receiver: never logged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DeadLetter {
    action: OutboxAction,
    #[serde(default)]
    at: Option<String>,
    document_id: String,
    event_id: String,
    #[serde(default)]
    reason: Option<String>,
}

/// `replays/<event>.<n>.json`: a supervisor's replay of dead letter n.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Replay {
    at: String,
    by: String,
    event_id: String,
}

/// `checkpoints/<yyyy-mm-dd>.json`: see [`checkpoint_key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Checkpoint {
    at: String,
    day: String,
}

/// What the deliverer reads of a `moved.json` tombstone: where the document went.
#[derive(Debug, Clone, Deserialize)]
struct MovedTo {
    location: String,
}

/// The status of one destination (`him interfaces`), one JSON line each: what is after its checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DestinationStatus {
    /// Events after the checkpoint not done there and not dead-lettered.
    pub backlog: usize,
    /// The newest day up to which every event is done or dead-lettered there (`YYYY-MM-DD`); `None` before
    /// the deliverer's first checkpoint (then the counts cover the whole outbox).
    pub checkpoint: Option<String>,
    /// The events sitting in its dead letters, whatever their age.
    pub dead_letters: Vec<DeadLetterStatus>,
    /// Events after the checkpoint done there.
    pub delivered: usize,
    /// `hl7` or `fhir`.
    pub destination: String,
    /// Events journaled after the checkpoint.
    pub events: usize,
    /// When the newest event after the checkpoint was done there; `None` when none was.
    pub last_success: Option<String>,
}

/// One dead-lettered event of a destination (`him interfaces`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetterStatus {
    pub action: OutboxAction,
    /// When it was dead-lettered.
    pub at: Option<String>,
    pub event_id: String,
    /// The permanent failure (may quote the receiver).
    pub reason: Option<String>,
}

/// A destination of the outbox.
pub enum Destination {
    Hl7(Hl7Destination),
    Fhir(FhirDestination),
}

impl Destination {
    /// `hl7` or `fhir`: the folder of its records under `outbox/`.
    pub fn name(&self) -> &'static str {
        match self {
            Destination::Hl7(_) => "hl7",
            Destination::Fhir(_) => "fhir",
        }
    }
}

pub struct Hl7Destination {
    address: String,
    endpoints: Endpoints,
    authority: String,
    timeout: Duration,
    max_frame: usize,
    embed_original: bool,
}

pub struct FhirDestination {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
}

/// The destinations configured; none is an error for `him deliver`.
pub fn destinations(
    hl7: &Hl7Config,
    fhir: &FhirConfig,
    env: &HashMap<String, String>,
) -> anyhow::Result<Vec<Destination>> {
    let mut destinations = Vec::new();
    if !hl7.send_to.trim().is_empty() {
        destinations.push(Destination::Hl7(Hl7Destination {
            address: hl7.send_to.trim().to_string(),
            endpoints: Endpoints {
                sending_application: hl7.sending_application.clone(),
                sending_facility: hl7.sending_facility.clone(),
                receiving_application: hl7.receiving_application.clone(),
                receiving_facility: hl7.receiving_facility.clone(),
            },
            authority: hl7.assigning_authority.clone(),
            timeout: Duration::from_secs_f64(hl7.ack_timeout_s),
            max_frame: hl7.max_frame_bytes,
            embed_original: hl7.embed_original,
        }));
    }
    if !fhir.base_url.trim().is_empty() {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs_f64(fhir.timeout_s))
            .build()
            .context("cannot build the FHIR HTTP client")?;
        destinations.push(Destination::Fhir(FhirDestination {
            base: fhir.base_url.trim().trim_end_matches('/').to_string(),
            token: env.get(&fhir.token_env).filter(|t| !t.is_empty()).cloned(),
            client,
        }));
    }
    Ok(destinations)
}

fn record_key(destination: &str, state: RecordState, name: &str) -> anyhow::Result<Key> {
    Key::outbox_record(destination, state, name).context("outbox key")
}

fn records_of(destination: &str, state: RecordState) -> Prefix {
    Prefix::OutboxRecords {
        destination: destination.to_string(),
        state,
    }
}

/// What the records of one destination say.
#[derive(Debug, Default)]
struct Records {
    done: HashSet<String>,
    /// Event id → number of dead letters.
    dead: HashMap<String, u32>,
    /// Event id → number of replays.
    replays: HashMap<String, u32>,
}

impl Records {
    fn is_dead(&self, event_id: &str) -> bool {
        self.dead.get(event_id).copied().unwrap_or(0)
            > self.replays.get(event_id).copied().unwrap_or(0)
    }
}

/// `<event>` or `<event>.<n>` from a record key's last segment.
fn record_event(key: &Key) -> Option<(String, Option<u32>)> {
    let Key::Outbox(outbox) = key else {
        return None;
    };
    let file = outbox.record_file()?.strip_suffix(".json")?;
    match file.rsplit_once('.') {
        Some((event, n)) => Some((event.to_string(), n.parse().ok())),
        None => Some((file.to_string(), None)),
    }
}

/// The dead letters and replays of a destination (what failed, not what went through: these grow with
/// failures, not with history).
async fn dead_letters(store: &Store, destination: &str) -> anyhow::Result<Records> {
    let mut records = Records::default();
    for (state, counts) in [
        (RecordState::Dead, &mut records.dead),
        (RecordState::Replays, &mut records.replays),
    ] {
        for key in store.list(&records_of(destination, state)).await? {
            if let Some((event, Some(_))) = record_event(&key) {
                *counts.entry(event).or_default() += 1;
            }
        }
    }
    Ok(records)
}

/// `outbox/<destination>/checkpoints/<yyyy-mm-dd>.json`: every event journaled on that day or before is done
/// or dead-lettered at that destination. A deliverer starts reading the journal after the oldest of its
/// destinations' newest checkpoints (a destination added later has none: it gets the whole outbox).
fn checkpoint_key(destination: &str, day: chrono::NaiveDate) -> anyhow::Result<Key> {
    record_key(
        destination,
        RecordState::Checkpoints,
        &format!("{day}.json"),
    )
}

async fn newest_checkpoint(
    store: &Store,
    destination: &str,
) -> anyhow::Result<Option<chrono::NaiveDate>> {
    Ok(store
        .list(&records_of(destination, RecordState::Checkpoints))
        .await?
        .iter()
        .filter_map(|key| {
            let Key::Outbox(outbox) = key else {
                return None;
            };
            let day = outbox.record_file()?.strip_suffix(".json")?;
            chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
        })
        .max())
}

/// A follower of the outbox journal from the day after `checkpoint`; from its start when there is none.
fn after_checkpoint(checkpoint: Option<chrono::NaiveDate>) -> Follower {
    match checkpoint.and_then(|day| day.succ_opt()) {
        Some(next) => Follower::resume(
            Stream::Outbox,
            outbox::JOURNAL_LAG,
            Stamp::from(next.and_time(chrono::NaiveTime::MIN).and_utc()),
        ),
        None => Follower::new(Stream::Outbox, outbox::JOURNAL_LAG),
    }
}

/// Why a stored object does not read: its key (redacted) and where it fails, never what it holds.
fn unreadable(key: &Key, error: serde_json::Error) -> String {
    let fhir::Unparsed { what, line, column } = error.into();
    format!("{key} is unreadable: {what} at line {line} column {column}")
}

/// Reads and deserialises a stored record, `None` when there is none; one that does not read is an error
/// ([`unreadable`]).
async fn read_json<T: DeserializeOwned>(store: &Store, key: &Key) -> anyhow::Result<Option<T>> {
    match store.get_opt(key).await? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| anyhow::anyhow!(unreadable(key, error))),
        None => Ok(None),
    }
}

/// [`read_json`] for a delivery: a store failure is transient (tried again later), a record that does not
/// read is permanent (a dead letter naming the key and where it fails).
async fn read_record<T: DeserializeOwned>(store: &Store, key: &Key) -> Result<Option<T>, Failure> {
    match store.get_opt(key).await {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| Failure::Permanent(unreadable(key, error))),
        Ok(None) => Ok(None),
        Err(error) => Err(Failure::Transient(format!(
            "store: {:#}",
            anyhow::Error::from(error)
        ))),
    }
}

/// Writes a record that must not exist yet (pretty-printed JSON).
async fn create_json<T: Serialize>(store: &Store, key: &Key, value: &T) -> anyhow::Result<Written> {
    let bytes = Bytes::from(serde_json::to_vec_pretty(value)?);
    Ok(store.put_new(key, bytes).await?)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Outcome counts of one pass over the outbox.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pass {
    /// Events delivered to a destination in this pass.
    pub delivered: usize,
    /// Events waiting for a retry (or behind one of their document).
    pub pending: usize,
    /// Events dead-lettered in this pass.
    pub dead_lettered: usize,
    /// Events sitting in the dead letters (or behind one of their document).
    pub dead: usize,
}

/// Works through the outbox.
pub struct Deliverer {
    store: Store,
    patients: Arc<LiveIndex>,
    destinations: Vec<Destination>,
    config: DeliverConfig,
    /// (destination, event) → failures so far and when to try again.
    retries: HashMap<(&'static str, String), (u32, Instant)>,
    /// Where the deliverer stands in the outbox journal; `None` before the first pass.
    follower: Option<Follower>,
    /// The events read from the journal and not yet done at every destination, oldest first.
    backlog: Vec<OutboxEvent>,
    /// The ids of the backlog's events: admitting an event costs the same however long the backlog is (a
    /// destination added later starts with the whole outbox in it).
    backlog_ids: HashSet<String>,
    /// (destination, event) done, for the events of the backlog.
    done: HashSet<(&'static str, String)>,
    /// Destination → its newest checkpoint written or found.
    checkpoints: HashMap<&'static str, chrono::NaiveDate>,
}

impl Deliverer {
    pub fn new(
        store: Store,
        patients: Arc<LiveIndex>,
        destinations: Vec<Destination>,
        config: DeliverConfig,
    ) -> Self {
        Deliverer {
            store,
            patients,
            destinations,
            config,
            retries: HashMap::new(),
            follower: None,
            backlog: Vec::new(),
            backlog_ids: HashSet::new(),
            done: HashSet::new(),
            checkpoints: HashMap::new(),
        }
    }

    /// The names of the destinations, in order.
    pub fn destination_names(&self) -> Vec<&'static str> {
        self.destinations.iter().map(Destination::name).collect()
    }

    /// Runs until `shutdown` resolves: a pass, then a wait (the poll interval, or until the next retry).
    pub async fn run(
        &mut self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        tokio::pin!(shutdown);
        loop {
            let pass = match self.pass().await {
                Ok(pass) => pass,
                Err(error) => {
                    warn!(error = %format!("{error:#}"), "outbox pass failed; trying again");
                    Pass::default()
                }
            };
            if pass.delivered > 0 || pass.dead_lettered > 0 {
                info!(
                    delivered = pass.delivered,
                    pending = pass.pending,
                    dead_lettered = pass.dead_lettered,
                    "outbox pass"
                );
            }
            let wait = if pass.delivered > 0 {
                Duration::ZERO
            } else {
                let next_retry = self
                    .retries
                    .values()
                    .map(|(_, at)| at.saturating_duration_since(Instant::now()))
                    .min();
                let poll = Duration::from_secs_f64(self.config.poll_interval_s);
                next_retry.map_or(poll, |retry| retry.min(poll))
            };
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {}
            }
        }
    }

    /// Reads what is new in the outbox journal into the backlog. The first time: from the day after the
    /// newest checkpoint (the whole journal when there is none), with the dead-lettered events of every
    /// destination (which hold back their documents' later events however old they are).
    async fn catch_up(&mut self) -> anyhow::Result<()> {
        let mut follower = match self.follower.take() {
            Some(follower) => follower,
            None => {
                outbox::ensure_journaled(&self.store).await?;
                let mut start: Option<chrono::NaiveDate> = None;
                let mut everywhere = true;
                for destination in &self.destinations {
                    match newest_checkpoint(&self.store, destination.name()).await? {
                        Some(day) => {
                            self.checkpoints.insert(destination.name(), day);
                            start = Some(start.map_or(day, |start| start.min(day)));
                        }
                        None => everywhere = false,
                    }
                }
                let start = start.filter(|_| everywhere);
                let mut dead = HashSet::new();
                for destination in &self.destinations {
                    let records = dead_letters(&self.store, destination.name()).await?;
                    dead.extend(
                        records
                            .dead
                            .keys()
                            .filter(|event| records.is_dead(event))
                            .cloned(),
                    );
                }
                for event_id in dead {
                    if let Some(event) = outbox::event(&self.store, &event_id).await? {
                        self.admit(event).await?;
                    }
                }
                after_checkpoint(start)
            }
        };
        let read = outbox::follow(&self.store, &mut follower).await;
        self.follower = Some(follower);
        for event in read? {
            self.admit(event).await?;
        }
        self.backlog
            .sort_by(|a, b| (&a.at, &a.event_id).cmp(&(&b.at, &b.event_id)));
        Ok(())
    }

    /// Puts an event in the backlog (once), noting where it is done already.
    async fn admit(&mut self, event: OutboxEvent) -> anyhow::Result<()> {
        if self.backlog_ids.contains(&event.event_id) {
            return Ok(());
        }
        let mut everywhere = true;
        for destination in &self.destinations {
            let name = destination.name();
            let done_key =
                record_key(name, RecordState::Done, &format!("{}.json", event.event_id))?;
            if self.store.exists(&done_key).await? {
                self.done.insert((name, event.event_id.clone()));
            } else {
                everywhere = false;
            }
        }
        if !everywhere {
            self.backlog_ids.insert(event.event_id.clone());
            self.backlog.push(event);
        }
        Ok(())
    }

    /// Drops the events done everywhere from the backlog, and writes each destination's checkpoint: the last
    /// day whose events are all done or dead-lettered there (and past the journal's window).
    async fn settle(&mut self, dead: &HashSet<(&'static str, String)>) -> anyhow::Result<()> {
        let names = self.destination_names();
        let done = &self.done;
        let finished = |event: &OutboxEvent| {
            names
                .iter()
                .all(|name| done.contains(&(*name, event.event_id.clone())))
        };
        let (gone, kept): (Vec<OutboxEvent>, Vec<OutboxEvent>) = std::mem::take(&mut self.backlog)
            .into_iter()
            .partition(|event| finished(event));
        self.backlog = kept;
        for event in gone {
            self.backlog_ids.remove(&event.event_id);
            for name in &names {
                self.done.remove(&(*name, event.event_id.clone()));
            }
        }
        let visible = Stamp::now().before(outbox::JOURNAL_LAG).day();
        for name in names {
            let open = self
                .backlog
                .iter()
                .filter(|event| {
                    let key = (name, event.event_id.clone());
                    !self.done.contains(&key) && !dead.contains(&key)
                })
                .filter_map(|event| Stamp::parse(&event.at))
                .map(Stamp::day)
                .min()
                .map_or(visible, |day| day.min(visible));
            let Some(day) = open.pred_opt() else {
                continue;
            };
            if self
                .checkpoints
                .get(name)
                .is_none_or(|newest| *newest < day)
            {
                create_json(
                    &self.store,
                    &checkpoint_key(name, day)?,
                    &Checkpoint {
                        at: now(),
                        day: day.to_string(),
                    },
                )
                .await?;
                self.checkpoints.insert(name, day);
            }
        }
        Ok(())
    }

    /// One pass: what is new in the journal is read, then every event of the backlog not done for a
    /// destination is tried once (when its retry time has come). Costs what is new and what is pending,
    /// never the outbox's history.
    pub async fn pass(&mut self) -> anyhow::Result<Pass> {
        self.catch_up().await?;
        let events = self.backlog.clone();
        let mut pass = Pass::default();
        let mut dead_anywhere: HashSet<(&'static str, String)> = HashSet::new();
        for index in 0..self.destinations.len() {
            let name = self.destinations[index].name();
            let mut records = dead_letters(&self.store, name).await?;
            records.done = events
                .iter()
                .filter(|event| self.done.contains(&(name, event.event_id.clone())))
                .map(|event| event.event_id.clone())
                .collect();
            // Documents with an earlier event not done: later events of theirs wait.
            let mut held: HashSet<String> = HashSet::new();
            for event in &events {
                if records.done.contains(&event.event_id) {
                    continue;
                }
                if held.contains(&event.document_id) {
                    if records.is_dead(&event.event_id) {
                        pass.dead += 1;
                    } else {
                        pass.pending += 1;
                    }
                    continue;
                }
                if records.is_dead(&event.event_id) {
                    held.insert(event.document_id.clone());
                    dead_anywhere.insert((name, event.event_id.clone()));
                    pass.dead += 1;
                    continue;
                }
                let retry_key = (name, event.event_id.clone());
                if let Some((_, at)) = self.retries.get(&retry_key) {
                    if *at > Instant::now() {
                        held.insert(event.document_id.clone());
                        pass.pending += 1;
                        continue;
                    }
                }
                let started = Instant::now();
                match self.deliver(index, event).await {
                    Ok(()) => {
                        self.retries.remove(&retry_key);
                        self.done.insert((name, event.event_id.clone()));
                        pass.delivered += 1;
                        info!(
                            destination = name,
                            event = %event.event_id,
                            action = event.action.as_str(),
                            ms = started.elapsed().as_millis() as u64,
                            "delivered"
                        );
                    }
                    Err(Failure::Transient(reason)) => {
                        let failures = self.retries.get(&retry_key).map_or(0, |(n, _)| *n) + 1;
                        let wait = (self.config.retry_initial_s
                            * 2f64.powi(failures.saturating_sub(1).min(30) as i32))
                        .min(self.config.retry_max_s);
                        self.retries.insert(
                            retry_key,
                            (failures, Instant::now() + Duration::from_secs_f64(wait)),
                        );
                        held.insert(event.document_id.clone());
                        pass.pending += 1;
                        warn!(
                            destination = name,
                            event = %event.event_id,
                            failures,
                            retry_in_s = wait,
                            reason = %reason,
                            "delivery failed; will retry"
                        );
                    }
                    Err(Failure::Permanent(reason)) => {
                        self.retries.remove(&retry_key);
                        let dead = records.dead.get(&event.event_id).copied().unwrap_or(0) + 1;
                        let key = record_key(
                            name,
                            RecordState::Dead,
                            &format!("{}.{dead}.json", event.event_id),
                        )
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                        create_json(
                            &self.store,
                            &key,
                            &DeadLetter {
                                action: event.action,
                                at: Some(now()),
                                document_id: event.document_id.clone(),
                                event_id: event.event_id.clone(),
                                reason: Some(reason.clone()),
                            },
                        )
                        .await?;
                        held.insert(event.document_id.clone());
                        dead_anywhere.insert((name, event.event_id.clone()));
                        pass.dead_lettered += 1;
                        pass.dead += 1;
                        // The receiver's words stay in the record: they may quote the message.
                        let code = reason.split(':').next().unwrap_or_default();
                        warn!(destination = name, event = %event.event_id, code = %code, "dead letter");
                    }
                }
            }
        }
        self.settle(&dead_anywhere).await?;
        Ok(pass)
    }

    /// Prepares (once) and sends every message of `event` not yet acknowledged, in order, then writes `done`.
    async fn deliver(&self, index: usize, event: &OutboxEvent) -> Result<(), Failure> {
        let destination = &self.destinations[index];
        let name = destination.name();
        let io = |error: anyhow::Error| Failure::Transient(format!("store: {error:#}"));
        let prepared_key = record_key(
            name,
            RecordState::Prepared,
            &format!("{}.json", event.event_id),
        )
        .map_err(io)?;
        let prepared = match read_record::<Prepared>(&self.store, &prepared_key).await? {
            Some(prepared) => prepared,
            None => {
                let ops = match destination {
                    Destination::Hl7(hl7) => self.prepare_hl7(hl7, event).await?,
                    Destination::Fhir(_) => self.prepare_fhir(event).await.map_err(io)?,
                };
                let prepared = Prepared {
                    event_id: event.event_id.clone(),
                    ops,
                };
                // Create-only: a record another deliverer wrote meanwhile wins, and is what is sent.
                match create_json(&self.store, &prepared_key, &prepared)
                    .await
                    .map_err(io)?
                {
                    Written::Created => prepared,
                    Written::AlreadyExisted => read_record::<Prepared>(&self.store, &prepared_key)
                        .await?
                        .ok_or_else(|| {
                            Failure::Transient("prepared record vanished".to_string())
                        })?,
                }
            }
        };
        for (k, op) in prepared.ops.iter().enumerate() {
            let ack_key = record_key(
                name,
                RecordState::Acks,
                &format!("{}.{k}.json", event.event_id),
            )
            .map_err(io)?;
            if self
                .store
                .exists(&ack_key)
                .await
                .map_err(|e| io(e.into()))?
            {
                continue;
            }
            let ack = match (destination, op) {
                (
                    Destination::Hl7(hl7),
                    Op::Mdm {
                        control_id,
                        message,
                        ..
                    },
                ) => send_mdm(hl7, control_id, message).await?,
                (Destination::Fhir(fhir), op) => self.send_fhir(fhir, op).await?,
                (Destination::Hl7(_), _) => {
                    return Err(Failure::Permanent("not an HL7 message".to_string()))
                }
            };
            create_json(&self.store, &ack_key, &ack).await.map_err(io)?;
        }
        let done_key =
            record_key(name, RecordState::Done, &format!("{}.json", event.event_id)).map_err(io)?;
        create_json(
            &self.store,
            &done_key,
            &Done {
                at: now(),
                event_id: event.event_id.clone(),
                messages: prepared.ops.len(),
            },
        )
        .await
        .map_err(io)?;
        Ok(())
    }

    /// The masterIdentifier (and TXA-12) suffix of versions in `location`: none in the document's first patient
    /// folder (where an unmatched document was assigned), a short hash of the folder after a move to another
    /// patient (so that the moved versions are new documents to the EHR).
    async fn suffix(&self, document_id: &str, location: &Folder) -> anyhow::Result<String> {
        let id = him_core::DocumentId::parse(document_id).context("document id")?;
        // JSON that is not an index entry is as good as none (the folder gets a suffix).
        let first = match self.store.get_opt(&Key::Index(id.clone())).await? {
            Some(bytes) => match serde_json::from_slice::<IndexEntry>(&bytes) {
                Ok(entry) => Some(entry.location),
                Err(error) if error.is_data() => None,
                Err(error) => anyhow::bail!(unreadable(&Key::Index(id), error)),
            },
            None => None,
        };
        // An unmatched document is first announced in the folder it was assigned to.
        let first = match first {
            Some(folder @ Folder::Patient(..)) => Some(folder),
            Some(other) => read_json::<MovedTo>(&self.store, &other.moved())
                .await?
                .and_then(|moved| Folder::parse(&moved.location)),
            None => None,
        };
        Ok(if first.as_ref() == Some(location) {
            String::new()
        } else {
            let digest = Sha256::digest(location.location().as_bytes());
            format!("-{}", hex(&digest[..4]))
        })
    }

    async fn prepare_fhir(&self, event: &OutboxEvent) -> anyhow::Result<Vec<Op>> {
        let binary_id = format!("him-{}", event.document_id);
        let reference = |location: &Folder, version: u32, suffix: &str| Op::Reference {
            location: location.clone(),
            version,
            identifier: format!("{}-v{version}{suffix}", event.document_id),
            suffix: suffix.to_string(),
            binary_id: binary_id.clone(),
        };
        let here = self.suffix(&event.document_id, &event.location).await?;
        let binary = Op::Binary {
            id: binary_id.clone(),
            location: event.location.clone(),
        };
        let mut ops = Vec::new();
        match event.action {
            OutboxAction::Approved => {
                ops.push(binary);
                ops.extend(
                    event
                        .versions
                        .iter()
                        .map(|v| reference(&event.location, *v, &here)),
                );
            }
            OutboxAction::Signed => {
                ops.extend(
                    event
                        .versions
                        .iter()
                        .map(|v| reference(&event.location, *v, &here)),
                );
            }
            OutboxAction::Addendum | OutboxAction::Corrected => {
                ops.extend(
                    event
                        .versions
                        .iter()
                        .map(|v| reference(&event.location, *v, &here)),
                );
                if let Some(parent) = event.parent {
                    ops.push(reference(&event.location, parent, &here));
                }
            }
            OutboxAction::Reassigned => {
                if let Some(from) = &event.from {
                    let there = self.suffix(&event.document_id, from).await?;
                    ops.extend(event.cancelled.iter().map(|v| reference(from, *v, &there)));
                }
                ops.push(binary);
                ops.extend(
                    event
                        .versions
                        .iter()
                        .map(|v| reference(&event.location, *v, &here)),
                );
            }
        }
        Ok(ops)
    }

    async fn prepare_hl7(
        &self,
        hl7: &Hl7Destination,
        event: &OutboxEvent,
    ) -> Result<Vec<Op>, Failure> {
        let io = |error: anyhow::Error| Failure::Transient(format!("store: {error:#}"));
        let here = self
            .suffix(&event.document_id, &event.location)
            .await
            .map_err(io)?;
        let mut messages: Vec<(MdmEvent, Folder, u32, Option<u32>, String)> = Vec::new();
        let location = &event.location;
        match event.action {
            OutboxAction::Approved => {
                for v in &event.versions {
                    messages.push((MdmEvent::Original, location.clone(), *v, None, here.clone()));
                }
            }
            OutboxAction::Signed => {
                for v in &event.versions {
                    messages.push((MdmEvent::Signed, location.clone(), *v, None, here.clone()));
                }
            }
            OutboxAction::Addendum | OutboxAction::Corrected => {
                let kind = if event.action == OutboxAction::Addendum {
                    MdmEvent::Addendum
                } else {
                    MdmEvent::Replacement
                };
                for v in &event.versions {
                    messages.push((kind, location.clone(), *v, event.parent, here.clone()));
                }
            }
            OutboxAction::Reassigned => {
                if let Some(from) = &event.from {
                    let there = self.suffix(&event.document_id, from).await.map_err(io)?;
                    for v in &event.cancelled {
                        messages.push((MdmEvent::Cancel, from.clone(), *v, None, there.clone()));
                    }
                }
                for v in &event.versions {
                    messages.push((MdmEvent::Original, location.clone(), *v, None, here.clone()));
                }
            }
        }
        let timestamp = chrono::Utc::now().format("%Y%m%d%H%M%S").to_string();
        let mut ops = Vec::new();
        for (k, (kind, folder, version, parent, suffix)) in messages.into_iter().enumerate() {
            let control_id = control_id(&event.event_id, k);
            let message = self
                .render_mdm(
                    hl7,
                    kind,
                    &event.document_id,
                    &folder,
                    version,
                    parent,
                    &suffix,
                    &control_id,
                    &timestamp,
                )
                .await?;
            ops.push(Op::Mdm {
                control_id,
                trigger: kind.trigger().to_string(),
                message,
            });
        }
        Ok(ops)
    }

    #[allow(clippy::too_many_arguments)]
    async fn render_mdm(
        &self,
        hl7: &Hl7Destination,
        kind: MdmEvent,
        document_id: &str,
        folder: &Folder,
        version: u32,
        parent: Option<u32>,
        suffix: &str,
        control_id: &str,
        timestamp: &str,
    ) -> Result<String, Failure> {
        let io = |error: anyhow::Error| Failure::Transient(format!("store: {error:#}"));
        let reference = newest_reference(&self.store, folder, version)
            .await?
            .ok_or_else(|| {
                Failure::Permanent(format!("version {version} has no DocumentReference"))
            })?;
        let text_key = folder
            .version_object(version, "text.txt")
            .ok_or_else(|| Failure::Permanent("version key".to_string()))?;
        let text = match self
            .store
            .get_opt(&text_key)
            .await
            .map_err(|e| io(e.into()))?
        {
            Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            None => return Err(Failure::Permanent(format!("version {version} has no text"))),
        };
        let mrn = folder
            .mrn()
            .map(|m| m.as_str().to_string())
            .ok_or_else(|| {
                Failure::Permanent("the document is not in a patient folder".to_string())
            })?;
        let index = self.patients.current();
        let records = index.by_mrn(&mrn);
        let patient = match records.as_slice() {
            [one] => Some(*one),
            _ => None,
        };
        let family = patient.map(|p| p.family.clone()).unwrap_or_default();
        let given = patient.map(|p| p.given.join(" ")).unwrap_or_default();
        let birth = patient
            .and_then(|p| p.birth_date)
            .map(|d| d.to_string().replace('-', ""))
            .unwrap_or_default();
        let sex = patient
            .and_then(|p| p.sex.as_deref())
            .map(hl7_sex)
            .unwrap_or_default();
        let coding = reference.type_coding();
        let code = coding
            .and_then(|c| c.code.as_deref())
            .unwrap_or("UNK")
            .to_string();
        let display = coding
            .and_then(|c| c.display.as_deref())
            .unwrap_or("")
            .to_string();
        let service = reference
            .period_start()
            .map(|d| d.replace('-', ""))
            .unwrap_or_default();
        let author = reference.author_name();
        let encounter = reference.encounter_value();
        let completion = if reference.is_preliminary() {
            "DO"
        } else if reference.authenticator.is_some() {
            "LA"
        } else {
            "AU"
        };
        let unique = format!("{document_id}-v{version}{suffix}");
        let parent_number = parent.map(|p| format!("{document_id}-v{p}{suffix}"));
        let document = MdmDocument {
            mrn: &mrn,
            authority: &hl7.authority,
            family: &family,
            given: &given,
            birth_date: &birth,
            sex: &sex,
            encounter,
            document_type: (&code, &display),
            service_date: &service,
            author,
            unique_number: &unique,
            parent_number: parent_number.as_deref(),
            completion_status: completion,
            text: &text,
        };
        let mut message = hl7::mdm(kind, &document, &hl7.endpoints, control_id, timestamp);
        if hl7.embed_original && matches!(kind, MdmEvent::Original | MdmEvent::Replacement) {
            if let Some((bytes, media_type)) = original(&self.store, folder).await.map_err(io)? {
                if media_type == "application/pdf" {
                    hl7::append_pdf(&mut message, &bytes);
                }
            }
        }
        Ok(message.encode())
    }

    async fn send_fhir(&self, fhir: &FhirDestination, op: &Op) -> Result<Ack, Failure> {
        let io = |error: anyhow::Error| Failure::Transient(format!("store: {error:#}"));
        match op {
            Op::Binary { id, location } => {
                let Some((bytes, media_type)) =
                    original(&self.store, location).await.map_err(io)?
                else {
                    return Err(Failure::Permanent(
                        "the document has no original".to_string(),
                    ));
                };
                let body = Binary {
                    content_type: media_type,
                    data: base64::engine::general_purpose::STANDARD.encode(&bytes),
                    id,
                    resource_type: "Binary",
                };
                let status = fhir.put(&format!("Binary/{id}"), &body).await?;
                Ok(Ack::fhir(FhirOp::Binary, status, id, Change::Written))
            }
            Op::Reference {
                location,
                version,
                identifier,
                suffix,
                binary_id,
            } => {
                let stored = newest_reference(&self.store, location, *version)
                    .await?
                    .ok_or_else(|| {
                        Failure::Permanent(format!("version {version} has no DocumentReference"))
                    })?;
                let text = match location.version_object(*version, "text.txt") {
                    Some(key) => self.store.get_opt(&key).await.map_err(|e| io(e.into()))?,
                    None => None,
                };
                let desired = for_push(&stored, identifier, suffix, binary_id, text.as_deref());
                let system = desired.identifier_system().unwrap_or(DEFAULT_SYSTEM);
                let condition = format!("identifier={system}|{identifier}");
                let (status, body) = fhir
                    .request(
                        reqwest::Method::POST,
                        "DocumentReference",
                        Some(&desired),
                        Some(&condition),
                    )
                    .await?;
                let existing = if status == 200 {
                    // It existed: the server answers with it (or a search bundle naming it).
                    match body["resourceType"].as_str() {
                        Some("Bundle") => body["entry"][0]["resource"].clone(),
                        _ => body,
                    }
                } else {
                    let id = body["id"].as_str().unwrap_or_default();
                    return Ok(Ack::fhir(FhirOp::Reference, status, id, Change::Written));
                };
                let id = existing["id"].as_str().unwrap_or_default().to_string();
                if id.is_empty() {
                    return Err(Failure::Permanent(
                        "the server named no existing DocumentReference".to_string(),
                    ));
                }
                // The server's resource, as it answered it (the wire form, read as JSON).
                let authenticator = desired
                    .authenticator
                    .as_ref()
                    .and_then(|a| serde_json::to_value(a).ok());
                let same = existing["status"].as_str() == Some(desired.status.as_str())
                    && existing["docStatus"].as_str() == Some(desired.doc_status.as_str())
                    && existing.get("authenticator") == authenticator.as_ref();
                if same {
                    return Ok(Ack::fhir(FhirOp::Reference, status, &id, Change::Unchanged));
                }
                let update = DocumentReference {
                    id: Some(id.clone()),
                    ..desired
                };
                let status = fhir
                    .put(&format!("DocumentReference/{id}"), &update)
                    .await?;
                Ok(Ack::fhir(FhirOp::Reference, status, &id, Change::Updated))
            }
            Op::Mdm { .. } => Err(Failure::Permanent("not a FHIR operation".to_string())),
        }
    }
}

impl FhirDestination {
    /// PUT a resource at `path` (create-or-update with our id, or an update): the HTTP status.
    async fn put(&self, path: &str, body: &impl Serialize) -> Result<u16, Failure> {
        let (status, _) = self
            .request(reqwest::Method::PUT, path, Some(body), None)
            .await?;
        Ok(status)
    }

    /// One request; 2xx → status and body; 5xx, 408, 429, 401, 403 and network errors are transient,
    /// other 4xx permanent (the reason names the status and the OperationOutcome's issue codes only).
    /// The resource sent is serialised here, at the wire; the server's answer is read as plain JSON (any
    /// resource, a Bundle or an OperationOutcome), null when it is not JSON.
    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&impl Serialize>,
        if_none_exist: Option<&str>,
    ) -> Result<(u16, serde_json::Value), Failure> {
        let url = format!("{}/{path}", self.base);
        let mut request = self
            .client
            .request(method.clone(), &url)
            .header("Accept", "application/fhir+json");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(condition) = if_none_exist {
            request = request.header("If-None-Exist", condition);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/fhir+json")
                .body(serde_json::to_vec(body).unwrap_or_default());
        }
        let response = request.send().await.map_err(|e| {
            Failure::Transient(format!("{method} {}: {}", resource_of(path), kind_of(&e)))
        })?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        if (200..300).contains(&status) {
            return Ok((status, value));
        }
        let codes: Vec<&str> = value["issue"]
            .as_array()
            .map(|issues| issues.iter().filter_map(|i| i["code"].as_str()).collect())
            .unwrap_or_default();
        let reason = format!(
            "{method} {} answered HTTP {status}{}",
            resource_of(path),
            if codes.is_empty() {
                String::new()
            } else {
                format!(" ({})", codes.join(", "))
            }
        );
        if status >= 500 || matches!(status, 401 | 403 | 408 | 429) {
            Err(Failure::Transient(reason))
        } else {
            Err(Failure::Permanent(reason))
        }
    }
}

fn resource_of(path: &str) -> &str {
    path.split(['/', '?']).next().unwrap_or(path)
}

fn kind_of(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}

/// Sends one MDM message; AA → its acknowledgement record, AE → permanent, AR / timeout / I/O → transient.
async fn send_mdm(hl7: &Hl7Destination, control_id: &str, message: &str) -> Result<Ack, Failure> {
    let parsed = hl7::Message::parse(message)
        .map_err(|e| Failure::Permanent(format!("prepared message unreadable: {e}")))?;
    let started = Instant::now();
    match hl7::send(&hl7.address, &parsed, hl7.timeout, hl7.max_frame).await {
        Ok((AckCode::Accept, _)) => Ok(Ack::Mdm {
            ack: "AA".to_string(),
            at: now(),
            control_id: control_id.to_string(),
            ms: started.elapsed().as_millis() as u64,
        }),
        Ok((AckCode::Error, detail)) => Err(Failure::Permanent(format!("AE: {detail}"))),
        Ok((AckCode::Reject, _)) => Err(Failure::Transient("AR".to_string())),
        Err(error) if error.is_transient() => Err(Failure::Transient(error.to_string())),
        Err(error) => Err(Failure::Permanent(error.to_string())),
    }
}

/// `H` + 19 hex digits of SHA-256 of the event id and message number: 20 characters (MSH-10's length in
/// v2.5.1), the same on every resend.
fn control_id(event_id: &str, k: usize) -> String {
    let digest = Sha256::digest(format!("{event_id}|{k}").as_bytes());
    let mut id = String::from("H");
    id.push_str(&hex(&digest)[..19]);
    id
}

/// Lower-case hex of `bytes`.
/// PID-8 from the index's sex or gender.
fn hl7_sex(sex: &str) -> String {
    match sex.trim().to_ascii_lowercase().as_str() {
        "m" | "male" => "M",
        "f" | "female" => "F",
        "o" | "other" => "O",
        _ => "U",
    }
    .to_string()
}

/// The newest state of a version's DocumentReference (`DocumentReference-<seq>.json` with the highest seq,
/// else `DocumentReference.json`). A store failure is transient; a stored resource that does not read is
/// permanent (it will not read better later), its reason naming where it fails, never what it holds.
async fn newest_reference(
    store: &Store,
    folder: &Folder,
    version: u32,
) -> Result<Option<DocumentReference>, Failure> {
    let prefix = Prefix::Folder(folder.clone(), Some("versions"));
    let wanted = format!("versions/{version}/DocumentReference");
    let mut newest: Option<(u32, Key)> = None;
    let listed = store
        .list(&prefix)
        .await
        .map_err(|e| Failure::Transient(format!("store: {:#}", anyhow::Error::from(e))))?;
    for key in listed {
        let Some(name) = key.name() else { continue };
        let Some(rest) = name.strip_prefix(&wanted) else {
            continue;
        };
        let seq = match rest {
            ".json" => 0,
            other => match other
                .strip_prefix('-')
                .and_then(|r| r.strip_suffix(".json"))
            {
                Some(seq) => seq.parse().unwrap_or(0),
                None => continue,
            },
        };
        if newest.as_ref().is_none_or(|(best, _)| seq >= *best) {
            newest = Some((seq, key));
        }
    }
    let Some((_, key)) = newest else {
        return Ok(None);
    };
    let bytes = store
        .get_opt(&key)
        .await
        .map_err(|e| Failure::Transient(format!("store: {:#}", anyhow::Error::from(e))))?;
    bytes
        .map(|bytes| {
            DocumentReference::from_json(&bytes)
                .map_err(|unparsed| Failure::Permanent(format!("version {version}: {unparsed}")))
        })
        .transpose()
}

/// The document's legal original and its media type: `original.<ext>`, or the `document.pdf` of a
/// document split out of a scanned batch.
async fn original(store: &Store, folder: &Folder) -> anyhow::Result<Option<(Bytes, &'static str)>> {
    let mut found = None;
    for key in store.list(&folder.all()).await? {
        if let Some(extension) = key.original_extension() {
            found = Some((key.clone(), media_type(extension)));
            break;
        }
        if key.name() == Some("document.pdf") {
            found = Some((key.clone(), "application/pdf"));
        }
    }
    match found {
        Some((key, media_type)) => Ok(Some((store.get(&key).await?, media_type))),
        None => Ok(None),
    }
}

fn media_type(extension: &str) -> &'static str {
    match extension.trim_start_matches('.') {
        "pdf" => "application/pdf",
        "tif" | "tiff" => "image/tiff",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "wav" => "audio/wav",
        "mp3" => "audio/mpeg",
        "flac" => "audio/flac",
        "ogg" => "audio/ogg",
        "m4a" => "audio/mp4",
        _ => "application/octet-stream",
    }
}

/// The system of the masterIdentifier when a stored resource names none.
const DEFAULT_SYSTEM: &str = "urn:him:document";

/// `Binary/<id>` as pushed: the original, base64.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Binary<'a> {
    content_type: &'a str,
    data: String,
    id: &'a str,
    resource_type: &'static str,
}

/// The stored DocumentReference as pushed: the server assigns `id` and `meta`; the masterIdentifier is
/// `identifier`; the original points at the pushed Binary; the approved text travels inline; versions it
/// relates to are named by their masterIdentifier.
fn for_push(
    stored: &DocumentReference,
    identifier: &str,
    suffix: &str,
    binary_id: &str,
    text: Option<&[u8]>,
) -> DocumentReference {
    let system = stored
        .identifier_system()
        .unwrap_or(DEFAULT_SYSTEM)
        .to_string();
    let mut resource = stored.clone();
    resource.id = None;
    resource.meta = None;
    resource.master_identifier = Some(Identifier {
        system: Some(system.clone()),
        r#type: None,
        value: Some(identifier.to_string()),
    });
    for attachment in resource
        .content
        .iter_mut()
        .filter_map(|content| content.attachment.as_mut())
    {
        if attachment.title.as_deref() == Some("original") {
            attachment.url = Some(format!("Binary/{binary_id}"));
        } else if let Some(text) = text {
            attachment.data = Some(base64::engine::general_purpose::STANDARD.encode(text));
        }
    }
    for relation in &mut resource.relates_to {
        // `DocumentReference/<document id>-v<n>` as the review names it.
        let local = relation
            .target
            .reference
            .as_deref()
            .and_then(|target| target.strip_prefix("DocumentReference/"));
        if let Some(local) = local {
            relation.target = FhirReference {
                identifier: Some(Identifier {
                    system: Some(system.clone()),
                    r#type: None,
                    value: Some(format!("{local}{suffix}")),
                }),
                r#type: Some("DocumentReference".to_string()),
                ..FhirReference::default()
            };
        }
    }
    resource
}

/// Status of the interfaces, per destination (`him interfaces`): its dead letters (they grow with failures)
/// and the events journaled after its newest checkpoint — the day up to which every event is done or
/// dead-lettered there — so that the answer costs the days since, not the outbox's history.
pub async fn status(
    store: &Store,
    destinations: &[&str],
) -> anyhow::Result<Vec<DestinationStatus>> {
    outbox::ensure_journaled(store).await?;
    let mut rows = Vec::new();
    for name in destinations {
        let checkpoint = newest_checkpoint(store, name).await?;
        let mut follower = after_checkpoint(checkpoint);
        let events = outbox::follow(store, &mut follower).await?;
        let records = dead_letters(store, name).await?;
        let (mut delivered, mut backlog) = (0, 0);
        let mut last: Option<String> = None;
        for event in &events {
            let done = record_key(name, RecordState::Done, &format!("{}.json", event.event_id))?;
            if let Some(done) = read_json::<Done>(store, &done).await? {
                delivered += 1;
                if !done.at.is_empty() && last.as_deref().is_none_or(|l| done.at.as_str() > l) {
                    last = Some(done.at);
                }
            } else if !records.is_dead(&event.event_id) {
                backlog += 1;
            }
        }
        let mut dead_letters = Vec::new();
        let mut dead: Vec<(&String, &u32)> = records
            .dead
            .iter()
            .filter(|(event, _)| records.is_dead(event))
            .collect();
        dead.sort();
        for (event_id, n) in dead {
            let key = record_key(name, RecordState::Dead, &format!("{event_id}.{n}.json"))?;
            if let Some(letter) = read_json::<DeadLetter>(store, &key).await? {
                dead_letters.push(DeadLetterStatus {
                    action: letter.action,
                    at: letter.at,
                    event_id: event_id.clone(),
                    reason: letter.reason,
                });
            }
        }
        rows.push(DestinationStatus {
            backlog,
            checkpoint: checkpoint.map(|day| day.to_string()),
            dead_letters,
            delivered,
            destination: name.to_string(),
            events: events.len(),
            last_success: last,
        });
    }
    Ok(rows)
}

/// A supervisor's replay of an event's newest dead letter: the deliverer tries it again (same prepared
/// messages, same control ids). `false` when the event is not dead-lettered there.
pub async fn replay(
    store: &Store,
    destination: &str,
    event_id: &str,
    by: &str,
) -> anyhow::Result<bool> {
    let records = dead_letters(store, destination).await?;
    if !records.is_dead(event_id) {
        return Ok(false);
    }
    let n = records.dead.get(event_id).copied().unwrap_or(0);
    let key = record_key(
        destination,
        RecordState::Replays,
        &format!("{event_id}.{n}.json"),
    )?;
    let written = create_json(
        store,
        &key,
        &Replay {
            at: now(),
            by: by.to_string(),
            event_id: event_id.to_string(),
        },
    )
    .await?;
    Ok(written == Written::Created)
}

/// Destination names with records or configuration, for `him interfaces`.
pub fn configured_names(hl7: &Hl7Config, fhir: &FhirConfig) -> Vec<&'static str> {
    let mut names = Vec::new();
    if !hl7.send_to.trim().is_empty() {
        names.push("hl7");
    }
    if !fhir.base_url.trim().is_empty() {
        names.push("fhir");
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::assert_valid_fhir_json;
    use serde_json::{json, Value};

    /// A stored DocumentReference from its JSON.
    fn stored(value: Value) -> DocumentReference {
        DocumentReference::from_json(value.to_string().as_bytes()).expect("a DocumentReference")
    }

    /// The wire form of a pushed resource.
    fn wire(resource: &DocumentReference) -> Value {
        serde_json::to_value(resource).expect("json")
    }

    /// A deliverer's idle pass, and the first pass of one started later, read nothing of what was
    /// delivered before: the journal from the checkpoint on, not the outbox's history.
    #[tokio::test]
    async fn a_pass_reads_what_is_new_not_the_history() {
        let store = Store::in_memory();
        let id_key = outbox::EventIdKey::fixed([7; 32]);
        let event = |n: u8, at: &str| {
            let folder = Folder::Unmatched(him_core::DocumentId::for_bytes(&[n]));
            let mut event = OutboxEvent::new(
                &id_key,
                folder.document_id().as_str(),
                OutboxAction::Approved,
                &folder,
                1,
            );
            event.at = at.to_string();
            event
        };
        let days_ago = (chrono::Utc::now() - chrono::Duration::days(3))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        for n in 0..40 {
            let old = event(n, &days_ago);
            outbox::enqueue(&store, &old).await.unwrap();
            let done =
                record_key("hl7", RecordState::Done, &format!("{}.json", old.event_id)).unwrap();
            create_json(&store, &done, &Done::default()).await.unwrap();
        }
        // Nothing listens there (an event without versions sends no message, so it is done at once).
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let hl7 = Hl7Config {
            send_to: closed.local_addr().unwrap().to_string(),
            ..Hl7Config::default()
        };
        drop(closed);
        let deliverer = || {
            Deliverer::new(
                store.clone(),
                Arc::new(LiveIndex::fixed(Arc::default())),
                destinations(&hl7, &FhirConfig::default(), &HashMap::new()).unwrap(),
                DeliverConfig::default(),
            )
        };
        let mut first = deliverer();
        assert_eq!(first.pass().await.unwrap(), Pass::default());

        let before = store.requests();
        assert_eq!(first.pass().await.unwrap(), Pass::default());
        let idle = store.requests().since(before);
        assert_eq!((idle.gets, idle.heads, idle.puts), (0, 0, 0), "{idle:?}");
        assert!(idle.listed == 0, "{idle:?}");

        let before = store.requests();
        let mut restarted = deliverer();
        assert_eq!(restarted.pass().await.unwrap(), Pass::default());
        let start = store.requests().since(before);
        assert_eq!(start.gets, 0, "{start:?}");
        assert!(start.listed <= 1 && start.heads <= 1, "{start:?}");

        // `him interfaces` answers from the checkpoint on too: no done record of the history is read.
        let before = store.requests();
        let rows = status(&store, &["hl7"]).await.unwrap();
        let cost = store.requests().since(before);
        assert!(rows[0].checkpoint.is_some(), "{rows:?}");
        assert_eq!(
            (rows[0].events, rows[0].delivered, rows[0].backlog),
            (0, 0, 0)
        );
        assert!(cost.gets <= 1 && cost.listed <= 2, "{cost:?}");

        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        outbox::enqueue(&store, &event(200, &now)).await.unwrap();
        let before = store.requests();
        let pass = restarted.pass().await.unwrap();
        assert_eq!(pass.delivered + pass.pending + pass.dead, 1, "{pass:?}");
        assert!(store.requests().since(before).gets <= 3);

        // A destination added later has no checkpoint: it gets the whole outbox, the others nothing again.
        let fhir = FhirConfig {
            base_url: format!("http://{}/fhir", hl7.send_to),
            ..FhirConfig::default()
        };
        let mut widened = Deliverer::new(
            store.clone(),
            Arc::new(LiveIndex::fixed(Arc::default())),
            destinations(&hl7, &fhir, &HashMap::new()).unwrap(),
            DeliverConfig::default(),
        );
        let pass = widened.pass().await.unwrap();
        // Every event is tried there (these name no version, which FHIR refuses as a dead letter).
        assert_eq!(pass.delivered + pass.dead_lettered, 41, "{pass:?}");
        // Its status: the pass checkpointed the days before today there, so the events are today's one; the
        // dead letters are all of them, whatever their age.
        let rows = status(&store, &["fhir"]).await.unwrap();
        assert!(rows[0].checkpoint.is_some(), "{rows:?}");
        assert_eq!((rows[0].events, rows[0].backlog), (1, 0), "{rows:?}");
        assert_eq!(rows[0].dead_letters.len(), 41);
    }

    #[test]
    fn control_ids_are_twenty_characters_and_stable() {
        let a = control_id("abc-0001", 0);
        assert_eq!(a.len(), 20);
        assert_eq!(a, control_id("abc-0001", 0));
        assert_ne!(a, control_id("abc-0001", 1));
        assert_ne!(a, control_id("abc-0002", 0));
    }

    #[test]
    fn pushed_references_point_at_the_binary_and_name_targets_by_identifier() {
        let stored = stored(json!({
            "resourceType": "DocumentReference", "id": "d-v2", "meta": {"versionId": "1"},
            "masterIdentifier": {"system": "urn:him:document", "value": "d-v2"},
            "status": "current", "docStatus": "final",
            "content": [
                {"attachment": {"title": "original", "url": "http://review/original"}},
                {"attachment": {"title": "approved text", "url": "http://review/text"}},
            ],
            "relatesTo": [{"code": "replaces", "target": {"reference": "DocumentReference/d-v1"}}],
        }));
        let pushed = wire(&for_push(
            &stored,
            "d-v2-abcd",
            "-abcd",
            "him-d",
            Some(b"text"),
        ));
        assert!(pushed.get("id").is_none() && pushed.get("meta").is_none());
        assert_eq!(pushed["masterIdentifier"]["value"], "d-v2-abcd");
        assert_eq!(pushed["content"][0]["attachment"]["url"], "Binary/him-d");
        assert_eq!(pushed["content"][1]["attachment"]["data"], "dGV4dA==");
        assert_eq!(
            pushed["relatesTo"][0]["target"],
            json!({
                "type": "DocumentReference",
                "identifier": {"system": "urn:him:document", "value": "d-v1-abcd"},
            })
        );
        assert_eq!(pushed["status"], "current");
        assert_valid_fhir_json(&pushed, "DocumentReference");
    }

    /// What the review writes is what the deliverer reads and pushes: the resource of
    /// [`fhir::document_reference`] with only the push's changes.
    #[test]
    fn a_reference_written_by_the_review_is_pushed_with_only_the_push_changes() {
        let text = fhir::Attachment {
            content_type: "text/plain; charset=utf-8",
            content: fhir::Content::of(b"text"),
            url: "https://him.example.org/documents/d/versions/2/text".to_string(),
            title: "approved text",
            creation: Some("2024-03-15T10:00:00Z"),
        };
        let written = fhir::document_reference(&fhir::Reference {
            document_id: "d",
            version: 2,
            identifier_system: "urn:him:document",
            status: fhir::RefStatus::Current,
            doc_status: fhir::DocStatus::Final,
            doc_type: Some("11506-3"),
            subject: fhir::Subject {
                patient_id: None,
                mrn: "4081121",
                mrn_system: "urn:him:mrn",
                display: None,
            },
            date: "2024-03-15T10:20:30.000Z",
            author: Some("Dr. Jane Doe"),
            authenticator: None,
            date_of_service: Some("2024-03-14"),
            admission_date: None,
            discharge_date: None,
            encounter: None,
            encounter_system: "urn:him:encounter",
            original: Some(fhir::Attachment {
                content_type: "application/pdf",
                url: "https://him.example.org/documents/d/original".to_string(),
                title: "original",
                creation: None,
                ..text.clone()
            }),
            text,
            relates_to: Some((fhir::Relation::Replaces, 1)),
        });
        let read = DocumentReference::from_json(&written.to_json()).expect("reads back");
        let mut pushed = wire(&for_push(&read, "d-v2", "", "him-d", Some(b"text")));
        assert_valid_fhir_json(&pushed, "DocumentReference");
        let mut expected = wire(&written);
        let expected = expected.as_object_mut().unwrap();
        expected.remove("id");
        expected.remove("meta");
        expected["content"][0]["attachment"]["url"] = json!("Binary/him-d");
        expected["content"][1]["attachment"]["data"] = json!("dGV4dA==");
        expected["relatesTo"][0]["target"] = json!({
            "type": "DocumentReference",
            "identifier": {"system": "urn:him:document", "value": "d-v1"},
        });
        assert_eq!(pushed.as_object_mut().unwrap(), expected);
    }

    #[test]
    fn a_reference_without_relations_is_pushed_without_nulls() {
        // Regression: `relatesTo` was indexed mutably and came out as `"relatesTo": null`.
        let stored = stored(json!({
            "resourceType": "DocumentReference", "id": "d-v1", "meta": {"versionId": "1"},
            "masterIdentifier": {"system": "urn:him:document", "value": "d-v1"},
            "status": "current", "docStatus": "final",
            "content": [
                {"attachment": {"title": "original", "url": "http://review/original"}},
                {"attachment": {"title": "approved text", "url": "http://review/text"}},
            ],
        }));
        for text in [Some(&b"text"[..]), None] {
            let pushed = wire(&for_push(&stored, "d-v1-abcd", "-abcd", "him-d", text));
            assert!(pushed.get("relatesTo").is_none());
            assert_valid_fhir_json(&pushed, "DocumentReference");
        }
    }

    #[test]
    fn record_names_read_back() {
        let key = record_key("hl7", RecordState::Dead, "abc-0001.2.json").unwrap();
        assert_eq!(record_event(&key), Some(("abc-0001".to_string(), Some(2))));
        let key = record_key("hl7", RecordState::Done, "abc-0001.json").unwrap();
        assert_eq!(record_event(&key), Some(("abc-0001".to_string(), None)));
    }
}

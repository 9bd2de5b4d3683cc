//! One entry for every review decision: [`decide`] takes a [`ReviewContext`], a document, an actor and a
//! [`Command`], and does what every decision shares once — the required texts, the write lock, the
//! document's row and review state, [`workflow::authorize`], the next sequence number — then the
//! command's own writes, then the shared end: the review record, the outbox event and the index row.

use him_interfaces::outbox::{self, OutboxAction, OutboxEvent};

use crate::context::ReviewContext;
use crate::error::{Error, Result};
use crate::queue::QueueItem;
use crate::reassign::{self, Moved};
use crate::review::{self, Approval, ReturnKind, ReviewInput, ReviewRecord, ReviewState};
use crate::workflow::{self, Actor, Decision};

/// What a reviewer, supervisor or clinician decides about a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Save a draft of corrected fields and text.
    SaveEdit { input: ReviewInput },
    /// Approve the document as a new version.
    Approve { input: ReviewInput },
    /// Correct an approved document (supervisor): a new version replacing the current one.
    Correct { input: ReviewInput, reason: String },
    /// Return the document for rework, or reject it.
    Return { kind: ReturnKind, reason: String },
    /// Add an addendum to an approved document.
    Addendum { text: String },
    /// The authoring clinician signs.
    Sign,
    /// Assign an unmatched document to a patient of the index, or (supervisor) move a filed one.
    Assign { mrn: String, reason: String },
}

/// What a decision did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A draft saved: its sequence number and the names of the fields changed.
    Edited {
        seq: u32,
        fields_changed: Vec<String>,
    },
    /// A version approved, corrected, added or signed, with the objects written.
    Version(Approval),
    /// Returned or rejected: the sequence number of the record.
    Returned { seq: u32 },
    /// Assigned or moved to a patient.
    Moved(Moved),
}

impl Command {
    /// Refuses a command missing its required text (before anything is locked or read).
    fn check(&self) -> Result<()> {
        match self {
            Command::Correct { reason, .. } => {
                review::required(reason, "a correction needs a reason")
            }
            Command::Return { reason, .. } => review::required(reason, "a reason is required"),
            Command::Addendum { text } => review::required(text, "an addendum needs text"),
            Command::SaveEdit { .. }
            | Command::Approve { .. }
            | Command::Sign
            | Command::Assign { .. } => Ok(()),
        }
    }

    /// The decision of the state machine this command is, for a document in `item`'s state.
    fn decision(&self, item: &QueueItem) -> Decision {
        match self {
            Command::SaveEdit { .. } => Decision::Edit,
            Command::Approve { .. } => Decision::Approve,
            Command::Correct { .. } => Decision::Correct,
            Command::Return {
                kind: ReturnKind::Return,
                ..
            } => Decision::Return,
            Command::Return {
                kind: ReturnKind::Reject,
                ..
            } => Decision::Reject,
            Command::Addendum { .. } => Decision::Addendum,
            Command::Sign => Decision::Sign,
            Command::Assign { .. } if item.status == "unmatched" => Decision::Assign,
            Command::Assign { .. } => Decision::Reassign,
        }
    }
}

/// A decision under way: authorized, under the write lock.
pub(crate) struct Doing<'a> {
    pub context: &'a ReviewContext,
    pub document_id: &'a str,
    pub actor: &'a Actor,
    /// The document's row as the decision began.
    pub item: &'a QueueItem,
    /// Its review state as the decision began.
    pub state: &'a ReviewState,
    pub decision: Decision,
    /// The sequence number of the decision's record (`last_seq + 1`).
    pub seq: u32,
}

/// What a command's own writes leave to the shared end of [`decide`], which writes them in this order.
pub(crate) struct Step {
    /// The review record, written after the command's objects (its key joins a version's keys).
    pub record: Option<ReviewRecord>,
    /// The outbox event announcing the decision, enqueued after the record.
    pub event: Option<Announce>,
    /// Whether the document's index row is then rewritten from its state in the store.
    pub reindex: bool,
    pub outcome: Outcome,
}

/// An outbox event of the document's folder, numbered by the decision's sequence number.
pub(crate) struct Announce {
    pub action: OutboxAction,
    pub versions: Vec<u32>,
    pub parent: Option<u32>,
}

/// Takes `command` on `document_id` for `actor`: checks its required texts, takes the write lock, loads the
/// document, asks [`workflow::authorize`], does the command's writes, then writes its review record and
/// outbox event and rewrites the document's index row. Create-only throughout: a writer that raced past the
/// lock gets a conflict.
pub async fn decide(
    context: &ReviewContext,
    document_id: &str,
    actor: &Actor,
    command: Command,
) -> Result<Outcome> {
    command.check()?;
    let _guard = context.write_lock.lock().await;
    let loaded = review::load(context, document_id).await?;
    let decision = command.decision(&loaded.item);
    workflow::authorize(&loaded.situation(), decision, actor)?;
    let doing = Doing {
        context,
        document_id,
        actor,
        item: &loaded.item,
        state: &loaded.state,
        decision,
        seq: loaded.state.last_seq + 1,
    };
    let step = match command {
        Command::SaveEdit { input } => review::save_edit_step(&doing, &input).await?,
        Command::Approve { input } => review::approve_step(&doing, &input).await?,
        Command::Correct { input, reason } => review::correct_step(&doing, &input, &reason).await?,
        Command::Return { kind, reason } => review::return_step(&doing, kind, &reason)?,
        Command::Addendum { text } => review::addendum_step(&doing, &text).await?,
        Command::Sign => review::sign_step(&doing).await?,
        Command::Assign { mrn, reason } => reassign::move_step(&doing, &mrn, &reason).await?,
    };
    finish(&doing, step).await
}

/// The shared end of a decision: the record, the event, the index row.
async fn finish(doing: &Doing<'_>, step: Step) -> Result<Outcome> {
    let Step {
        record,
        event,
        reindex,
        mut outcome,
    } = step;
    let (context, location) = (doing.context, &doing.item.location);
    if let Some(record) = record {
        let key = review::write_record(&context.store, location, &record).await?;
        if let Outcome::Version(approval) = &mut outcome {
            approval.keys.push(key);
        }
    }
    if let Some(Announce {
        action,
        versions,
        parent,
    }) = event
    {
        let mut event = OutboxEvent::new(
            context.event_id_key().await?,
            doing.document_id,
            action,
            location,
            doing.seq,
        );
        event.versions = versions;
        event.parent = parent;
        outbox::enqueue(&context.store, &event).await?;
    }
    if reindex {
        review::reindex_one(context, doing.item).await?;
    }
    Ok(outcome)
}

/// The error of a wrapper handed another outcome than its command's (a bug, never a user's doing).
pub(crate) fn unexpected(outcome: &Outcome) -> Error {
    Error::Conflict {
        detail: format!(
            "the decision ended in an unexpected outcome ({})",
            match outcome {
                Outcome::Edited { .. } => "edited",
                Outcome::Version(_) => "version",
                Outcome::Returned { .. } => "returned",
                Outcome::Moved(_) => "moved",
            }
        ),
    }
}

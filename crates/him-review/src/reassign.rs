//! Changing a document's patient, the only way it changes: assigning an unmatched document, or moving a
//! misfiled one (supervisor). The target must be a patient of the index. Every object is copied
//! create-only into `patients/<mrn>/<id>/`, a tombstone `moved.json` is left in the old folder, the old
//! DocumentReferences get an `entered-in-error` state and the new folder gets new ones. Nothing is deleted.

use him_core::Mrn;
use him_store::{Folder, Written};

use crate::db::now_rfc3339;
use crate::decide::{decide, unexpected, Command, Doing, Outcome, Step};
use crate::error::{Error, Result};
use crate::queue;
use crate::review::{
    self, read_text, relation_of, restate, to_json_bytes, write_record, Approved, NewVersion,
    ReviewRecord,
};
use crate::web::AppState;
use crate::workflow::{self, Actor, Decision};
use him_interfaces::fhir::{DocStatus, DocumentReference, RefStatus};
use him_interfaces::outbox::{self, OutboxAction, OutboxEvent};

/// The objects a move wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The new folder.
    pub location: Folder,
    /// The MRN of the patient the document was filed to before, if any.
    pub from_mrn: Option<String>,
    pub to_mrn: String,
}

/// Assigns an unmatched document (`Decision::Assign`) or moves a filed one to another patient
/// (`Decision::Reassign`, supervisors). Refuses patients not in the index. [`decide`] with
/// [`Command::Assign`].
pub async fn move_to_patient(
    app: &AppState,
    document_id: &str,
    actor: &Actor,
    mrn: &str,
    reason: &str,
) -> Result<Moved> {
    let command = Command::Assign {
        mrn: mrn.to_string(),
        reason: reason.to_string(),
    };
    match decide(app.context(), document_id, actor, command).await? {
        Outcome::Moved(moved) => Ok(moved),
        other => Err(unexpected(&other)),
    }
}

/// The writes of a move, all its own: its records go to two folders, with the tombstone and the event
/// between them, and the index row changes folder and patient.
pub(crate) async fn move_step(doing: &Doing<'_>, mrn: &str, reason: &str) -> Result<Step> {
    let Doing {
        context: app,
        document_id,
        actor,
        item,
        state,
        decision,
        seq,
    } = *doing;
    if decision == Decision::Reassign {
        review::required(reason, "a reassignment needs a reason")?;
    }
    let Some(patient) = app.patients.find(mrn.trim()) else {
        return Err(Error::InvalidInput {
            detail: "no such patient in the patient index".to_string(),
        });
    };
    let Some(mrn_key) = Mrn::parse(&patient.mrn) else {
        return Err(Error::InvalidInput {
            detail: "this patient's MRN cannot name a folder; file it by hand".to_string(),
        });
    };
    let to_mrn = patient.mrn.clone();
    if item.mrn.as_deref() == Some(to_mrn.as_str()) {
        return Err(Error::Conflict {
            detail: "the document is filed to this patient already".to_string(),
        });
    }
    let store = &app.store;
    let from = item.location.clone();
    let to = Folder::Patient(mrn_key, from.document_id().clone());
    if store.exists(&to.manifest()).await? {
        return Err(Error::Conflict {
            detail: "the document was in that patient's folder before; ask IT to restore it there"
                .to_string(),
        });
    }
    // Everything but the review records and versions, which are the old folder's history.
    let tombstone = from.moved();
    for key in store.list(&from.all()).await? {
        let history = key.version_number().is_some() || key.review_record().is_some();
        if key == tombstone || history {
            continue;
        }
        let Some(target) = key.in_folder(&to) else {
            continue;
        };
        let bytes = store.get(&key).await?;
        store.put_new(&target, bytes).await?;
    }
    // The approved versions move too: new DocumentReferences naming the right patient, same numbers and
    // links, same states; the old ones are entered in error.
    let mut new_seq = 1;
    let original = review::original(store, &to).await?;
    for version in &state.versions {
        let number = version.meta.version;
        let text = read_text(store, &review::version_key(&from, number, "text.txt")?)
            .await?
            .unwrap_or_default();
        let reference = version.reference.as_ref();
        let status = reference.map_or(RefStatus::Current, |r| r.status);
        let doc_status = reference.map_or(DocStatus::Final, |r| r.doc_status);
        let author = version.meta.fields.get("author").map(String::as_str);
        // The fields name the patient the document now belongs to.
        let mut fields = version.meta.fields.clone();
        fields.insert("mrn".to_string(), to_mrn.clone());
        let new = NewVersion {
            kind: &version.meta.kind,
            fields: &fields,
            text: &text,
            relates_to: version
                .meta
                .relates_to
                .as_ref()
                .and_then(|(relation, target)| Some((relation_of(relation)?, *target))),
            status,
            doc_status,
            author: if version.meta.kind == "addendum" {
                Some(version.meta.by.as_str())
            } else {
                author.filter(|a| !a.trim().is_empty())
            },
            authenticator: reference.and_then(DocumentReference::authenticator_name),
            by: &version.meta.by,
        };
        review::write_version(
            app,
            document_id,
            &to,
            &to_mrn,
            number,
            original.as_ref(),
            &new,
        )
        .await?;
        if version.is_current() {
            restate(
                store,
                &from,
                version,
                seq,
                Some(RefStatus::EnteredInError),
                None,
                None,
            )
            .await?;
        }
    }
    if state.status == workflow::ReviewStatus::Approved {
        // The decision that made those versions, so that the new folder reads as approved.
        let record = ReviewRecord::Approved(Approved::CarriedFromMove {
            at: now_rfc3339(),
            carried_from_move: true,
            document_id: document_id.to_string(),
            reviewer: actor.name.clone(),
            seq: new_seq,
            versions: state.versions.len(),
        });
        write_record(store, &to, &record).await?;
        new_seq += 1;
    }
    let at = now_rfc3339();
    let moved = queue::Tombstone {
        at: at.clone(),
        by: actor.name.clone(),
        document_id: document_id.to_string(),
        from_mrn: item.mrn.clone(),
        location: to.clone(),
        mrn: to_mrn.clone(),
        reason: reason.trim().to_string(),
    };
    match store.put_new(&tombstone, to_json_bytes(&moved)).await? {
        Written::Created => {}
        Written::AlreadyExisted => {
            return Err(Error::Conflict {
                detail: "the document was moved meanwhile".to_string(),
            })
        }
    }
    let record = |moved: review::Moved| {
        if decision == Decision::Assign {
            ReviewRecord::Assigned(moved)
        } else {
            ReviewRecord::Reassigned(moved)
        }
    };
    let queue::Tombstone {
        at: _,
        by,
        document_id: _,
        from_mrn,
        location,
        mrn,
        reason,
    } = moved;
    let from_record = record(review::Moved::From {
        at: at.clone(),
        by: by.clone(),
        document_id: document_id.to_string(),
        from_mrn,
        location,
        mrn,
        reason,
        seq,
    });
    write_record(store, &from, &from_record).await?;
    // The EHR hears of it when versions were announced: cancel the current ones of the old patient,
    // announce them again for the new one.
    let cancelled: Vec<u32> = state
        .versions
        .iter()
        .filter(|v| v.is_current())
        .map(|v| v.meta.version)
        .collect();
    if !cancelled.is_empty() {
        let mut event = OutboxEvent::new(
            app.event_id_key().await?,
            document_id,
            OutboxAction::Reassigned,
            &from,
            seq,
        );
        event.location = to.clone();
        event.from = Some(from.clone());
        event.versions = cancelled.clone();
        event.cancelled = cancelled;
        outbox::enqueue(store, &event).await?;
    }
    // The old folder is not named here: its key holds another patient's MRN.
    let to_record = record(review::Moved::To {
        at,
        by,
        seq: new_seq,
    });
    write_record(store, &to, &to_record).await?;
    queue::set_assigned(&app.db, document_id, &to, &to_mrn)?;
    let state = review::review_state(store, &to).await?;
    queue::set_review(&app.db, document_id, &state, false)?;
    Ok(Step {
        record: None,
        event: None,
        reindex: false,
        outcome: Outcome::Moved(Moved {
            location: to,
            from_mrn: item.mrn.clone(),
            to_mrn,
        }),
    })
}

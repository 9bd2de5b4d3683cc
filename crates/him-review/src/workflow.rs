//! The review state machine of one document, in one place: which decision is allowed, to whom, in which
//! state. Every store-writing operation of [`crate::review`] and [`crate::reassign`] asks [`authorize`]
//! first, under the review write lock, with the state read from the store; templates only mirror it.
//!
//! ```text
//! pending ──claim──▶ claimed ──approve──▶ approved ──addendum / correct (new linked versions)──▶ approved
//!                           ├──return───▶ returned                 └──sign (dictations, their author)
//!                           └──reject───▶ rejected
//! ```
//!
//! A claim is a live lock of one reviewer on one document (opening a document takes it when free; a
//! supervisor may break it). Every HIM decision needs the caller's own live claim; a clinician's signature
//! needs none, only authorship.

use serde::Serialize;

use crate::accounts::Role;
use crate::error::{Error, Result};

/// Where a document stands in review, as its records in the store say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    /// Waiting for a decision (drafts may have been saved).
    #[default]
    Pending,
    /// Approved: its current version is in the legal record.
    Approved,
    /// Sent back for rework (rescan, re-dictation); final for this document.
    Returned,
    /// Not a document for the record; final.
    Rejected,
}

impl ReviewStatus {
    /// The lowercase name stored in the queue index and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Pending => "pending",
            ReviewStatus::Approved => "approved",
            ReviewStatus::Returned => "returned",
            ReviewStatus::Rejected => "rejected",
        }
    }
}

/// A decision someone asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Save a draft of corrected fields and text.
    Edit,
    Approve,
    Return,
    Reject,
    /// A new version appended to the approved one.
    Addendum,
    /// A new version that replaces the approved one (the old one becomes `superseded`).
    Correct,
    /// A clinician signs the transcribed note they authored.
    Sign,
    /// Give an unmatched document its patient.
    Assign,
    /// Move a filed document to another patient (misfile correction).
    Reassign,
}

impl Decision {
    fn name(self) -> &'static str {
        match self {
            Decision::Edit => "edit",
            Decision::Approve => "approve",
            Decision::Return => "return",
            Decision::Reject => "reject",
            Decision::Addendum => "add an addendum to",
            Decision::Correct => "correct",
            Decision::Sign => "sign",
            Decision::Assign => "assign",
            Decision::Reassign => "reassign",
        }
    }
}

/// Who asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    pub role: Role,
    /// For clinicians: the author name their notes carry.
    pub author: Option<String>,
}

/// What [`authorize`] needs to know about the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Situation<'a> {
    /// `chart` or `dictation`.
    pub kind: &'a str,
    /// Pipeline status: `filed` (in a patient folder), `unmatched` or `rejected`.
    pub filing: &'a str,
    pub review: ReviewStatus,
    /// Whether an approved version waits for its author's signature.
    pub awaiting_signature: bool,
    /// Author of the approved note (as approved), for signatures.
    pub author: Option<&'a str>,
    /// Who holds a live claim, if anyone.
    pub claim_holder: Option<&'a str>,
}

fn conflict(detail: impl Into<String>) -> Error {
    Error::Conflict {
        detail: detail.into(),
    }
}

fn forbidden(detail: impl Into<String>) -> Error {
    Error::Forbidden {
        detail: detail.into(),
    }
}

/// An author name reduced for comparison: lowercase letters and digits, titles and degrees dropped.
pub fn normalize_author(name: &str) -> String {
    const TITLES: [&str; 10] = [
        "dr", "md", "do", "np", "pa", "rn", "mbbs", "phd", "facp", "pac",
    ];
    name.split(|c: char| c.is_whitespace() || c == ',')
        .map(|word| {
            word.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect::<String>()
        })
        .filter(|word| !word.is_empty() && !TITLES.contains(&word.as_str()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `actor` may take `decision` on a document in `situation`; the error says why not
/// ([`Error::Forbidden`]: not this user's right; [`Error::Conflict`]: not in this state or not claimed).
pub fn authorize(situation: &Situation<'_>, decision: Decision, actor: &Actor) -> Result<()> {
    let role = actor.role;
    if decision == Decision::Sign {
        return authorize_signature(situation, actor);
    }
    if !role.can_review() {
        return Err(forbidden("only HIM staff can review documents"));
    }
    if matches!(decision, Decision::Correct | Decision::Reassign) && !role.is_supervisor() {
        return Err(forbidden(format!(
            "only a supervisor can {} a document",
            decision.name()
        )));
    }
    match situation.claim_holder {
        Some(holder) if holder == actor.name => {}
        Some(_) => return Err(conflict("another reviewer is working on this document")),
        None => {
            return Err(conflict(
                "open the document to claim it before deciding (your claim may have expired)",
            ))
        }
    }
    use ReviewStatus::{Approved, Pending};
    let allowed = match decision {
        Decision::Edit | Decision::Approve => {
            situation.review == Pending && situation.filing == "filed"
        }
        Decision::Return | Decision::Reject => {
            situation.review == Pending && situation.filing != "rejected"
        }
        Decision::Addendum | Decision::Correct => {
            situation.review == Approved && situation.filing == "filed"
        }
        Decision::Assign => situation.review == Pending && situation.filing == "unmatched",
        Decision::Reassign => {
            situation.filing == "filed" && matches!(situation.review, Pending | Approved)
        }
        Decision::Sign => false,
    };
    if allowed {
        return Ok(());
    }
    let why = match (decision, situation.review, situation.filing) {
        (Decision::Approve | Decision::Edit, Pending, _) => {
            "only documents filed to a patient can be approved; assign a patient first".to_string()
        }
        (Decision::Assign, _, "filed") => {
            "the document is filed to a patient; a supervisor can reassign it".to_string()
        }
        (_, status, _) => format!(
            "a document that is {} cannot be {}",
            status.as_str(),
            past_tense(decision)
        ),
    };
    Err(conflict(why))
}

fn past_tense(decision: Decision) -> &'static str {
    match decision {
        Decision::Edit => "edited (a supervisor can correct an approved document)",
        Decision::Approve => "approved again",
        Decision::Return => "returned",
        Decision::Reject => "rejected",
        Decision::Addendum => "given an addendum",
        Decision::Correct => "corrected",
        Decision::Sign => "signed",
        Decision::Assign => "assigned",
        Decision::Reassign => "reassigned",
    }
}

fn authorize_signature(situation: &Situation<'_>, actor: &Actor) -> Result<()> {
    if actor.role != Role::Clinician {
        return Err(forbidden("only the authoring clinician can sign a note"));
    }
    if situation.kind != "dictation" || situation.review != ReviewStatus::Approved {
        return Err(conflict("only approved transcribed notes are signed"));
    }
    if !situation.awaiting_signature {
        return Err(conflict("nothing waits for a signature on this document"));
    }
    let mine = actor.author.as_deref().map(normalize_author);
    let theirs = situation.author.map(normalize_author);
    match (mine, theirs) {
        (Some(mine), Some(theirs)) if !mine.is_empty() && mine == theirs => Ok(()),
        _ => Err(forbidden("only the note's author can sign it")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(name: &str, role: Role) -> Actor {
        Actor {
            name: name.to_string(),
            role,
            author: (role == Role::Clinician).then(|| "Jane Smith".to_string()),
        }
    }

    fn situation(review: ReviewStatus, holder: Option<&'static str>) -> Situation<'static> {
        Situation {
            kind: "chart",
            filing: "filed",
            review,
            awaiting_signature: false,
            author: Some("Dr. Jane Smith, MD"),
            claim_holder: holder,
        }
    }

    fn refused(result: Result<()>) -> &'static str {
        match result {
            Ok(()) => "allowed",
            Err(Error::Conflict { .. }) => "conflict",
            Err(Error::Forbidden { .. }) => "forbidden",
            Err(_) => "other",
        }
    }

    #[test]
    fn every_decision_needs_the_callers_own_claim() {
        let ana = actor("ana", Role::Reviewer);
        let pending = |holder| situation(ReviewStatus::Pending, holder);
        assert_eq!(
            refused(authorize(&pending(Some("ana")), Decision::Approve, &ana)),
            "allowed"
        );
        assert_eq!(
            refused(authorize(&pending(Some("bob")), Decision::Approve, &ana)),
            "conflict"
        );
        assert_eq!(
            refused(authorize(&pending(None), Decision::Edit, &ana)),
            "conflict"
        );
    }

    #[test]
    fn an_approved_document_takes_no_second_decision_only_new_versions() {
        let ana = actor("ana", Role::Reviewer);
        let sue = actor("sue", Role::Supervisor);
        let approved = situation(ReviewStatus::Approved, Some("ana"));
        for decision in [
            Decision::Approve,
            Decision::Edit,
            Decision::Reject,
            Decision::Return,
        ] {
            assert_eq!(
                refused(authorize(&approved, decision, &ana)),
                "conflict",
                "{decision:?}"
            );
        }
        assert_eq!(
            refused(authorize(&approved, Decision::Addendum, &ana)),
            "allowed"
        );
        assert_eq!(
            refused(authorize(&approved, Decision::Correct, &ana)),
            "forbidden"
        );
        let held_by_sue = situation(ReviewStatus::Approved, Some("sue"));
        assert_eq!(
            refused(authorize(&held_by_sue, Decision::Correct, &sue)),
            "allowed"
        );
        assert_eq!(
            refused(authorize(&held_by_sue, Decision::Reassign, &sue)),
            "allowed"
        );
        let rejected = situation(ReviewStatus::Rejected, Some("sue"));
        assert_eq!(
            refused(authorize(&rejected, Decision::Reassign, &sue)),
            "conflict"
        );
    }

    #[test]
    fn unmatched_documents_are_assigned_not_approved() {
        let ana = actor("ana", Role::Reviewer);
        let unmatched = Situation {
            filing: "unmatched",
            ..situation(ReviewStatus::Pending, Some("ana"))
        };
        assert_eq!(
            refused(authorize(&unmatched, Decision::Approve, &ana)),
            "conflict"
        );
        assert_eq!(
            refused(authorize(&unmatched, Decision::Assign, &ana)),
            "allowed"
        );
        assert_eq!(
            refused(authorize(&unmatched, Decision::Reject, &ana)),
            "allowed"
        );
        let filed = situation(ReviewStatus::Pending, Some("ana"));
        assert_eq!(
            refused(authorize(&filed, Decision::Assign, &ana)),
            "conflict"
        );
    }

    #[test]
    fn only_the_authoring_clinician_signs_an_approved_dictation() {
        let cleo = actor("cleo", Role::Clinician);
        let waiting = Situation {
            kind: "dictation",
            awaiting_signature: true,
            ..situation(ReviewStatus::Approved, None)
        };
        assert_eq!(
            refused(authorize(&waiting, Decision::Sign, &cleo)),
            "allowed"
        );
        let other = Actor {
            author: Some("John Roe".to_string()),
            ..cleo.clone()
        };
        assert_eq!(
            refused(authorize(&waiting, Decision::Sign, &other)),
            "forbidden"
        );
        let ana = actor("ana", Role::Reviewer);
        assert_eq!(
            refused(authorize(&waiting, Decision::Sign, &ana)),
            "forbidden"
        );
        let signed = Situation {
            awaiting_signature: false,
            ..waiting
        };
        assert_eq!(
            refused(authorize(&signed, Decision::Sign, &cleo)),
            "conflict"
        );
        assert_eq!(
            refused(authorize(&waiting, Decision::Approve, &cleo)),
            "forbidden"
        );
    }

    #[test]
    fn author_names_compare_without_titles_and_punctuation() {
        assert_eq!(normalize_author("Dr. Jane  Smith, MD"), "jane smith");
        assert_eq!(normalize_author("JANE SMITH"), "jane smith");
        assert_ne!(normalize_author("Jane Smyth"), "jane smith");
    }
}

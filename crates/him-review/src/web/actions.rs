//! POST handlers: logout and the review actions (login is in `login.rs`, account changes in `admin.rs`).
//! Every action is audited.

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;

use crate::accounts::{self, Role};
use crate::decide::{decide, Command, Outcome};
use crate::document::EDITABLE_FIELDS;
use crate::queue;
use crate::review::{ReturnKind, ReviewInput};
use crate::web::pages::document_item;
use crate::web::{
    cookie, form_value, record as audit, AppError, AppState, Current, SESSION_COOKIE,
};

pub(crate) fn session_cookie(state: &AppState, value: &str, max_age_secs: u64) -> String {
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}")
}

pub(crate) fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

pub(crate) async fn logout(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    request: Request,
) -> Result<Response, AppError> {
    if let Some(token) = cookie(request.headers(), SESSION_COOKIE) {
        accounts::delete_session(&state.db, &token)?;
    }
    audit(&state, &current, "logout", None, "").await?;
    Ok(with_cookie(
        Redirect::to("/login").into_response(),
        &session_cookie(&state, "", 0),
    ))
}

/// Claims a document for the current reviewer (HIM staff only) or fails with 409 when someone else holds it.
pub(crate) fn take_claim(
    state: &AppState,
    current: &Current,
    id: &str,
) -> Result<queue::QueueItem, AppError> {
    current.require(Role::Reviewer)?;
    let item = document_item(state, id)?;
    if !queue::claim(
        &state.db,
        id,
        current.name(),
        state.config.claim_ttl_minutes,
    )? {
        return Err(AppError::Claimed);
    }
    Ok(item)
}

pub(crate) async fn claim(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    take_claim(&state, &current, &id)?;
    audit(&state, &current, "claim", Some(&id), "").await?;
    Ok(Redirect::to(&format!("/documents/{id}?m=claimed")).into_response())
}

pub(crate) async fn release(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    document_item(&state, &id)?;
    queue::release(&state.db, &id, current.name())?;
    audit(&state, &current, "release", Some(&id), "").await?;
    Ok(Redirect::to("/?m=released").into_response())
}

/// A supervisor takes over another reviewer's claim; the previous holder is audited.
pub(crate) async fn break_claim(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    current.require(Role::Supervisor)?;
    document_item(&state, &id)?;
    let previous = queue::break_claim(
        &state.db,
        &id,
        current.name(),
        state.config.claim_ttl_minutes,
    )?;
    let detail = format!(
        "claim of {} broken",
        previous.as_deref().unwrap_or("nobody")
    );
    audit(&state, &current, "claim_break", Some(&id), &detail).await?;
    Ok(Redirect::to(&format!("/documents/{id}?m=claimed")).into_response())
}

fn review_input(body: &[u8]) -> ReviewInput {
    let mut input = ReviewInput::default();
    for (key, value) in form_urlencoded::parse(body) {
        if let Some(name) = key.strip_prefix("field.") {
            if EDITABLE_FIELDS.contains(&name) {
                input
                    .fields
                    .insert(name.to_string(), value.trim().to_string());
            }
        } else if key == "text" {
            input.text = value.replace("\r\n", "\n");
        } else if key == "ack" {
            input.flags_acknowledged.extend(value.parse::<usize>().ok());
        }
    }
    input
}

/// Takes `command` on document `id` as the current user through [`decide`] and audits it. Returns the
/// audit action (`assign` or `reassign` for a move, by whether the document had a patient) and the outcome.
async fn decided(
    state: &AppState,
    current: &Current,
    id: &str,
    command: Command,
) -> Result<(&'static str, Outcome), AppError> {
    document_item(state, id)?;
    let action = audit_action(&command);
    let reason = match &command {
        Command::Assign { reason, .. } => reason.trim().to_string(),
        _ => String::new(),
    };
    let outcome = decide(state.context(), id, &current.actor(), command).await?;
    let (action, detail) = audit_entry(action, &outcome, &reason);
    audit(state, current, action, Some(id), &detail).await?;
    Ok((action, outcome))
}

/// The audit action of a command (a move's is settled by its outcome).
fn audit_action(command: &Command) -> &'static str {
    match command {
        Command::SaveEdit { .. } => "edit",
        Command::Approve { .. } => "approve",
        Command::Correct { .. } => "correct",
        Command::Return {
            kind: ReturnKind::Return,
            ..
        } => "return",
        Command::Return {
            kind: ReturnKind::Reject,
            ..
        } => "reject",
        Command::Addendum { .. } => "addendum",
        Command::Sign => "sign",
        Command::Assign { .. } => "assign",
    }
}

/// The audit action and detail of a decision taken as `action`. A move's detail names both patients and
/// the reason: it lives in the audit store, never in logs.
fn audit_entry(action: &'static str, outcome: &Outcome, reason: &str) -> (&'static str, String) {
    match outcome {
        Outcome::Edited {
            seq,
            fields_changed,
        } => (
            action,
            format!("seq {seq}; fields changed: {}", fields_changed.join(",")),
        ),
        Outcome::Version(approval) => match action {
            "correct" => (
                action,
                format!(
                    "seq {}; version {} replaces the current one",
                    approval.seq, approval.version
                ),
            ),
            "sign" => (action, format!("seq {}", approval.seq)),
            _ => (
                action,
                format!("seq {}; version {}", approval.seq, approval.version),
            ),
        },
        Outcome::Returned { seq } => (action, format!("seq {seq}")),
        Outcome::Moved(moved) => match &moved.from_mrn {
            None => ("assign", format!("to patient {}", moved.to_mrn)),
            Some(from) => (
                "reassign",
                format!(
                    "from patient {from} to patient {}; reason: {reason}",
                    moved.to_mrn
                ),
            ),
        },
    }
}

pub(crate) async fn edit(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let input = review_input(&body);
    decided(&state, &current, &id, Command::SaveEdit { input }).await?;
    Ok(Redirect::to(&format!("/documents/{id}?m=saved")).into_response())
}

pub(crate) async fn approve(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let input = review_input(&body);
    let (_, outcome) = decided(&state, &current, &id, Command::Approve { input }).await?;
    if let Outcome::Version(approval) = &outcome {
        tracing::info!(document.id = %id, version = approval.version, "document approved");
    }
    if form_value(&body, "next").as_deref() == Some("1") {
        return Ok(Redirect::to("/next?m=approved").into_response());
    }
    Ok(Redirect::to("/?m=approved").into_response())
}

/// A supervisor's correction of an approved document: a new version replacing the current one.
pub(crate) async fn correct(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let input = review_input(&body);
    let reason = form_value(&body, "reason").unwrap_or_default();
    decided(&state, &current, &id, Command::Correct { input, reason }).await?;
    Ok(Redirect::to(&format!("/documents/{id}?m=corrected")).into_response())
}

pub(crate) async fn return_document(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let kind = match form_value(&body, "kind").as_deref() {
        Some("reject") => ReturnKind::Reject,
        _ => ReturnKind::Return,
    };
    let reason = form_value(&body, "reason").unwrap_or_default();
    decided(&state, &current, &id, Command::Return { kind, reason }).await?;
    Ok(Redirect::to("/?m=returned").into_response())
}

pub(crate) async fn addendum(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let text = form_value(&body, "addendum").unwrap_or_default();
    decided(&state, &current, &id, Command::Addendum { text }).await?;
    Ok(Redirect::to(&format!("/documents/{id}?m=addendum")).into_response())
}

/// Assigns an unmatched document, or (supervisor) moves a misfiled one, to a patient of the index. The
/// audit record names both patients: it lives in the audit store, never in logs.
pub(crate) async fn assign(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let mrn = form_value(&body, "mrn").unwrap_or_default();
    let reason = form_value(&body, "reason").unwrap_or_default();
    let (action, _) = decided(&state, &current, &id, Command::Assign { mrn, reason }).await?;
    tracing::info!(document.id = %id, action, "patient assigned");
    Ok(Redirect::to(&format!("/documents/{id}?m={action}ed")).into_response())
}

/// The authoring clinician signs an approved transcription.
pub(crate) async fn sign(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    decided(&state, &current, &id, Command::Sign).await?;
    Ok(Redirect::to("/?m=signed").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn review_forms_keep_known_fields_text_and_acknowledgements() {
        let input =
            review_input(b"csrf=x&field.mrn=+123+&field.evil=1&text=a%0D%0Ab&ack=2&ack=0&ack=x");
        assert_eq!(input.fields.get("mrn").map(String::as_str), Some("123"));
        assert!(!input.fields.contains_key("evil"));
        assert_eq!(input.text, "a\nb");
        assert_eq!(input.flags_acknowledged, vec![2, 0]);
    }

    /// Each decision is audited under its action with the detail the handlers wrote before [`decide`].
    #[test]
    fn decisions_are_audited_by_action_and_outcome() {
        let version = |seq, version| {
            Outcome::Version(crate::review::Approval {
                seq,
                version,
                keys: Vec::new(),
            })
        };
        let moved = |from_mrn: Option<&str>| {
            Outcome::Moved(crate::reassign::Moved {
                location: him_store::Folder::Unmatched(him_core::DocumentId::for_bytes(b"scan")),
                from_mrn: from_mrn.map(str::to_string),
                to_mrn: "40079196".to_string(),
            })
        };
        let edited = Outcome::Edited {
            seq: 1,
            fields_changed: vec!["mrn".to_string(), "author".to_string()],
        };
        let cases = [
            (
                "edit",
                edited,
                ("edit", "seq 1; fields changed: mrn,author"),
            ),
            ("approve", version(2, 1), ("approve", "seq 2; version 1")),
            (
                "correct",
                version(3, 2),
                ("correct", "seq 3; version 2 replaces the current one"),
            ),
            ("addendum", version(4, 3), ("addendum", "seq 4; version 3")),
            ("sign", version(5, 2), ("sign", "seq 5")),
            ("reject", Outcome::Returned { seq: 6 }, ("reject", "seq 6")),
            ("assign", moved(None), ("assign", "to patient 40079196")),
            (
                "assign",
                moved(Some("40158388")),
                (
                    "reassign",
                    "from patient 40158388 to patient 40079196; reason: misfiled",
                ),
            ),
        ];
        for (action, outcome, (want_action, want_detail)) in cases {
            let (got_action, got_detail) = audit_entry(action, &outcome, "misfiled");
            assert_eq!(
                (got_action, got_detail.as_str()),
                (want_action, want_detail)
            );
        }
        let assign = Command::Assign {
            mrn: "40079196".to_string(),
            reason: String::new(),
        };
        assert_eq!(audit_action(&assign), "assign");
        let reject = Command::Return {
            kind: ReturnKind::Reject,
            reason: "blank".to_string(),
        };
        assert_eq!(audit_action(&reject), "reject");
    }
}

//! POST handlers: logout and the review actions (login is in `login.rs`, account changes in `admin.rs`).
//! Every action is audited.

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;

use crate::accounts::{self, Role};
use crate::document::EDITABLE_FIELDS;
use crate::queue;
use crate::reassign;
use crate::review::{self, ReturnKind, ReviewInput};
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

pub(crate) async fn edit(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    document_item(&state, &id)?;
    let input = review_input(&body);
    let (seq, changed) = review::save_edit(&state, &id, &current.actor(), &input).await?;
    let detail = format!("seq {seq}; fields changed: {}", changed.join(","));
    audit(&state, &current, "edit", Some(&id), &detail).await?;
    Ok(Redirect::to(&format!("/documents/{id}?m=saved")).into_response())
}

pub(crate) async fn approve(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    document_item(&state, &id)?;
    let input = review_input(&body);
    let approval = review::approve(&state, &id, &current.actor(), &input).await?;
    let detail = format!("seq {}; version {}", approval.seq, approval.version);
    audit(&state, &current, "approve", Some(&id), &detail).await?;
    tracing::info!(document.id = %id, version = approval.version, "document approved");
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
    document_item(&state, &id)?;
    let input = review_input(&body);
    let reason = form_value(&body, "reason").unwrap_or_default();
    let approval = review::correct(&state, &id, &current.actor(), &input, &reason).await?;
    let detail = format!(
        "seq {}; version {} replaces the current one",
        approval.seq, approval.version
    );
    audit(&state, &current, "correct", Some(&id), &detail).await?;
    Ok(Redirect::to(&format!("/documents/{id}?m=corrected")).into_response())
}

pub(crate) async fn return_document(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    document_item(&state, &id)?;
    let kind = match form_value(&body, "kind").as_deref() {
        Some("reject") => ReturnKind::Reject,
        _ => ReturnKind::Return,
    };
    let reason = form_value(&body, "reason").unwrap_or_default();
    let seq = review::return_document(&state, &id, &current.actor(), kind, &reason).await?;
    let action = match kind {
        ReturnKind::Return => "return",
        ReturnKind::Reject => "reject",
    };
    audit(&state, &current, action, Some(&id), &format!("seq {seq}")).await?;
    Ok(Redirect::to("/?m=returned").into_response())
}

pub(crate) async fn addendum(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    document_item(&state, &id)?;
    let text = form_value(&body, "addendum").unwrap_or_default();
    let approval = review::add_addendum(&state, &id, &current.actor(), &text).await?;
    let detail = format!("seq {}; version {}", approval.seq, approval.version);
    audit(&state, &current, "addendum", Some(&id), &detail).await?;
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
    document_item(&state, &id)?;
    let mrn = form_value(&body, "mrn").unwrap_or_default();
    let reason = form_value(&body, "reason").unwrap_or_default();
    let moved = reassign::move_to_patient(&state, &id, &current.actor(), &mrn, &reason).await?;
    let (action, detail) = match &moved.from_mrn {
        None => ("assign", format!("to patient {}", moved.to_mrn)),
        Some(from) => (
            "reassign",
            format!(
                "from patient {from} to patient {}; reason: {}",
                moved.to_mrn,
                reason.trim()
            ),
        ),
    };
    audit(&state, &current, action, Some(&id), &detail).await?;
    tracing::info!(document.id = %id, action, "patient assigned");
    Ok(Redirect::to(&format!("/documents/{id}?m={action}ed")).into_response())
}

/// The authoring clinician signs an approved transcription.
pub(crate) async fn sign(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    document_item(&state, &id)?;
    let signed = review::sign(&state, &id, &current.actor()).await?;
    audit(
        &state,
        &current,
        "sign",
        Some(&id),
        &format!("seq {}", signed.seq),
    )
    .await?;
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
}

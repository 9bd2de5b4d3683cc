//! POST handlers: logout and the review actions (login is in `login.rs`, account changes in `admin.rs`).
//! Every action is audited.

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;

use crate::accounts;
use crate::audit::{record_audit, AuditEvent};
use crate::document::EDITABLE_FIELDS;
use crate::queue;
use crate::review::{self, ReturnKind, ReviewInput};
use crate::web::pages::document_item;
use crate::web::{cookie, form_value, AppError, AppState, Current, SESSION_COOKIE};

async fn audit(
    state: &AppState,
    current: &Current,
    action: &str,
    document_id: Option<&str>,
    detail: &str,
) -> Result<(), AppError> {
    let event = AuditEvent::now(current.name(), action, document_id, &current.ip, detail);
    Ok(record_audit(&state.store, &state.db, &event).await?)
}

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

/// Claims the document for the current reviewer or fails with 409 when someone else holds it.
fn hold(state: &AppState, current: &Current, id: &str) -> Result<queue::QueueItem, AppError> {
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
    hold(&state, &current, &id)?;
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
    hold(&state, &current, &id)?;
    let input = review_input(&body);
    let (seq, changed) =
        review::save_edit(&state.store, &state.db, &id, current.name(), &input).await?;
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
    hold(&state, &current, &id)?;
    let input = review_input(&body);
    let approval = review::approve(&state.store, &state.db, &id, current.name(), &input).await?;
    let detail = format!("seq {}; version {}", approval.seq, approval.version);
    audit(&state, &current, "approve", Some(&id), &detail).await?;
    tracing::info!(document.id = %id, version = approval.version, "document approved");
    Ok(Redirect::to("/?m=approved").into_response())
}

pub(crate) async fn return_document(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    hold(&state, &current, &id)?;
    let kind = match form_value(&body, "kind").as_deref() {
        Some("reject") => ReturnKind::Reject,
        _ => ReturnKind::Return,
    };
    let reason = form_value(&body, "reason").unwrap_or_default();
    let seq = review::return_document(&state.store, &state.db, &id, current.name(), kind, &reason)
        .await?;
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
    let approval =
        review::add_addendum(&state.store, &state.db, &id, current.name(), &text).await?;
    let detail = format!("seq {}; version {}", approval.seq, approval.version);
    audit(&state, &current, "addendum", Some(&id), &detail).await?;
    Ok(Redirect::to(&format!("/documents/{id}?m=addendum")).into_response())
}

pub(crate) async fn assign(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    hold(&state, &current, &id)?;
    let mrn = form_value(&body, "mrn").unwrap_or_default();
    review::assign_patient(&state.store, &state.db, &id, current.name(), &mrn).await?;
    audit(&state, &current, "assign", Some(&id), "").await?;
    Ok(Redirect::to(&format!("/documents/{id}?m=assigned")).into_response())
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

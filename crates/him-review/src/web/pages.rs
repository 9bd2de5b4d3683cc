//! GET handlers: the pages and the files they show.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use serde_json::json;

use crate::accounts::{random_hex, Role};
use crate::audit::{search_audit, AuditQuery};
use crate::document;
use crate::queue;
use crate::review;
use crate::web::{record, AppError, AppState, Current};

/// Cookie holding the login form's CSRF token (double submit: no session exists yet).
pub(crate) const LOGIN_COOKIE: &str = "him_login";

/// Fixed messages shown after an action, chosen by the `m` query parameter.
pub(crate) fn message(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "approved" => "Approved. The document left the queue.",
        "saved" => "Draft saved.",
        "returned" => "Sent back with your reason.",
        "assigned" => "Assigned to the patient; the document now waits for review.",
        "reassigned" => {
            "Moved to the right patient; the old DocumentReferences are marked entered-in-error."
        }
        "corrected" => "Corrected: a new version replaces the old one, which is superseded.",
        "signed" => "Signed. The note is final.",
        "claimed" => "Claimed: the document is yours for now.",
        "done" => "Nothing else waits for review.",
        "released" => "Claim released.",
        "addendum" => "Addendum added as a new version.",
        "user_added" => "User added.",
        "user_disabled" => "User disabled; their sessions have ended.",
        "user_enabled" => "User enabled.",
        "password_set" => "Password set; the user's sessions have ended.",
        _ => return None,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PageQuery {
    m: Option<String>,
    q: Option<String>,
}

pub(crate) fn login_page(state: &AppState, error: Option<&str>, status: StatusCode) -> Response {
    let token = random_hex(16);
    let secure = if state.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict{secure}");
    match state
        .templates
        .render("login.html", json!({"login_csrf": token, "error": error}))
    {
        Ok(mut response) => {
            *response.status_mut() = status;
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        Err(error) => error.into_response(),
    }
}

pub(crate) async fn login_form(State(state): State<AppState>) -> Response {
    login_page(&state, None, StatusCode::OK)
}

/// A patient's documents: those filed under their MRN and under every MRN merged into theirs (ADT A40) or
/// retired for theirs (A47), oldest first. Reviewers and supervisors.
pub(crate) async fn patient(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(mrn): Path<String>,
) -> Result<Response, AppError> {
    if !current.session.user.role.can_review() {
        return Err(AppError::Forbidden);
    }
    let patient = state.patients.view(&mrn);
    let own = patient
        .as_ref()
        .map_or(mrn.trim().to_string(), |p| p.mrn.clone());
    let merged = state.patients.merged_into(&own);
    let mut documents = Vec::new();
    for (number, merged_record) in
        std::iter::once((&own, false)).chain(merged.iter().map(|m| (m, true)))
    {
        for item in queue::documents_of(&state.db, number)? {
            let mut value = json!(item);
            value["merged"] = json!(merged_record);
            documents.push(value);
        }
    }
    documents.sort_by(|a, b| a["received_at"].as_str().cmp(&b["received_at"].as_str()));
    record(&state, &current, "view_patient", None, "").await?;
    state.templates.render(
        "patient.html",
        json!({"user": current.session.user, "csrf": current.session.csrf,
               "patient": patient, "merged": merged, "documents": documents}),
    )
}

/// The queue row of a document named in a URL; ids that are not 32 hex characters are simply not found.
pub(crate) fn document_item(state: &AppState, id: &str) -> Result<queue::QueueItem, AppError> {
    if him_core::DocumentId::parse(id).is_none() {
        return Err(AppError::NotFound);
    }
    Ok(queue::find_document(&state.db, id)?)
}

pub(crate) async fn document(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Response, AppError> {
    let mut item = document_item(&state, &id)?;
    let role = current.session.user.role;
    if role == Role::Clinician && item.kind != "dictation" {
        return Err(AppError::Forbidden);
    }
    // Opening a document claims it when nobody holds it, so that two reviewers never decide on it at once.
    let open = matches!(item.review_status.as_str(), "pending" | "approved");
    if role.can_review() && open && queue::claim_holder(&item).is_none() {
        if queue::claim(
            &state.db,
            &id,
            current.name(),
            state.config.claim_ttl_minutes,
        )? {
            record(&state, &current, "claim", Some(&id), "on open").await?;
        }
        item = document_item(&state, &id)?;
    }
    let view = document::load(
        &state.store,
        &state.patients,
        &item,
        state.config.low_confidence,
    )
    .await?;
    let q = page.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let results = match q {
        Some(q) => state.patients.search(q, 20),
        None => Vec::new(),
    };
    record(&state, &current, "view", Some(&id), "").await?;
    let holder = queue::claim_holder(&item);
    state.templates.render(
        "document.html",
        json!({
            "user": current.session.user, "csrf": current.session.csrf,
            "message": message(page.m.as_deref()),
            "item": item, "holder": holder, "mine": holder == Some(current.name()),
            "can_review": role.can_review(), "is_supervisor": role.is_supervisor(),
            "view": view, "q": q, "results": results,
            "reason_label": item.unmatched_reason.map(super::worklist::reason_label),
            "document_types": him_extract::document_types(),
        }),
    )
}

/// A document a download route may serve to this user: HIM staff see everything, clinicians their
/// dictations.
fn downloadable(
    state: &AppState,
    current: &Current,
    id: &str,
) -> Result<queue::QueueItem, AppError> {
    let item = document_item(state, id)?;
    if current.session.user.role == Role::Clinician && item.kind != "dictation" {
        return Err(AppError::Forbidden);
    }
    Ok(item)
}

pub(crate) async fn page_image(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let item = downloadable(&state, &current, &id)?;
    let valid =
        file.len() == 8 && file.ends_with(".png") && file[..4].bytes().all(|b| b.is_ascii_digit());
    if !valid {
        return Err(AppError::NotFound);
    }
    let Some(key) = item.location.page(&file) else {
        return Err(AppError::NotFound);
    };
    let bytes = state
        .store
        .get(&key)
        .await
        .map_err(crate::error::Error::from)?;
    if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Err(AppError::NotFound);
    }
    record(
        &state,
        &current,
        "download",
        Some(&id),
        &format!("page {}", &file[..4]),
    )
    .await?;
    Ok(([(header::CONTENT_TYPE, "image/png")], bytes).into_response())
}

/// The legal original (scan or audio), as received, with its own media type.
pub(crate) async fn original(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let item = downloadable(&state, &current, &id)?;
    let Some((key, media_type)) = review::original_key(&state.store, &item.location).await? else {
        return Err(AppError::NotFound);
    };
    let bytes = state.store.get(&key).await.map_err(crate::Error::from)?;
    record(&state, &current, "download", Some(&id), "original").await?;
    let content_type = HeaderValue::from_str(&media_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment"),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// The text of one approved version.
pub(crate) async fn version_text(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path((id, number)): Path<(String, u32)>,
) -> Result<Response, AppError> {
    let item = downloadable(&state, &current, &id)?;
    let Some(text) = review::read_text(
        &state.store,
        &review::version_key(&item.location, number, "text.txt")?,
    )
    .await?
    else {
        return Err(AppError::NotFound);
    };
    record(
        &state,
        &current,
        "download",
        Some(&id),
        &format!("version {number} text"),
    )
    .await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// `bytes=start-end` of a Range header, clamped to `len`.
fn byte_range(headers: &HeaderMap, len: usize) -> Option<(usize, usize)> {
    let spec = headers
        .get(header::RANGE)?
        .to_str()
        .ok()?
        .strip_prefix("bytes=")?;
    let (start, end) = spec.split_once('-')?;
    let start: usize = start.trim().parse().ok()?;
    let end: usize = match end.trim() {
        "" => len.checked_sub(1)?,
        end => end.parse::<usize>().ok()?.min(len.checked_sub(1)?),
    };
    (start <= end).then_some((start, end))
}

/// The dictation's original audio, with byte ranges so that the player can seek.
pub(crate) async fn audio(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let item = downloadable(&state, &current, &id)?;
    let Some((key, media_type)) = document::audio_key(&state.store, &item).await? else {
        return Err(AppError::NotFound);
    };
    let bytes = state
        .store
        .get(&key)
        .await
        .map_err(crate::error::Error::from)?;
    let content_type = HeaderValue::from_str(&media_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let len = bytes.len();
    let range = byte_range(&headers, len);
    // A player fetches many ranges while seeking: one audit record per playback, from its start.
    if range.is_none_or(|(start, _)| start == 0) {
        record(&state, &current, "download", Some(&id), "audio").await?;
    }
    let mut response = match range {
        Some((start, end)) => {
            let mut response = Body::from(bytes.slice(start..=end)).into_response();
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(value) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            response
        }
        None => Body::from(bytes).into_response(),
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    response
        .headers_mut()
        .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    Ok(response)
}

pub(crate) async fn audit(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Query(query): Query<AuditQuery>,
) -> Result<Response, AppError> {
    current.require(Role::Supervisor)?;
    let events = search_audit(&state.db, &query, 500)?;
    state.templates.render(
        "audit.html",
        json!({"user": current.session.user, "csrf": current.session.csrf, "query": query, "events": events}),
    )
}

pub(crate) async fn users(
    State(state): State<AppState>,
    Extension(current): Extension<Current>,
    Query(page): Query<PageQuery>,
) -> Result<Response, AppError> {
    current.require(Role::Admin)?;
    let users = crate::accounts::list_users(&state.db)?;
    state.templates.render(
        "users.html",
        json!({"user": current.session.user, "csrf": current.session.csrf, "users": users,
               "message": message(page.m.as_deref())}),
    )
}

pub(crate) async fn static_file(Path(file): Path<String>) -> Response {
    let (body, content_type) = match file.as_str() {
        "app.css" => (include_str!("../static/app.css"), "text/css; charset=utf-8"),
        "app.js" => (
            include_str!("../static/app.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_parsed_and_clamped() {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_static("bytes=10-"));
        assert_eq!(byte_range(&headers, 100), Some((10, 99)));
        headers.insert(header::RANGE, HeaderValue::from_static("bytes=0-1000"));
        assert_eq!(byte_range(&headers, 100), Some((0, 99)));
        headers.insert(header::RANGE, HeaderValue::from_static("bytes=50-10"));
        assert_eq!(byte_range(&headers, 100), None);
    }
}
